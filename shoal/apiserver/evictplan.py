"""What an eviction does, decided purely: upstream's ``EvictionREST.Create`` without the I/O.

``plan_eviction(pod, budgets, now=..., dry_run=...)`` answers one of

* ``Delete``: delete the pod now. A pod that disrupts nothing (Pending,
  finished, already terminating) or that no budget covers is simply deleted;
  an unready pod whose budget is met (or says ``AlwaysAllow``) too, without
  spending the budget. Where the pod could become ready in the meantime the
  delete carries the pod's resourceVersion as a precondition (upstream's
  ``shouldEnforceResourceVersion``), so a pod that changed is planned again.
* ``Spend``: write the budget's new status first (one disruption fewer, the
  pod noted in ``disruptedPods`` so the disruption controller stops counting
  it healthy), conditioned on the budget's resourceVersion, then delete.
* ``Refuse``: the answer is an error. 429 TooManyRequests ``Cannot evict pod
  as it would violate the pod's disruption budget.`` when the budget allows no
  disruption now (or its status is stale: then ``retryAfterSeconds`` 10), 403
  for a budget in an impossible state, and, when two budgets cover the pod, a
  ``Status`` with code 500 (a result upstream returns, not an error: no
  reason), which kubectl drain reports and does not retry.

The caller carries the plan out and plans again when a write meets a newer
version (the pod's or the budget's), as upstream's retry loops do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shoal.api import disruption
from shoal.api.views import (
    Body,
    format_time,
    is_ready,
    is_terminating,
    name,
    phase,
    resource_version,
    status,
)
from shoal.apiserver import errors

VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
MULTIPLE_BUDGETS = "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."


@dataclass(frozen=True, slots=True)
class Delete:
    precondition_rv: str | None = None  # the pod's resourceVersion the delete requires, if any


@dataclass(frozen=True, slots=True)
class Spend:
    budget: str  # the budget's name
    budget_rv: str  # the version of the budget the new status is computed from
    new_status: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Refuse:
    error: errors.ApiError


Plan = Delete | Spend | Refuse


def can_ignore_budgets(pod: Body) -> bool:
    """A pod that is not running (pending or finished) or already going disrupts nothing more."""
    return phase(pod) in ("Succeeded", "Failed", "Pending") or is_terminating(pod)


def enforces_version(pod: Body) -> bool:
    """Whether deleting ``pod`` must require its version (it could turn ready, and healthy, meanwhile)."""
    return not (phase(pod) in ("Succeeded", "Failed") or is_terminating(pod))


def too_many_requests(message: str, *, retry_after: int, pdb: str) -> errors.ApiError:
    details: dict[str, Any] = {"causes": [{"reason": DISRUPTION_BUDGET_CAUSE, "message": message}]}
    headers: dict[str, str] = {}
    if retry_after:
        details["retryAfterSeconds"] = retry_after
        headers["Retry-After"] = str(retry_after)
    return errors.ApiError(429, "TooManyRequests", VIOLATION, details=details, headers=headers)


def _budget_forbidden(pdb: str, why: str) -> errors.ApiError:
    return errors.forbidden_object("poddisruptionbudget", pdb, "policy", why)


def plan_eviction(pod: Body, budgets: Sequence[Body], *, now: dt.datetime, dry_run: bool = False,
                  user_precondition_rv: bool = False) -> Plan:
    """What evicting ``pod`` does, given every budget of its namespace (``budgets``) as read now.

    ``user_precondition_rv``: the eviction's own DeleteOptions already require a resourceVersion,
    which then stands (the server adds none of its own).
    """
    own_rv = None if user_precondition_rv else resource_version(pod)
    if can_ignore_budgets(pod):
        return Delete(own_rv if enforces_version(pod) else None)
    covering = disruption.budgets_for(pod, budgets)
    if len(covering) > 1:
        return Refuse(errors.ApiError(500, "", MULTIPLE_BUDGETS))
    if not covering:
        return Delete()
    pdb = covering[0]
    pdb_name = name(pdb)
    current, desired = disruption.status_int(pdb, "currentHealthy"), disruption.status_int(pdb, "desiredHealthy")
    if not is_ready(pod):
        policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy")
        if policy == disruption.ALWAYS_ALLOW or (current >= desired and desired > 0):
            # an unready pod is not counted healthy: deleting it spends nothing of the budget
            return Delete(own_rv)
    st = status(pdb)
    if disruption.status_int(pdb, "observedGeneration") < disruption.generation(pdb):
        return Refuse(too_many_requests(f"The disruption budget {pdb_name} is still being processed by the server.",
                                        retry_after=10, pdb=pdb_name))
    allowed = st.get("disruptionsAllowed")
    allowed = allowed if isinstance(allowed, int) and not isinstance(allowed, bool) else 0
    if allowed < 0:
        return Refuse(_budget_forbidden(pdb_name, "pdb disruptions allowed is negative"))
    raw_disrupted = st.get("disruptedPods")
    disrupted: dict[str, Any] = raw_disrupted if isinstance(raw_disrupted, dict) else {}
    if len(disrupted) > disruption.MAX_DISRUPTED_PODS:
        return Refuse(_budget_forbidden(
            pdb_name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
    if allowed == 0:
        return Refuse(too_many_requests(
            f"The disruption budget {pdb_name} needs {desired} healthy pods and has {current} currently",
            retry_after=0, pdb=pdb_name))
    new_status = {**st, "disruptionsAllowed": allowed - 1}
    stamp = format_time(now)
    if allowed - 1 == 0:
        cond = disruption.allowed_condition(0, disruption.status_int(pdb, "observedGeneration"))
        new_status["conditions"] = disruption.set_condition(st.get("conditions") or [], cond, stamp)
    if not dry_run:
        new_status["disruptedPods"] = {**disrupted, name(pod): stamp}
    return Spend(pdb_name, resource_version(pdb), new_status)
