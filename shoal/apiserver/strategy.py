"""Per-kind rules the generic REST storage applies on create, update and delete.

Kubernetes calls these "strategies": which parts of an object a write may set
(status belongs to the status subresource), when ``metadata.generation`` moves
(spec changes only), and how deletion proceeds (finalizers; pods bound to a
node terminate gracefully and are removed by their node agent).
"""

from __future__ import annotations

from typing import Any

from shoal.api.registry import ResourceInfo
from shoal.apiserver import rawobj

# Kinds whose status a create may not set (it is reset), as upstream.
_RESET_STATUS_ON_CREATE = frozenset(
    {"Pod", "Deployment", "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "CronJob", "Service", "Namespace"}
)


def prepare_create(info: ResourceInfo, obj: dict[str, Any]) -> None:
    """Reset what a create may not set (status of most kinds)."""
    if info.kind in _RESET_STATUS_ON_CREATE:
        if info.kind == "Pod":
            obj["status"] = {"phase": "Pending"}
        elif info.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        elif info.kind == "Service":
            obj["status"] = {"loadBalancer": {}}
        else:
            obj.pop("status", None)
    if info.has_spec:
        obj["metadata"]["generation"] = 1
    if info.kind == "Job":
        _job_selector(info, obj)


def _job_selector(info: ResourceInfo, obj: dict[str, Any]) -> None:
    """A new Job gets a selector on its uid and those labels on its pod template, as upstream."""
    from shoal.api import convert, defaults

    job = convert.decode(obj, info.model)
    defaults.default_job_selector(job, obj["metadata"]["uid"])
    spec = convert.to_dict(job).get("spec") or {}
    obj["spec"]["selector"] = spec.get("selector")
    obj["spec"]["template"] = spec.get("template")


def spec_of(obj: dict[str, Any]) -> Any:
    """The part of an object whose change bumps generation."""
    if "spec" in obj:
        return obj.get("spec")
    # kinds without a spec (none served today with has_spec) fall back to everything but metadata/status
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def prepare_update(info: ResourceInfo, new: dict[str, Any], old: dict[str, Any]) -> None:
    """Keep server-owned fields of ``old`` in ``new`` for an update of the main resource."""
    nm, om = new.setdefault("metadata", {}), old.get("metadata", {})
    for f in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
        if f in om:
            nm[f] = om[f]
        else:
            nm.pop(f, None)
    if info.status_subresource:
        if "status" in old:
            new["status"] = rawobj.copy_json(old["status"])
        else:
            new.pop("status", None)
    if info.kind == "Service":
        _drop_type_dependent_fields(new, old)
    if info.has_spec and spec_of(new) != spec_of(old):
        nm["generation"] = int(om.get("generation") or 0) + 1


def _drop_type_dependent_fields(new: dict[str, Any], old: dict[str, Any]) -> None:
    """A Service leaving NodePort/LoadBalancer loses the fields only those types use, where the
    client left them as they were (upstream's dropTypeDependentFields), so a type change needs no
    hand-editing of externalTrafficPolicy or nodePorts."""
    ns, os_ = new.get("spec") or {}, old.get("spec") or {}
    external = ("NodePort", "LoadBalancer")
    if ns.get("type", "ClusterIP") in external or os_.get("type", "ClusterIP") not in external:
        return
    for f in ("externalTrafficPolicy", "healthCheckNodePort", "allocateLoadBalancerNodePorts"):
        if f in ns and ns.get(f) == os_.get(f):
            del ns[f]
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in os_.get("ports") or []}
    for p in ns.get("ports") or []:
        if p.get("nodePort") and old_ports.get((p.get("port"), p.get("protocol", "TCP"))) == p["nodePort"]:
            del p["nodePort"]


def prepare_status_update(info: ResourceInfo, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """An update through ``/status``: take only the status (and nothing else) from ``new``."""
    out: dict[str, Any] = rawobj.copy_json(old)
    if "status" in new:
        out["status"] = new["status"]
    else:
        out.pop("status", None)
    return out


def graceful_seconds(info: ResourceInfo, obj: dict[str, Any], requested: int | None) -> int:
    """How long a deletion may take: only pods bound to a node terminate gracefully."""
    if info.kind != "Pod":
        return 0
    spec = obj.get("spec") or {}
    if not spec.get("nodeName"):
        return 0  # never ran: nothing to stop
    phase = (obj.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(0, requested)
    g = spec.get("terminationGracePeriodSeconds")
    return 30 if g is None else max(0, int(g))
