"""The Job controller's decisions, apart from its I/O: ``plan_job(job, pods, now) -> JobPlan``. Pure.

Given a Job and its pods (as the informers hold them), the time, when the last
pod failure was seen and whether the pod cache has caught up with the
controller's own writes, ``plan_job`` says everything one pass does: which
pods lose the tracking finalizer, which pods to delete, how many to create,
the status to write (counts, ``uncountedTerminatedPods``, the conditions
``FailureTarget``/``SuccessCriteriaMet``/``Failed``/``Complete``/``Suspended``),
the Events to record, when to look again, and whether ``ttlSecondsAfterFinished``
has run out. ``job.py`` only gathers the inputs and executes the plan, in the
order the fields of ``JobPlan`` are listed (see that module's doc for why the
order matters: counting before any finalizer goes).

Time is an argument and the back-off memory is passed in, so every decision
is a table test away (``tests/controllers/test_job_plan.py``).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.api.views import (
    Body,
    Condition,
    ConditionStatus,
    condition,
    conditions,
    finalizers,
    format_time,
    is_active,
    is_ready,
    is_terminal,
    is_terminating,
    meta,
    node_name,
    parse_time,
    phase,
    restart_count,
    spec,
    status,
    uid,
)

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
DEFAULT_BACKOFF_LIMIT = 6
MAX_BATCH = 500  # most pods created in one pass
Event = tuple[str, str, str]  # type, reason, message


def _int(value: Any, default: int) -> int:
    return default if value is None else int(value)


def cond_true(job: Body, type_: str) -> Condition | None:
    """The condition ``type_`` if it is True (None otherwise)."""
    c = condition(job, type_)
    return c if c is not None and c.get("status") == "True" else None


def is_finished(job: Body) -> bool:
    return cond_true(job, "Complete") is not None or cond_true(job, "Failed") is not None


def finish_time(job: Body) -> dt.datetime | None:
    st = status(job)
    if st.get("completionTime"):
        return parse_time(st["completionTime"])
    c = cond_true(job, "Complete") or cond_true(job, "Failed")
    return parse_time(c.get("lastTransitionTime")) if c is not None else None


@dataclass(slots=True)
class Tally:
    """Finished pods not counted yet (by uid), split by outcome."""

    succeeded: list[Body] = field(default_factory=list)
    failed: list[Body] = field(default_factory=list)


def _tracked(pod: Body) -> bool:
    return TRACKING_FINALIZER in finalizers(pod)


def new_finished(pods: Sequence[Body], uncounted: Mapping[str, Any], *, finishing: bool) -> Tally:
    """Pods that finished and still carry the tracking finalizer, not yet in ``uncountedTerminatedPods``.

    A pod deleted before it finished counts as failed (it was evicted or lost
    with its node), unless the Job itself is finishing and removing its pods.
    """
    seen = set(uncounted.get("succeeded") or []) | set(uncounted.get("failed") or [])
    t = Tally()
    for p in pods:
        if not _tracked(p) or meta(p).get("uid") in seen:
            continue
        if phase(p) == "Succeeded":
            t.succeeded.append(p)
        elif phase(p) == "Failed" or is_terminating(p) and not finishing:
            t.failed.append(p)
    return t


def want_active(job: Body, succeeded: int, active: int) -> int:
    """How many pods should be running now (before any backoff)."""
    s = spec(job)
    parallelism = _int(s.get("parallelism"), 1)
    completions = s.get("completions")
    if completions is None:
        # a work queue: once any pod succeeded, no new pods; the running ones finish on their own
        return parallelism if succeeded == 0 else min(active, parallelism)
    return max(0, min(parallelism, int(completions) - succeeded))


def success_met(job: Body, *, succeeded: int, active: int) -> bool:
    completions = spec(job).get("completions")
    if completions is None:
        return succeeded > 0 and active == 0
    return succeeded >= int(completions)


def failure_reason(job: Body, pods: Sequence[Body], *, failed: int, start: dt.datetime | None,
                   now: dt.datetime) -> tuple[str, str] | None:
    """(reason, message) if the Job must fail now: backoff limit or active deadline."""
    s = spec(job)
    limit = _int(s.get("backoffLimit"), DEFAULT_BACKOFF_LIMIT)
    if failed > limit or past_backoff_on_failure(job, pods, limit):
        return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
    deadline = s.get("activeDeadlineSeconds")
    if deadline is not None and start is not None and (now - start).total_seconds() >= int(deadline):
        return "DeadlineExceeded", "Job was active longer than specified deadline"
    return None


def past_backoff_on_failure(job: Body, pods: Sequence[Body], limit: int) -> bool:
    """With restartPolicy OnFailure, container restarts of running pods count toward the limit."""
    if spec(spec(job).get("template") or {}).get("restartPolicy") != "OnFailure":
        return False
    restarts = sum(restart_count(p) for p in pods if is_active(p) and phase(p) in ("Pending", "Running"))
    return restarts > 0 if limit == 0 else restarts >= limit


def deadline_at(job: Body, start: dt.datetime | None) -> dt.datetime | None:
    d = spec(job).get("activeDeadlineSeconds")
    if d is None or start is None:
        return None
    return start + dt.timedelta(seconds=int(d))


def backoff_delay(failures: int, *, base: float, cap: float) -> float:
    """Seconds to wait before replacing a failed pod after ``failures`` failures (doubling, capped)."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * (2 ** min(failures - 1, 30))))


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before replacing failed pods: ``base`` doubling per failure, at most ``cap``."""

    base: float = 1.0
    cap: float = 360.0

    def left(self, failed: int, last_failure: dt.datetime | None, now: dt.datetime) -> float:
        """Seconds still to wait, counted from the last failure this controller saw."""
        if last_failure is None or failed <= 0:
            return 0.0
        return max(0.0, backoff_delay(failed, base=self.base, cap=self.cap) - (now - last_failure).total_seconds())


def deletion_order(pods: Sequence[Body]) -> list[Body]:
    """Active pods, the least useful first: unscheduled, then pending, then not ready, then newest."""
    def rank(p: Body) -> tuple[int, int, int, str]:
        return (0 if not node_name(p) else 1,
                0 if phase(p) == "Pending" else 1,
                1 if is_ready(p) else 0,
                _neg(str(meta(p).get("creationTimestamp") or "")))
    return sorted(pods, key=rank)


def _neg(ts: str) -> str:
    # newest first within a rank: invert the sortable timestamp's characters
    return "".join(chr(0x10FFFF - ord(c)) for c in ts)


# --- the plan --------------------------------------------------------------------------------


@dataclass(slots=True)
class JobPlan:
    """One pass, executed in field order. ``status`` is written only if it differs from the Job's."""

    release: list[Body] = field(default_factory=list)  # pods whose tracking finalizer comes off
    delete: list[Body] = field(default_factory=list)   # pods to delete
    create: int = 0                                    # pods to create from the template
    status: dict[str, Any] | None = None               # the status to write (``active`` before the creates)
    events: list[Event] = field(default_factory=list)
    failure_seen: bool = False                         # remember ``now`` as the last pod failure (back-off)
    requeue_after: float | None = None                 # look again after this many seconds (0: at once)
    delete_job: bool = False                           # ttlSecondsAfterFinished ran out: delete the Job


