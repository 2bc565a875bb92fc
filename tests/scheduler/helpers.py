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
