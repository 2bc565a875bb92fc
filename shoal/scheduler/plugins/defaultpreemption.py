"""DefaultPreemption: when nothing fits, evict lower-priority pods if that makes room.

Runs as the PostFilter. Candidates are the nodes that failed only for reasons
an eviction can fix (resources, host ports, anti-affinity), never for an
unresolvable one (node selector, taint, cordon). On each candidate (at most
``maxCandidates``, visited from an offset seeded by the pod's uid so
decisions replay), every lower-priority pod is removed from the cluster state
and the filters are run again; if the pod then fits, victims are reprieved
one by one, highest priority first, as long as the pod still fits. The best
node has the lowest highest-victim priority, then the smallest sum of victim
priorities, then the fewest victims (upstream's order, without
PodDisruptionBudgets). The cluster state is restored before returning: the
worker does the evicting.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from shoal.scheduler.framework import (
    Code,
    CycleState,
    Mask,
    PostFilterResult,
    Status,
    Victims,
    unschedulable,
)
from shoal.scheduler.podinfo import PodInfo
from shoal.scheduler.snapshot import ClusterState


class DefaultPreemption:
    name = "DefaultPreemption"

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        args = args or {}
        self.max_candidates = int(args.get("maxCandidates") or 100)

    def post_filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
                    failed: npt.NDArray[np.int8], evaluate: Callable[[PodInfo], Mask]) -> PostFilterResult:
        if pod.preempt_never:
            return PostFilterResult(unschedulable("preemption: not eligible due to preemptionPolicy=Never."))
        if pod.nominated_node and self._victims_terminating(pod, cluster):
            return PostFilterResult(unschedulable(
                f"preemption: waiting for lower-priority pods on node {pod.nominated_node} to terminate."))
        candidates = np.flatnonzero(failed == Code.UNSCHEDULABLE)
        if candidates.size == 0:
            return PostFilterResult(unschedulable(
                f"preemption: 0/{cluster.n} nodes are available: {cluster.n} Preemption is not helpful "
                "for scheduling.", resolvable=False))
        start = zlib.crc32(pod.uid.encode()) % candidates.size
        order = np.concatenate([candidates[start:], candidates[:start]])
        best: tuple[tuple[int, int, int, str], Victims] | None = None
        tried = 0
        for i in order:
            if tried >= self.max_candidates:
                break
            node = cluster.names[int(i)]
            lower = [p for p in (cluster.pods_by_node.get(node) or {}).values()
                     if p.priority < pod.priority and not p.deleting]
            if not lower:
                continue
            tried += 1
            victims = self._select(pod, cluster, int(i), node, lower, evaluate)
            if victims is None:
                continue
            rank = (max(v.priority for v in victims), sum(v.priority for v in victims), len(victims), node)
            if best is None or rank < best[0]:
                best = (rank, Victims(node, tuple(victims)))
        if best is None:
            return PostFilterResult(unschedulable(
                f"preemption: 0/{cluster.n} nodes are available: no lower-priority pods whose eviction "
                "would make room."))
        v = best[1]
        return PostFilterResult(Status(Code.SUCCESS, (
            f"preemption: evicting {len(v.pods)} lower-priority pod(s) on node {v.node}: "
            + ", ".join(p.key for p in v.pods) + ".",)), v)

    @staticmethod
    def _victims_terminating(pod: PodInfo, cluster: ClusterState) -> bool:
        on = cluster.pods_by_node.get(pod.nominated_node) or {}
        return any(p.deleting and p.priority < pod.priority for p in on.values())

    @staticmethod
    def _select(pod: PodInfo, cluster: ClusterState, i: int, node: str, lower: list[PodInfo],
                evaluate: Callable[[PodInfo], Mask]) -> list[PodInfo] | None:
        assumed = {p.uid for p in lower if p.uid in cluster.assumed}
        for p in lower:
            cluster.remove_pod(p.uid)
        victims: list[PodInfo] = []
        try:
            if not evaluate(pod)[i]:
                return None
            # reprieve as many as possible, most important first
            for p in sorted(lower, key=lambda p: (-p.priority, p.key)):
                cluster.add_pod(p, node, assumed=p.uid in assumed)
                if not evaluate(pod)[i]:
                    cluster.remove_pod(p.uid)
                    victims.append(p)
            return victims
        finally:
            for p in lower:
                if cluster.node_of(p.uid) is None:
                    cluster.add_pod(p, node, assumed=p.uid in assumed)
