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

from collections.abc import Hashable, Sequence
from typing import Any

from shoal.api.views import Body, is_ready, labels, meta, spec, status
from shoal.api.views import key as key_of
from shoal.client import ApiException
from shoal.controllers.base import Controller

EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
ENABLE_LABEL = "svccontroller.k3s.cattle.io/enablelb"


def is_ours(svc: Body) -> bool:
    s = spec(svc)
    return s.get("type") == "LoadBalancer" and not s.get("loadBalancerClass")


def _ports(svc: Body) -> set[tuple[str, int]]:
    return {((p.get("protocol") or "TCP"), int(p.get("port") or 0)) for p in spec(svc).get("ports") or []}


def _age_key(svc: Body) -> tuple[str, str, str]:
    md = meta(svc)
    return (md.get("creationTimestamp") or "", md.get("namespace") or "", md.get("name") or "")


def _ingress(svc: Body) -> list[dict[str, Any]]:
    return list((status(svc).get("loadBalancer") or {}).get("ingress") or [])


def node_address(node: Body) -> str | None:
    addrs = status(node).get("addresses") or []
    for kind in ("ExternalIP", "InternalIP"):
        for a in addrs:
            if a.get("type") == kind and a.get("address"):
                return str(a["address"])
    return None


def serving_nodes(nodes: Sequence[Body]) -> list[Body]:
    """The nodes whose addresses a LoadBalancer Service gets."""
    eligible = [n for n in nodes if is_ready(n) and EXCLUDE_LABEL not in labels(n)]
    if any(ENABLE_LABEL in labels(n) for n in nodes):
        eligible = [n for n in eligible if labels(n).get(ENABLE_LABEL) == "true"]
    return eligible


def conflicts(svc: Body, services: Sequence[Body]) -> list[tuple[str, tuple[str, int]]]:
    """(namespace/name, (protocol, port)) of older LoadBalancer Services holding one of ``svc``'s ports."""
    mine, me = _ports(svc), _age_key(svc)
    out = []
    for other in services:
        if other is svc or not is_ours(other) or _age_key(other) >= me:
            continue
        for p in sorted(mine & _ports(other)):
            out.append((f"{meta(other).get('namespace')}/{meta(other).get('name')}", p))
    return out


def ingress_for(svc: Body, services: Sequence[Body], nodes: Sequence[Body]) -> list[dict[str, str]]:
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

    def _svc(self, svc: Body) -> None:
        self._svc_update(None, svc)

    def _svc_update(self, old: Body | None, new: Body) -> None:
        if is_ours(new) or (old is not None and is_ours(old)):
            self._all(new)  # a port held or freed may settle another Service's conflict
        elif _ingress(new):
            self.queue.add(key_of(new))  # no longer a LoadBalancer: clear what it was given

    def _node_update(self, old: Body, new: Body) -> None:
        if (is_ready(old), node_address(old), meta(old).get("labels")) != (
                is_ready(new), node_address(new), meta(new).get("labels")):
            self._all(new)

    def _all(self, _obj: Body) -> None:
        for s in self.services.list():
            if is_ours(s) or _ingress(s):
                self.queue.add(key_of(s))

    async def reconcile(self, key: Hashable) -> None:
        svc = self.services.get(str(key))
        if svc is None:
            return
        s = spec(svc)
        if s.get("type") == "LoadBalancer" and s.get("loadBalancerClass"):
            return  # another load balancer implementation's
        services = self.services.list()
        want = ingress_for(svc, services, self.nodes.list())
        if _ingress(svc) == want:
            return
        if is_ours(svc) and not want:
            held = conflicts(svc, services)
            if held:
                owner, (proto, port) = held[0]
                self.emit(svc, "Warning", "PortInUse",
                          f"port {port}/{proto} is already used by LoadBalancer Service {owner}; pending",
                          kind="Service", api_version="v1")
        new = {**svc, "status": {**status(svc), "loadBalancer": {"ingress": want} if want else {}}}
        try:
            await self.client.update_status("services", new)
        except ApiException as e:
            if e.status == 404:
                return
            raise
