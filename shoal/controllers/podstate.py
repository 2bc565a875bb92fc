"""What a controller reads from a pod: active, ready, available, and how useful it is.

Pure functions over pods (typed views, no I/O), shared by the ReplicaSet and
Deployment controllers. ``deletion_order`` is upstream's ranking for scaling
down (``ActivePodsWithRanks``): the pod that costs least to lose goes first:
unscheduled before scheduled, Pending before Unknown before Running, not ready
before ready, lower ``controller.kubernetes.io/pod-deletion-cost`` first, pods
doubled up on a node (with related pods) before lone ones, ready for a shorter
time before longer, more restarts before fewer, newer before older.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable

from shoal.api.views import (
    Body,
    condition,
    container_statuses,
    is_active,
    is_ready,
    max_restarts,
    meta,
    node_name,
    parse_time,
    phase,
    status,
)
from shoal.api.views import (
    annotations as annotations_of,
)

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def ready_since(pod: Body) -> dt.datetime | None:
    """When the pod last became ready (None if it is not ready)."""
    c = condition(pod, "Ready")
    if c is None or c.get("status") != "True":
        return None
    return parse_time(c.get("lastTransitionTime")) or parse_time(meta(pod).get("creationTimestamp"))


def available_at(pod: Body, min_ready_seconds: int) -> dt.datetime | None:
    """When a ready pod becomes (or became) available; None if not ready."""
    since = ready_since(pod)
    if since is None:
        return None
    return since + dt.timedelta(seconds=max(0, min_ready_seconds))


def is_available(pod: Body, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream: ready since more than that)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    at = available_at(pod, min_ready_seconds)
    return at is not None and at <= now


def deletion_cost(pod: Body) -> int:
    raw = annotations_of(pod).get(DELETION_COST)
    try:
        return int(raw) if raw is not None else 0
    except (TypeError, ValueError):
        return 0


def _ts(value: dt.datetime | None) -> float:
    return value.timestamp() if value is not None else 0.0


def deletion_key(pod: Body, colocated: int) -> tuple[bool, int, bool, int, int, float, int, float, str]:
    """Sort key: smaller deletes first."""
    assigned = bool(node_name(pod))
    ready = is_ready(pod)
    created = parse_time(meta(pod).get("creationTimestamp"))
    since = ready_since(pod) if ready else None
    return (
        assigned,                                   # unscheduled first
        _PHASE_RANK.get(phase(pod), 3),             # Pending < Unknown < Running
        ready,                                      # not ready first
        deletion_cost(pod),                         # lower cost first
        -colocated,                                 # doubled up first
        -_ts(since) if since else 0.0,              # ready for less time first
        -max_restarts(pod),                         # more restarts first
        -_ts(created),                              # newer first
        str(meta(pod).get("uid") or meta(pod).get("name") or ""),
    )


def deletion_order(pods: Iterable[Body], related: Iterable[Body] = ()) -> list[Body]:
    """``pods`` sorted so that the first ones are the cheapest to delete.

    ``related`` are pods of sibling ReplicaSets (the same Deployment): a pod on a
    node crowded with related pods ranks before a pod alone on its node.
    """
    pods = list(pods)
    per_node: Counter[str] = Counter()
    for p in [*pods, *related]:
        if is_active(p) and node_name(p):
            per_node[node_name(p)] += 1
    return sorted(pods, key=lambda p: deletion_key(p, per_node[node_name(p)] if node_name(p) else 0))


def waiting_reason(pod: Body) -> tuple[str, str] | None:
    """The first container waiting with a reason, as (container, reason)."""
    for c in (*container_statuses(pod, init=True), *container_statuses(pod)):
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            return str(c.get("name") or ""), str(waiting["reason"])
    return None


def running_since(pod: Body) -> dt.datetime | None:
    """When the pod's containers last all started running (None if one is not running)."""
    statuses = container_statuses(pod)
    if phase(pod) != "Running" or not statuses:
        return None
    latest: dt.datetime | None = None
    for c in statuses:
        running = (c.get("state") or {}).get("running")
        if not isinstance(running, dict):
            return None
        t = parse_time(running.get("startedAt")) or parse_time(status(pod).get("startTime"))
        if t is not None and (latest is None or t > latest):
            latest = t
    return latest
