"""The Job controller's decisions, apart from its I/O. Pure.

Given a Job and its pods (as the informers hold them) and the time, these
functions say which finished pods are new to count, how many pods should be
running, whether the Job has met its success criteria or a failure target, and
how long to wait before replacing a failed pod. ``job.py`` does the writes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from shoal.controllers.podutil import (
    is_active,
    is_terminating,
    meta,
    parse_time,
    phase,
    restart_count,
)

Obj = dict[str, Any]
TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
DEFAULT_BACKOFF_LIMIT = 6


def spec(job: Obj) -> Obj:
    return job.get("spec") or {}


def _int(value: Any, default: int) -> int:
    return default if value is None else int(value)


def cond_true(job: Obj, type_: str) -> Obj | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_ and c.get("status") == "True":
            return dict(c)
    return None


def is_finished(job: Obj) -> bool:
    return cond_true(job, "Complete") is not None or cond_true(job, "Failed") is not None


def finish_time(job: Obj) -> dt.datetime | None:
    st = job.get("status") or {}
    if st.get("completionTime"):
        return parse_time(st["completionTime"])
    c = cond_true(job, "Complete") or cond_true(job, "Failed")
    return parse_time((c or {}).get("lastTransitionTime"))


@dataclass(slots=True)
class Tally:
    """Finished pods not counted yet (by uid), split by outcome."""

    succeeded: list[Obj] = field(default_factory=list)
    failed: list[Obj] = field(default_factory=list)


def new_finished(pods: list[Obj], uncounted: Obj, *, finishing: bool) -> Tally:
    """Pods that finished and still carry the tracking finalizer, not yet in ``uncountedTerminatedPods``.

    A pod deleted before it finished counts as failed (it was evicted or lost
    with its node), unless the Job itself is finishing and removing its pods.
    """
    seen = set(uncounted.get("succeeded") or []) | set(uncounted.get("failed") or [])
    t = Tally()
    for p in pods:
        md = meta(p)
        if TRACKING_FINALIZER not in (md.get("finalizers") or []) or md.get("uid") in seen:
            continue
        if phase(p) == "Succeeded":
            t.succeeded.append(p)
        elif phase(p) == "Failed" or is_terminating(p) and not finishing:
            t.failed.append(p)
    return t


def want_active(job: Obj, succeeded: int, active: int) -> int:
    """How many pods should be running now (before any backoff)."""
    s = spec(job)
    parallelism = _int(s.get("parallelism"), 1)
    completions = s.get("completions")
    if completions is None:
        # a work queue: once any pod succeeded, no new pods; the running ones finish on their own
        return parallelism if succeeded == 0 else min(active, parallelism)
    return max(0, min(parallelism, int(completions) - succeeded))


def success_met(job: Obj, *, succeeded: int, active: int) -> bool:
    completions = spec(job).get("completions")
    if completions is None:
        return succeeded > 0 and active == 0
    return succeeded >= int(completions)


def failure_reason(job: Obj, pods: list[Obj], *, failed: int, start: dt.datetime | None,
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


def past_backoff_on_failure(job: Obj, pods: list[Obj], limit: int) -> bool:
    """With restartPolicy OnFailure, container restarts of running pods count toward the limit."""
    tmpl = (spec(job).get("template") or {}).get("spec") or {}
    if tmpl.get("restartPolicy") != "OnFailure":
        return False
    restarts = sum(restart_count(p) for p in pods if is_active(p) and phase(p) in ("Pending", "Running"))
    return restarts > 0 if limit == 0 else restarts >= limit


def deadline_at(job: Obj, start: dt.datetime | None) -> dt.datetime | None:
    d = spec(job).get("activeDeadlineSeconds")
    if d is None or start is None:
        return None
    return start + dt.timedelta(seconds=int(d))


def backoff_delay(failures: int, *, base: float, cap: float) -> float:
    """Seconds to wait before replacing a failed pod after ``failures`` failures (doubling, capped)."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * (2 ** min(failures - 1, 30))))


def deletion_order(pods: list[Obj]) -> list[Obj]:
    """Active pods, the least useful first: unscheduled, then pending, then not ready, then newest."""
    def rank(p: Obj) -> tuple[int, int, int, str]:
        st = p.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
        return (0 if not (p.get("spec") or {}).get("nodeName") else 1,
                0 if phase(p) == "Pending" else 1,
                1 if ready else 0,
                _neg(str(meta(p).get("creationTimestamp") or "")))
    return sorted(pods, key=rank)


def _neg(ts: str) -> str:
    # newest first within a rank: invert the sortable timestamp's characters
    return "".join(chr(0x10FFFF - ord(c)) for c in ts)