def new_condition(type_: str, reason: str, message: str, now: dt.datetime,
                  status_: ConditionStatus = "True") -> Condition:
    stamp = format_time(now)
    return {"type": type_, "status": status_, "lastProbeTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def set_condition(st: dict[str, Any], cond: Condition) -> None:
    """Replace the condition of ``cond``'s type, keeping the old one if status and reason are unchanged."""
    current = conditions({"status": st})
    conds = [c for c in current if c.get("type") != cond.get("type")]
    old = next((c for c in current if c.get("type") == cond.get("type")), None)
    if old is not None and old.get("status") == cond.get("status") and old.get("reason") == cond.get("reason"):
        conds.append(old)
    else:
        conds.append(cond)
    st["conditions"] = conds


def _uncounted_uids(st: Mapping[str, Any]) -> set[str]:
    u = st.get("uncountedTerminatedPods") or {}
    return set(u.get("succeeded") or []) | set(u.get("failed") or [])


def ttl_left(job: Body, now: dt.datetime) -> float | None:
    """Seconds until a finished Job's ``ttlSecondsAfterFinished`` runs out (<= 0: now); None without one."""
    ttl = spec(job).get("ttlSecondsAfterFinished")
    if ttl is None:
        return None
    done = finish_time(job)
    if done is None:
        return None
    return (done + dt.timedelta(seconds=int(ttl)) - now).total_seconds()


def _with_ttl(plan: JobPlan, job: Body, now: dt.datetime) -> JobPlan:
    left = ttl_left(job, now)
    if left is not None:
        if left > 0:
            plan.requeue_after = left
        else:
            plan.delete_job = True
    return plan


def plan_job(job: Body, pods: Sequence[Body], now: dt.datetime, *, last_failure: dt.datetime | None = None,
             backoff: Backoff = Backoff(), expectations_met: bool = True) -> JobPlan:
    """The next pass for ``job`` over the pods it controls.

    ``last_failure`` is when this controller last counted a failed pod (the
    back-off runs from then); ``expectations_met`` is False while the pod cache
    has not yet seen the creates of an earlier pass (then only a terminating or
    finished Job is acted on).
    """
    if is_terminating(job):
        # the Job is going: its pods' finalizers must not hold them (the collector deletes them)
        return JobPlan(release=[p for p in pods if _tracked(p)])
    if is_finished(job):
        # counting is over: nothing may hold the pods any more
        st = copy.deepcopy(status(job))
        st.pop("uncountedTerminatedPods", None)
        return _with_ttl(JobPlan(release=[p for p in pods if _tracked(p)], status=st), job, now)
    if not expectations_met:
        return JobPlan()
    suspended = bool(spec(job).get("suspend"))
    finishing = (cond_true(job, "SuccessCriteriaMet") or cond_true(job, "FailureTarget")) is not None
    tally = new_finished(pods, status(job).get("uncountedTerminatedPods") or {}, finishing=finishing or suspended)
    if tally.succeeded or tally.failed:
        return _plan_count(job, tally, now)
    return _plan_sync(job, pods, now, suspended=suspended, finishing=finishing, backoff=backoff,
                      last_failure=last_failure)


def _plan_count(job: Body, tally: Tally, now: dt.datetime) -> JobPlan:
    """Record newly finished pods: counts and uids in one status write, before any finalizer goes."""
    st = copy.deepcopy(status(job))
    uncounted = st.get("uncountedTerminatedPods") or {}
    merged = {
        "succeeded": [*(uncounted.get("succeeded") or []), *(uid(p) for p in tally.succeeded)],
        "failed": [*(uncounted.get("failed") or []), *(uid(p) for p in tally.failed)],
    }
    st["uncountedTerminatedPods"] = {k: v for k, v in merged.items() if v}
    st["succeeded"] = int(st.get("succeeded") or 0) + len(tally.succeeded)
    st["failed"] = int(st.get("failed") or 0) + len(tally.failed)
    if not st.get("startTime") and not spec(job).get("suspend"):
        st["startTime"] = format_time(now)
    events: list[Event] = [("Warning", "PodFailed", f"Pod {meta(p).get('name')} failed") for p in tally.failed]
    # go on with the counted status at once
    return JobPlan(status=st, events=events, failure_seen=bool(tally.failed), requeue_after=0.0)


def _plan_sync(job: Body, pods: Sequence[Body], now: dt.datetime, *, suspended: bool, finishing: bool,
               backoff: Backoff, last_failure: dt.datetime | None) -> JobPlan:
    """Keep the wanted number of pods running, or finish (see ``job.py``'s module doc for the rules)."""
    plan = JobPlan()
    st = copy.deepcopy(status(job))
    # counted pods may go now: remove their finalizers, then forget their uids
    counted = _uncounted_uids(st)
    plan.release = [p for p in pods if _tracked(p)
                    and (meta(p).get("uid") in counted
                         or ((finishing or suspended) and is_terminating(p) and not is_terminal(p)))]
    st.pop("uncountedTerminatedPods", None)
    active = [p for p in pods if is_active(p)]
    if not suspended and not st.get("startTime"):
        st["startTime"] = format_time(now)
    if not finishing and not suspended:
        finishing = _outcome(plan, job, pods, st, active, now)
    if finishing or suspended:
        plan.delete = active
        active = []
        if suspended and not finishing:
            set_condition(st, new_condition("Suspended", "JobSuspended", "Job suspended", now))
            st.pop("startTime", None)
    else:
        active = _keep_running(plan, job, st, active, now, backoff=backoff, last_failure=last_failure)
    # a finishing Job is finished once none of its pods is left running or stopping
    if finishing and all(is_terminal(p) for p in pods):
        _finish(plan, st, now)
    st["active"] = len(active)
    st["ready"] = sum(1 for p in active if is_ready(p))
    st["terminating"] = sum(1 for p in pods if is_terminating(p) and not is_terminal(p))
    for f in ("succeeded", "failed"):
        st.setdefault(f, 0)
    plan.status = st
    if is_finished({"status": st}):
        _with_ttl(plan, {**job, "status": st}, now)
    return plan


def _outcome(plan: JobPlan, job: Body, pods: Sequence[Body], st: dict[str, Any], active: Sequence[Body],
             now: dt.datetime) -> bool:
    """Set FailureTarget or SuccessCriteriaMet if the Job met either; True if it did (it is finishing)."""
    why = failure_reason(job, pods, failed=int(st.get("failed") or 0), start=parse_time(st.get("startTime")),
                         now=now)
    if why is not None:
        set_condition(st, new_condition("FailureTarget", why[0], why[1], now))
        plan.events.append(("Warning", why[0], why[1]))
        return True
    if success_met(job, succeeded=int(st.get("succeeded") or 0), active=len(active)):
        set_condition(st, new_condition("SuccessCriteriaMet", "CompletionsReached",
                                        "Reached expected number of succeeded pods", now))
        return True
    return False


def _keep_running(plan: JobPlan, job: Body, st: dict[str, Any], active: list[Body], now: dt.datetime, *,
                  backoff: Backoff, last_failure: dt.datetime | None) -> list[Body]:
    """Delete the excess or create the missing pods (after the back-off); the pods left active."""
    if cond_true(job, "Suspended"):
        set_condition(st, new_condition("Suspended", "JobResumed", "Job resumed", now, "False"))
    requeue: float | None = None
    diff = len(active) - want_active(job, int(st.get("succeeded") or 0), len(active))
    if diff > 0:
        plan.delete = deletion_order(active)[:diff]
        active = [p for p in active if p not in plan.delete]
    elif diff < 0:
        wait = backoff.left(int(st.get("failed") or 0), last_failure, now)
        if wait > 0:
            requeue = wait
        else:
            plan.create = min(-diff, MAX_BATCH)
    dl = deadline_at(job, parse_time(st.get("startTime")))
    if dl is not None:
        left = (dl - now).total_seconds()
        requeue = left if requeue is None else min(requeue, left)
    if requeue is not None:
        plan.requeue_after = max(0.01, requeue)
    return active


def _finish(plan: JobPlan, st: dict[str, Any], now: dt.datetime) -> None:
    """Turn FailureTarget into Failed, or SuccessCriteriaMet into Complete."""
    target = cond_true({"status": st}, "FailureTarget")
    if target is not None:
        set_condition(st, new_condition("Failed", str(target.get("reason")), str(target.get("message")), now))
        return
    set_condition(st, new_condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods",
                                    now))
    st["completionTime"] = format_time(now)
    plan.events.append(("Normal", "Completed", "Job completed"))
