"""TaintToleration: NoSchedule/NoExecute taints need a toleration; PreferNoSchedule scores.

Nodes with the same set of taints share a group id in the cluster state, so
tolerations are checked once per distinct taint set (a handful) and the answer
is broadcast over the nodes. The not-ready and unreachable taints that the
node lifecycle controller sets are what keeps pods off unhealthy nodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shoal.scheduler.framework import (
    ClusterEvent,
    CycleState,
    FilterResult,
    Reason,
    Vector,
    default_normalize,
)
from shoal.scheduler.podinfo import PodInfo
from shoal.scheduler.snapshot import ClusterState


def reason(key: str, value: str) -> str:
    return f"node(s) had untolerated taint {{{key}: {value}}}"


class TaintToleration:
    name = "TaintToleration"
    # a node added, or its taints changed
    events_to_register = ClusterEvent.NODE_ADD | ClusterEvent.NODE_TAINT

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        pass

    def filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> FilterResult | None:
        bad: dict[str, list[int]] = {}
        for g, taints in enumerate(cluster.taint_sets):
            for key, value, effect in taints:
                if effect in ("NoSchedule", "NoExecute") and not pod.tolerates(key, value, effect):
                    bad.setdefault(reason(key, value), []).append(g)
                    break
        if not bad:
            return None
        reasons = [Reason(text, np.isin(cluster.taint_group, groups), resolvable=False)
                   for text, groups in sorted(bad.items())]
        return FilterResult.from_reasons(cluster.n, reasons)

    def score(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
              nodes: npt.NDArray[np.intp]) -> Vector | None:
        if not cluster.prefer_no_schedule:
            return None
        counts = np.array([sum(1 for k, v, e in taints if e == "PreferNoSchedule" and not pod.tolerates(k, v, e))
                           for taints in cluster.taint_sets], dtype=np.float64)
        if not counts.any():
            return None
        return counts[cluster.taint_group[nodes]]

    def normalize(self, state: CycleState, pod: PodInfo, scores: Vector) -> Vector:
        return default_normalize(scores, reverse=True)
