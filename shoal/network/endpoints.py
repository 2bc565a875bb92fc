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
from collections.abc import Iterable

from shoal.api import views as v
from shoal.api.views import (
    Body,
    Endpoint,
    EndpointAddress,
    EndpointPort,
    EndpointSubset,
    ObjectReference,
    Protocol,
    ServicePort,
)

PortKey = tuple[str, int, Protocol]  # one resolved port: (name, number, protocol)


def resolve_target_port(pod: Body, port: ServicePort) -> int | None:
    """The pod's port number for a Service port's targetPort (int, name, or default = port)."""
    tp = port.get("targetPort", port.get("port"))
    if isinstance(tp, int):
        return tp
    if isinstance(tp, str) and tp.isdigit():
        return int(tp)
    proto = v.port_protocol(port)
    for c in v.spec(pod).get("containers") or []:
        for cp in c.get("ports") or []:
            if cp.get("name") == tp and v.port_protocol(cp) == proto:
                return int(cp["containerPort"])
    return None


def _serves(pod: Body) -> bool:
    """The pod has an address and its containers may still run (terminating ones included)."""
    return bool(v.pod_ip(pod)) and not v.is_terminal(pod)


def _by_name(pods: Iterable[Body]) -> list[Body]:
    return sorted(pods, key=v.name)


def _target_ref(pod: Body) -> ObjectReference:
    return {"kind": "Pod", "namespace": v.namespace(pod), "name": v.name(pod), "uid": v.uid(pod)}


def _hostname(pod: Body, service: Body) -> str:
    """The pod's DNS name under this Service: its hostname when its subdomain names the Service (a
    StatefulSet's ``db-0`` under ``serviceName: db``), as upstream's endpoints controllers publish it."""
    hostname = v.spec(pod).get("hostname")
    if isinstance(hostname, str) and hostname and v.spec(pod).get("subdomain") == v.name(service):
        return hostname
    return ""


def _address(pod: Body, service: Body) -> EndpointAddress:
    a: EndpointAddress = {"ip": v.pod_ip(pod), "targetRef": _target_ref(pod)}
    node = v.node_name(pod)
    if node:
        a["nodeName"] = node
    hostname = _hostname(pod, service)
    if hostname:
        a["hostname"] = hostname
    return a


def _endpoint_ports(key: tuple[PortKey, ...]) -> list[EndpointPort]:
    out: list[EndpointPort] = []
    for name, num, proto in key:
        port: EndpointPort = {"name": name} if name else {}
        port["port"] = num
        port["protocol"] = proto
        out.append(port)
    return out


def endpoints_subsets(service: Body, pods: Iterable[Body]) -> list[EndpointSubset]:
    """The ``subsets`` of the Service's Endpoints object."""
    svc_ports = v.service_ports(service)
    publish_all = bool(v.service_spec(service).get("publishNotReadyAddresses"))
    groups: dict[tuple[PortKey, ...], tuple[list[EndpointAddress], list[EndpointAddress]]] = {}
    for pod in _by_name(pods):
        if v.is_terminating(pod) or not _serves(pod):
            continue
        ports: list[PortKey] = []
        for p in svc_ports:
            n = resolve_target_port(pod, p)
            if n is not None:
                ports.append((p.get("name") or "", n, v.port_protocol(p)))
        if svc_ports and not ports:
            continue
        ready, not_ready = groups.setdefault(tuple(ports), ([], []))
        (ready if publish_all or v.is_ready(pod) else not_ready).append(_address(pod, service))
    out: list[EndpointSubset] = []
    for key, (ready, not_ready) in groups.items():
        s: EndpointSubset = {}
        if ready:
            s["addresses"] = ready
        if not_ready:
            s["notReadyAddresses"] = not_ready
        if key:
            s["ports"] = _endpoint_ports(key)
        out.append(s)
    return out


def slice_name(service: Body) -> str:
    name = v.name(service)
    h = hashlib.sha1((v.uid(service) or name).encode()).hexdigest()[:5]
    return f"{name[:57]}-{h}"


def endpoint_slice_body(service: Body, pods: Iterable[Body]) -> tuple[list[Endpoint], list[EndpointPort]]:
    """(endpoints, ports) of the Service's one EndpointSlice; terminating pods stay, marked."""
    svc_ports = v.service_ports(service)
    publish_all = bool(v.service_spec(service).get("publishNotReadyAddresses"))
    eps: list[Endpoint] = []
    port_numbers: dict[tuple[str, Protocol], int] = {}
    for pod in _by_name(pods):
        if not _serves(pod):
            continue
        terminating = v.is_terminating(pod)
        ready = v.is_ready(pod)
        for p in svc_ports:
            n = resolve_target_port(pod, p)
            if n is not None:
                port_numbers.setdefault((p.get("name") or "", v.port_protocol(p)), n)
        ep: Endpoint = {
            "addresses": [v.pod_ip(pod)],
            "conditions": {"ready": (ready or publish_all) and not terminating, "serving": ready,
                           "terminating": terminating},
            "targetRef": _target_ref(pod),
        }
        node = v.node_name(pod)
        if node:
            ep["nodeName"] = node
        hostname = _hostname(pod, service)
        if hostname:
            ep["hostname"] = hostname
        eps.append(ep)
    ports: list[EndpointPort] = [{"name": name, "port": num, "protocol": proto}
                                 for (name, proto), num in port_numbers.items()]
    return eps, ports
