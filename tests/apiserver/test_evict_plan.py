"""The eviction planner as table tests: what evicting a pod does, given the budgets of its namespace."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shoal.apiserver.evictplan import VIOLATION, Delete, Refuse, Spend, plan_eviction

NOW = dt.datetime(2026, 12, 6, 12, 0, 0, tzinfo=dt.UTC)
Obj = dict[str, Any]


def pod(*, phase: str = "Running", ready: bool = True, terminating: bool = False, labels: dict[str, str] | None = None,
        ns: str = "ns") -> Obj:
    md: Obj = {"name": "web-1", "namespace": ns, "resourceVersion": "41", "labels": labels or {"app": "web"}}
    if terminating:
        md["deletionTimestamp"] = "2026-12-06T11:59:00Z"
    return {"metadata": md, "status": {"phase": phase,
                                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(name: str = "web", *, selector: Any = None, allowed: int = 1, current: int = 3, desired: int = 2,
        generation: int = 1, observed: int = 1, policy: str | None = None, ns: str = "ns",
        disrupted: dict[str, str] | None = None) -> Obj:
    spec: Obj = {"selector": {"matchLabels": {"app": "web"}} if selector is None else selector, "minAvailable": 2}
    if policy:
        spec["unhealthyPodEvictionPolicy"] = policy
    st: Obj = {"observedGeneration": observed, "disruptionsAllowed": allowed, "currentHealthy": current,
               "desiredHealthy": desired, "expectedPods": 3,
               "conditions": [{"type": "DisruptionAllowed", "status": "True", "reason": "SufficientPods",
                               "message": "", "observedGeneration": 1, "lastTransitionTime": "2026-12-06T11:00:00Z"}]}
    if disrupted is not None:
        st["disruptedPods"] = disrupted
    return {"metadata": {"name": name, "namespace": ns, "generation": generation, "resourceVersion": "7"},
            "spec": spec, "status": st}


@pytest.mark.parametrize(("the_pod", "budgets", "want"), [
    # nothing to disrupt: finished or going pods are deleted outright (a pending one with its version required)
    (pod(phase="Succeeded"), [pdb(allowed=0)], Delete(None)),
    (pod(terminating=True), [pdb(allowed=0)], Delete(None)),
    (pod(phase="Pending"), [pdb(allowed=0)], Delete("41")),
    # no budget covers it: another namespace, another selector, a nil selector
    (pod(), [pdb(ns="other"), pdb(selector={"matchLabels": {"app": "db"}})], Delete(None)),
    # an unready pod whose budget is met costs nothing (its version required); AlwaysAllow lets it go regardless
    (pod(ready=False), [pdb(allowed=0, current=2, desired=2)], Delete("41")),
    (pod(ready=False), [pdb(allowed=0, current=1, desired=2, policy="AlwaysAllow")], Delete("41")),
])
def test_deletes(the_pod: Obj, budgets: list[Obj], want: Delete) -> None:
    assert plan_eviction(the_pod, budgets, now=NOW) == want


def test_a_nil_selector_covers_nothing_and_an_empty_one_everything() -> None:
    nil = pdb(allowed=0)
    nil["spec"].pop("selector")
    assert plan_eviction(pod(), [nil], now=NOW) == Delete(None)
    assert isinstance(plan_eviction(pod(), [pdb(selector={}, allowed=0)], now=NOW), Refuse)


def test_spending_the_budget() -> None:
    plan = plan_eviction(pod(), [pdb(allowed=2, disrupted={"other": "2026-12-06T11:59:30Z"})], now=NOW)
    assert isinstance(plan, Spend)
    assert (plan.budget, plan.budget_rv) == ("web", "7")
    assert plan.new_status["disruptionsAllowed"] == 1
    assert plan.new_status["disruptedPods"] == {"other": "2026-12-06T11:59:30Z", "web-1": "2026-12-06T12:00:00Z"}
    assert plan.new_status["conditions"][0]["status"] == "True"  # one disruption is still allowed


def test_spending_the_last_disruption_flips_the_condition() -> None:
    plan = plan_eviction(pod(), [pdb(allowed=1)], now=NOW)
    assert isinstance(plan, Spend)
    assert plan.new_status["disruptionsAllowed"] == 0
    cond = plan.new_status["conditions"][0]
    assert (cond["status"], cond["reason"], cond["lastTransitionTime"]) == ("False", "InsufficientPods",
                                                                          "2026-12-06T12:00:00Z")


def test_a_dry_run_notes_no_pod() -> None:
    plan = plan_eviction(pod(), [pdb(allowed=1)], now=NOW, dry_run=True)
    assert isinstance(plan, Spend)
    assert "disruptedPods" not in plan.new_status


def test_no_disruption_allowed_is_429_with_upstreams_cause() -> None:
    plan = plan_eviction(pod(), [pdb(allowed=0, current=2, desired=2)], now=NOW)
    assert isinstance(plan, Refuse)
    e = plan.error
    assert (e.code, e.reason, e.message) == (429, "TooManyRequests", VIOLATION)
    assert e.status() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Cannot evict pod as it would violate the pod's disruption budget.", "reason": "TooManyRequests",
        "details": {"causes": [{"reason": "DisruptionBudget",
                                "message": "The disruption budget web needs 2 healthy pods and has 2 currently"}]},
        "code": 429}
    assert "Retry-After" not in e.headers


def test_a_stale_budget_is_429_retry_in_10s() -> None:
    plan = plan_eviction(pod(), [pdb(generation=2, observed=1)], now=NOW)
    assert isinstance(plan, Refuse)
    assert plan.error.code == 429
    assert plan.error.details == {"causes": [{"reason": "DisruptionBudget", "message":
                                              "The disruption budget web is still being processed by the server."}],
                                  "retryAfterSeconds": 10}
    assert plan.error.headers == {"Retry-After": "10"}


def test_two_budgets_is_upstreams_500_status() -> None:
    plan = plan_eviction(pod(), [pdb("a"), pdb("b")], now=NOW)
    assert isinstance(plan, Refuse)
    assert plan.error.body() == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"This pod has more than one '
        b'PodDisruptionBudget, which the eviction subresource does not support.","code":500}')


@pytest.mark.parametrize(("budget", "why"), [
    (pdb(allowed=-1), "pdb disruptions allowed is negative"),
    (pdb(disrupted={f"p{i}": "2026-12-06T11:59:00Z" for i in range(2001)}),
     "DisruptedPods map too big - too many evictions not confirmed by PDB controller"),
])
def test_impossible_budgets_are_403(budget: Obj, why: str) -> None:
    plan = plan_eviction(pod(), [budget], now=NOW)
    assert isinstance(plan, Refuse)
    assert (plan.error.code, plan.error.message) == (403, f'poddisruptionbudget.policy "web" is forbidden: {why}')


def test_the_callers_precondition_stands() -> None:
    assert plan_eviction(pod(phase="Pending"), [], now=NOW, user_precondition_rv=True) == Delete(None)
