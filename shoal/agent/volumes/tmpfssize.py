"""How big a memory-backed emptyDir's tmpfs is. Pure.

Upstream's kubelet (``calculateEmptyDirMemorySize``, feature SizeMemoryBackedVolumes, on by default)
never leaves a ``medium: Memory`` emptyDir at the kernel's default (half the machine's RAM, whatever
the pod may use): the tmpfs is the node's allocatable memory, lowered to the pod's memory limit when
the pod has one, lowered again to the volume's ``sizeLimit`` when that is smaller. Pages of a tmpfs
are charged to the pod's memory cgroup, so a volume larger than the pod's limit could never be filled
anyway; sizing it to the limit makes a write past it fail with ENOSPC instead of an OOM kill.

The pod's memory limit is the one its cgroup gets (``ResourceConfigForPod``): the app containers'
limits plus the sidecars' (init containers with ``restartPolicy: Always``), or the largest init step
if that is more, plus the pod's ``overhead``; a pod with *any* container (init containers included)
without a memory limit has none.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from shoal.api.quantity import InvalidQuantity, int_value


def _memory_limit(container: Mapping[str, Any]) -> int | None:
    limits = (container.get("resources") or {}).get("limits") or {}
    raw = limits.get("memory") if isinstance(limits, Mapping) else None
    if raw is None:
        return None
    try:
        value = int_value(str(raw))
    except InvalidQuantity:
        return None
    return value if value > 0 else None


def pod_memory_limit(spec: Mapping[str, Any]) -> int | None:
    """The pod's memory limit in bytes (None: unlimited, some container declares none)."""
    total = 0
    for c in spec.get("containers") or []:
        limit = _memory_limit(c)
        if limit is None:
            return None
        total += limit
    sidecars, peak = 0, 0
    for c in spec.get("initContainers") or []:
        limit = _memory_limit(c)
        if limit is None:
            return None
        if c.get("restartPolicy") == "Always":
            sidecars += limit
        else:
            peak = max(peak, sidecars + limit)
    total = max(total + sidecars, peak)
    overhead = (spec.get("overhead") or {}).get("memory")
    if overhead is not None:
        with contextlib.suppress(InvalidQuantity):
            total += max(int_value(str(overhead)), 0)
    return total or None


def memory_volume_size(*, size_limit: int | None, pod_limit: int | None, node_memory: int | None) -> int | None:
    """The tmpfs size in bytes: the node's memory, else the pod's limit, else ``sizeLimit``, whichever is
    smallest of those known (None: nothing known, the kernel's default)."""
    size = node_memory if node_memory is not None and node_memory > 0 else None
    for cap in (pod_limit, size_limit):
        if cap is not None and cap > 0 and (size is None or cap <= size):
            size = cap
    return size
