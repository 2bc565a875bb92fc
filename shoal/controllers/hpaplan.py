"""The HorizontalPodAutoscaler's decisions, pure: upstream's replica calculator and scaling rules.

Two steps, as kube-controller-manager's ``podautoscaler`` takes them:

1. ``resource_replicas`` (upstream's ``GetResourceReplicas`` /
   ``GetRawResourceReplicas``): from the target's pods and their metrics,
   the replica count one resource metric asks for. Pods being deleted or
   failed are ignored; pending pods and (for CPU) pods not yet ready within
   their first five minutes count as *unready*; pods without metrics are
   *missing*. The usage ratio (utilization over target, or average value over
   target) decides: within the tolerance (10%), nothing changes; otherwise
   ``ceil(ratio * ready pods)``, unless missing or unready pods exist, in
   which case those are assumed at 100% of their request (scale down) or 0
   (scale up), the ratio is recomputed, and a change of direction, or one
   within the tolerance, keeps the current count.
2. ``normalize`` (``normalizeDesiredReplicas`` / ``...WithBehaviors``):
   stabilization (the highest recommendation of the scale-down window; with
   ``behavior``, also the lowest of the scale-up window), then the rate
   limits (without behavior: at most max(2x, 4) up; with behavior: the
   policies, by Pods or Percent per period, over the scale events of each
   period, combined by ``selectPolicy``), then min/max. It reports the
   AbleToScale and ScalingLimited conditions' reasons, in upstream's words.

Quantities are integers in milli-units (``MilliValue``: millicores, or
thousandths of a byte) so CPU and memory go through the same arithmetic.
Times are seconds on the caller's clock.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0  # seconds: a starting pod's CPU is not trusted until ready
INITIAL_READINESS_DELAY = 30.0
DOWNSCALE_STABILIZATION = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization


class MetricError(Exception):
    """A replica count could not be computed from a metric (the message is upstream's)."""


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What the calculator needs of one pod of the target (its metric summed over its containers)."""

    name: str
    phase: str = "Running"
    deleting: bool = False
    ready: bool | None = True  # None: no Ready condition
    start_time: float | None = 0.0
    ready_changed: float | None = 0.0  # the Ready condition's lastTransitionTime
    requests: int | None = 0  # milli-units, summed over containers; None: a container has no request
    missing_request: str = ""  # the first container without one
    metric: int | None = None  # milli-units; None: no metrics for this pod
    metric_time: float = 0.0
    metric_window: float = 0.0


@dataclass(frozen=True, slots=True)
class Proposal:
    replicas: int
    utilization: int | None  # percent of request (Utilization targets)
    average: int  # milli-units per pod


def _ratio(metrics: dict[str, int], requests: dict[str, int], target: int) -> tuple[float, int, int]:
    """Upstream's GetResourceUtilizationRatio: (ratio, utilization %, raw average milli-units)."""
    total = sum(metrics.values())
    req = sum(requests[n] for n in metrics if n in requests)
    if req == 0:
        raise MetricError("no metrics returned matched known pods")
    utilization = int(total * 100 / req)
    return utilization / target, utilization, total // len(metrics)


def _classify(pods: Sequence[PodInfo], resource: str, now: float) -> tuple[dict[str, int], set[str], set[str], int]:
    metrics: dict[str, int] = {}
    missing: set[str] = set()
    unready: set[str] = set()
    ready_count = 0
    for p in pods:
        if p.deleting or p.phase == "Failed":
            continue
        if p.phase == "Pending":
            unready.add(p.name)
            continue
        if p.metric is None:
            missing.add(p.name)
            continue
        if resource == "cpu":
            if p.ready is None or p.start_time is None:
                not_ready = True
            elif p.start_time + CPU_INITIALIZATION_PERIOD > now:
                not_ready = (not p.ready) or (p.ready_changed is not None
                                              and p.metric_time < p.ready_changed + p.metric_window)
            else:
                not_ready = (not p.ready) and p.ready_changed is not None and \
                    p.start_time + INITIAL_READINESS_DELAY > p.ready_changed
            if not_ready:
                unready.add(p.name)
                continue
        metrics[p.name] = p.metric
        ready_count += 1
    return metrics, missing, unready, ready_count


def resource_replicas(current: int, pods: Sequence[PodInfo], resource: str, *, utilization: int | None = None,
                      average: int | None = None, now: float, tolerance: float = TOLERANCE) -> Proposal:
    """The replicas one Resource metric asks for: a ``utilization`` target (percent of request) or an
    ``average`` value target (milli-units per pod). Raises ``MetricError`` with upstream's message."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    if not any(p.metric is not None for p in pods):
        raise MetricError(f"unable to get metrics for resource {resource}: no metrics returned from resource "
                          "metrics API")
    metrics, missing, unready, ready_count = _classify(pods, resource, now)
    if not metrics:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    if utilization is not None:
        requests: dict[str, int] = {}
        for p in pods:
            if p.requests is None:
                raise MetricError(f"missing request for {resource} in container {p.missing_request} of Pod {p.name}")
            requests[p.name] = p.requests
        ratio, util, raw = _ratio(metrics, requests, utilization)
    else:
        assert average is not None
        raw = sum(metrics.values()) // len(metrics)
        ratio, util = sum(metrics.values()) / len(metrics) / average, None
    scale_up_unready = bool(unready) and ratio > 1.0
    if not scale_up_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return Proposal(current, util, raw)
        return Proposal(math.ceil(ratio * ready_count), util, raw)
    if missing:
        if ratio < 1.0:
            for name in missing:  # on a scale-down, missing pods use 100% of their request (or the target)
                metrics[name] = (requests[name] * max(100, utilization) // 100 if utilization is not None
                                 else average or 0)
        elif ratio > 1.0:
            for name in missing:
                metrics[name] = 0
    if scale_up_unready:
        for name in unready:
            metrics[name] = 0
    if utilization is not None:
        new_ratio = _ratio(metrics, requests, utilization)[0]
    else:
        assert average is not None
        new_ratio = sum(metrics.values()) / len(metrics) / average
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return Proposal(current, util, raw)
    new = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and new > current) or (new_ratio > 1.0 and new < current):
        return Proposal(current, util, raw)
    return Proposal(new, util, raw)


# ---- step 2: stabilization and rate limits --------------------------------------------------
@dataclass(frozen=True, slots=True)
class Policy:
    type: str  # Pods | Percent
    value: int
    period: int  # seconds


@dataclass(frozen=True, slots=True)
class Rules:
    window: float  # stabilization window, seconds
    select: str = "Max"  # Max | Min | Disabled
    policies: tuple[Policy, ...] = ()


@dataclass(frozen=True, slots=True)
class Behavior:
    up: Rules
    down: Rules


@dataclass(slots=True)
class History:
    """What an HPA's earlier passes leave for the next: recommendations and (with behavior) scale events."""

    recommendations: list[tuple[float, int]] = field(default_factory=list)  # (time, replicas)
    scale_ups: list[tuple[float, int]] = field(default_factory=list)  # (time, replicas added)
    scale_downs: list[tuple[float, int]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Normalized:
    replicas: int
    able_reason: str
    able_message: str
    limited: bool
    limited_reason: str
    limited_message: str


_READY = ("ReadyForNewScale", "recommended size matches current size")
_DOWN_STABILIZED = ("ScaleDownStabilized",
                    "recent recommendations were higher than current one, applying the highest recent recommendation")
_UP_STABILIZED = ("ScaleUpStabilized",
                  "recent recommendations were lower than current one, applying the lowest recent recommendation")
_WITHIN = ("DesiredWithinRange", "the desired count is within the acceptable range")
_TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
_TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
_UP_LIMIT = ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate")
_DOWN_LIMIT = ("ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate")


def _record(history: History, desired: int, now: float, keep: float) -> None:
    """Record a recommendation, reusing the slot of one older than every window (as upstream)."""
    for i, (t, _) in enumerate(history.recommendations):
        if t < now - keep:
            history.recommendations[i] = (now, desired)
            return
    history.recommendations.append((now, desired))


def normalize(current: int, desired: int, *, min_replicas: int, max_replicas: int, behavior: Behavior | None,
              history: History, now: float) -> Normalized:
    """Stabilize and limit ``desired`` (upstream's two normalizations); updates ``history``."""
    if behavior is None:
        cutoff = now - DOWNSCALE_STABILIZATION
        stabilized = max([desired, *(r for t, r in history.recommendations if t > cutoff)])
        _record(history, desired, now, DOWNSCALE_STABILIZATION)
        able = _DOWN_STABILIZED if stabilized != desired else _READY
        up_limit = max(2 * current, 4)
        top, top_why = (up_limit, _UP_LIMIT) if max_replicas > up_limit else (max_replicas, _TOO_MANY)
        if stabilized < min_replicas:
            out, why = min_replicas, _TOO_FEW
        elif stabilized > top:
            out, why = top, top_why
        else:
            out, why = stabilized, _WITHIN
        return Normalized(out, *able, out != stabilized, *why)
    up_cut, down_cut = now - behavior.up.window, now - behavior.down.window
    up_rec = min([desired, *(r for t, r in history.recommendations if t > up_cut)])
    down_rec = max([desired, *(r for t, r in history.recommendations if t > down_cut)])
    stabilized = min(max(current, up_rec), down_rec)
    _record(history, desired, now, max(behavior.up.window, behavior.down.window))
    if stabilized != desired:
        able = _UP_STABILIZED if desired >= current else _DOWN_STABILIZED
    else:
        able = _READY
    out, why = stabilized, _WITHIN
    if stabilized > current:
        limit = max(current, scale_up_limit(current, history, behavior.up, now))
        top, top_why = (limit, _UP_LIMIT) if max_replicas > limit else (max_replicas, _TOO_MANY)
        if stabilized > top:
            out, why = top, top_why
    elif stabilized < current:
        limit = min(current, scale_down_limit(current, history, behavior.down, now))
        bottom, bottom_why = (limit, _DOWN_LIMIT) if min_replicas < limit else (min_replicas, _TOO_FEW)
        if stabilized < bottom:
            out, why = bottom, bottom_why
    return Normalized(out, *able, out != stabilized, *why)


def _changed(events: list[tuple[float, int]], period: int, now: float) -> int:
    return sum(n for t, n in events if t > now - period)


def scale_up_limit(current: int, history: History, rules: Rules, now: float) -> int:
    if rules.select == "Disabled":
        return current
    proposals = []
    for p in rules.policies:
        start = current - _changed(history.scale_ups, p.period, now) + _changed(history.scale_downs, p.period, now)
        proposals.append(start + p.value if p.type == "Pods" else math.ceil(start * (1 + p.value / 100)))
    if not proposals:
        return current
    return min(proposals) if rules.select == "Min" else max(proposals)


def scale_down_limit(current: int, history: History, rules: Rules, now: float) -> int:
    if rules.select == "Disabled":
        return current
    proposals = []
    for p in rules.policies:
        start = current - _changed(history.scale_ups, p.period, now) + _changed(history.scale_downs, p.period, now)
        proposals.append(start - p.value if p.type == "Pods" else int(start * (1 - p.value / 100)))
    if not proposals:
        return current
    return max(proposals) if rules.select == "Min" else min(proposals)


def record_scale(history: History, behavior: Behavior | None, current: int, desired: int, now: float) -> None:
    """Remember a rescale for the rate limits, dropping events older than every policy's period."""
    if behavior is None:
        return
    longest = max((p.period for p in (*behavior.up.policies, *behavior.down.policies)), default=0)
    history.scale_ups[:] = [(t, n) for t, n in history.scale_ups if t > now - longest]
    history.scale_downs[:] = [(t, n) for t, n in history.scale_downs if t > now - longest]
    if desired > current:
        history.scale_ups.append((now, desired - current))
    elif desired < current:
        history.scale_downs.append((now, current - desired))
