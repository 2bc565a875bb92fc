"""PodTopologySpread: keep matching pods evenly spread over the domains of a node label.

For each constraint (``maxSkew``, ``topologyKey``, ``whenUnsatisfiable``,
``labelSelector``, ``matchLabelKeys``, ``minDomains``, node affinity/taints
policies) the matching pods are counted per domain over the *eligible* nodes
(those the pod could go to by its node affinity, and that carry every
required topology key). A node fails a DoNotSchedule constraint when
``count(its domain) + self - min(count over domains) > maxSkew``, where the
minimum is taken as 0 while fewer than ``minDomains`` domains exist.
ScheduleAnyway constraints score instead (fewer matching pods is better).

Pods without constraints of their own that belong to a controller get the
default constraints: upstream's system defaults (hostname maxSkew 3, zone
maxSkew 5, ScheduleAnyway), or the ``defaultConstraints`` of the plugin args
with ``defaultingType: List``, which is also how to spread over any label
(a rack, an availability zone: ECS "spread by attribute", Swarm placement
preferences).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from shoal.scheduler.framework import (
    MAX_NODE_SCORE,
    ClusterEvent,
    CycleState,
    FilterResult,
    Mask,
    Reason,
    Vector,
)
from shoal.scheduler.plugins.nodeaffinity import required_mask
from shoal.scheduler.podinfo import PodInfo, PodSpecError, SpreadConstraint, compile_selector
from shoal.scheduler.snapshot import HOSTNAME, ZONE, ClusterState

SKEW = "node(s) didn't match pod topology spread constraints"
MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"
SYSTEM_DEFAULTS = (
    {"maxSkew": 3, "topologyKey": HOSTNAME, "whenUnsatisfiable": "ScheduleAnyway"},
    {"maxSkew": 5, "topologyKey": ZONE, "whenUnsatisfiable": "ScheduleAnyway"},
)
IGNORED_LABELS = ("pod-template-hash", "controller-revision-hash")


class PodTopologySpread:
    name = "PodTopologySpread"
    # matching pods per domain, and which domains and nodes are eligible
    events_to_register = (ClusterEvent.POD_ADD | ClusterEvent.POD_DELETE | ClusterEvent.POD_LABEL
                          | ClusterEvent.NODE_ADD | ClusterEvent.NODE_DELETE | ClusterEvent.NODE_LABEL
                          | ClusterEvent.NODE_TAINT)

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        args = args or {}
        kind = args.get("defaultingType") or "System"
        if kind not in ("System", "List"):
            raise ValueError(f'defaultingType: unsupported value "{kind}", expected System or List')
        raw = SYSTEM_DEFAULTS if kind == "System" else tuple(args.get("defaultConstraints") or [])
        for c in raw:
            if c.get("labelSelector") is not None:
                raise ValueError("defaultConstraints: labelSelector must not be set (it comes from the pod)")
            if int(c.get("maxSkew") or 0) <= 0 or not c.get("topologyKey"):
                raise ValueError(f"defaultConstraints: each needs a topologyKey and maxSkew > 0, got {c!r}")
        self.defaults = raw

    def constraints(self, pod: PodInfo) -> tuple[SpreadConstraint, ...]:
        if pod.spread:
            return pod.spread
        if not pod.has_controller or not self.defaults:
            return ()
        labels = {k: v for k, v in pod.labels.items() if k not in IGNORED_LABELS}
        if not labels:
            return ()
        sel = compile_selector({"matchLabels": labels})
        try:
            return tuple(SpreadConstraint(max_skew=int(c["maxSkew"]), topology_key=str(c["topologyKey"]),
                                          hard=(c.get("whenUnsatisfiable") or "DoNotSchedule") == "DoNotSchedule",
                                          selector=sel) for c in self.defaults)
        except (KeyError, ValueError) as e:
            raise PodSpecError(f"default topology spread constraints: {e}") from None

    def _eligible(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
                  c: SpreadConstraint, keys: list[str]) -> Mask:
        mask = np.ones(cluster.n, dtype=np.bool_)
        for k in keys:
            mask &= cluster.column(k).present
        if c.honor_node_affinity:
            affinity = state.read("NodeAffinity/mask")
            if affinity is None and (pod.node_selector or pod.required_node_terms is not None):
                affinity = required_mask(pod, cluster)
            if affinity is not None:
                mask &= affinity
        if c.honor_taints:
            for g, taints in enumerate(cluster.taint_sets):
                if any(e in ("NoSchedule", "NoExecute") and not pod.tolerates(k, v, e) for k, v, e in taints):
                    mask &= cluster.taint_group != g
        return mask

    def filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> FilterResult | None:
        hard = [c for c in self.constraints(pod) if c.hard]
        if not hard:
            return None
        keys = [c.topology_key for c in hard]
        missing = np.zeros(cluster.n, dtype=np.bool_)
        for k in keys:
            missing |= ~cluster.column(k).present
        skewed = np.zeros(cluster.n, dtype=np.bool_)
        for c in hard:
            col = cluster.column(c.topology_key)
            eligible = self._eligible(state, pod, cluster, c, keys)
            counts = cluster.count_matching(frozenset({pod.namespace}), c.selector)
            dom, exists = col.domain_totals(counts, eligible)
            ndom = int(exists.sum())
            min_match = float(dom[exists].min()) if ndom else 0.0
            if ndom < c.min_domains:
                min_match = 0.0
            self_match = 1 if c.selector.matches(pod.labels) else 0
            per_node = col.per_node(dom)
            skewed |= col.present & (per_node + self_match - min_match > c.max_skew)
        reasons = [Reason(MISSING, missing, resolvable=False), Reason(SKEW, skewed & ~missing)]
        return FilterResult.from_reasons(cluster.n, reasons)

    def score(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
              nodes: npt.NDArray[np.intp]) -> Vector | None:
        soft = [c for c in self.constraints(pod) if not c.hard]
        if not soft:
            return None
        keys = [c.topology_key for c in soft]
        total = np.zeros(cluster.n)
        ignored = np.zeros(cluster.n, dtype=np.bool_)
        for c in soft:
            col = cluster.column(c.topology_key)
            ignored |= ~col.present
            eligible = self._eligible(state, pod, cluster, c, keys)
            counts = cluster.count_matching(frozenset({pod.namespace}), c.selector)
            dom, exists = col.domain_totals(counts, eligible)
            weight = math.log(int(exists.sum()) + 2)
            per_node = col.per_node(dom)
            total += (per_node + c.max_skew - 1) * weight
        raw = total[nodes]
        out = np.zeros(len(nodes))
        live = ~ignored[nodes]
        if live.any():
            lo, hi = float(raw[live].min()), float(raw[live].max())
            out[live] = MAX_NODE_SCORE if hi == 0 else MAX_NODE_SCORE * (hi + lo - raw[live]) / hi
        return out
