"""The disruption controller's planner as table tests: a budget's status from its pods and their controllers' scale."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shoal.controllers.disruptionplan import Scale, expected_and_desired, plan_budget

NOW = dt.datetime(2026, 12, 6, 12, 0, 0, tzinfo=dt.UTC)
Obj = dict[str, Any]


def pod(name: str, *, ready: bool = True, owner: str | None = "rs-1", terminating: bool = False,
        labels: dict[str, str] | None = None) -> Obj:
    md: Obj = {"name": name, "namespace": "ns", "labels": labels or {"app": "web"}}
    if owner is not None:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": owner,
                                  "controller": True}]
    if terminating:
        md["deletionTimestamp"] = "2026-12-06T11:59:50Z"
    return {"metadata": md, "status": {"phase": "Running",
                                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(*, min_available: Any = None, max_unavailable: Any = None, generation: int = 1,
        status: Obj | None = None) -> Obj:
    spec: Obj = {"selector": {"matchLabels": {"app": "web"}}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    return {"metadata": {"name": "web", "namespace": "ns", "generation": generation}, "spec": spec,
            "status": status or {}}


SCALE_4 = {"rs-1": Scale("deploy-1", 4)}


@pytest.mark.parametrize(("budget", "pods", "scale", "want"), [
    # an int minAvailable counts the pods there are
    (pdb(min_available=2), [pod("a"), pod("b"), pod("c")], {}, (3, 2, 3, 1)),
    (pdb(min_available=3), [pod("a"), pod("b"), pod("c")], {}, (3, 3, 3, 0)),
    # an unready or terminating pod is not healthy
    (pdb(min_available=2), [pod("a"), pod("b", ready=False), pod("c", terminating=True)], {}, (3, 2, 1, 0)),
    # maxUnavailable is taken from the controllers' scale (a Deployment's 4), not the pods that exist
    (pdb(max_unavailable=1), [pod("a"), pod("b"), pod("c")], SCALE_4, (4, 3, 3, 0)),
    (pdb(max_unavailable=1), [pod("a"), pod("b"), pod("c"), pod("d")], SCALE_4, (4, 3, 4, 1)),
    # percentages round up: 50% of 4 is 2 kept available; 25% of 4 is 1 unavailable
    (pdb(min_available="50%"), [pod("a"), pod("b"), pod("c"), pod("d")], SCALE_4, (4, 2, 4, 2)),
    (pdb(max_unavailable="25%"), [pod("a"), pod("b"), pod("c"), pod("d")], SCALE_4, (4, 3, 4, 1)),
    (pdb(min_available="30%"), [pod("a"), pod("b"), pod("c")], {"rs-1": Scale("d", 3)}, (3, 1, 3, 2)),
    # each controller counted once, however many of its pods there are
    (pdb(max_unavailable=0), [pod("a"), pod("b", owner="rs-2")], {"rs-1": Scale("d1", 2), "rs-2": Scale("d1", 2)},
     (2, 2, 2, 0)),
    # nothing expected: nothing allowed
    (pdb(max_unavailable=1), [], {}, (0, 0, 0, 0)),
])
def test_counts(budget: Obj, pods: list[Obj], scale: dict[str, Scale], want: tuple[int, int, int, int]) -> None:
    st = plan_budget(budget, pods, scale, NOW).status
    assert (st["expectedPods"], st["desiredHealthy"], st["currentHealthy"], st["disruptionsAllowed"]) == want
    cond = st["conditions"][0]
    assert cond["type"] == "DisruptionAllowed"
    assert (cond["status"], cond["reason"]) == (("True", "SufficientPods") if want[3] else ("False", "InsufficientPods"))
    assert st["observedGeneration"] == 1


@pytest.mark.parametrize(("pods", "scale", "why"), [
    ([pod("a", owner=None)], {}, 'found no controller ref for pod "a"'),
    ([pod("a")], {}, 'found no controllers for pod "a"'),
])
def test_no_scale_is_a_sync_failure(pods: list[Obj], scale: dict[str, Scale], why: str) -> None:
    """As upstream's failSafe: nothing allowed, SyncFailed with the reason, observedGeneration left as it was."""
    budget = pdb(max_unavailable="10%", generation=3,
                 status={"observedGeneration": 2, "disruptionsAllowed": 1, "currentHealthy": 1})
    plan = plan_budget(budget, pods, scale, NOW)
    assert plan.error == why
    assert plan.status["disruptionsAllowed"] == 0
    assert plan.status["observedGeneration"] == 2
    assert plan.status["conditions"] == [{"type": "DisruptionAllowed", "status": "False", "observedGeneration": 2,
                                          "reason": "SyncFailed", "message": why,
                                          "lastTransitionTime": "2026-12-06T12:00:00Z"}]


def test_an_int_min_available_needs_no_scale() -> None:
    assert expected_and_desired(pdb(min_available=1), [pod("a", owner=None)], {}) == (1, 1)


def test_disrupted_pods_are_not_counted_until_their_note_expires() -> None:
    """An eviction notes the pod; it is not healthy for two minutes, then counts again unless it is going."""
    fresh = (NOW - dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stale = (NOW - dt.timedelta(seconds=150)).strftime("%Y-%m-%dT%H:%M:%SZ")
    budget = pdb(min_available=1, status={"disruptedPods": {"a": fresh, "b": stale, "c": fresh, "gone": fresh}})
    pods = [pod("a"), pod("b"), pod("c", terminating=True), pod("d")]
    plan = plan_budget(budget, pods, {}, NOW)
    # a: noted 30 s ago (kept, not healthy); b: noted too long ago (dropped, healthy again);
    # c: being deleted (dropped: the note did its job); gone: no such pod (dropped)
    assert plan.status["disruptedPods"] == {"a": fresh}
    assert plan.status["currentHealthy"] == 2
    assert plan.status["disruptionsAllowed"] == 1
    assert plan.recheck_after == pytest.approx(90.0)


def test_the_condition_keeps_its_time_while_its_status_holds() -> None:
    first = plan_budget(pdb(min_available=1), [pod("a"), pod("b")], {}, NOW).status
    later = plan_budget(pdb(min_available=1, status=first), [pod("a"), pod("b"), pod("c")], {},
                        NOW + dt.timedelta(minutes=5)).status
    assert later["conditions"][0]["lastTransitionTime"] == "2026-12-06T12:00:00Z"
    assert later["disruptionsAllowed"] == 2
    blocked = plan_budget(pdb(min_available=3, status=later), [pod("a"), pod("b"), pod("c")], {},
                          NOW + dt.timedelta(minutes=6)).status
    assert blocked["conditions"][0]["status"] == "False"
    assert blocked["conditions"][0]["lastTransitionTime"] == "2026-12-06T12:06:00Z"


def test_no_pods_is_reported() -> None:
    assert plan_budget(pdb(min_available=1), [], {}, NOW).no_pods
