"""InterPodAffinity: required and preferred pod affinity and anti-affinity over a topologyKey.

Filter, as upstream, checks three things:
1. existing pods' required anti-affinity that the new pod matches (symmetry),
2. the pod's required anti-affinity: no matching pod in the node's domain,
3. the pod's required affinity: a matching pod in the node's domain (or, when
   no pod anywhere matches and the pod matches its own terms, any node that
   has the topology keys - so the first pod of a group can land).

"Matching pods per domain" is the cluster state's cached per-node count of
the term's selector, summed per domain of the topology label with one
``bincount``. Score adds the pod's preferred terms and the existing pods'
terms that the pod matches, normalised min..max to 0..100.
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
    min_max_normalize,
)
from shoal.scheduler.podinfo import PodInfo
from shoal.scheduler.snapshot import ClusterState

EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
ANTI = "node(s) didn't match pod anti-affinity rules"
AFFINITY = "node(s) didn't match pod affinity rules"


class InterPodAffinity:
    name = "InterPodAffinity"
    # which pods are where, and the nodes' topology labels
    events_to_register = (ClusterEvent.POD_ADD | ClusterEvent.POD_DELETE | ClusterEvent.POD_LABEL
                          | ClusterEvent.NODE_ADD | ClusterEvent.NODE_LABEL)

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        args = args or {}
        self.ignore_preferred_of_existing = bool(args.get("ignorePreferredTermsOfExistingPods"))

    def filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> FilterResult | None:
        n = cluster.n
        reasons = []
        existing = np.zeros(n, dtype=np.bool_)
        hit = False
        for (nss, sel, topo), counts in cluster.anti_terms_for(pod):
            if (nss is None or pod.namespace in nss) and sel.matches(pod.labels) and counts.any():
                existing |= cluster.column(topo).domain_sum(counts) > 0
                hit = True
        if hit:
            reasons.append(Reason(EXISTING_ANTI, existing))
        if pod.anti_affinity:
            anti = np.zeros(n, dtype=np.bool_)
            for term in pod.anti_affinity:
                counts = cluster.count_term(term)
                if counts.any():
                    anti |= cluster.column(term.topology_key).domain_sum(counts) > 0
            reasons.append(Reason(ANTI, anti))
        if pod.affinity:
            ok = np.ones(n, dtype=np.bool_)
            any_match = False
            for term in pod.affinity:
                col = cluster.column(term.topology_key)
                counts = cluster.count_term(term)
                if counts.any():
                    any_match = True
                ok &= col.domain_sum(counts) > 0
            if not any_match and all(t.matches(pod.namespace, pod.labels) for t in pod.affinity):
                ok = np.ones(n, dtype=np.bool_)
                for term in pod.affinity:
                    ok &= cluster.column(term.topology_key).present
            reasons.append(Reason(AFFINITY, ~ok, resolvable=False))
        if not reasons:
            return None
        return FilterResult.from_reasons(n, reasons)

    def score(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
              nodes: npt.NDArray[np.intp]) -> Vector | None:
        total: npt.NDArray[np.float64] | None = None

        def add(values: npt.NDArray[np.float64]) -> None:
            nonlocal total
            total = values if total is None else total + values

        for weight, term in pod.preferred_affinity:
            add(weight * cluster.column(term.topology_key).domain_sum(cluster.count_term(term)))
        for weight, term in pod.preferred_anti_affinity:
            add(-weight * cluster.column(term.topology_key).domain_sum(cluster.count_term(term)))
        if not self.ignore_preferred_of_existing:
            for (nss, sel, topo), weights in cluster.pref_terms_for(pod):
                if (nss is None or pod.namespace in nss) and sel.matches(pod.labels) and weights.any():
                    add(cluster.column(topo).domain_sum(weights))
        if total is None:
            return None
        return total[nodes]

    def normalize(self, state: CycleState, pod: PodInfo, scores: Vector) -> Vector:
        return min_max_normalize(scores)
