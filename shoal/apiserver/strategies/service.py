"""Services: addresses allocated around every write, and fields that only some types use.

As upstream's ``pkg/registry/core/service``: a create's status is reset to an
empty load balancer; the ``ServiceAllocator`` reserves the ClusterIP(s) and
NodePorts before the write (undone if the write fails) and releases what a new
version or a deletion gives up; an update that leaves NodePort/LoadBalancer
drops the fields only those types use where the client left them as they were
(upstream's ``dropTypeDependentFields``). A DELETE answers with the Service.
"""

from __future__ import annotations

from typing import Any

from shoal.api.registry import ResourceInfo
from shoal.apiserver.strategies.base import DefaultStrategy, KeyAllocator

_EXTERNAL = ("NodePort", "LoadBalancer")


def drop_type_dependent_fields(new: dict[str, Any], old: dict[str, Any]) -> None:
    """A Service leaving NodePort/LoadBalancer loses the fields only those types use, where the
    client left them as they were, so a type change needs no hand-editing of externalTrafficPolicy
    or nodePorts."""
    ns, os_ = new.get("spec") or {}, old.get("spec") or {}
    if ns.get("type", "ClusterIP") in _EXTERNAL or os_.get("type", "ClusterIP") not in _EXTERNAL:
        return
    for f in ("externalTrafficPolicy", "healthCheckNodePort", "allocateLoadBalancerNodePorts"):
        if f in ns and ns.get(f) == os_.get(f):
            del ns[f]
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in os_.get("ports") or []}
    for p in ns.get("ports") or []:
        if p.get("nodePort") and old_ports.get((p.get("port"), p.get("protocol", "TCP"))) == p["nodePort"]:
            del p["nodePort"]


class ServiceStrategy(DefaultStrategy):
    returns_deleted_object = True

    def __init__(self, info: ResourceInfo, allocator: KeyAllocator) -> None:
        super().__init__(info)
        self.allocator = allocator

    def reset_status(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"loadBalancer": {}}

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        drop_type_dependent_fields(new, old)  # spec only: before the generation is compared
        super().prepare_update(new, old)
