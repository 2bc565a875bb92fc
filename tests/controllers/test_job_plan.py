"""Table tests for ``jobplan.plan_job``: every decision of a Job pass, with an injected clock, no I/O."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shoal.api.views import format_time
from shoal.controllers import jobplan as plan
from shoal.controllers.jobplan import TRACKING_FINALIZER as FIN

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
T0 = format_time(NOW - dt.timedelta(seconds=30))


def job(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None, *,
        terminating: bool = False) -> dict[str, Any]:
    md: dict[str, Any] = {"name": "j", "namespace": "ns", "uid": "job-uid"}
    if terminating:
        md["deletionTimestamp"] = T0
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": md,
            "spec": {"template": {"spec": {"restartPolicy": "Never"}}, **(spec or {})},
            "status": status if status is not None else {}}


def pod(name: str, phase: str = "Running", *, ready: bool = True, tracked: bool = True, node: str = "n1",
        terminating: bool = False, created: str = T0, restarts: int = 0) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": "ns", "uid": f"uid-{name}", "creationTimestamp": created,
                          "finalizers": [FIN] if tracked else []}
    if terminating:
        md["deletionTimestamp"] = T0
    st: dict[str, Any] = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                          "containerStatuses": [{"name": "c", "restartCount": restarts}]}
    return {"metadata": md, "spec": {"nodeName": node}, "status": st}


def cond(type_: str, status: str = "True", reason: str = "R", message: str = "m") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message, "lastTransitionTime": T0}


def types(p: plan.JobPlan) -> dict[str, str]:
    assert p.status is not None
    return {c["type"]: c["status"] for c in p.status.get("conditions") or []}


def names(pods: list[Any]) -> list[str]:
    return [x["metadata"]["name"] for x in pods]


# --- how many pods ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "running", "succeeded", "create", "delete"), [
    ({"parallelism": 2, "completions": 5}, 0, 0, 2, 0),        # start: parallelism wins
    ({"parallelism": 3, "completions": 5}, 1, 3, 1, 0),        # completions - succeeded = 2, one running
    ({"parallelism": 4, "completions": 10}, 4, 8, 0, 2),       # only 2 left to do: the excess goes
    ({"parallelism": 1}, 0, 0, 1, 0),                          # work queue: one
    ({"parallelism": 3}, 2, 1, 0, 0),                          # work queue after a success: no new pods
    ({"parallelism": 600, "completions": 1000}, 0, 0, plan.MAX_BATCH, 0),  # at most a batch per pass
])
def test_pods_to_create_and_delete(spec: dict[str, Any], running: int, succeeded: int, create: int,
                                   delete: int) -> None:
    pods = [pod(f"p{i}") for i in range(running)]
    p = plan.plan_job(job(spec, {"startTime": T0, "succeeded": succeeded}), pods, NOW)
    assert (p.create, len(p.delete)) == (create, delete)
    assert p.status is not None and p.status["active"] == running - delete


def test_excess_pods_go_unscheduled_then_pending_then_unready_then_newest_first() -> None:
    pods = [pod("old-ready", created="2026-01-01T10:00:00Z"), pod("new-ready", created="2026-01-01T11:00:00Z"),
            pod("unready", ready=False), pod("pending", "Pending", ready=False), pod("unscheduled", node="")]
    p = plan.plan_job(job({"parallelism": 1, "completions": 1}, {"startTime": T0}), pods, NOW)
    assert names(p.delete) == ["unscheduled", "pending", "unready", "new-ready"]


# --- counting ------------------------------------------------------------------------------------------

def test_finished_pods_are_counted_first_in_one_status_write() -> None:
    pods = [pod("ok", "Succeeded"), pod("bad", "Failed"), pod("run")]
    p = plan.plan_job(job({"completions": 3}, {"startTime": T0, "succeeded": 1}), pods, NOW)
    assert p.status is not None
    assert p.status["uncountedTerminatedPods"] == {"succeeded": ["uid-ok"], "failed": ["uid-bad"]}
    assert (p.status["succeeded"], p.status["failed"]) == (2, 1)
    assert p.release == [] and p.delete == [] and p.create == 0  # nothing else before the count is stored
    assert p.events == [("Warning", "PodFailed", "Pod bad failed")]
    assert p.failure_seen and p.requeue_after == 0


def test_counted_pods_lose_their_finalizer_then_leave_the_uncounted_list() -> None:
    pods = [pod("ok", "Succeeded"), pod("run")]
    st = {"startTime": T0, "succeeded": 1, "uncountedTerminatedPods": {"succeeded": ["uid-ok"]}}
    p = plan.plan_job(job({"completions": 2}, st), pods, NOW)
    assert names(p.release) == ["ok"]
    assert p.status is not None and "uncountedTerminatedPods" not in p.status
    assert not p.failure_seen


def test_a_pod_deleted_before_it_finished_counts_as_failed_unless_the_job_is_finishing() -> None:
    gone = pod("evicted", terminating=True)
    p = plan.plan_job(job({"completions": 2}, {"startTime": T0}), [gone], NOW)
    assert p.status is not None and p.status["uncountedTerminatedPods"] == {"failed": ["uid-evicted"]}
    finishing = job({"completions": 2}, {"startTime": T0, "conditions": [cond("SuccessCriteriaMet")]})
    p = plan.plan_job(finishing, [gone], NOW)
    assert p.status is not None and "uncountedTerminatedPods" not in p.status
    assert names(p.release) == ["evicted"]  # the Job removing its own pods: let them go


# --- success and failure ---------------------------------------------------------------------------------

def test_completions_reached_sets_success_criteria_then_complete_once_no_pod_runs() -> None:
    done = [pod("a", "Succeeded", tracked=False), pod("b", "Succeeded", tracked=False)]
    p = plan.plan_job(job({"completions": 2}, {"startTime": T0, "succeeded": 2}), [*done, pod("c")], NOW)
    assert types(p) == {"SuccessCriteriaMet": "True"}
    assert names(p.delete) == ["c"]
    p = plan.plan_job(job({"completions": 2}, {"startTime": T0, "succeeded": 2}), done, NOW)
    assert types(p) == {"SuccessCriteriaMet": "True", "Complete": "True"}
    assert p.status is not None and p.status["completionTime"] == format_time(NOW)
    assert ("Normal", "Completed", "Job completed") in p.events


@pytest.mark.parametrize(("spec", "status", "pods", "reason"), [
    ({"backoffLimit": 1}, {"failed": 2}, [], "BackoffLimitExceeded"),
    ({"backoffLimit": 1}, {"failed": 1}, [], None),
    ({"activeDeadlineSeconds": 30}, {}, [], "DeadlineExceeded"),
    ({"activeDeadlineSeconds": 31}, {}, [], None),
    ({"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure"}}}, {}, [pod("crash", restarts=2)],
     "BackoffLimitExceeded"),
    ({"backoffLimit": 2}, {}, [pod("crash", restarts=2)], None),  # restarts count only with OnFailure
])
def test_failure_target(spec: dict[str, Any], status: dict[str, Any], pods: list[Any], reason: str | None) -> None:
    p = plan.plan_job(job({"completions": 5, **spec}, {"startTime": T0, **status}), pods, NOW)
    assert p.status is not None
    target = next((c for c in p.status.get("conditions") or [] if c["type"] == "FailureTarget"), None)
    assert (target or {}).get("reason") == reason
    if reason is not None:
        assert p.delete == pods and p.create == 0
        assert ("Warning", reason) == p.events[0][:2]


def test_failure_target_becomes_failed_once_the_pods_are_gone() -> None:
    st = {"startTime": T0, "failed": 3, "conditions": [cond("FailureTarget", reason="BackoffLimitExceeded",
                                                           message="limit")]}
    p = plan.plan_job(job({"backoffLimit": 2}, st), [pod("stopping", terminating=True, tracked=False)], NOW)
    assert "Failed" not in types(p)
    p = plan.plan_job(job({"backoffLimit": 2}, st), [], NOW)
    assert types(p)["Failed"] == "True"
    assert p.status is not None
    failed = next(c for c in p.status["conditions"] if c["type"] == "Failed")
    assert (failed["reason"], failed["message"]) == ("BackoffLimitExceeded", "limit")


def test_active_deadline_is_looked_at_again_in_time() -> None:
    p = plan.plan_job(job({"activeDeadlineSeconds": 100, "completions": 1}, {"startTime": T0}), [pod("r")], NOW)
    assert p.requeue_after == pytest.approx(70.0)


# --- back-off -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("failed", "since", "create", "wait"), [
    (1, 0.2, 0, 0.8),    # 1 s after the first failure
    (1, 1.5, 1, None),   # waited long enough
    (3, 2.0, 0, 2.0),    # 4 s after the third
    (0, 0.0, 1, None),   # no failure: no wait
])
def test_failed_pods_are_replaced_after_a_doubling_back_off(failed: int, since: float, create: int,
                                                            wait: float | None) -> None:
    p = plan.plan_job(job({"completions": 5, "backoffLimit": 6}, {"startTime": T0, "failed": failed}), [], NOW,
                      last_failure=NOW - dt.timedelta(seconds=since), backoff=plan.Backoff(base=1.0, cap=60.0))
    assert p.create == create
    assert p.requeue_after == (pytest.approx(wait) if wait is not None else None)


def test_back_off_is_capped() -> None:
    b = plan.Backoff(base=10.0, cap=360.0)
    assert b.left(20, NOW, NOW) == 360.0
    assert b.left(2, None, NOW) == 0.0


# --- suspend, expectations, deletion, ttl -------------------------------------------------------------------

def test_suspend_deletes_active_pods_and_clears_the_start_time() -> None:
    p = plan.plan_job(job({"suspend": True, "completions": 3}, {"startTime": T0}), [pod("a"), pod("b")], NOW)
    assert names(p.delete) == ["a", "b"] and p.create == 0
    assert types(p) == {"Suspended": "True"}
    assert p.status is not None and "startTime" not in p.status and p.status["active"] == 0


def test_resume_marks_suspended_false_and_starts_the_clock() -> None:
    p = plan.plan_job(job({"completions": 1}, {"conditions": [cond("Suspended", reason="JobSuspended")]}), [], NOW)
    assert types(p) == {"Suspended": "False"}
    assert p.status is not None and p.status["startTime"] == format_time(NOW) and p.create == 1


def test_unmet_expectations_hold_the_pass() -> None:
    assert plan.plan_job(job({"completions": 3}), [], NOW, expectations_met=False) == plan.JobPlan()


def test_a_terminating_job_only_releases_its_pods() -> None:
    p = plan.plan_job(job(terminating=True), [pod("a"), pod("b", tracked=False)], NOW)
    assert names(p.release) == ["a"]
    assert p.status is None and p.delete == [] and p.create == 0


@pytest.mark.parametrize(("ttl", "requeue", "delete"), [(None, None, False), (60, 30.0, False),
                                                        (30, None, True), (10, None, True)])
def test_finished_job_releases_pods_and_honours_ttl(ttl: int | None, requeue: float | None, delete: bool) -> None:
    spec = {} if ttl is None else {"ttlSecondsAfterFinished": ttl}
    st = {"completionTime": T0, "uncountedTerminatedPods": {}, "conditions": [cond("Complete")]}
    p = plan.plan_job(job(spec, st), [pod("a", "Succeeded")], NOW)
    assert names(p.release) == ["a"]
    assert p.status is not None and "uncountedTerminatedPods" not in p.status
    assert p.requeue_after == (pytest.approx(requeue) if requeue is not None else None)
    assert p.delete_job is delete


def test_a_job_finishing_in_this_pass_schedules_its_ttl() -> None:
    done = [pod("a", "Succeeded", tracked=False)]
    st = {"startTime": T0, "succeeded": 1, "conditions": [cond("SuccessCriteriaMet")]}
    p = plan.plan_job(job({"completions": 1, "ttlSecondsAfterFinished": 5}, st), done, NOW)
    assert types(p)["Complete"] == "True"
    assert p.requeue_after == pytest.approx(5.0) and not p.delete_job
