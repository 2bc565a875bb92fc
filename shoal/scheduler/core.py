"""The scheduling decision, pure and synchronous: cluster state and pods in, placements out.

Nomad's shape: ``schedule(cluster, pods, profiles)`` reads the cluster state,
decides, and records each placement in the state (so the next pod of the
batch sees it) - nothing else. The async worker around it does the I/O: it
feeds the state from informers, binds, retries on conflict.

One decision (``Profile.schedule_one``):
1. PreFilter plugins (a failure is final for this attempt);
2. Filter plugins, each a mask over every node; a node is charged to the
   first plugin that rejects it, and its reasons are counted per plugin: a
   pod no node takes gets a ``Diagnosis`` (data: plugin -> reason -> nodes),
   from which the worker writes upstream's message (``0/5 nodes are
   available: 3 Insufficient cpu, 2 node(s) had untolerated taint
   {dedicated: gpu}.``) and the queue learns which plugins' events to wait for;
3. if nothing fits, PostFilter (preemption) may nominate a node and victims;
4. Score plugins over the feasible nodes, normalised to 0..100, weighted,
   summed; the best node wins, ties broken by a number derived from the pod's
   uid, so the same state and pod always give the same answer;
5. Reserve plugins record what the placement takes besides resources (a
   claim's node); if one did, the decision carries its cycle state, which the
   worker hands to the PreBind plugins before binding (``unreserve`` undoes
   it when the placement fails).

Time spent per plugin is accumulated in ``Profile.timings`` (seconds), which
is how the benchmark tells which plugin dominates.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from shoal.scheduler.config import POINTS, ConfigError, ProfileConfig, SchedulerConfig
from shoal.scheduler.framework import (
    BindPlugin,
    ClusterEvent,
    Code,
    CycleState,
    Diagnosis,
    FilterPlugin,
    Mask,
    NormalizeScorePlugin,
    PostFilterPlugin,
    PreBindPlugin,
    PreFilterPlugin,
    Rejection,
    ReservePlugin,
    ScorePlugin,
    Victims,
    events_of,
    needs_claims,
)
from shoal.scheduler.plugins import DEFAULT_PLUGINS, REGISTRY
from shoal.scheduler.podinfo import PodInfo
from shoal.scheduler.snapshot import ClusterState

_POINT_TYPES: dict[str, type] = {
    "preFilter": PreFilterPlugin, "filter": FilterPlugin, "postFilter": PostFilterPlugin,
    "score": ScorePlugin, "reserve": ReservePlugin, "preBind": PreBindPlugin, "bind": BindPlugin,
}


@dataclass(slots=True)
class Decision:
    """What happened to one pod: a node, or why not (``diagnosis``) and maybe a nomination."""

    pod: PodInfo
    node: str | None = None
    code: Code = Code.SUCCESS
    diagnosis: Diagnosis | None = None  # set when ``node`` is None
    feasible: int = 0
    nominated: Victims | None = None
    state: CycleState | None = None  # set when a Reserve plugin reserved something: PreBind's input

    @property
    def scheduled(self) -> bool:
        return self.node is not None


@dataclass(slots=True)
class Filtered:
    """The filters' verdict over the nodes, as masks (what ``Diagnosis`` is counted from)."""

    ok: Mask
    failed: npt.NDArray[np.int8]  # per node: 0 passed, else the Code of the first rejecting plugin
    reasons: dict[str, dict[str, int]] = field(default_factory=dict)  # plugin -> reason -> nodes
    rejection: Rejection | None = None  # a PreFilter failure: applies to every node
    invalid_spec: str = ""
    error_code: Code = Code.SUCCESS
    all_ok: bool = False  # no filter rejected a node (``ok`` and ``failed`` are then shared, read-only)


def tie_break(uid: str, count: int) -> int:
    return zlib.crc32(uid.encode()) % count if count > 1 else 0


MIN_NODES_TO_SCORE = 100


