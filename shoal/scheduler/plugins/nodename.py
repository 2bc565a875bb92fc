"""NodeName: a pod that names its node (``spec.nodeName``) fits only there."""

from __future__ import annotations

from typing import Any

import numpy as np

from shoal.scheduler.framework import ClusterEvent, CycleState, FilterResult, Reason
from shoal.scheduler.podinfo import PodInfo
from shoal.scheduler.snapshot import ClusterState

REASON = "node(s) didn't match the requested node name"


class NodeName:
    name = "NodeName"
    # the named node appears
    events_to_register = ClusterEvent.NODE_ADD

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        pass

    def filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> FilterResult | None:
        if not pod.node_name:
            return None
        failed = np.ones(cluster.n, dtype=np.bool_)
        i = cluster.index.get(pod.node_name)
        if i is not None:
            failed[i] = False
        return FilterResult.from_reasons(cluster.n, [Reason(REASON, failed, resolvable=False)])
