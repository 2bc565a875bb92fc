"""ServiceLB: Services of type LoadBalancer on machines without a cloud, as k3s does.

k3s's ServiceLB (klipper-lb) opens a LoadBalancer's ports on every node with
host ports and reports the nodes' addresses as the Service's ingress. shoal
has the node proxies open the ports instead (``shoal.network.nftrules``: the
service port on every local address, like a NodePort), so this controller only
decides and writes ``status.loadBalancer.ingress``:

* the addresses are those of the Ready nodes (ExternalIP where a node has one,
  else InternalIP), sorted; a node labelled
  ``node.kubernetes.io/exclude-from-external-load-balancers`` is left out, and
  if any node carries k3s's ``svccontroller.k3s.cattle.io/enablelb=true``,
  only those nodes serve;
* a port is one per machine: if an older LoadBalancer Service (by creation
  time, then namespace/name) already holds one of its ports and protocols, the
  Service stays pending (no ingress, a warning Event), as a k3s svclb pod
  whose host port is taken stays Pending; the proxies open only the ports of
  Services with an ingress;
* a Service with a ``loadBalancerClass`` belongs to another implementation and
  is left alone; one that stops being a LoadBalancer has its ingress cleared.

``ingress_for`` is the pure decision; the controller around it only reads the
informer caches and writes status when it differs.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from shoal.client import ApiException, key_of
from shoal.controllers.base import Controller

Obj = dict[str, Any]
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
ENABLE_LABEL = "svccontroller.k3s.cattle.io/enablelb"


def _md(o: Obj) -> Obj:
    return o.get("metadata") or {}


def is_ours(svc: Obj) -> bool:
    spec = svc.get("spec") or {}
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")


def _ports(svc: Obj) -> set[tuple[str, int]]:
    return {((p.get("protocol") or "TCP"), int(p.get("port") or 0)) for p in (svc.get("spec") or {}).get("ports") or []}


def _age_key(svc: Obj) -> tuple[str, str, str]:
    md = _md(svc)
    return (md.get("creationTimestamp") or "", md.get("namespace") or "", md.get("name") or "")


def node_address(node: Obj) -> str | None:
    addrs = (node.get("status") or {}).get("addresses") or []
    for kind in ("ExternalIP", "InternalIP"):
        for a in addrs:
            if a.get("type") == kind and a.get("address"):
                return str(a["address"])
    return None


def _ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def serving_nodes(nodes: list[Obj]) -> list[Obj]:
    """The nodes whose addresses a LoadBalancer Service gets."""
    eligible = [n for n in nodes if _ready(n) and EXCLUDE_LABEL not in (_md(n).get("labels") or {})]
    if any(ENABLE_LABEL in (_md(n).get("labels") or {}) for n in nodes):
        eligible = [n for n in eligible if (_md(n).get("labels") or {}).get(ENABLE_LABEL) == "true"]
    return eligible


def conflicts(svc: Obj, services: list[Obj]) -> list[tuple[str, tuple[str, int]]]:
    """(namespace/name, (protocol, port)) of older LoadBalancer Services holding one of ``svc``'s ports."""
    mine, me = _ports(svc), _age_key(svc)
    out = []
    for other in services:
        if other is svc or not is_ours(other) or _age_key(other) >= me:
            continue
        for p in sorted(mine & _ports(other)):
            out.append((f"{_md(other).get('namespace')}/{_md(other).get('name')}", p))
    return out


def ingress_for(svc: Obj, services: list[Obj], nodes: list[Obj]) -> list[Obj]:
    """The ``status.loadBalancer.ingress`` the Service should have (empty: pending)."""
    if not is_ours(svc) or conflicts(svc, services):
        return []
    ips = sorted({ip for n in serving_nodes(nodes) if (ip := node_address(n))})
    return [{"ip": ip, "ipMode": "VIP"} for ip in ips]


class ServiceLBController(Controller):
    name = "servicelb"
    workers = 2

    def setup(self) -> None:
        f = self.ctx.factory
        self.services = f.informer("services")
        self.nodes = f.informer("nodes")
        self.services.add_handler(on_add=self._svc, on_update=self._svc_update, on_delete=self._svc)
        self.nodes.add_handler(on_add=self._all, on_update=self._node_update, on_delete=self._all)

    def _svc(self, svc: Obj) -> None:
        self._svc_update(None, svc)

    def _svc_update(self, old: Obj | None, new: Obj) -> None:
        if is_ours(new) or (old is not None and is_ours(old)):
            self._all(new)  # a port held or freed may settle another Service's conflict
        elif ((new.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
            self.queue.add(key_of(new))  # no longer a LoadBalancer: clear what it was given

    def _node_update(self, old: Obj, new: Obj) -> None:
        if (_ready(old), node_address(old), _md(old).get("labels")) != (
                _ready(new), node_address(new), _md(new).get("labels")):
            self._all(new)

    def _all(self, _obj: Obj) -> None:
        for s in self.services.list():
            if is_ours(s) or ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress"):
                self.queue.add(key_of(s))

    async def reconcile(self, key: Hashable) -> None:
        svc = self.services.get(str(key))
        if svc is None:
            return
        spec = svc.get("spec") or {}
        if spec.get("type") == "LoadBalancer" and spec.get("loadBalancerClass"):
            return  # another load balancer implementation's
        services = self.services.list()
        want = ingress_for(svc, services, self.nodes.list())
        status = svc.get("status") or {}
        if ((status.get("loadBalancer") or {}).get("ingress") or []) == want:
            return
        if is_ours(svc) and not want:
            held = conflicts(svc, services)
            if held:
                owner, (proto, port) = held[0]
                self.emit(svc, "Warning", "PortInUse",
                          f"port {port}/{proto} is already used by LoadBalancer Service {owner}; pending",
                          kind="Service", api_version="v1")
        new = {**svc, "status": {**status, "loadBalancer": {"ingress": want} if want else {}}}
        try:
            await self.client.update_status("services", new)
        except ApiException as e:
            if e.status == 404:
                return
            raise
