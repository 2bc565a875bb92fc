"""Planning a Deployment's next step: ``plan_rollout(d, replicasets, pods, now) -> Plan``.

A pure function of what the informer caches hold; the controller applies the
plan (create, update and delete ReplicaSets, then write status) and plans again
on the next event. It follows upstream's ``syncDeployment`` pass by pass:

- a paused Deployment, or one whose size changed (``desired-replicas`` on its
  ReplicaSets differs from ``spec.replicas``), is only *scaled*, proportionally
  over its active ReplicaSets;
- ``RollingUpdate`` grows the new ReplicaSet within ``replicas + maxSurge`` and
  shrinks old ones while at least ``replicas - maxUnavailable`` pods stay
  available (unhealthy old pods go first), one kind of step per pass;
- ``Recreate`` scales every old ReplicaSet to zero, waits until their pods are
  gone, then scales the new one up;
- complete rollouts prune history beyond ``revisionHistoryLimit``; the status
  follows ``progress.rollout_status``; with ``shoal.io/auto-rollback`` a failed
  rollout becomes a ``Rollback`` instead (see ``autorollback``).

One deliberate difference from upstream: an old ReplicaSet counts as
``min(status.availableReplicas, spec.replicas)`` available when deciding how far
to scale down, so a ReplicaSet already told to shrink (whose status still
counts the pods about to go) is not counted twice. Upstream can briefly dip
below ``replicas - maxUnavailable`` in that window; this planner does not.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from shoal.api.selectors import SelectorError, from_label_selector
from shoal.api.views import (
    Body,
    format_time,
    is_ready,
    is_terminating,
    meta,
    name,
    phase,
    spec,
    status,
    uid,
)
from shoal.api.views import annotations as annotations_of
from shoal.controllers import autorollback, podstate, progress
from shoal.controllers.history import (
    DESIRED_REPLICAS,
    FULLY_AVAILABLE,
    REVISION,
    ReplicaSet,
    build_new_replica_set,
    creation_key,
    find_new_and_old,
    history_to_clean,
    int_annotation,
    max_revision,
    replicas_annotations_need_update,
    set_new_rs_annotations,
    set_replicas_annotations,
)
from shoal.controllers.scaling import (
    active,
    find_active_or_latest,
    is_rolling,
    max_surge,
    max_unavailable,
    new_rs_new_replicas,
    proportional_sizes,
    spec_replicas,
    total_spec,
)

Event = tuple[str, str, str]  # type, reason, message


@dataclass
class Plan:
    """What to write, in order: create, updates, deletes, status, annotations (or a rollback)."""

    create: ReplicaSet | None = None                         # a new ReplicaSet
    updates: list[ReplicaSet] = field(default_factory=list)  # changed copies of cached ReplicaSets (PUT)
    deletes: list[ReplicaSet] = field(default_factory=list)  # old ReplicaSets beyond the history limit
    status: dict[str, Any] | None = None                     # the Deployment's new status, if it changed
    annotations: dict[str, str] = field(default_factory=dict)  # to merge onto the Deployment
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    rollback: autorollback.Rollback | None = None
    rolled_back: dict[str, Any] | None = None                # the Deployment to write for a rollback

    @property
    def empty(self) -> bool:
        return not (self.create or self.updates or self.deletes or self.status is not None or self.annotations
                    or self.rollback)


def _available(rs: Body) -> int:
    return min(int(status(rs).get("availableReplicas") or 0), spec_replicas(rs))


class _Pass:
    """One planning pass over copies of the cached objects."""

    def __init__(self, d: Body, rss: Sequence[Body], pods: Mapping[str, Sequence[Body]], now: dt.datetime) -> None:
        self.d = d
        self.now = now
        self.pods = pods
        self.base: dict[str, Any] = copy.deepcopy(status(d))  # the status conditions start from
        # copies this pass may change (the cached objects never are)
        self.rss = [cast(ReplicaSet, copy.deepcopy(dict(rs))) for rs in rss]
        self.changed: list[ReplicaSet] = []
        self.plan = Plan()

    # ---- helpers ------------------------------------------------------------------------
    def _mark(self, rs: ReplicaSet) -> None:
        if rs is not self.plan.create and all(rs is not c for c in self.changed):
            self.changed.append(rs)

    def event(self, type_: str, reason: str, message: str) -> None:
        self.plan.events.append((type_, reason, message))

    def scale(self, rs: ReplicaSet, n: int, op: str = "") -> bool:
        """Set replicas (and the size annotations); True if the size changed."""
        old = spec_replicas(rs)
        want = spec_replicas(self.d)
        ann_change = replicas_annotations_need_update(rs, want, want + max_surge(self.d))
        if old == n and not ann_change:
            return False
        rs["spec"]["replicas"] = n
        set_replicas_annotations(rs, want, want + max_surge(self.d))
        self._mark(rs)
        if old != n:
            op = op or ("up" if n > old else "down")
            self.event("Normal", "ScalingReplicaSet", f"Scaled {op} replica set {name(rs)} from {old} to {n}")
        return old != n

    def scale_and_record(self, rs: ReplicaSet, n: int) -> bool:
        if spec_replicas(rs) == n:
            return False
        return self.scale(rs, n)

    def new_and_old(self, *, create: bool) -> tuple[ReplicaSet | None, list[ReplicaSet]]:
        """upstream's getAllReplicaSetsAndSyncRevision."""
        d = self.d
        new, old = find_new_and_old(d, self.rss)
        new_revision = max_revision(old) + 1
        want = spec_replicas(d)
        has_deadline = progress.has_progress_deadline(d)
        if new is not None:
            changed = set_new_rs_annotations(d, new, new_revision, exists=True, desired=want,
                                             max_replicas=want + max_surge(d))
            mrs = int(spec(d).get("minReadySeconds") or 0)
            if int(new["spec"].get("minReadySeconds") or 0) != mrs:
                new["spec"]["minReadySeconds"] = mrs
                changed = True
            if changed:
                self._mark(new)
            self._set_revision(annotations_of(new).get(REVISION, ""))
            if has_deadline and progress.condition(self.base, progress.PROGRESSING) is None:
                progress.set_condition(self.base, progress.new_condition(
                    progress.PROGRESSING, "True", progress.FOUND_NEW_RS,
                    f'Found new replica set "{name(new)}"', self.now))
            return new, old
        if not create:
            return None, old
        rs = build_new_replica_set(d, revision_=new_revision, replicas=0, max_replicas=want + max_surge(d),
                                   collision_count=status(d).get("collisionCount"))
        n = new_rs_new_replicas(d, [*old, rs], rs)
        rs["spec"]["replicas"] = n
        self.plan.create = rs
        self.rss.append(rs)
        self._set_revision(str(new_revision))
        if has_deadline:
            progress.set_condition(self.base, progress.new_condition(
                progress.PROGRESSING, "True", progress.NEW_RS_CREATED,
                f'Created new replica set "{name(rs)}"', self.now))
        if n > 0:
            self.event("Normal", "ScalingReplicaSet", f"Scaled up replica set {name(rs)} from 0 to {n}")
        return rs, old

    def _set_revision(self, rev: str) -> None:
        if rev and annotations_of(self.d).get(REVISION) != rev:
            self.plan.annotations[REVISION] = rev

    # ---- steps ----------------------------------------------------------------------------
    def proportional_scale(self, new: ReplicaSet | None, old: list[ReplicaSet]) -> None:
        """upstream's ``scale``: resize for a changed ``spec.replicas``."""
        d = self.d
        want = spec_replicas(d)
        single = find_active_or_latest(new, old)
        if single is not None:
            self.scale_and_record(single, want)
            return
        if new is not None and self._saturated(new):
            for rs in active(old):
                self.scale_and_record(rs, 0)
            return
        if not is_rolling(d):
            return
        act = active([*old, new])
        to_add = (want + max_surge(d) if want > 0 else 0) - total_spec(act)
        op = "up" if to_add > 0 else "down" if to_add < 0 else ""
        for rs_name, size in proportional_sizes(d, act).items():
            rs = next(r for r in act if name(r) == rs_name)
            self.scale(rs, size, op)

    def _saturated(self, rs: Body) -> bool:
        want = spec_replicas(self.d)
        return (int_annotation(rs, DESIRED_REPLICAS) == want and spec_replicas(rs) == want
                and int(status(rs).get("availableReplicas") or 0) == want)

    def reconcile_new(self, all_rss: list[ReplicaSet], new: ReplicaSet) -> bool:
        want = spec_replicas(self.d)
        if spec_replicas(new) == want:
            return False
        if spec_replicas(new) > want:
            return self.scale_and_record(new, want)
        return self.scale_and_record(new, new_rs_new_replicas(self.d, all_rss, new))

    def reconcile_old(self, all_rss: list[ReplicaSet], old: list[ReplicaSet], new: ReplicaSet) -> bool:
        if total_spec(old) == 0:
            return False
        min_available = spec_replicas(self.d) - max_unavailable(self.d)
        new_unavailable = spec_replicas(new) - int(status(new).get("availableReplicas") or 0)
        max_scaled_down = total_spec(all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = self._cleanup_unhealthy(old, max_scaled_down)
        scaled = self._scale_down_old(old, new, min_available)
        return cleaned + scaled > 0

    def _cleanup_unhealthy(self, old: list[ReplicaSet], budget: int) -> int:
        total = 0
        for rs in sorted(old, key=creation_key):
            if total >= budget:
                break
            n = spec_replicas(rs)
            unhealthy = n - _available(rs)
            if n == 0 or unhealthy <= 0:
                continue
            down = min(budget - total, unhealthy)
            self.scale_and_record(rs, n - down)
            total += down
        return total

    def _scale_down_old(self, old: list[ReplicaSet], new: ReplicaSet, min_available: int) -> int:
        available = sum(_available(rs) for rs in [*old, new])
        if available <= min_available:
            return 0
        budget = available - min_available
        total = 0
        for rs in sorted(old, key=creation_key):
            if total >= budget:
                break
            n = spec_replicas(rs)
            if n == 0:
                continue
            down = min(n, budget - total)
            self.scale_and_record(rs, n - down)
            total += down
        return total

    def old_pods_running(self, new: ReplicaSet | None, old: list[ReplicaSet]) -> bool:
        if sum(int(status(rs).get("replicas") or 0) for rs in old) > 0:
            return True
        new_uid = meta(new).get("uid") if new is not None else None
        for rs in old:
            rs_uid = uid(rs)
            if rs_uid == new_uid:
                continue
            for p in self.pods.get(rs_uid, ()):
                if phase(p) not in ("Failed", "Succeeded"):
                    return True
        return False

    def cleanup(self, old: list[ReplicaSet]) -> None:
        self.plan.deletes = history_to_clean(self.d, old)

    # ---- status ---------------------------------------------------------------------------
    def finish(self, new: ReplicaSet | None, *, rollout: bool) -> Plan:
        all_rss = [rs for rs in self.rss if rs is not None]
        if rollout:
            st = progress.rollout_status(self.d, all_rss, new, self.now, base=self.base,
                                         replica_failure=progress.replica_failure(all_rss, new))
        else:
            st = progress.calculate_status(self.d, all_rss, new, self.now, base=self.base)
        if new is not None and FULLY_AVAILABLE not in annotations_of(new) and progress.complete(self.d, st):
            new["metadata"].setdefault("annotations", {})[FULLY_AVAILABLE] = format_time(self.now)
            self._mark(new)
        if st != status(self.d):
            self.plan.status = st
        self.plan.updates = [rs for rs in self.changed if rs is not self.plan.create]
        if rollout:
            self.plan.requeue_after = progress.deadline_in(self.d, st, self.now)
            if autorollback.enabled(self.d):
                self._auto_rollback(new, st)
        return self.plan

    def _auto_rollback(self, new: ReplicaSet | None, st: Body) -> None:
        if new is None or new is self.plan.create:
            return
        pods = self.pods.get(uid(new), ())
        why = autorollback.rollout_failure(self.d, new, pods, st, self.now)
        if why is None:
            wait = _readiness_wait(self.d, pods, self.now)
            if wait is not None and FULLY_AVAILABLE not in annotations_of(new):
                cur = self.plan.requeue_after
                self.plan.requeue_after = wait if cur is None else min(cur, wait)
            return
        _, old = find_new_and_old(self.d, self.rss)
        target = autorollback.rollback_target(self.d, old)
        if target is None:
            self.event("Warning", "AutoRollbackImpossible",
                       f"rollout of replica set {name(new)} failed, but no earlier revision was fully "
                       "available to roll back to")
            return
        rev = int(annotations_of(target).get(REVISION) or 0)
        self.plan = Plan(
            rollback=autorollback.Rollback(target=name(target), revision=rev, reason=why),
            rolled_back=autorollback.rolled_back(self.d, target),
            events=[("Warning", "AutoRollback",
                     f"Rolling back to revision {rev} (replica set {name(target)}): {why}")],
        )


def _readiness_wait(d: Body, pods: Sequence[Body], now: dt.datetime) -> float | None:
    """Seconds until a running, unready new pod would exceed the readiness grace."""
    grace = autorollback.readiness_seconds(d)
    waits = []
    for p in pods:
        since = podstate.running_since(p)
        if since is not None and not is_ready(p):
            waits.append(max(0.0, grace - (now - since).total_seconds()) + 0.5)
    return min(waits) if waits else None


def plan_rollout(d: Body, rss: Sequence[Body], pods: Mapping[str, Sequence[Body]], now: dt.datetime) -> Plan:
    """The next step for Deployment ``d``.

    ``rss`` are the ReplicaSets it controls (already claimed), ``pods`` maps a
    ReplicaSet uid to the pods it controls (terminating ones included).
    """
    w = _Pass(d, rss, pods, now)
    dspec = spec(d)
    if is_terminating(d):
        new, _ = w.new_and_old(create=False)
        return w.finish(new, rollout=False)
    try:
        everything = from_label_selector(dspec.get("selector")).empty
    except SelectorError:
        everything = True
    if everything:
        w.event("Warning", "SelectorNone", "This deployment is selecting all pods. A non-empty selector is required.")
        if int(w.base.get("observedGeneration") or 0) < int(meta(d).get("generation") or 0):
            w.plan.status = {**w.base, "observedGeneration": int(meta(d).get("generation") or 0)}
        return w.plan
    progress.paused_conditions(d, w.base, now)
    if dspec.get("paused") or _scaling_event(w):
        new, old = w.new_and_old(create=False)
        w.proportional_scale(new, old)
        if dspec.get("paused"):
            w.cleanup(old)
        return w.finish(new, rollout=False)
    if not is_rolling(d):
        return _recreate(w)
    return _rolling(w)


def _scaling_event(w: _Pass) -> bool:
    new, old = find_new_and_old(w.d, w.rss)
    if new is None:
        return False
    want = spec_replicas(w.d)
    for rs in active([*old, new]):
        desired = int_annotation(rs, DESIRED_REPLICAS)
        if desired is not None and desired != want:
            return True
    return False


def _rolling(w: _Pass) -> Plan:
    new, old = w.new_and_old(create=True)
    assert new is not None
    all_rss = [*old, new]
    if w.reconcile_new(all_rss, new):
        return w.finish(new, rollout=True)
    if w.reconcile_old(all_rss, active(old), new):
        return w.finish(new, rollout=True)
    if progress.complete(w.d, status(w.d)):
        w.cleanup(old)
    return w.finish(new, rollout=True)


def _recreate(w: _Pass) -> Plan:
    new, old = w.new_and_old(create=False)
    scaled = False
    for rs in active(old):
        scaled = w.scale_and_record(rs, 0) or scaled
    if scaled or w.old_pods_running(new, old):
        return w.finish(new, rollout=True)
    if new is None:
        new, old = w.new_and_old(create=True)
        assert new is not None
    w.scale_and_record(new, spec_replicas(w.d))
    if progress.complete(w.d, status(w.d)):
        w.cleanup(old)
    return w.finish(new, rollout=True)
