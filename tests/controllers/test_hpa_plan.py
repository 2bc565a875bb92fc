"""Table tests of the HPA's pure decisions (``shoal.controllers.hpaplan``), cases from upstream's
replica_calculator_test.go and horizontal_test.go where they exist."""

from __future__ import annotations

import pytest

from shoal.controllers.hpaplan import (
    Behavior,
    History,
    MetricError,
    PodInfo,
    Policy,
    Rules,
    normalize,
    record_scale,
    resource_replicas,
)

NOW = 100.0  # pods started at 0: within the CPU initialization period


def pods(levels: list[int | None], requests: list[int] | int = 1000, ready: list[bool] | None = None,
         phase: list[str] | None = None) -> list[PodInfo]:
    reqs = requests if isinstance(requests, list) else [requests] * len(levels)
    return [PodInfo(name=f"p-{i}", metric=m, requests=reqs[i], ready=(ready or [True] * len(levels))[i],
                    phase=(phase or ["Running"] * len(levels))[i], metric_time=NOW, metric_window=15)
            for i, m in enumerate(levels)]


@pytest.mark.parametrize(("current", "pods_", "target", "want", "util"), [
    # upstream TestReplicaCalcScaleUp
    (3, pods([300, 500, 700]), 30, 5, 50),
    # TestReplicaCalcScaleDown
    (5, pods([100, 300, 500, 250, 250]), 50, 3, 28),
    # TestReplicaCalcTolerance: 102% of the target is within 10%
    (3, pods([1010, 1030, 1020], [900, 1000, 1100]), 100, 3, 102),
    # TestReplicaCalcScaleUpUnreadyLessScale: the unready pod counts as 0 on a scale-up
    (3, pods([300, 500, 700], ready=[False, True, True]), 30, 4, 60),
    # a pending pod is unready too; a failed one is ignored
    (3, pods([300, 500, 700], phase=["Pending", "Running", "Running"]), 30, 4, 60),
    (3, pods([300, 500, 700], phase=["Failed", "Running", "Running"]), 30, 4, 60),
    # a missing pod on a scale-down counts as 100% of its request
    (4, pods([100, 100, 100, None]), 50, 3, 10),
    # ... on a scale-up as 0
    (3, pods([900, 900, None]), 50, 3 + 1, 90),
    # a missing pod that would turn a scale-down into a scale-up keeps the count
    (2, pods([400, None]), 50, 2, 40),
])
def test_utilization_replicas(current: int, pods_: list[PodInfo], target: int, want: int, util: int) -> None:
    p = resource_replicas(current, pods_, "cpu", utilization=target, now=NOW)
    assert (p.replicas, p.utilization) == (want, util)


def test_average_value_replicas() -> None:
    p = resource_replicas(2, pods([200, 400]), "cpu", average=100, now=NOW)
    assert (p.replicas, p.utilization, p.average) == (6, None, 300)
    assert resource_replicas(2, pods([105, 100]), "cpu", average=100, now=NOW).replicas == 2  # tolerance


def test_memory_ignores_readiness() -> None:
    p = resource_replicas(2, pods([2000, 2000], ready=[False, True]), "memory", utilization=100, now=NOW)
    assert p.replicas == 4


@pytest.mark.parametrize(("pods_", "message"), [
    ([], "no pods returned by selector while calculating replica count"),
    (pods([None, None]), "unable to get metrics for resource cpu: no metrics returned from resource metrics API"),
    ([PodInfo(name="web-1", metric=100, requests=None, missing_request="main")],
     "missing request for cpu in container main of Pod web-1"),
    (pods([100], ready=[False]), "did not receive metrics for targeted pods (pods might be unready)"),
])
def test_errors_say_what_upstream_says(pods_: list[PodInfo], message: str) -> None:
    with pytest.raises(MetricError) as e:
        resource_replicas(1, pods_, "cpu", utilization=50, now=NOW)
    assert str(e.value) == message


# ---- normalize -----------------------------------------------------------------------------------
def test_without_behavior_scale_down_is_stabilized_over_five_minutes() -> None:
    h = History(recommendations=[(NOW - 10, 5)])
    n = normalize(5, 2, min_replicas=1, max_replicas=10, behavior=None, history=h, now=NOW)
    assert (n.replicas, n.able_reason, n.limited) == (5, "ScaleDownStabilized", False)
    later = normalize(5, 2, min_replicas=1, max_replicas=10, behavior=None, history=h, now=NOW + 400)
    assert (later.replicas, later.able_reason) == (2, "ReadyForNewScale")


