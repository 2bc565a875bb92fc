"""NodeUnschedulable: cordoned nodes (``spec.unschedulable``) take no new pods.

A pod that tolerates the ``node.kubernetes.io/unschedulable:NoSchedule`` taint
(DaemonSet pods do) may still go there, as upstream.
"""

from __future__ import annotations

from typing import Any

from shoal.scheduler.framework import ClusterEvent, CycleState, FilterResult, Reason
from shoal.scheduler.podinfo import PodInfo
from shoal.scheduler.snapshot import UNSCHEDULABLE_TAINT, ClusterState

REASON = "node(s) were unschedulable"


class NodeUnschedulable:
    name = "NodeUnschedulable"
    # a node added, or uncordoned
    events_to_register = ClusterEvent.NODE_ADD | ClusterEvent.NODE_TAINT

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        pass

    def filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> FilterResult | None:
        if not cluster.unschedulable.any() or pod.tolerates(UNSCHEDULABLE_TAINT, "", "NoSchedule"):
            return None
        return FilterResult.from_reasons(cluster.n, [Reason(REASON, cluster.unschedulable, resolvable=False)])
