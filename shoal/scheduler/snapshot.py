"""The cluster as the scheduler sees it: nodes as numpy arrays, pods placed on them.

``ClusterState`` is the scheduler's one mutable model of the cluster. Nodes
become rows of arrays (allocatable and requested resources per column,
cordon flags, a taint-set id, label columns encoded as integer codes) so that
a filter is a vector comparison and a score a vector formula. Pods are added
and removed (including *assumed* pods whose binding is still in flight, so the
next decision already sees their resources) and every array they contribute
to is updated in place, in O(1) numpy writes.

Counting "pods matching this selector per node" (pod affinity, anti-affinity,
topology spread) would cost a pass over every pod per decision; instead each
(namespaces, selector) asked for is counted once and then kept current as
pods come and go, indexed by one equality requirement so a new pod only
touches the counts it can match.

Resources are kept twice, each shape for the question asked of it: per node
(``allocatable``, ``requested``: a row per node) and per resource (``free``:
allocatable minus requested, a contiguous row per resource, so "which nodes
lack 2 cpu" is one comparison over one row). ``min_free`` is a lower bound of
each ``free`` row, exact after a placement (free only shrinks there) and
conservative after a removal, so a filter can prove "every node fits" without
touching the nodes at all, which is the common case of a cluster with room.
``load`` holds, as float64 rows, what the scoring formulas read (non-zero cpu
and memory requested, their allocatable, and its inverse, inf for none).

Claims, volumes and storage classes are kept beside the nodes, parsed
(``volumes``), for the VolumeBinding plugin.

Node changes (rare next to pod changes) mark the arrays dirty; they are
rebuilt, with every derived count, before the next decision (``refresh``).
Pure: no I/O, imports only ``shoal.api`` (and numpy).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from shoal.api.quantity import InvalidQuantity, int_value, milli_value
from shoal.api.selectors import DOUBLE_EQUALS, EQUALS, IN, Selector
from shoal.scheduler.podinfo import PodInfo, PodTerm
from shoal.scheduler.volumes import VolumeState

BASE_RESOURCES = ("cpu", "memory", "pods", "ephemeral-storage")
CPU, MEMORY, PODS = 0, 1, 2
# rows of ``ClusterState.load``: non-zero requested cpu and memory, their allocatable, 1/allocatable
LOAD_CPU, LOAD_MEMORY, ALLOC_CPU, ALLOC_MEMORY, INV_CPU, INV_MEMORY = range(6)
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"

IntArray = npt.NDArray[np.int64]
Taint = tuple[str, str, str]  # key, value, effect
MatchKey = tuple[frozenset[str] | None, Selector]
TermKey = tuple[frozenset[str] | None, Selector, str]


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """The scheduling-relevant part of a Node; equal infos mean nothing to re-plan."""

    name: str
    labels: tuple[tuple[str, str], ...]
    allocatable: tuple[tuple[str, int], ...]
    unschedulable: bool
    taints: tuple[Taint, ...]

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def _resource_value(name: str, raw: Any) -> int:
    try:
        return milli_value(raw) if name == "cpu" else int_value(raw)
    except (InvalidQuantity, TypeError, ValueError):
        return 0


def node_info(node: Mapping[str, Any]) -> NodeInfo:
    md = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    labels = dict(md.get("labels") or {})
    name = str(md.get("name") or "")
    return NodeInfo(
        name=name,
        labels=tuple(sorted(labels.items())),
        allocatable=tuple(sorted((str(k), max(0, _resource_value(str(k), v))) for k, v in alloc.items())),
        unschedulable=bool(spec.get("unschedulable")),
        taints=tuple((str(t.get("key") or ""), str(t.get("value") or ""), str(t.get("effect") or ""))
                     for t in spec.get("taints") or []),
    )


def _index_pair(selector: Selector) -> tuple[str, str] | None:
    for r in selector.requirements:
        if r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
            return r.key, r.values[0]
    return None


class LabelColumn:
    """One label key over all nodes: an integer code per node (-1: label absent)."""

    __slots__ = ("codes", "values", "vocab", "_ints", "_pad", "_own")

    def __init__(self, codes: npt.NDArray[np.int32], values: list[str]) -> None:
        self.codes = codes
        self.values = values
        self.vocab = {v: i for i, v in enumerate(values)}
        self._ints: npt.NDArray[np.float64] | None = None
        # the codes with "absent" (-1) as one slot past the last value, which sums and reads keep at 0:
        # a domain sum is then two numpy calls, not eight (they were ~70 us over 5,000 nodes)
        self._pad: npt.NDArray[np.intp] = np.where(codes < 0, len(values), codes).astype(np.intp)
        # every node a domain of its own (a hostname): a domain's sum is the node's own value
        self._own = len(values) == len(codes) and bool((codes >= 0).all()) and \
            len(np.unique(codes)) == len(codes)

    @property
    def present(self) -> npt.NDArray[np.bool_]:
        return self.codes >= 0

    def isin(self, wanted: tuple[str, ...]) -> npt.NDArray[np.bool_]:
        ids = [self.vocab[v] for v in wanted if v in self.vocab]
        if not ids:
            return np.zeros(len(self.codes), dtype=np.bool_)
        if len(ids) == 1:
            one: npt.NDArray[np.bool_] = self.codes == ids[0]
            return one
        many: npt.NDArray[np.bool_] = np.isin(self.codes, ids)
        return many

    def as_int(self) -> npt.NDArray[np.float64]:
        """Each node's value as a number (NaN where absent or not an integer)."""
        if self._ints is None:
            table = np.full(len(self.values) + 1, np.nan)
            for i, v in enumerate(self.values):
                with contextlib.suppress(ValueError):
                    table[i] = int(v)
            self._ints = table[self.codes]  # code -1 reads the trailing NaN
        return self._ints

    def per_node(self, per_domain: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """Spread a value per domain (indexed by code) back over the nodes; 0 without the label."""
        v = len(self.values)
        if len(per_domain) != v:  # not one value per domain: index it as given
            padded = np.append(per_domain.astype(np.float64), 0.0)  # code -1 reads the trailing 0
            out: npt.NDArray[np.float64] = padded[self.codes]
            return out
        padded = np.zeros(v + 1)
        padded[:v] = per_domain
        spread: npt.NDArray[np.float64] = padded.take(self._pad)
        return spread

    def domain_totals(self, per_node: npt.NDArray[Any],
                      among: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Per domain (indexed by code): the sum of ``per_node`` over its nodes in ``among``, and whether
        it has any node in ``among`` at all (nodes without the label are in no domain)."""
        v = len(self.values)
        if not self._pad.size:
            return np.zeros(v), np.zeros(v, dtype=np.bool_)
        sums = np.bincount(self._pad, weights=np.where(among, per_node, 0), minlength=v + 1)[:v]
        seen = np.bincount(self._pad, weights=among, minlength=v + 1)[:v] > 0
        return cast("npt.NDArray[np.float64]", sums), seen

    def domain_sum(self, per_node: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """For each node, the sum of ``per_node`` over the nodes of its domain (0 without the label)."""
        if self._own:
            own: npt.NDArray[np.float64] = per_node.astype(np.float64)  # a copy: callers may change it
            return own
        v = len(self.values)
        if not self._pad.size:
            return np.zeros(0)
        sums = cast("npt.NDArray[np.float64]", np.bincount(self._pad, weights=per_node, minlength=v + 1))
        sums[v] = 0.0  # what the nodes without the label added up to
        out: npt.NDArray[np.float64] = sums.take(self._pad)
        return out


class ClusterState:
    """Nodes and the pods on them; see the module docstring."""

    MATCH_CACHE = 1024

    def __init__(self) -> None:
        self.nodes: dict[str, NodeInfo] = {}
        self.pods: dict[str, tuple[str, PodInfo]] = {}  # uid -> (node, pod)
        self.pods_by_node: dict[str, dict[str, PodInfo]] = {}
        # placed pods by each of their labels: a selector's first count reads only the pods that carry
        # its first exact label, not every placed pod (a new app among 50,000 pods was ~25 ms)
        self.pods_by_label: dict[tuple[str, str], dict[str, tuple[str, PodInfo]]] = {}
        self.assumed: set[str] = set()
        self.generation = 0  # bumps on every change (decisions can be replayed per generation)
        self.node_epoch = 0  # bumps whenever the node arrays are rebuilt (masks over nodes made before are stale)
        self.volumes = VolumeState()  # claims, volumes and classes (``scheduler.volumes``)
        self._dirty = True
        self._build_empty()

    # ---- arrays ---------------------------------------------------------------------------
    def _build_empty(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.resources: list[str] = list(BASE_RESOURCES)
        self.res_index = {r: i for i, r in enumerate(self.resources)}
        self.allocatable: IntArray = np.zeros((0, len(self.resources)), dtype=np.int64)
        self.requested: IntArray = np.zeros((0, len(self.resources)), dtype=np.int64)
        self.free: IntArray = np.zeros((len(self.resources), 0), dtype=np.int64)
        self.min_free: list[int] = [0] * len(self.resources)
        self.load: npt.NDArray[np.float64] = np.zeros((6, 0))
        self.unschedulable = np.zeros(0, dtype=np.bool_)
        self._shared_arrays(0)
        self.prefer_no_schedule = False  # does any node have a PreferNoSchedule taint
        self.taint_group = np.zeros(0, dtype=np.intp)
        self.taint_sets: list[tuple[Taint, ...]] = []
        self.node_labels: list[dict[str, str]] = []
        self._columns: dict[str, LabelColumn] = {}
        self._selector_masks: dict[frozenset[tuple[str, str]], tuple[npt.NDArray[np.bool_], bool]] = {}
        self._match: OrderedDict[MatchKey, IntArray] = OrderedDict()
        self._match_index: dict[tuple[str, str], set[MatchKey]] = {}
        self._match_other: set[MatchKey] = set()
        self.anti_terms: dict[TermKey, IntArray] = {}
        self.pref_terms: dict[TermKey, npt.NDArray[np.float64]] = {}
        # the terms above by their selector's first exact label (None: no such label), so a pod is
        # checked against the terms that can match it, not every workload's (200 apps: 200 checks a pod)
        self._anti_index: dict[tuple[str, str] | None, set[TermKey]] = {}
        self._pref_index: dict[tuple[str, str] | None, set[TermKey]] = {}
        self.ports: dict[tuple[str, int], dict[int, list[str]]] = {}

    def _shared_arrays(self, n: int) -> None:
        """Read-only arrays over every node that decisions hand around instead of making their own."""
        self.all_nodes = np.ones(n, dtype=np.bool_)
        self.no_failures = np.zeros(n, dtype=np.int8)
        self.node_indices = np.arange(n, dtype=np.intp)
        for a in (self.all_nodes, self.no_failures, self.node_indices):
            a.flags.writeable = False

    @property
    def n(self) -> int:
        return len(self.names)

    def refresh(self) -> None:
        """Rebuild the arrays if nodes changed since the last decision."""
        if self._dirty:
            self._rebuild()

    def _rebuild(self) -> None:
        self._build_empty()
        self.node_epoch += 1
        names = sorted(self.nodes)
        self.names = names
        self.index = {nm: i for i, nm in enumerate(names)}
        infos = [self.nodes[nm] for nm in names]
        extended = sorted({r for ni in infos for r, _ in ni.allocatable} - set(BASE_RESOURCES))
        self.resources = list(BASE_RESOURCES) + extended
        self.res_index = {r: i for i, r in enumerate(self.resources)}
        n, r = len(names), len(self.resources)
        self.allocatable = np.zeros((n, r), dtype=np.int64)
        for i, ni in enumerate(infos):
            for res, v in ni.allocatable:
                self.allocatable[i, self.res_index[res]] = v
        self.requested = np.zeros((n, r), dtype=np.int64)
        self.free = self.allocatable.T.copy()  # C order, and never a view of allocatable (one node: it would be)
        self.min_free = [int(row.min()) if n else 0 for row in self.free]
        self._shared_arrays(n)
        self.load = np.zeros((6, n))
        self.load[ALLOC_CPU] = self.allocatable[:, CPU]
        self.load[ALLOC_MEMORY] = self.allocatable[:, MEMORY]
        with np.errstate(divide="ignore"):
            self.load[INV_CPU:] = 1.0 / self.load[ALLOC_CPU:INV_CPU]  # inf where nothing is allocatable
        self.unschedulable = np.array([ni.unschedulable for ni in infos], dtype=np.bool_)
        groups: dict[tuple[Taint, ...], int] = {}
        tg = np.zeros(n, dtype=np.intp)
        for i, ni in enumerate(infos):
            tg[i] = groups.setdefault(ni.taints, len(groups))
        self.taint_group = tg
        self.taint_sets = list(groups)
        self.prefer_no_schedule = any(e == "PreferNoSchedule" for ts in self.taint_sets for _, _, e in ts)
        self.node_labels = [ni.label_map for ni in infos]
        self._dirty = False
        for node, pods in self.pods_by_node.items():
            at = self.index.get(node)
            if at is not None:
                for p in pods.values():
                    self._apply(p, at, 1)

    def column(self, key: str) -> LabelColumn:
        col = self._columns.get(key)
        if col is None:
            vocab: dict[str, int] = {}
            codes = np.full(self.n, -1, dtype=np.int32)
            for i, labels in enumerate(self.node_labels):
                v = labels.get(key)
                if v is not None:
                    codes[i] = vocab.setdefault(v, len(vocab))
            col = LabelColumn(codes, list(vocab))
            self._columns[key] = col
        return col

    def node_selector_mask(self, selector: Mapping[str, str]) -> tuple[npt.NDArray[np.bool_], bool]:
        """Nodes whose labels include every ``selector`` pair, and whether that is all of them.

        Kept until the nodes change (most pods of a cluster share a few node selectors);
        the mask is shared, so callers must not write to it.
        """
        key = frozenset(selector.items())
        hit = self._selector_masks.get(key)
        if hit is None:
            mask = np.ones(self.n, dtype=np.bool_)
            for k, v in selector.items():
                mask &= self.column(k).isin((v,))
            mask.flags.writeable = False
            hit = self._selector_masks[key] = (mask, bool(mask.all()))
        return hit

    # ---- nodes ----------------------------------------------------------------------------
    def set_node(self, node: Mapping[str, Any]) -> bool:
        """Add or update a node; True if anything the scheduler reads changed."""
        ni = node_info(node)
        if self.nodes.get(ni.name) == ni:
            return False
        self.nodes[ni.name] = ni
        self._dirty = True
        self.generation += 1
        return True

    def remove_node(self, name: str) -> bool:
        if self.nodes.pop(name, None) is None:
            return False
        self._dirty = True
        self.generation += 1
        return True

    # ---- pods -----------------------------------------------------------------------------
    def add_pod(self, pod: PodInfo, node: str, *, assumed: bool = False) -> None:
        """Place ``pod`` on ``node`` (replacing an earlier placement of the same uid)."""
        self.remove_pod(pod.uid)
        self.pods[pod.uid] = (node, pod)
        self.pods_by_node.setdefault(node, {})[pod.uid] = pod
        for kv in pod.labels.items():
            self.pods_by_label.setdefault(kv, {})[pod.uid] = (node, pod)
        if assumed:
            self.assumed.add(pod.uid)
        self.generation += 1
        if not self._dirty and (i := self.index.get(node)) is not None:
            self._apply(pod, i, 1)

    def remove_pod(self, uid: str) -> PodInfo | None:
        placed = self.pods.pop(uid, None)
        self.assumed.discard(uid)
        if placed is None:
            return None
        node, pod = placed
        for kv in pod.labels.items():
            same = self.pods_by_label.get(kv)
            if same is not None:
                same.pop(uid, None)
                if not same:
                    del self.pods_by_label[kv]
        on_node = self.pods_by_node.get(node)
        if on_node is not None:
            on_node.pop(uid, None)
            if not on_node:
                del self.pods_by_node[node]
        self.generation += 1
        if not self._dirty and (i := self.index.get(node)) is not None:
            self._apply(pod, i, -1)
        return pod

    def node_of(self, uid: str) -> str | None:
        placed = self.pods.get(uid)
        return placed[0] if placed else None

    def _apply(self, pod: PodInfo, i: int, sign: int) -> None:
        for res, v in pod.requests.items():
            j = self.res_index.get(res)
            if j is not None and v:
                self._take(i, j, sign * v)
        self._take(i, PODS, sign)
        self.load[LOAD_CPU, i] += sign * pod.nonzero_cpu
        self.load[LOAD_MEMORY, i] += sign * pod.nonzero_memory
        labels = pod.labels
        candidates = set(self._match_other)
        for kv in labels.items():
            keys = self._match_index.get(kv)
            if keys:
                candidates |= keys
        for key in candidates:
            nss, sel = key
            if (nss is None or pod.namespace in nss) and sel.matches(labels):
                self._match[key][i] += sign
        for term in pod.anti_affinity:
            tkey = _term_key(term)
            arr = self.anti_terms.get(tkey)
            if arr is None:
                arr = self.anti_terms[tkey] = np.zeros(self.n, dtype=np.int64)
                self._anti_index.setdefault(_index_pair(term.selector), set()).add(tkey)
            arr[i] += sign
        for weight, term in _scoring_terms(pod):
            tkey = _term_key(term)
            parr = self.pref_terms.get(tkey)
            if parr is None:
                parr = self.pref_terms[tkey] = np.zeros(self.n)
                self._pref_index.setdefault(_index_pair(term.selector), set()).add(tkey)
            parr[i] += sign * weight
        for proto, ip, port in pod.host_ports:
            users = self.ports.setdefault((proto, port), {})
            ips = users.setdefault(i, [])
            if sign > 0:
                ips.append(ip)
            elif ip in ips:
                ips.remove(ip)
                if not ips:
                    del users[i]

    def _take(self, i: int, j: int, amount: int) -> None:
        """Node ``i`` requests ``amount`` more of resource ``j`` (negative: less)."""
        self.requested[i, j] += amount
        left = int(self.free[j, i]) - amount
        self.free[j, i] = left
        if left < self.min_free[j]:  # only a placement lowers the bound; a removal leaves it below
            self.min_free[j] = left

    def fits_everywhere(self, j: int, want: int) -> bool:
        """True only if every node has ``want`` of resource ``j`` free (checks the bound, then the row)."""
        if self.min_free[j] >= want:
            return True
        if self.n:
            self.min_free[j] = int(self.free[j].min())  # make the bound exact again
        return self.min_free[j] >= want

    # ---- derived counts -------------------------------------------------------------------
    def count_matching(self, namespaces: frozenset[str] | None, selector: Selector) -> IntArray:
        """Per node, how many placed pods (in ``namespaces``; None: all) match ``selector``."""
        key: MatchKey = (namespaces, selector)
        arr = self._match.get(key)
        if arr is not None:
            self._match.move_to_end(key)
            return arr
        arr = np.zeros(self.n, dtype=np.int64)
        pair = _index_pair(selector)
        placed = self.pods_by_label.get(pair, {}).values() if pair is not None else self.pods.values()
        for node, p in placed:
            i = self.index.get(node)
            if i is not None and (namespaces is None or p.namespace in namespaces) and selector.matches(p.labels):
                arr[i] += 1
        self._match[key] = arr
        if pair is None:
            self._match_other.add(key)
        else:
            self._match_index.setdefault(pair, set()).add(key)
        if len(self._match) > self.MATCH_CACHE:
            old, _ = self._match.popitem(last=False)
            self._match_other.discard(old)
            opair = _index_pair(old[1])
            if opair is not None:
                self._match_index.get(opair, set()).discard(old)
        return arr

    @staticmethod
    def _candidates(index: dict[tuple[str, str] | None, set[TermKey]], pod: PodInfo) -> set[TermKey]:
        keys = set(index.get(None, ()))
        for kv in pod.labels.items():
            more = index.get(kv)
            if more:
                keys |= more
        return keys

    def anti_terms_for(self, pod: PodInfo) -> list[tuple[TermKey, IntArray]]:
        """Placed pods' required anti-affinity terms that may select ``pod`` (a superset; callers match)."""
        return [(k, self.anti_terms[k]) for k in self._candidates(self._anti_index, pod)]

    def pref_terms_for(self, pod: PodInfo) -> list[tuple[TermKey, npt.NDArray[np.float64]]]:
        """Placed pods' scoring terms that may select ``pod`` (a superset; callers match)."""
        return [(k, self.pref_terms[k]) for k in self._candidates(self._pref_index, pod)]

    def count_term(self, term: PodTerm) -> IntArray:
        return self.count_matching(term.namespaces, term.selector)


def _term_key(term: PodTerm) -> TermKey:
    return (term.namespaces, term.selector, term.topology_key)


HARD_POD_AFFINITY_WEIGHT = 1


def _scoring_terms(pod: PodInfo) -> list[tuple[int, PodTerm]]:
    """The terms of a placed pod that pull (+) or push (-) pods that match them."""
    out = [(w, t) for w, t in pod.preferred_affinity]
    out += [(-w, t) for w, t in pod.preferred_anti_affinity]
    out += [(HARD_POD_AFFINITY_WEIGHT, t) for t in pod.affinity]
    return out


def term_key(term: PodTerm) -> TermKey:
    return _term_key(term)
