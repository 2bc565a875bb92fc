"""Automatic rollback: undo a failing rollout without waiting for a human.

Kubernetes reports a stuck rollout (Progressing=False) and waits; Nomad's
``auto_revert`` and Swarm's ``failure_action: rollback`` go back by themselves.
With the annotation ``shoal.io/auto-rollback: "true"`` a Deployment does too:
while its new ReplicaSet has not yet once been fully available, the rollout
*fails* when

- a new pod crash-loops (a container waiting in CrashLoopBackOff, or restarted
  ``CRASH_RESTARTS`` times), cannot get its image (ErrImagePull,
  ImagePullBackOff, InvalidImageName) or cannot start its container;
- a new pod runs but is not Ready for ``shoal.io/auto-rollback-readiness-seconds``
  (default 60);
- the progress deadline passed (Progressing=False, ProgressDeadlineExceeded).

The target is the newest older revision that was once fully available (the
controller marks a ReplicaSet with ``shoal.io/fully-available`` when a rollout
to it completes). The rollback is what ``kubectl rollout undo`` does: the
target's template goes back into the Deployment, so the target becomes the new
ReplicaSet with the next revision number. Pure functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from shoal.api.views import (
    Body,
    ObjectMeta,
    is_ready,
    is_terminating,
    max_restarts,
    meta,
    phase,
    spec,
)
from shoal.api.views import annotations as annotations_of
from shoal.controllers import podstate
from shoal.controllers.hashing import HASH_LABEL, equal_ignore_hash
from shoal.controllers.history import CHANGE_CAUSE, FULLY_AVAILABLE, revision, template
from shoal.controllers.progress import PROGRESSING, TIMED_OUT, condition

T = TypeVar("T", bound=Body)
AUTO_ROLLBACK = "shoal.io/auto-rollback"
READINESS_SECONDS = "shoal.io/auto-rollback-readiness-seconds"
DEFAULT_READINESS_SECONDS = 60
CRASH_RESTARTS = 3
FAILING_REASONS = frozenset({"CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                             "CreateContainerConfigError", "CreateContainerError", "RunContainerError"})


def enabled(d: Body) -> bool:
    return str(annotations_of(d).get(AUTO_ROLLBACK, "")).lower() == "true"


def readiness_seconds(d: Body) -> int:
    try:
        return max(0, int(annotations_of(d).get(READINESS_SECONDS, DEFAULT_READINESS_SECONDS)))
    except (TypeError, ValueError):
        return DEFAULT_READINESS_SECONDS


def pod_failure(pod: Body, *, readiness: int, now: dt.datetime) -> str | None:
    """Why this pod counts as a failed rollout, or None."""
    pod_name = meta(pod).get("name")
    if phase(pod) == "Failed":
        return f"pod {pod_name} failed"
    waiting = podstate.waiting_reason(pod)
    if waiting is not None and waiting[1] in FAILING_REASONS:
        return f"pod {pod_name}: container {waiting[0]} is in {waiting[1]}"
    n = max_restarts(pod)
    if n >= CRASH_RESTARTS:
        return f"pod {pod_name} restarted {n} times"
    if not is_ready(pod):
        since = podstate.running_since(pod)
        if since is not None and (now - since).total_seconds() >= readiness:
            return f"pod {pod_name} has been running for {int((now - since).total_seconds())}s without becoming Ready"
    return None


def rollout_failure(d: Body, new_rs: Body | None, new_pods: Sequence[Body], status: Body,
                    now: dt.datetime) -> str | None:
    """Why the current rollout failed, or None (also None once its ReplicaSet was fully available)."""
    if new_rs is None or FULLY_AVAILABLE in annotations_of(new_rs) or spec(d).get("paused"):
        return None
    cond = condition(status, PROGRESSING)
    if cond is not None and cond.get("reason") == TIMED_OUT:
        secs = spec(d).get("progressDeadlineSeconds")
        return f"ReplicaSet {meta(new_rs).get('name')} made no progress within the progress deadline ({secs}s)"
    readiness = readiness_seconds(d)
    for pod in sorted(new_pods, key=lambda p: str(meta(p).get("name"))):
        if is_terminating(pod):
            continue
        why = pod_failure(pod, readiness=readiness, now=now)
        if why is not None:
            return why
    return None


def rollback_target(d: Body, old: Sequence[T]) -> T | None:
    """The newest older ReplicaSet that was fully available and differs from the current template."""
    good = [rs for rs in old if FULLY_AVAILABLE in annotations_of(rs)
            and not equal_ignore_hash(template(rs), template(d)) and not is_terminating(rs)]
    return max(good, key=revision, default=None)


@dataclass(frozen=True, slots=True)
class Rollback:
    target: str      # ReplicaSet name
    revision: int
    reason: str


def rolled_back(d: Body, target: Body) -> dict[str, Any]:
    """A copy of ``d`` with the target's template (hash label removed) and its change-cause."""
    tmpl = dict(template(target))
    tmd = dict(tmpl.get("metadata") or {})
    labels = {k: v for k, v in (tmd.get("labels") or {}).items() if k != HASH_LABEL}
    tmd["labels"] = labels
    tmpl["metadata"] = tmd
    md: ObjectMeta = {**meta(d)}
    ann = dict(annotations_of(d))
    cause = annotations_of(target).get(CHANGE_CAUSE)
    if cause is not None:
        ann[CHANGE_CAUSE] = cause
    else:
        ann.pop(CHANGE_CAUSE, None)
    md["annotations"] = ann
    return {**d, "metadata": md, "spec": {**spec(d), "template": tmpl}}