def nodes_to_score(n: int, percentage: int = 0) -> int:
    """How many feasible nodes to score (upstream's percentageOfNodesToScore; 0: adaptive)."""
    if n < MIN_NODES_TO_SCORE or percentage >= 100:
        return n
    if percentage <= 0:
        percentage = max(5, 50 - n // 125)
    return max(MIN_NODES_TO_SCORE, n * percentage // 100)


def sample(feasible: npt.NDArray[np.intp], k: int, uid: str) -> npt.NDArray[np.intp]:
    """``k`` of the feasible nodes: a window starting at an offset seeded by the pod's uid."""
    if feasible.size <= k:
        return feasible
    start = zlib.crc32(uid.encode()[::-1]) % feasible.size
    end = start + k
    if end <= feasible.size:
        return feasible[start:end]
    return np.concatenate([feasible[start:], feasible[:end - feasible.size]])


class Profile:
    """One configured framework: the plugins of each extension point, in order."""

    def __init__(self, name: str, *, pre_filter: Iterable[Any] = (), filter: Iterable[Any] = (),
                 score: Iterable[tuple[Any, int]] = (), post_filter: Iterable[Any] = (),
                 reserve: Iterable[Any] = (), pre_bind: Iterable[Any] = (),
                 bind: Iterable[Any] = (), percentage_to_score: int = 0) -> None:
        self.name = name
        self.percentage_to_score = percentage_to_score
        self.pre_filter = list(pre_filter)
        self.filter = list(filter)
        self.score = [(p, w, isinstance(p, NormalizeScorePlugin)) for p, w in score if w > 0]
        self.post_filter = list(post_filter)
        self.reserve = list(reserve)
        self.pre_bind = list(pre_bind)
        self.bind = list(bind)
        self.timings: dict[str, float] = {}
        self._events = {p.name: events_of(p) for p in (*self.pre_filter, *self.filter)}
        # the points without the plugins that only concern pods with claims (``needs_claims``): what a
        # pod without claims (nearly every pod) runs, so the volume plugins cost it one attribute test
        self._no_claims = tuple([p for p in lst if not needs_claims(p)]
                                for lst in (self.pre_filter, self.filter, self.reserve))

    def _time(self, name: str, t0: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    # ---- filtering ------------------------------------------------------------------------
    def filter_nodes(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> Filtered:
        n = cluster.n
        if pod.error:
            return Filtered(np.zeros(n, dtype=np.bool_), np.full(n, Code.UNSCHEDULABLE_AND_UNRESOLVABLE, np.int8),
                            invalid_spec=pod.error, error_code=Code.UNSCHEDULABLE_AND_UNRESOLVABLE)
        pre_filter, filters, _ = (self.pre_filter, self.filter, None) if pod.claims else self._no_claims
        for p in pre_filter:
            t0 = time.perf_counter()
            st = p.pre_filter(state, pod, cluster)
            self._time(p.name, t0)
            if not st.ok:
                return Filtered(np.zeros(n, dtype=np.bool_), np.full(n, st.code, np.int8),
                                rejection=Rejection(p.name, st.reasons), error_code=st.code)
        reasons: dict[str, dict[str, int]] = {}
        timings = self.timings
        # ``ok`` and ``failed`` are made only once a filter rejects a node: in a cluster with room
        # most decisions never reject one, and two arrays over every node per decision add up
        ok: Mask | None = None
        failed: npt.NDArray[np.int8] | None = None
        t0 = time.perf_counter()
        for p in filters:
            res = p.filter(state, pod, cluster)
            t1 = time.perf_counter()
            timings[p.name] = timings.get(p.name, 0.0) + t1 - t0
            t0 = t1
            if res is None:
                continue
            rejected = ~res.ok if ok is None else ok & ~res.ok
            if not rejected.any():
                continue
            if ok is None or failed is None:
                ok = np.ones(n, dtype=np.bool_)
                failed = np.zeros(n, dtype=np.int8)
            counts = reasons.setdefault(p.name, {})
            for r in res.reasons:
                hit = r.failed & rejected
                c = int(np.count_nonzero(hit))
                if c:
                    counts[r.text] = counts.get(r.text, 0) + c
                    code = Code.UNSCHEDULABLE if r.resolvable else Code.UNSCHEDULABLE_AND_UNRESOLVABLE
                    failed[hit] = np.maximum(failed[hit], code)
            failed[rejected & (failed == 0)] = Code.UNSCHEDULABLE
            ok &= res.ok
            t0 = time.perf_counter()
            if not ok.any():
                break
        if ok is None or failed is None:
            return Filtered(cluster.all_nodes, cluster.no_failures, reasons, all_ok=True)
        return Filtered(ok, failed, reasons)

    def evaluator(self, cluster: ClusterState) -> Callable[[PodInfo], Mask]:
        """The filters alone, on a fresh cycle, against ``cluster`` as it is when called
        (preemption's what-ifs remove pods and ask again)."""
        def run(pod: PodInfo) -> Mask:
            return self.filter_nodes(CycleState(), pod, cluster).ok
        return run

    # ---- scoring --------------------------------------------------------------------------
    def rank(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
             nodes: npt.NDArray[np.intp]) -> npt.NDArray[np.float64]:
        total = np.zeros(len(nodes))
        timings = self.timings
        t0 = time.perf_counter()
        for p, weight, normalizes in self.score:
            s = p.score(state, pod, cluster, nodes)
            if s is not None:
                if normalizes:
                    s = p.normalize(state, pod, s)
                total += weight * s
            t1 = time.perf_counter()
            timings[p.name] = timings.get(p.name, 0.0) + t1 - t0
            t0 = t1
        return total

    # ---- one decision -----------------------------------------------------------------------
    def schedule_one(self, cluster: ClusterState, pod: PodInfo) -> Decision:
        cluster.refresh()
        n = cluster.n
        state = CycleState()
        diag = self.filter_nodes(state, pod, cluster)
        if diag.error_code != Code.SUCCESS:
            return Decision(pod, code=diag.error_code, diagnosis=Diagnosis(
                n, pre_filter=diag.rejection, invalid_spec=diag.invalid_spec,
                unresolvable=n if diag.error_code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE else 0))
        feasible = cluster.node_indices if diag.all_ok else np.flatnonzero(diag.ok)
        if feasible.size == 0:
            return self._unschedulable(state, pod, cluster, diag)
        if pod.nominated_node:
            i = cluster.index.get(pod.nominated_node)
            if i is not None and diag.ok[i]:
                return self._reserve(state, pod, cluster, Decision(pod, pod.nominated_node, feasible=int(feasible.size)))
        if feasible.size == 1 or not self.score:
            pick = int(feasible[tie_break(pod.uid, feasible.size)] if not self.score else feasible[0])
            return self._reserve(state, pod, cluster, Decision(pod, cluster.names[pick], feasible=int(feasible.size)))
        scored = sample(feasible, nodes_to_score(n, self.percentage_to_score), pod.uid)
        scores = self.rank(state, pod, cluster, scored)
        best = np.flatnonzero(scores >= scores.max() - 1e-9)
        pick = int(scored[best[tie_break(pod.uid, best.size)]])
        return self._reserve(state, pod, cluster, Decision(pod, cluster.names[pick], feasible=int(feasible.size)))

    def _reserve(self, state: CycleState, pod: PodInfo, cluster: ClusterState, d: Decision) -> Decision:
        """Run the Reserve plugins for the chosen node; one that fails undoes them all (as upstream)."""
        node = d.node
        assert node is not None
        reserve = self.reserve if pod.claims else self._no_claims[2]
        for i, p in enumerate(reserve):
            t0 = time.perf_counter()
            st = p.reserve(state, pod, cluster, node)
            self._time(p.name, t0)
            if st.code == Code.SKIP:
                continue
            if not st.ok:
                for q in reversed(reserve[:i + 1]):
                    q.unreserve(state, pod, cluster, node)
                return Decision(pod, code=Code.ERROR, diagnosis=Diagnosis(
                    cluster.n, pre_filter=Rejection(p.name, (f'running Reserve plugin "{p.name}": {st.message()}',))))
            d.state = state
        return d

    def unreserve(self, d: Decision, cluster: ClusterState) -> None:
        """The placement failed (PreBind, binding): undo what Reserve recorded, last plugin first."""
        if d.state is not None and d.node is not None:
            for p in reversed(self.reserve):
                p.unreserve(d.state, d.pod, cluster, d.node)

    def _unschedulable(self, state: CycleState, pod: PodInfo, cluster: ClusterState,
                       diag: Filtered) -> Decision:
        n = cluster.n
        unresolvable = int(np.count_nonzero(diag.failed == Code.UNSCHEDULABLE_AND_UNRESOLVABLE))
        code = Code.UNSCHEDULABLE if unresolvable < n else Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        extra = ""
        nominated = None
        if n:
            for p in self.post_filter:
                t0 = time.perf_counter()
                res = p.post_filter(state, pod, cluster, diag.failed, self.evaluator(cluster))
                self._time(p.name, t0)
                extra = res.status.message()
                if res.nominated is not None:
                    nominated = res.nominated
                    break
        return Decision(pod, code=code, nominated=nominated, diagnosis=Diagnosis(
            n, filtered=diag.reasons, unresolvable=unresolvable, post_filter=extra))

    def requeue_events(self, diagnosis: Diagnosis) -> ClusterEvent:
        """The cluster events that can make a pod with this diagnosis fit: those the plugins that
        rejected it registered; every event when no plugin did (no nodes at all); none when its
        own spec is at fault (only a change to the pod, or the periodic flush, retries it)."""
        if diagnosis.invalid_spec or diagnosis.unknown_profile:
            return ClusterEvent(0)
        plugins = diagnosis.plugins
        if not plugins:
            return ClusterEvent.ALL
        events = ClusterEvent(0)
        for name in plugins:
            events |= self._events.get(name, ClusterEvent.ALL)
        return events


def schedule(cluster: ClusterState, pods: Iterable[PodInfo], profiles: Mapping[str, Profile], *,
             assume: bool = True) -> list[Decision]:
    """Decide for each pod in order; with ``assume`` each placement is recorded in ``cluster``."""
    out = []
    for pod in pods:
        profile = profiles.get(pod.scheduler_name)
        if profile is None:
            out.append(Decision(pod, code=Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
                                diagnosis=Diagnosis(0, unknown_profile=pod.scheduler_name)))
            continue
        d = profile.schedule_one(cluster, pod)
        if assume and d.node is not None:
            cluster.add_pod(pod, d.node, assumed=True)
        out.append(d)
    return out


# ---- building profiles from the configuration --------------------------------------------

def _implements(plugin: Any, point: str) -> bool:
    return isinstance(plugin, _POINT_TYPES[point]) if point in _POINT_TYPES else False


def build_profile(cfg: ProfileConfig, registry: Mapping[str, Any] = REGISTRY, *,
                  percentage_to_score: int = 0) -> Profile:
    """Resolve the default plugins, multiPoint and per-point enable/disable, weights and args."""
    names = [nm for nm, _ in DEFAULT_PLUGINS]
    weights: dict[str, int] = {nm: w for nm, w in DEFAULT_PLUGINS}
    per_point: dict[str, list[str]] = {}
    mp = cfg.plugins.get("multiPoint")
    if mp is not None:
        names = [] if "*" in mp.disabled else [nm for nm in names if nm not in mp.disabled]
        for nm, w in mp.enabled:
            if nm not in names:
                names.append(nm)
            if w is not None:
                weights[nm] = w
    wanted = set(names)
    for point in POINTS[1:]:
        ps = cfg.plugins.get(point)
        if ps is not None:
            wanted |= {nm for nm, _ in ps.enabled}
    unknown = sorted((wanted | set(cfg.plugin_args)) - set(registry))
    if unknown:
        raise ConfigError(f"profile {cfg.scheduler_name!r}: unknown plugin {unknown[0]!r} "
                          f"(known: {', '.join(sorted(registry))})")
    instances: dict[str, Any] = {}
    for nm in sorted(wanted):
        try:
            instances[nm] = registry[nm](cfg.plugin_args.get(nm) or {})
        except (ValueError, TypeError, KeyError) as e:
            raise ConfigError(f"profile {cfg.scheduler_name!r}: pluginConfig {nm}: {e}") from None
    for point in POINTS[1:]:
        lst = [nm for nm in names if _implements(instances[nm], point)]
        ps = cfg.plugins.get(point)
        if ps is not None:
            lst = [] if "*" in ps.disabled else [nm for nm in lst if nm not in ps.disabled]
            for nm, w in ps.enabled:
                if not _implements(instances[nm], point):
                    raise ConfigError(f"profile {cfg.scheduler_name!r}: plugin {nm} does not implement {point}")
                if nm not in lst:
                    lst.append(nm)
                if w is not None and point == "score":
                    weights[nm] = w
        per_point[point] = lst
    for nm in per_point["score"]:
        if weights.get(nm, 0) <= 0:
            weights[nm] = 1
    return Profile(
        cfg.scheduler_name,
        pre_filter=[instances[nm] for nm in per_point["preFilter"]],
        filter=[instances[nm] for nm in per_point["filter"]],
        score=[(instances[nm], weights[nm]) for nm in per_point["score"]],
        post_filter=[instances[nm] for nm in per_point["postFilter"]],
        reserve=[instances[nm] for nm in per_point["reserve"]],
        pre_bind=[instances[nm] for nm in per_point["preBind"]],
        bind=[instances[nm] for nm in per_point["bind"]],
        percentage_to_score=percentage_to_score,
    )


def build_profiles(cfg: SchedulerConfig) -> dict[str, Profile]:
    return {p.scheduler_name: build_profile(p, percentage_to_score=cfg.percentage_to_score)
            for p in cfg.profiles}
