"""Pure computation of a Service's endpoints from the pods its selector matches.

Shared by the Endpoints/EndpointSlice controller and kept free of I/O so the
rules are tested on their own: ready pods are addresses, not-ready ones are
notReadyAddresses (all are addresses with ``publishNotReadyAddresses``),
terminating pods leave Endpoints at once, and a named targetPort is resolved in
each pod's own container ports (pods with different port numbers land in
different subsets, as upstream).
"""

from __future__ import annotations

import hashlib
from typing import Any

Obj = dict[str, Any]


def _meta(o: Obj) -> Obj:
    return o.get("metadata") or {}


def pod_ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def resolve_target_port(pod: Obj, port: Obj) -> int | None:
    """The pod's port number for a Service port's targetPort (int, name, or default = port)."""
    tp = port.get("targetPort", port.get("port"))
    if isinstance(tp, int):
        return tp
    if isinstance(tp, str) and tp.isdigit():
        return int(tp)
    proto = port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or []:
        for cp in c.get("ports") or []:
            if cp.get("name") == tp and (cp.get("protocol") or "TCP") == proto:
                return int(cp["containerPort"])
    return None


def _target_ref(pod: Obj) -> Obj:
    m = _meta(pod)
    return {"kind": "Pod", "namespace": m.get("namespace"), "name": m.get("name"), "uid": m.get("uid")}


def _address(pod: Obj) -> Obj:
    a: Obj = {"ip": (pod.get("status") or {}).get("podIP"), "targetRef": _target_ref(pod)}
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        a["nodeName"] = node
    hostname = (pod.get("spec") or {}).get("hostname")
    if hostname:
        a["hostname"] = hostname
    return a


def endpoints_subsets(service: Obj, pods: list[Obj]) -> list[Obj]:
    """The ``subsets`` of the Service's Endpoints object."""
    spec = service.get("spec") or {}
    svc_ports = spec.get("ports") or []
    publish_all = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple[tuple[str, int, str], ...], Obj] = {}
    for pod in sorted(pods, key=lambda p: (_meta(p).get("name") or "")):
        if _meta(pod).get("deletionTimestamp") or not (pod.get("status") or {}).get("podIP"):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        ports: list[tuple[str, int, str]] = []
        for p in svc_ports:
            n = resolve_target_port(pod, p)
            if n is None:
                continue
            ports.append((p.get("name") or "", n, p.get("protocol") or "TCP"))
        if svc_ports and not ports:
            continue
        key = tuple(ports)
        sub = groups.setdefault(key, {"addresses": [], "notReadyAddresses": []})
        if publish_all or pod_ready(pod):
            sub["addresses"].append(_address(pod))
        else:
            sub["notReadyAddresses"].append(_address(pod))
    out = []
    for key, sub in groups.items():
        s: Obj = {k: v for k, v in sub.items() if v}
        if key:
            s["ports"] = [{**({"name": n} if n else {}), "port": num, "protocol": proto} for n, num, proto in key]
        if s.get("addresses") or s.get("notReadyAddresses"):
            out.append(s)
    return out


def slice_name(service: Obj) -> str:
    m = _meta(service)
    h = hashlib.sha1(str(m.get("uid") or m.get("name")).encode()).hexdigest()[:5]
    return f"{(m.get('name') or '')[:57]}-{h}"


def endpoint_slice_body(service: Obj, pods: list[Obj]) -> tuple[list[Obj], list[Obj]]:
    """(endpoints, ports) of the Service's one EndpointSlice; terminating pods stay, marked."""
    spec = service.get("spec") or {}
    svc_ports = spec.get("ports") or []
    publish_all = bool(spec.get("publishNotReadyAddresses"))
    eps: list[Obj] = []
    port_numbers: dict[tuple[str, str], int] = {}
    for pod in sorted(pods, key=lambda p: (_meta(p).get("name") or "")):
        st = pod.get("status") or {}
        if not st.get("podIP") or st.get("phase") in ("Succeeded", "Failed"):
            continue
        terminating = bool(_meta(pod).get("deletionTimestamp"))
        ready = pod_ready(pod)
        for p in svc_ports:
            n = resolve_target_port(pod, p)
            if n is not None:
                port_numbers.setdefault((p.get("name") or "", p.get("protocol") or "TCP"), n)
        ep: Obj = {
            "addresses": [st["podIP"]],
            "conditions": {"ready": (ready or publish_all) and not terminating, "serving": ready,
                           "terminating": terminating},
            "targetRef": _target_ref(pod),
        }
        node = (pod.get("spec") or {}).get("nodeName")
        if node:
            ep["nodeName"] = node
        eps.append(ep)
    ports = [{"name": name, "port": num, "protocol": proto} for (name, proto), num in port_numbers.items()]
    return eps, ports
