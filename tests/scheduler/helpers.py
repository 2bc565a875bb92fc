"""Builders for node and pod dicts shared by the scheduler tests."""

from __future__ import annotations

import itertools
from typing import Any

_uids = itertools.count()


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: int = 110, labels: dict[str, str] | None = None,
         taints: list[dict[str, str]] | None = None, unschedulable: bool = False, ready: bool = True,
         extra: dict[str, str] | None = None) -> dict[str, Any]:
    alloc = {"cpu": cpu, "memory": memory, "pods": str(pods), **(extra or {})}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {"capacity": dict(alloc), "allocatable": alloc,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                   "reason": "KubeletReady"}]},
    }


def pod(name: str, *, cpu: str | None = "100m", memory: str | None = None, ns: str = "default",
        labels: dict[str, str] | None = None, uid: str | None = None, **spec: Any) -> dict[str, Any]:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if requests:
        container["resources"] = {"requests": requests}
    ports = spec.pop("ports", None)
    if ports:
        container["ports"] = ports
    return {
        "metadata": {"name": name, "namespace": ns, "uid": uid or f"uid-{name}-{next(_uids)}",
                     "labels": labels or {}},
        "spec": {"containers": [container], **spec},
    }


def cluster(nodes: list[dict[str, Any]], placed: list[tuple[dict[str, Any], str]] | None = None) -> Any:
    """A ClusterState with ``nodes`` and pods already placed on them."""
    from shoal.scheduler.podinfo import pod_info
    from shoal.scheduler.snapshot import ClusterState

    cs = ClusterState()
    for n in nodes:
        cs.set_node(n)
    for p, n in placed or []:
        cs.add_pod(pod_info(p), n)
    cs.refresh()
    return cs


def passing(plugin: Any, p: dict[str, Any], cs: Any) -> list[str]:
    """Names of the nodes that pass ``plugin``'s filter for pod ``p``."""
    from shoal.scheduler.framework import CycleState
    from shoal.scheduler.podinfo import pod_info

    res = plugin.filter(CycleState(), pod_info(p), cs)
    if res is None:
        return list(cs.names)
    return [cs.names[i] for i in range(cs.n) if res.ok[i]]
