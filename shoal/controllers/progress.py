"""A Deployment's status: counts, ``Available``, and the ``Progressing`` clock.

``calculate_status`` sums the ReplicaSets' status. ``rollout_status`` adds what
``kubectl rollout status`` waits on: Progressing=True while the rollout makes
progress (each step refreshes ``lastUpdateTime``), NewReplicaSetAvailable when
it is complete, and Progressing=False, reason ProgressDeadlineExceeded, once no
progress was seen for ``progressDeadlineSeconds``. Condition handling follows
upstream: a condition whose status and reason did not change is left alone
(so timestamps mean "since"), one whose status did not change keeps its
``lastTransitionTime``. Pure functions; ``now`` is passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from shoal.api.views import (
    Body,
    Condition,
    ConditionStatus,
    format_time,
    meta,
    parse_time,
    spec,
    status,
)
from shoal.controllers.scaling import max_unavailable, spec_replicas

PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
NO_DEADLINE = 2**31 - 1


def condition(st: Body, type_: str) -> Condition | None:
    """The condition ``type_`` of a status (not of an object: statuses are built here before they are written)."""
    for c in st.get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c  # type: ignore[return-value]  # a wire condition, read through its declared shape
    return None


def new_condition(type_: str, status_: ConditionStatus, reason: str, message: str, now: dt.datetime) -> Condition:
    t = format_time(now)
    return {"type": type_, "status": status_, "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def set_condition(st: dict[str, Any], cond: Condition) -> None:
    """Upstream's SetDeploymentCondition (no-op if status and reason are unchanged)."""
    type_ = cond.get("type")
    cur = condition(st, str(type_))
    if cur is not None and cur.get("status") == cond.get("status") and cur.get("reason") == cond.get("reason"):
        return
    if cur is not None and cur.get("status") == cond.get("status"):
        cond = _stamped(cond, "lastTransitionTime", cur.get("lastTransitionTime"))
    st["conditions"] = [*(c for c in st.get("conditions") or [] if c.get("type") != type_), cond]


def _stamped(cond: Condition, field: Literal["lastTransitionTime", "lastUpdateTime"], value: str | None) -> Condition:
    """A copy of ``cond`` with a timestamp set (or dropped: null on the wire)."""
    out: Condition = {**cond}
    if value is None:
        out.pop(field, None)
    else:
        out[field] = value
    return out


def remove_condition(st: dict[str, Any], type_: str) -> None:
    conds = [c for c in st.get("conditions") or [] if c.get("type") != type_]
    if conds:
        st["conditions"] = conds
    else:
        st.pop("conditions", None)


def has_progress_deadline(d: Body) -> bool:
    pds = spec(d).get("progressDeadlineSeconds")
    return pds is not None and int(pds) != NO_DEADLINE


def _st(o: Body, field: str) -> int:
    return int(status(o).get(field) or 0)


def available_count(rss: Sequence[Body | None]) -> int:
    return sum(_st(rs, "availableReplicas") for rs in rss if rs is not None)


def calculate_status(d: Body, all_rss: Sequence[Body | None], new_rs: Body | None, now: dt.datetime,
                     base: Body | None = None) -> dict[str, Any]:
    """Counts from the ReplicaSets, conditions copied from ``base`` (the current status), and Available."""
    base = status(d) if base is None else base
    rss = [rs for rs in all_rss if rs is not None]
    available = available_count(rss)
    total = sum(spec_replicas(rs) for rs in rss)
    st: dict[str, Any] = {"observedGeneration": int(meta(d).get("generation") or 0)}
    figures = (("replicas", sum(_st(rs, "replicas") for rs in rss)),
               ("updatedReplicas", _st(new_rs, "replicas") if new_rs is not None else 0),
               ("readyReplicas", sum(_st(rs, "readyReplicas") for rs in rss)),
               ("availableReplicas", available),
               ("unavailableReplicas", max(0, total - available)))
    for k, v in figures:
        if v:
            st[k] = v
    if base.get("collisionCount") is not None:
        st["collisionCount"] = base["collisionCount"]
    if base.get("conditions"):
        st["conditions"] = [dict(c) for c in base["conditions"]]
    if available >= spec_replicas(d) - max_unavailable(d):
        set_condition(st, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.", now))
    else:
        set_condition(st, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                        "Deployment does not have minimum availability.", now))
    return st


def complete(d: Body, st: Body) -> bool:
    """Every replica updated and available, and the latest spec observed."""
    want = spec_replicas(d)
    return (int(st.get("updatedReplicas") or 0) == want and int(st.get("replicas") or 0) == want
            and int(st.get("availableReplicas") or 0) == want
            and int(st.get("observedGeneration") or 0) >= int(meta(d).get("generation") or 0))


