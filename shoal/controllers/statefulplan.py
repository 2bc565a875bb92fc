"""The StatefulSet controller's decisions: ``plan_statefulset(sts, pods, claims, revisions, now)``. Pure.

Upstream's ``updateStatefulSet``, step for step, as data: the set's pods are
the replicas ``<set>-<ordinal>`` for ordinals ``start .. start+replicas-1``
and the *condemned* ones outside that range. One pass

1. resolves the current and update revisions (``revisions.resolve``);
2. walks the replicas in ordinal order: a finished pod (Failed or Succeeded)
   is deleted (the next pass recreates it under the same name, so with the
   same claims: the same data); a missing one gets its claims
   (``<template>-<set>-<ordinal>``) and then itself, at the current revision
   below the partition and the update revision at or above it; a Pending one
   gets any claim it lacks; identity labels are repaired. Under
   ``OrderedReady`` the walk stops at the first pod that was just created,
   is terminating, or is not Running and available (Ready for
   ``minReadySeconds``): each pod waits for all before it. ``Parallel`` walks
   them all;
3. sets the claims' owners as ``persistentVolumeClaimRetentionPolicy`` asks
   (``whenDeleted: Delete``: owned by the set; ``whenScaled: Delete``: a
   condemned pod's claims owned by that pod), so the garbage collector deletes
   them with their owner;
4. deletes condemned pods from the highest ordinal down: under
   ``OrderedReady`` one at a time, and only when every other pod is healthy
   (or it is the first unhealthy one);
5. with ``RollingUpdate``, deletes the pod with the highest ordinal at or
   above ``partition`` that is not at the update revision, once every pod
   above it is healthy (``maxUnavailable``, when set, lets that many go at
   once); ``OnDelete`` leaves replacement to the user;
6. prunes revisions beyond ``revisionHistoryLimit`` that nothing uses.

The result is a ``StatefulPlan``: typed actions in the order they must be
written, the new status (``None`` when unchanged) and when to look again
(a pod becoming available after ``minReadySeconds``). The controller executes
it; a stale cache at worst repeats a create (409) or a delete (precondition
fails), since every name is fixed.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict, cast

from shoal.api.views import (
    Body,
    KubeObject,
    LabelSelector,
    ObjectMeta,
    OwnerReference,
    PersistentVolumeClaim,
    as_dict,
    finalizers,
    is_ready,
    is_terminal,
    is_terminating,
    labels,
    meta,
    name,
    namespace,
    owner_reference,
    owner_references,
    phase,
    resource_version,
    spec,
    status,
    uid,
)
from shoal.api.views import (
    annotations as annotations_of,
)
from shoal.controllers import revisions as history
from shoal.controllers.podstate import available_at, is_available

# --- the StatefulSet's shape (only the controllers read it; the wire dict stays a dict) ------


class RollingUpdate(TypedDict, total=False):
    partition: int
    maxUnavailable: int | str


class UpdateStrategy(TypedDict, total=False):
    type: Literal["RollingUpdate", "OnDelete"]
    rollingUpdate: RollingUpdate


class RetentionPolicy(TypedDict, total=False):
    whenDeleted: Literal["Retain", "Delete"]
    whenScaled: Literal["Retain", "Delete"]


class Ordinals(TypedDict, total=False):
    start: int


class PodTemplate(TypedDict, total=False):
    metadata: ObjectMeta
    spec: dict[str, Any]


class StatefulSetSpec(TypedDict, total=False):
    replicas: int
    selector: LabelSelector
    template: PodTemplate
    volumeClaimTemplates: list[PersistentVolumeClaim]
    serviceName: str
    podManagementPolicy: Literal["OrderedReady", "Parallel"]
    updateStrategy: UpdateStrategy
    revisionHistoryLimit: int
    minReadySeconds: int
    persistentVolumeClaimRetentionPolicy: RetentionPolicy
    ordinals: Ordinals


class StatefulSetStatus(TypedDict, total=False):
    observedGeneration: int
    replicas: int
    readyReplicas: int
    currentReplicas: int
    updatedReplicas: int
    availableReplicas: int
    currentRevision: str
    updateRevision: str
    collisionCount: int


class StatefulSet(KubeObject, total=False):
    spec: StatefulSetSpec
    status: StatefulSetStatus

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")

# --- actions -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateRevision:
    revision: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RenumberRevision:
    """An older revision equal to the template (a rollback) becomes the newest."""

    name: str
    revision: int


@dataclass(frozen=True, slots=True)
class CreateClaim:
    claim: dict[str, Any]
    pod: str


@dataclass(frozen=True, slots=True)
class CreatePod:
    pod: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeletePod:
    name: str
    uid: str
    reason: Literal["finished", "scale-down", "update"]


@dataclass(frozen=True, slots=True)
class FixPodIdentity:
    """Labels a pod of the set must carry (an adopted pod may lack them)."""

    name: str
    uid: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class SetClaimOwners:
    name: str
    uid: str
    resource_version: str
    owner_references: list[OwnerReference]


@dataclass(frozen=True, slots=True)
class DeleteRevision:
    name: str
    uid: str


Action = (CreateRevision | RenumberRevision | CreateClaim | CreatePod | DeletePod | FixPodIdentity
          | SetClaimOwners | DeleteRevision)


@dataclass(frozen=True, slots=True)
class StatefulPlan:
    actions: tuple[Action, ...]
    status: dict[str, Any] | None  # the status to write, None when it is unchanged
    requeue_after: float | None = None  # seconds until a pod becomes available (minReadySeconds)
    waiting_for: str = ""  # the pod an OrderedReady pass stopped at ('' if it did not stop)

    def of(self, kind: type[Action]) -> list[Action]:
        return [a for a in self.actions if isinstance(a, kind)]


# --- the set's parameters ----------------------------------------------------------------------


def ordinal_of(pod_name: str) -> tuple[str, int] | None:
    """(parent, ordinal) of a pod named ``<parent>-<ordinal>``, None otherwise."""
    m = _ORDINAL.match(pod_name)
    return (m.group(1), int(m.group(2))) if m else None


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass(frozen=True, slots=True)
class SetSpec:
    """What the planner reads of a StatefulSet, defaults applied."""

    name: str
    namespace: str
    uid: str
    replicas: int
    start: int
    parallel: bool
    rolling: bool
    partition: int
    max_unavailable: int | str | None
    min_ready: int
    service_name: str
    claim_templates: tuple[Body, ...]
    when_deleted: str
    when_scaled: str
    history_limit: int
    match_labels: dict[str, str]

    @classmethod
    def of(cls, sts: Body) -> SetSpec:
        s = cast(StatefulSetSpec, spec(sts))
        strategy = as_dict(s.get("updateStrategy"))
        ru = as_dict(strategy.get("rollingUpdate"))
        policy = as_dict(s.get("persistentVolumeClaimRetentionPolicy"))
        return cls(
            name=name(sts), namespace=namespace(sts), uid=uid(sts),
            replicas=max(0, _int(s.get("replicas"), 1)),
            start=max(0, _int(as_dict(s.get("ordinals")).get("start"))),
            parallel=s.get("podManagementPolicy") == "Parallel",
            rolling=(strategy.get("type") or "RollingUpdate") == "RollingUpdate",
            partition=max(0, _int(ru.get("partition"))),
            max_unavailable=ru.get("maxUnavailable"),
            min_ready=max(0, _int(s.get("minReadySeconds"))),
            service_name=str(s.get("serviceName") or ""),
            claim_templates=tuple(t for t in s.get("volumeClaimTemplates") or [] if isinstance(t, dict)),
            when_deleted=str(policy.get("whenDeleted") or "Retain"),
            when_scaled=str(policy.get("whenScaled") or "Retain"),
            history_limit=max(0, _int(s.get("revisionHistoryLimit"), 10)),
            match_labels=dict(as_dict(as_dict(s.get("selector")).get("matchLabels"))),
        )

    def pod_name(self, ordinal: int) -> str:
        return f"{self.name}-{ordinal}"

    def claim_name(self, template: Body, ordinal: int) -> str:
        return f"{name(template)}-{self.name}-{ordinal}"

    def in_range(self, ordinal: int) -> bool:
        return self.start <= ordinal < self.start + self.replicas


def max_unavailable(value: int | str | None, replicas: int) -> int:
    """``maxUnavailable`` against the replica count: percentages round down, never below 1."""
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return max(1, math.floor(int(value[:-1]) * replicas / 100))
    return max(1, _int(value, 1))


# --- what a pod and its claims look like -------------------------------------------------------


def revision_of(pod: Body) -> str:
    return labels(pod).get(REVISION_LABEL, "")


def identity_labels(s: SetSpec, ordinal: int) -> dict[str, str]:
    return {POD_NAME_LABEL: s.pod_name(ordinal), POD_INDEX_LABEL: str(ordinal)}


def new_claim(s: SetSpec, template: Body, ordinal: int, *, set_owner: OwnerReference | None) -> dict[str, Any]:
    """The claim of one pod from one claim template (upstream's getPersistentVolumeClaims)."""
    md: dict[str, Any] = {"name": s.claim_name(template, ordinal), "namespace": s.namespace,
               "labels": {**labels(template), **s.match_labels}}
    if annotations_of(template):
        md["annotations"] = dict(annotations_of(template))
    if set_owner is not None:
        md["ownerReferences"] = [set_owner]
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": md,
            "spec": copy.deepcopy(spec(template))}