@pytest.mark.parametrize(("current", "desired", "mn", "mx", "want", "reason", "limited"), [
    (1, 10, 1, 20, 4, "ScaleUpLimit", True),  # at most max(2x, 4)
    (10, 30, 1, 15, 15, "TooManyReplicas", True),
    (3, 0, 2, 10, 2, "TooFewReplicas", True),
    (3, 5, 1, 10, 5, "DesiredWithinRange", False),
])
def test_without_behavior_limits(current: int, desired: int, mn: int, mx: int, want: int, reason: str,
                                 limited: bool) -> None:
    n = normalize(current, desired, min_replicas=mn, max_replicas=mx, behavior=None, history=History(), now=NOW)
    assert (n.replicas, n.limited_reason, n.limited) == (want, reason, limited)


UP = (Policy("Pods", 4, 60), Policy("Percent", 100, 60))


@pytest.mark.parametrize(("select", "want", "reason"), [
    ("Max", 20, "ScaleUpLimit"),  # the larger of +4 and +100%
    ("Min", 14, "ScaleUpLimit"),
    ("Disabled", 10, "ScaleUpLimit"),
])
def test_behavior_scale_up_policies(select: str, want: int, reason: str) -> None:
    b = Behavior(Rules(0, select, UP), Rules(300, "Max", (Policy("Percent", 100, 15),)))
    n = normalize(10, 30, min_replicas=1, max_replicas=100, behavior=b, history=History(), now=NOW)
    assert (n.replicas, n.limited_reason, n.limited) == (want, reason, True)


def test_behavior_scale_down_counts_the_period_s_earlier_events() -> None:
    b = Behavior(Rules(0, "Max", UP), Rules(0, "Max", (Policy("Percent", 50, 60),)))
    n = normalize(10, 1, min_replicas=1, max_replicas=100, behavior=b, history=History(), now=NOW)
    assert (n.replicas, n.limited_reason) == (5, "ScaleDownLimit")
    h = History()
    record_scale(h, b, 15, 10, NOW - 10)  # 15 -> 10 ten seconds ago: the period started at 15
    n = normalize(10, 1, min_replicas=1, max_replicas=100, behavior=b, history=h, now=NOW)
    assert n.replicas == 7
    n = normalize(10, 1, min_replicas=8, max_replicas=100, behavior=b, history=History(), now=NOW)
    assert (n.replicas, n.limited_reason) == (8, "TooFewReplicas")


def test_behavior_stabilization_windows() -> None:
    b = Behavior(Rules(60, "Max", UP), Rules(30, "Max", (Policy("Percent", 100, 15),)))
    h = History(recommendations=[(NOW - 10, 3)])
    n = normalize(3, 6, min_replicas=1, max_replicas=10, behavior=b, history=h, now=NOW)
    assert (n.replicas, n.able_reason) == (3, "ScaleUpStabilized")
    h = History(recommendations=[(NOW - 10, 6)])
    n = normalize(6, 2, min_replicas=1, max_replicas=10, behavior=b, history=h, now=NOW)
    assert (n.replicas, n.able_reason) == (6, "ScaleDownStabilized")
    n = normalize(6, 2, min_replicas=1, max_replicas=10, behavior=b, history=h, now=NOW + 31)
    assert (n.replicas, n.able_reason, n.limited_reason) == (2, "ReadyForNewScale", "DesiredWithinRange")


def test_pod_info_sums_containers_or_picks_one() -> None:
    from shoal.controllers.hpa import pod_info

    pod = {"metadata": {"name": "w"}, "spec": {"containers": [
        {"name": "a", "resources": {"requests": {"cpu": "100m"}}},
        {"name": "b", "resources": {"requests": {"cpu": "0.3"}}}]},
        "status": {"phase": "Running", "startTime": "2026-01-01T00:00:00Z",
                   "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"}]}}
    metric = {"timestamp": "2026-01-01T00:01:00Z", "window": "10.5s", "containers": [
        {"name": "a", "usage": {"cpu": "50000000n"}}, {"name": "b", "usage": {"cpu": "1m"}}]}
    both = pod_info(pod, "cpu", metric)
    assert (both.requests, both.metric, both.ready, both.metric_window) == (400, 51, True, 10.5)
    one = pod_info(pod, "cpu", metric, "b")
    assert (one.requests, one.metric) == (300, 1)
    missing = pod_info(pod, "memory", None)
    assert (missing.requests, missing.missing_request, missing.metric) == (None, "a", None)