def progressing(old: Body, new: Body) -> bool:
    """Anything moved forward since ``old``: more updated, fewer old, more ready or available."""
    def g(s: Body, k: str) -> int:
        return int(s.get(k) or 0)
    old_old = g(old, "replicas") - g(old, "updatedReplicas")
    new_old = g(new, "replicas") - g(new, "updatedReplicas")
    return (g(new, "updatedReplicas") > g(old, "updatedReplicas") or new_old < old_old
            or g(new, "readyReplicas") > g(old, "readyReplicas")
            or g(new, "availableReplicas") > g(old, "availableReplicas"))


def timed_out(d: Body, st: Body, now: dt.datetime) -> bool:
    if not has_progress_deadline(d):
        return False
    cond = condition(st, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return False
    return since + dt.timedelta(seconds=int(spec(d)["progressDeadlineSeconds"])) < now


def rollout_status(d: Body, all_rss: Sequence[Body | None], new_rs: Body | None, now: dt.datetime,
                   base: Body | None = None, replica_failure: Condition | None = None) -> dict[str, Any]:
    """Upstream's syncRolloutStatus: the status to write after a rollout step."""
    old = status(d) if base is None else base
    st = calculate_status(d, all_rss, new_rs, now, base=old)
    if not has_progress_deadline(d):
        remove_condition(st, PROGRESSING)
    cur = condition(old, PROGRESSING)
    done = (int(st.get("replicas") or 0) == int(st.get("updatedReplicas") or 0)
            and cur is not None and cur.get("reason") == NEW_RS_AVAILABLE)
    name = meta(d).get("name")
    what = f'ReplicaSet "{meta(new_rs).get("name")}"' if new_rs is not None else f'Deployment "{name}"'
    if has_progress_deadline(d) and not done:
        if complete(d, st):
            set_condition(st, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                            f"{what} has successfully progressed.", now))
        elif progressing(status(d), st):
            c = new_condition(PROGRESSING, "True", RS_UPDATED, f"{what} is progressing.", now)
            if cur is not None:
                if cur.get("status") == "True":
                    c = _stamped(c, "lastTransitionTime", cur.get("lastTransitionTime"))
                remove_condition(st, PROGRESSING)
            set_condition(st, c)
        elif timed_out(d, st, now):
            set_condition(st, new_condition(PROGRESSING, "False", TIMED_OUT, f"{what} has timed out progressing.",
                                            now))
    if replica_failure is not None:
        set_condition(st, _stamped(replica_failure, "lastUpdateTime", replica_failure.get("lastTransitionTime")))
    else:
        remove_condition(st, REPLICA_FAILURE)
    return st


def replica_failure(all_rss: Sequence[Body | None], new_rs: Body | None) -> Condition | None:
    """A ReplicaFailure condition of the new ReplicaSet first, else of any other."""
    ordered = [new_rs, *(rs for rs in all_rss if rs is not new_rs)]
    for rs in ordered:
        if rs is None:
            continue
        c = condition(status(rs), REPLICA_FAILURE)
        if c is not None and c.get("status") == "True":
            return {**c}
    return None


def deadline_in(d: Body, st: Body, now: dt.datetime) -> float | None:
    """Seconds until a progressing rollout would time out (to look again then)."""
    if not has_progress_deadline(d) or complete(d, st):
        return None
    cond = condition(st, PROGRESSING)
    if cond is None or cond.get("reason") in (TIMED_OUT, NEW_RS_AVAILABLE):
        return None
    since = parse_time(cond.get("lastUpdateTime"))
    if since is None:
        return None
    left = (since + dt.timedelta(seconds=int(spec(d)["progressDeadlineSeconds"])) - now).total_seconds()
    return max(left, 0.0) + 1.0  # timestamps have whole seconds: look just after the deadline


def paused_conditions(d: Body, st: dict[str, Any], now: dt.datetime) -> bool:
    """Progressing=Unknown DeploymentPaused / DeploymentResumed as ``spec.paused`` flips; True if changed."""
    if not has_progress_deadline(d):
        return False
    cond = condition(st, PROGRESSING)
    if cond is not None and cond.get("reason") == TIMED_OUT:
        return False
    paused = bool(spec(d).get("paused"))
    was = cond is not None and cond.get("reason") == PAUSED
    if paused and not was:
        set_condition(st, new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now))
        return True
    if not paused and was:
        set_condition(st, new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now))
        return True
    return False