def new_pod(s: SetSpec, sts: Body, template: Body, ordinal: int, revision: str) -> dict[str, Any]:
    """A replica from ``template`` (upstream's newStatefulSetPod): identity, claims as volumes, revision label."""
    pod_name = s.pod_name(ordinal)
    tm = meta(template)
    md: dict[str, Any] = {"name": pod_name, "namespace": s.namespace,
               "labels": {**labels(template), **identity_labels(s, ordinal), REVISION_LABEL: revision},
               "ownerReferences": [owner_reference(sts, api_version="apps/v1", kind="StatefulSet")]}
    if tm.get("annotations"):
        md["annotations"] = dict(annotations_of(template))
    if tm.get("finalizers"):
        md["finalizers"] = list(finalizers(template))
    pod_spec: dict[str, Any] = copy.deepcopy(spec(template))
    pod_spec["hostname"] = pod_name
    if s.service_name:
        pod_spec["subdomain"] = s.service_name
    claim_volumes = [{"name": name(t), "persistentVolumeClaim": {"claimName": s.claim_name(t, ordinal)}}
                     for t in s.claim_templates]
    taken = {v["name"] for v in claim_volumes}
    volumes = claim_volumes + [v for v in pod_spec.get("volumes") or [] if v.get("name") not in taken]
    if volumes:
        pod_spec["volumes"] = volumes
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": pod_spec}


