"""A pod's effective resources from its containers' (upstream's ``PodRequests``/``PodLimits``). Pure.

The app containers and the sidecars (init containers with ``restartPolicy: Always``, which keep running)
are summed; each ordinary init container runs alone beside the sidecars started before it, so the pod
needs at least the largest such step; the pod's ``overhead`` comes on top. The scheduler counts requests
with it, the quota system requests and limits, each reading a container's amounts its own way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

N = TypeVar("N", int, Any)  # int (the scheduler's milli-units and bytes) or Fraction (quota)


def _add(into: dict[str, N], more: Mapping[str, N]) -> None:
    for k, v in more.items():
        into[k] = into[k] + v if k in into else v


def effective(spec: Mapping[str, Any], amounts: Callable[[Mapping[str, Any]], Mapping[str, N]],
              overhead: Mapping[str, N]) -> dict[str, N]:
    """``amounts(container)`` combined over the pod as upstream does, plus ``overhead``."""
    total: dict[str, N] = {}
    for c in spec.get("containers") or []:
        _add(total, amounts(c))
    sidecars: dict[str, N] = {}
    peak: dict[str, N] = {}
    for c in spec.get("initContainers") or []:
        r = amounts(c)
        if c.get("restartPolicy") == "Always":
            _add(sidecars, r)
            continue
        step = dict(sidecars)
        _add(step, r)
        for k, v in step.items():
            if k not in peak or v > peak[k]:
                peak[k] = v
    _add(total, sidecars)
    for k, v in peak.items():
        if k not in total or v > total[k]:
            total[k] = v
    _add(total, overhead)
    return total
