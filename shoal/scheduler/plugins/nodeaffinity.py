"""NodeAffinity: ``nodeSelector`` and node affinity (required and preferred, all operators).

Each requirement is one vector operation over a label column (In, NotIn,
Exists, DoesNotExist, Gt, Lt) or over node names (``matchFields`` on
``metadata.name``). Required terms are ORed, requirements within a term ANDed;
an empty term matches nothing, as upstream. Preferred terms add their weight
on the nodes they match; the sum is normalised to 0..100.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from shoal.scheduler.framework import (
    ClusterEvent,
    CycleState,
    FilterResult,
    Mask,
    Reason,
    Vector,
    default_normalize,
)
from shoal.scheduler.podinfo import NodeRequirement, NodeTerm, PodInfo, node_term
from shoal.scheduler.snapshot import ClusterState

REASON = "node(s) didn't match Pod's node affinity/selector"


def requirement_mask(req: NodeRequirement, cluster: ClusterState) -> Mask:
    n = cluster.n
    if req.field:
        hit = np.zeros(n, dtype=np.bool_)
        for v in req.values:
            i = cluster.index.get(v)
            if i is not None:
                hit[i] = True
        return hit if req.operator == "In" else ~hit
    col = cluster.column(req.key)
    op = req.operator
    if op == "In":
        return col.isin(req.values)
    if op == "NotIn":
        return ~col.isin(req.values)
    if op == "Exists":
        return col.present
    if op == "DoesNotExist":
        return ~col.present
    ints = col.as_int()
    want = int(req.values[0])
    with np.errstate(invalid="ignore"):
        out: Mask = ints > want if op == "Gt" else ints < want
    return out


def term_mask(term: NodeTerm, cluster: ClusterState) -> Mask:
    if not term.requirements:
        return np.zeros(cluster.n, dtype=np.bool_)
    mask = np.ones(cluster.n, dtype=np.bool_)
    for req in term.requirements:
        mask &= requirement_mask(req, cluster)
    return mask


def required_mask(pod: PodInfo, cluster: ClusterState) -> Mask | None:
    """Nodes that satisfy the pod's nodeSelector and required node affinity (None: all)."""
    if not pod.node_selector and pod.required_node_terms is None:
        return None
    mask, _ = cluster.node_selector_mask(pod.node_selector)  # shared: not written to
    if pod.required_node_terms is not None:
        anyterm = np.zeros(cluster.n, dtype=np.bool_)
        for term in pod.required_node_terms:
            anyterm |= term_mask(term, cluster)
        mask = mask & anyterm
    return mask


class NodeAffinity:
    name = "NodeAffinity"
    # a node added, or its labels changed
    events_to_register = ClusterEvent.NODE_ADD | ClusterEvent.NODE_LABEL

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        args = args or {}
        # addedAffinity: a node affinity applied to every pod of the profile
        added = ((args.get("addedAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {})
        terms = added.get("nodeSelectorTerms") or []
        self.added_terms: tuple[NodeTerm, ...] = tuple(node_term(t) for t in terms)

    def filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> FilterResult | None:
        if pod.required_node_terms is None and not self.added_terms and (
                not pod.node_selector or cluster.node_selector_mask(pod.node_selector)[1]):
            state.write("NodeAffinity/mask", None)
            return None  # the node selector holds on every node (``kubernetes.io/os: linux``)
        mask = required_mask(pod, cluster)
        if self.added_terms:
            anyterm = np.zeros(cluster.n, dtype=np.bool_)
            for term in self.added_terms:
                anyterm |= term_mask(term, cluster)
            mask = anyterm if mask is None else mask & anyterm
        state.write("NodeAffinity/mask", mask)
        if mask is None:
            return None
        return FilterResult.from_reasons(cluster.n, [Reason(REASON, ~mask, resolvable=False)])

    def score(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
              nodes: npt.NDArray[np.intp]) -> Vector | None:
        if not pod.preferred_node_terms:
            return None
        total = np.zeros(cluster.n)
        for weight, term in pod.preferred_node_terms:
            if weight:
                total += weight * term_mask(term, cluster)
        return total[nodes]

    def normalize(self, state: CycleState, pod: PodInfo, scores: Vector) -> Vector:
        return default_normalize(scores)
