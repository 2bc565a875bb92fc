"""The disruption controller's decision: a PodDisruptionBudget's status from its pods. Pure.

``plan_budget(pdb, pods, scale_of, now)`` computes what upstream's
``DisruptionController.trySync`` writes:

* ``expectedPods`` and ``desiredHealthy``: with ``maxUnavailable`` (an int or a
  percentage) or a percentage ``minAvailable``, the expected count is the scale
  of the controllers owning the pods (a Deployment's ``replicas`` for the pods
  of its ReplicaSets; each controller counted once), and the budget is taken
  from it, rounding up; with an int ``minAvailable`` the expected count is the
  pods there are and ``desiredHealthy`` that int;
* ``currentHealthy``: the ready pods that are not being deleted and that no
  recent eviction has claimed (``disruptedPods``: an eviction notes the pod
  before it deletes it; a note older than two minutes whose pod still is not
  going is dropped, and the budget is looked at again when the next one
  expires);
* ``disruptionsAllowed`` = currentHealthy - desiredHealthy, never below 0 and
  0 while nothing is expected; the ``DisruptionAllowed`` condition says so.

A pod without a controller, or whose controller has no scale, cannot be
counted against a percentage or ``maxUnavailable``: the budget then allows
nothing (``SyncFailed``, upstream's fail-safe) and keeps its old
``observedGeneration``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shoal.api import disruption
from shoal.api.views import (
    Body,
    controller_ref,
    format_time,
    is_ready,
    is_terminating,
    name,
    parse_time,
    spec,
    status,
)


@dataclass(frozen=True, slots=True)
class Scale:
    """The scale a pod's controller belongs to: ``replicas`` of the controller with ``owner_uid``."""

    owner_uid: str
    replicas: int


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    status: dict[str, Any]
    recheck_after: float | None = None  # seconds until a disruptedPods entry expires
    error: str | None = None  # why the budget could not be computed (SyncFailed)
    no_pods: bool = False  # nothing matches the selector (upstream's NoPods event)


class ScaleError(Exception):
    """The pods' expected count cannot be found (upstream's failSafe errors)."""


def expected_scale(pods: Sequence[Body], scale_of: Mapping[str, Scale]) -> int:
    """The replicas of the controllers of ``pods``, each controller counted once."""
    owners: dict[str, int] = {}
    for pod in pods:
        ref = controller_ref(pod)
        if ref is None:
            raise ScaleError(f'found no controller ref for pod "{name(pod)}"')
        scale = scale_of.get(str(ref.get("uid") or ""))
        if scale is None:
            raise ScaleError(f'found no controllers for pod "{name(pod)}"')
        owners[scale.owner_uid] = scale.replicas
    return sum(owners.values())


def expected_and_desired(pdb: Body, pods: Sequence[Body], scale_of: Mapping[str, Scale]) -> tuple[int, int]:
    s = spec(pdb)
    max_unavailable, min_available = s.get("maxUnavailable"), s.get("minAvailable")
    try:
        if max_unavailable is not None:
            expected = expected_scale(pods, scale_of)
            return expected, max(0, expected - disruption.int_or_percent(max_unavailable, expected))
        if isinstance(min_available, int) and not isinstance(min_available, bool):
            return len(pods), min_available
        if min_available is not None:
            expected = expected_scale(pods, scale_of)
            return expected, disruption.int_or_percent(min_available, expected)
    except ValueError as e:
        raise ScaleError(str(e)) from None
    return 0, 0


def disrupted_pods(pdb: Body, pods: Sequence[Body], now: dt.datetime) -> tuple[dict[str, str], float | None]:
    """The still-valid ``disruptedPods`` entries, and seconds until the first of them expires."""
    recorded = status(pdb).get("disruptedPods")
    if not isinstance(recorded, dict) or not recorded:
        return {}, None
    keep: dict[str, str] = {}
    recheck: float | None = None
    timeout = dt.timedelta(seconds=disruption.DELETION_TIMEOUT_SECONDS)
    for pod in pods:
        if is_terminating(pod):
            continue  # its deletion was seen: the note has done its job
        stamp = recorded.get(name(pod))
        at = parse_time(stamp)
        if at is None:
            continue
        expires = at + timeout
        if expires < now:
            continue  # evicted two minutes ago and still not going: upstream counts it again
        keep[name(pod)] = str(stamp)
        wait = (expires - now).total_seconds()
        recheck = wait if recheck is None else min(recheck, wait)
    return keep, recheck


def current_healthy(pods: Sequence[Body], disrupted: Mapping[str, str]) -> int:
    return sum(1 for p in pods if not is_terminating(p) and name(p) not in disrupted and is_ready(p))


def plan_budget(pdb: Body, pods: Sequence[Body], scale_of: Mapping[str, Scale], now: dt.datetime) -> BudgetPlan:
    """The status to write for ``pdb``, given the pods its selector matches."""
    old = status(pdb)
    stamp = format_time(now)
    try:
        expected, desired = expected_and_desired(pdb, pods, scale_of)
    except ScaleError as e:
        cond = disruption.allowed_condition(0, disruption.status_int(pdb, "observedGeneration"),
                                            reason=disruption.SYNC_FAILED, message=str(e))
        failed = {**old, "disruptionsAllowed": 0,
                  "conditions": disruption.set_condition(old.get("conditions") or [], cond, stamp)}
        return BudgetPlan(failed, error=str(e), no_pods=not pods)
    disrupted, recheck = disrupted_pods(pdb, pods, now)
    healthy = current_healthy(pods, disrupted)
    allowed = healthy - desired
    if expected <= 0 or allowed <= 0:
        allowed = 0
    generation = disruption.generation(pdb)
    new: dict[str, Any] = {"observedGeneration": generation}
    if disrupted:
        new["disruptedPods"] = disrupted
    new.update({"disruptionsAllowed": allowed, "currentHealthy": healthy, "desiredHealthy": desired,
                "expectedPods": expected})
    cond = disruption.allowed_condition(allowed, generation)
    new["conditions"] = disruption.set_condition(old.get("conditions") or [], cond, stamp)
    return BudgetPlan(new, recheck_after=recheck, no_pods=not pods)


def status_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether writing ``new`` over ``old`` changes anything (the same condition keeps its old time)."""
    return dict(old) != dict(new)