def claim_owners(s: SetSpec, sts: Body, claim: Body, pod: Body | None, *, scaled_down: bool
                 ) -> list[OwnerReference] | None:
    """The claim's ownerReferences under the retention policy; None when they are right (or not ours to touch).

    Live replica: owned by the set when ``whenDeleted`` is Delete (the set's deletion takes it).
    Condemned replica: owned by its pod when ``whenScaled`` is Delete (its deletion takes it), else by the
    set as for a live one. A claim with a stale reference (the set's or pod's name, another uid) or another
    controller is left alone, as upstream does.
    """
    refs = owner_references(claim)
    pod_name = name(pod) if pod is not None else ""
    pod_uid = uid(pod) if pod is not None else ""
    for r in refs:
        if r.get("kind") == "StatefulSet" and r.get("name") == s.name and r.get("uid") != s.uid:
            return None
        if pod is not None and r.get("kind") == "Pod" and r.get("name") == pod_name and r.get("uid") != pod_uid:
            return None
        if r.get("controller") and r.get("uid") not in (s.uid, pod_uid):
            return None
    want_set = s.when_deleted == "Delete" and not (scaled_down and s.when_scaled == "Delete")
    want_pod = scaled_down and s.when_scaled == "Delete" and pod is not None
    has_set = any(r.get("uid") == s.uid for r in refs)
    has_pod = pod is not None and any(r.get("uid") == pod_uid for r in refs)
    if has_set == want_set and has_pod == want_pod:
        return None
    out = [r for r in refs if r.get("uid") not in (s.uid, pod_uid)]
    if want_set:
        out.append({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": s.name, "uid": s.uid})
    if want_pod and pod is not None:
        out.append({"apiVersion": "v1", "kind": "Pod", "name": pod_name, "uid": pod_uid})
    return out


# --- health --------------------------------------------------------------------------------------


def running_and_ready(pod: Body) -> bool:
    return phase(pod) == "Running" and is_ready(pod)


def running_and_available(pod: Body, min_ready: int, now: dt.datetime) -> bool:
    return phase(pod) == "Running" and is_available(pod, min_ready, now)


def healthy(pod: Body | None) -> bool:
    """Running, Ready and not on its way out (upstream's isHealthy); a pod not yet created is not."""
    return pod is not None and running_and_ready(pod) and not is_terminating(pod)


# --- status ----------------------------------------------------------------------------------


def compute_status(sts: Body, s: SetSpec, pods: Iterable[Body], res: history.Resolution,
                   now: dt.datetime) -> dict[str, Any]:
    replicas = ready = available = current = updated = 0
    cur_name, upd_name = name(res.current), name(res.update)
    for pod in pods:
        replicas += 1
        if running_and_ready(pod):
            ready += 1
            if running_and_available(pod, s.min_ready, now):
                available += 1
        if not is_terminating(pod):
            rev = revision_of(pod)
            current += rev == cur_name
            updated += rev == upd_name
    st: dict[str, Any] = {k: v for k, v in status(sts).items()
               if k not in ("replicas", "readyReplicas", "availableReplicas", "currentReplicas", "updatedReplicas",
                            "currentRevision", "updateRevision", "collisionCount", "observedGeneration")}
    st.update({"observedGeneration": _int(meta(sts).get("generation"), 1), "replicas": replicas,
               "readyReplicas": ready, "currentReplicas": current, "updatedReplicas": updated,
               "currentRevision": cur_name, "updateRevision": upd_name, "collisionCount": res.collision_count,
               "availableReplicas": available})
    if s.rolling and updated == replicas and ready == replicas:  # upstream's completeRollingUpdate
        st["currentReplicas"] = updated
        st["currentRevision"] = upd_name
    return st


# --- the plan ----------------------------------------------------------------------------------


@dataclass
class _Pass:
    """The state of one planning pass (what is written, in order)."""

    s: SetSpec
    sts: Body
    claims: Mapping[str, Body]
    now: dt.datetime
    actions: list[Action] = field(default_factory=list)
    requeue: float | None = None
    waiting_for: str = ""

    def wait(self, pod_name: str) -> bool:
        self.waiting_for = pod_name
        return True

    def later(self, seconds: float) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    def fix_claims(self, ordinal: int, pod: Body | None, *, scaled_down: bool) -> None:
        for t in self.s.claim_templates:
            claim = self.claims.get(self.s.claim_name(t, ordinal))
            if claim is None or is_terminating(claim):
                continue
            refs = claim_owners(self.s, self.sts, claim, pod, scaled_down=scaled_down)
            if refs is not None:
                self.actions.append(SetClaimOwners(name(claim), uid(claim), resource_version(claim), refs))

    def missing_claims(self, ordinal: int) -> list[CreateClaim] | None:
        """Claims to create for a replica; None if one of them is being deleted (the pod must wait)."""
        out: list[CreateClaim] = []
        owner: OwnerReference | None = None
        if self.s.when_deleted == "Delete":
            owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": self.s.name, "uid": self.s.uid}
        for t in self.s.claim_templates:
            claim = self.claims.get(self.s.claim_name(t, ordinal))
            if claim is None:
                out.append(CreateClaim(new_claim(self.s, t, ordinal, set_owner=owner), self.s.pod_name(ordinal)))
            elif is_terminating(claim):
                return None
        return out


def _process_replica(p: _Pass, ordinal: int, pod: Body | None, *, template: Body, revision: str,
                     monotonic: bool) -> bool:
    """One replica (upstream's processReplica); True when an OrderedReady pass must stop here."""
    s = p.s
    if pod is not None and is_terminal(pod):
        if not is_terminating(pod):
            p.actions.append(DeletePod(name(pod), uid(pod), "finished"))
        return monotonic and p.wait(name(pod))
    if pod is None:
        claims = p.missing_claims(ordinal)
        if claims is None:
            return monotonic and p.wait(s.pod_name(ordinal))
        p.actions += claims
        p.actions.append(CreatePod(new_pod(s, p.sts, template, ordinal, revision)))
        return monotonic and p.wait(s.pod_name(ordinal))
    if phase(pod) == "Pending":
        p.actions += p.missing_claims(ordinal) or []
    if is_terminating(pod) and monotonic:
        return p.wait(name(pod))
    if not running_and_available(pod, s.min_ready, p.now):
        at = available_at(pod, s.min_ready)
        if phase(pod) == "Running" and at is not None:
            p.later(max(0.0, (at - p.now).total_seconds()) + 0.05)
        if monotonic:
            return p.wait(name(pod))
    want = identity_labels(s, ordinal)
    if any(labels(pod).get(k) != v for k, v in want.items()):
        p.actions.append(FixPodIdentity(name(pod), uid(pod), want))
    p.fix_claims(ordinal, pod, scaled_down=False)
    return False


def _process_condemned(p: _Pass, pod: Body, *, first_unhealthy: Body | None, monotonic: bool) -> bool:
    """One pod beyond the replica count (upstream's processCondemned); True when a pass must stop."""
    if is_terminating(pod):
        return monotonic and p.wait(name(pod))
    if monotonic and pod is not first_unhealthy and not running_and_available(pod, p.s.min_ready, p.now):
        return p.wait(name(pod))
    p.actions.append(DeletePod(name(pod), uid(pod), "scale-down"))
    return monotonic  # one at a time under OrderedReady


def _rolling_update(p: _Pass, replicas: list[Body | None], update: str) -> None:
    """Replace pods not at the update revision, from the highest ordinal down to the partition."""
    s = p.s
    if s.max_unavailable is None:
        for i in range(len(replicas) - 1, s.partition - 1, -1):
            pod = replicas[i]
            if pod is not None and revision_of(pod) != update and not is_terminating(pod):
                p.actions.append(DeletePod(name(pod), uid(pod), "update"))
                return
            if not healthy(pod):
                p.waiting_for = s.pod_name(s.start + i)
                return
        return
    budget = max_unavailable(s.max_unavailable, s.replicas) - sum(not healthy(pod) for pod in replicas)
    for i in range(len(replicas) - 1, s.partition - 1, -1):
        if budget <= 0:
            return
        pod = replicas[i]
        if pod is not None and revision_of(pod) != update and not is_terminating(pod):
            p.actions.append(DeletePod(name(pod), uid(pod), "update"))
            budget -= 1


def _members(s: SetSpec, pods: Sequence[Body]) -> tuple[list[Body | None], list[Body]]:
    """The replicas by ordinal (None: still to be created) and the condemned pods, highest ordinal first."""
    members: dict[int, Body] = {}
    for pod in pods:
        parsed = ordinal_of(name(pod))
        if parsed is not None and parsed[0] == s.name:
            members[parsed[1]] = pod
    replicas: list[Body | None] = [members.get(o) for o in range(s.start, s.start + s.replicas)]
    condemned = [members[o] for o in sorted(members, reverse=True) if not s.in_range(o)]
    return replicas, condemned


def _finish(p: _Pass, res: history.Resolution, revisions: Sequence[Body], existing: list[Body]) -> StatefulPlan:
    """The plan so far, with the history pruning and the new status: what every pass ends with."""
    update_name = name(res.update)
    live = {name(res.current), update_name, *(revision_of(pod) for pod in existing)}
    renumbered = [({**r, "revision": history.number(res.update)} if name(r) == update_name else r)
                  for r in revisions]
    for r in history.to_prune(renumbered, live, p.s.history_limit):
        p.actions.append(DeleteRevision(name(r), uid(r)))
    st = status(p.sts)
    new_status = compute_status(p.sts, p.s, existing, res, p.now)
    return StatefulPlan(tuple(p.actions), None if new_status == st else new_status, p.requeue, p.waiting_for)


def plan_statefulset(sts: Body, pods: Sequence[Body], claims: Iterable[Body], revisions: Sequence[Body],
                     now: dt.datetime) -> StatefulPlan:
    """Everything one pass of the StatefulSet controller writes, in order (see the module docstring).

    ``pods`` are the set's pods (controlled by it), ``claims`` any claims of its namespace (those named
    after its claim templates are used), ``revisions`` the ControllerRevisions it controls.
    """
    s = SetSpec.of(sts)
    st = status(sts)
    res = history.resolve(sts, revisions, _int(st.get("collisionCount")), str(st.get("currentRevision") or ""))
    p = _Pass(s, sts, {name(c): c for c in claims}, now)
    if res.create is not None:
        p.actions.append(CreateRevision(res.create))
    if res.renumber is not None:
        p.actions.append(RenumberRevision(name(res.renumber), history.number(res.update)))
    current_name, update_name = name(res.current), name(res.update)
    current_template = history.template_of(res.current)
    update_template = history.template_of(res.update) or dict(as_dict(spec(sts).get("template")))

    replicas, condemned = _members(s, pods)
    existing = [pod for pod in replicas if pod is not None] + condemned
    # the first unhealthy pod: a replica (None if it is still to be created), else the lowest condemned one
    unhealthy = [pod for pod in replicas if not healthy(pod)]
    first_unhealthy = unhealthy[0] if unhealthy else next((c for c in reversed(condemned) if not healthy(c)), None)
    if is_terminating(sts):
        return _finish(p, res, revisions, existing)
    monotonic = not s.parallel
    for i, replica in enumerate(replicas):
        below = s.rolling and i < s.partition
        template, revision = (current_template, current_name) if below and current_template else (
            update_template, update_name)
        if _process_replica(p, s.start + i, replica, template=template, revision=revision, monotonic=monotonic):
            return _finish(p, res, revisions, existing)
    for pod in condemned:
        parsed = ordinal_of(name(pod))
        if parsed is not None:
            p.fix_claims(parsed[1], pod, scaled_down=True)
    for pod in condemned:
        if _process_condemned(p, pod, first_unhealthy=first_unhealthy, monotonic=monotonic):
            return _finish(p, res, revisions, existing)
    if s.rolling:
        _rolling_update(p, replicas, update_name)
    return _finish(p, res, revisions, existing)
