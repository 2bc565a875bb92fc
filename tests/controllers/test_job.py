"""The Job controller (with the garbage collector), driven step by step (``harness.py``), with the fake
cluster (tests/controllers/fake_kubelet.py) playing the node that runs (and finishes) the pods."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from shoal.client import ApiClient, ApiException
from shoal.controllers import jobplan as plan
from shoal.controllers.garbagecollector import GarbageCollector
from shoal.controllers.job import JobController
from tests.controllers.fake_kubelet import FakeCluster
from tests.controllers.harness import Harness

Obj = dict[str, Any]
OPTS = {"job_backoff_seconds": 0.05, "podgc_period": 3600}


@pytest.fixture
def client(h: Harness) -> ApiClient:
    return h.client


@pytest.fixture
async def ns(h: Harness) -> str:
    return await h.namespace("job")


def job_body(name: str, *, restart: str = "Never", **spec: Any) -> Obj:
    return {"metadata": {"name": name}, "spec": {
        "template": {"metadata": {"labels": {"team": "batch"}},
                     "spec": {"restartPolicy": restart, "schedulerName": "fake-kubelet",  # bound by the fake only
                              "containers": [{"name": "work", "image": "busybox"}]}},
        **spec}}


def scripted(outcomes: list[str], then: str) -> Callable[[Obj], str]:
    """Each new pod gets the next outcome in ``outcomes``, then ``then``."""
    given: dict[str, str] = {}

    def outcome(pod: Obj) -> str:
        uid = pod["metadata"]["uid"]
        if uid not in given:
            given[uid] = outcomes.pop(0) if outcomes else then
        return given[uid]
    return outcome


class Env:
    def __init__(self, h: Harness, ns: str, kubelet: FakeCluster) -> None:
        self.h, self.client, self.ns, self.kubelet = h, h.client, ns, kubelet
        self.until = h.until

    async def job(self, name: str) -> Obj:
        return await self.client.get("jobs", name, self.ns)

    async def pods(self) -> list[Obj]:
        return (await self.client.list("pods", self.ns))["items"]

    async def condition(self, name: str, type_: str) -> Obj | None:
        return plan.cond_true(await self.job(name), type_)


@pytest.fixture
async def env(h: Harness, ns: str) -> Env:
    await h.start(JobController, options=OPTS)
    await h.start(GarbageCollector, options=OPTS)
    return Env(h, ns, await h.fake_cluster(nodes=("jobnode",)))


async def test_completions_and_parallelism(env: Env) -> None:
    env.kubelet.outcome = lambda _p: "Succeeded"
    peak = 0

    def seen(*_a: Any) -> None:
        nonlocal peak
        running = [p for p in env.kubelet.pods.list(env.ns) if p.get("status", {}).get("phase") != "Succeeded"]
        peak = max(peak, len(running))
    env.kubelet.pods.add_handler(on_add=seen, on_update=seen)
    await env.client.create("jobs", job_body("pi", completions=3, parallelism=2), env.ns)
    await env.until(lambda: env.condition("pi", "Complete"))
    job = await env.job("pi")
    st = job["status"]
    assert st["succeeded"] == 3 and st["failed"] == 0 and st["active"] == 0
    assert st["completionTime"] and st["startTime"] and "uncountedTerminatedPods" not in st
    assert {c["type"] for c in st["conditions"]} == {"SuccessCriteriaMet", "Complete"}
    pods = await env.pods()
    assert len(pods) == 3
    for p in pods:
        md = p["metadata"]
        assert md["name"].startswith("pi-") and len(md["name"]) == len("pi-") + 5
        assert md["labels"]["batch.kubernetes.io/job-name"] == "pi" and md["labels"]["team"] == "batch"
        assert md["labels"]["controller-uid"] == job["metadata"]["uid"]
        assert md["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
        assert not md.get("finalizers")  # counted, then released
    assert peak == 2  # never more than parallelism pods at once, as a watch saw it


async def test_a_job_whose_pod_fails_twice_then_succeeds(env: Env) -> None:
    env.kubelet.outcome = scripted(["Failed", "Failed"], then="Succeeded")
    await env.client.create("jobs", job_body("flaky", backoffLimit=3), env.ns)
    await env.until(lambda: env.condition("flaky", "Complete"))
    st = (await env.job("flaky"))["status"]
    assert st["failed"] == 2 and st["succeeded"] == 1
    assert len(await env.pods()) == 3


async def test_backoff_limit_exceeded(env: Env) -> None:
    env.kubelet.outcome = lambda _p: "Failed"
    await env.client.create("jobs", job_body("doomed", backoffLimit=1), env.ns)
    failed = await env.until(lambda: env.condition("doomed", "Failed"))
    assert failed["reason"] == "BackoffLimitExceeded"
    st = (await env.job("doomed"))["status"]
    assert st["failed"] == 2 and not st.get("succeeded") and st["active"] == 0
    assert plan.cond_true(await env.job("doomed"), "FailureTarget")
    await env.h.settle()
    assert len(await env.pods()) == 2  # no pod after the limit


async def test_active_deadline(env: Env) -> None:
    await env.client.create("jobs", job_body("slow", activeDeadlineSeconds=2, parallelism=2), env.ns)
    await env.until(lambda: _count(env, 2))
    started = env.h.clock.now()
    await env.h.settle()
    assert not await env.condition("slow", "Failed")  # nothing fails before the deadline ...
    failed = await env.until(lambda: env.condition("slow", "Failed"))  # ... which the fake clock reaches
    assert failed["reason"] == "DeadlineExceeded" and (env.h.clock.now() - started).total_seconds() >= 1
    await env.until(lambda: _none_left(env))
    assert (await env.job("slow"))["status"]["active"] == 0


async def _running(env: Env, n: int) -> bool:
    return sum(1 for p in await env.pods() if p.get("status", {}).get("phase") == "Running") == n


async def _none_left(env: Env) -> bool:
    return not await env.pods()


async def test_evicted_pod_counts_as_failed_and_is_replaced(env: Env) -> None:
    await env.client.create("jobs", job_body("evict"), env.ns)
    await env.until(lambda: _running(env, 1))
    victim = (await env.pods())[0]["metadata"]["name"]
    await env.client.delete("pods", victim, env.ns)  # as the node lifecycle controller does

    async def replaced() -> bool:
        st = (await env.job("evict")).get("status") or {}
        names = {p["metadata"]["name"] for p in await env.pods()}
        return st.get("failed") == 1 and victim not in names and len(names) == 1
    await env.until(replaced)
    env.kubelet.outcome = lambda _p: "Succeeded"  # the replacement's container exits 0
    await env.until(lambda: env.condition("evict", "Complete"))
    assert (await env.job("evict"))["status"]["succeeded"] == 1


async def test_work_queue_without_completions(env: Env) -> None:
    env.kubelet.outcome = scripted(["Succeeded"], then="Running")
    await env.client.create("jobs", job_body("queue", parallelism=3), env.ns)
    await env.until(lambda: _count(env, 3))
    await env.until(lambda: _job_field(env, "queue", "succeeded", 1))
    await env.h.settle()
    assert len(await env.pods()) == 3  # after a success no new pod; the others finish on their own
    assert not await env.condition("queue", "Complete")
    env.kubelet.outcome = lambda _p: "Succeeded"
    await env.until(lambda: env.condition("queue", "Complete"))
    assert (await env.job("queue"))["status"]["succeeded"] == 3


async def _count(env: Env, n: int) -> bool:
    return len(await env.pods()) == n


async def _job_field(env: Env, name: str, field: str, want: Any) -> bool:
    return bool(((await env.job(name)).get("status") or {}).get(field) == want)


async def test_suspend_and_resume(env: Env) -> None:
    await env.client.create("jobs", job_body("nap", suspend=True, parallelism=2, completions=2), env.ns)
    await env.until(lambda: env.condition("nap", "Suspended"))
    assert await env.pods() == []
    assert not (await env.job("nap"))["status"].get("startTime")
    await env.client.patch("jobs", "nap", {"spec": {"suspend": False}}, env.ns)
    await env.until(lambda: _running(env, 2))
    conds = {c["type"]: c for c in (await env.job("nap"))["status"]["conditions"]}
    assert conds["Suspended"]["status"] == "False" and conds["Suspended"]["reason"] == "JobResumed"
    await env.client.patch("jobs", "nap", {"spec": {"suspend": True}}, env.ns)
    await env.until(lambda: _none_left(env))


async def test_ttl_after_finished_deletes_job_and_pods(env: Env) -> None:
    env.kubelet.outcome = lambda _p: "Succeeded"
    await env.client.create("jobs", job_body("brief", ttlSecondsAfterFinished=1), env.ns)
    await env.until(lambda: env.condition("brief", "Complete"))

    async def gone() -> bool:
        try:
            await env.job("brief")
        except ApiException as e:
            return e.status == 404
        return False
    await env.until(gone)
    await env.until(lambda: _none_left(env))


async def test_deleting_a_running_job_releases_its_pods(env: Env) -> None:
    await env.client.create("jobs", job_body("bye", parallelism=2), env.ns)
    await env.until(lambda: _running(env, 2))
    await env.client.delete("jobs", "bye", env.ns, propagation_policy="Background")
    await env.until(lambda: _none_left(env))  # finalizers removed, pods collected


async def test_invalid_jobs_are_refused(client: ApiClient, ns: str) -> None:
    with pytest.raises(ApiException) as e:
        await client.create("jobs", job_body("bad", parallelism=-1), ns)
    assert e.value.status == 422 and "spec.parallelism" in e.value.message
    with pytest.raises(ApiException) as e:
        await client.create("jobs", job_body("bad2", restart="Always"), ns)
    assert e.value.status == 422 and "spec.template.spec.restartPolicy" in e.value.message


# ---- pure decisions --------------------------------------------------------------------------


def test_want_active_and_success() -> None:
    assert plan.want_active({"spec": {"parallelism": 4, "completions": 10}}, 8, 4) == 2
    assert plan.want_active({"spec": {"parallelism": 4, "completions": 10}}, 12, 0) == 0
    assert plan.want_active({"spec": {"parallelism": 3}}, 0, 1) == 3
    assert plan.want_active({"spec": {"parallelism": 3}}, 1, 2) == 2  # leave the running ones running
    assert plan.want_active({"spec": {"parallelism": 1}}, 1, 2) == 1  # parallelism lowered: excess goes
    assert plan.want_active({"spec": {}}, 0, 0) == 1
    assert plan.success_met({"spec": {}}, succeeded=1, active=0)
    assert not plan.success_met({"spec": {}}, succeeded=1, active=2)
    assert plan.success_met({"spec": {"completions": 2}}, succeeded=2, active=1)


def test_backoff_and_failure_reasons() -> None:
    assert plan.backoff_delay(0, base=10, cap=360) == 0
    assert [plan.backoff_delay(n, base=10, cap=360) for n in (1, 2, 3, 7)] == [10, 20, 40, 360]
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    job = {"spec": {"backoffLimit": 2, "activeDeadlineSeconds": 60}}
    assert plan.failure_reason(job, [], failed=2, start=now, now=now) is None
    assert plan.failure_reason(job, [], failed=3, start=now, now=now)[0] == "BackoffLimitExceeded"  # type: ignore[index]
    late = now + dt.timedelta(seconds=60)
    assert plan.failure_reason(job, [], failed=0, start=now, now=late)[0] == "DeadlineExceeded"  # type: ignore[index]
    on_failure = {"spec": {"backoffLimit": 2, "template": {"spec": {"restartPolicy": "OnFailure"}}}}
    crashing = {"metadata": {}, "status": {"phase": "Running", "containerStatuses": [{"restartCount": 2}]}}
    assert plan.failure_reason(on_failure, [crashing], failed=0, start=now, now=now)[0] == "BackoffLimitExceeded"  # type: ignore[index]


def test_new_finished_counts_each_pod_once() -> None:
    def pod(uid: str, phase: str, *, fin: bool = True, deleting: bool = False) -> Obj:
        md: Obj = {"uid": uid, "finalizers": [plan.TRACKING_FINALIZER] if fin else []}
        if deleting:
            md["deletionTimestamp"] = "2024-01-01T00:00:00Z"
        return {"metadata": md, "status": {"phase": phase}}
    pods = [pod("a", "Succeeded"), pod("b", "Failed"), pod("c", "Succeeded", fin=False),
            pod("d", "Running", deleting=True), pod("e", "Running"), pod("f", "Succeeded")]
    t = plan.new_finished(pods, {"succeeded": ["f"]}, finishing=False)
    assert [p["metadata"]["uid"] for p in t.succeeded] == ["a"]
    assert [p["metadata"]["uid"] for p in t.failed] == ["b", "d"]
    t = plan.new_finished(pods, {}, finishing=True)  # the Job removing its own pods: not failures
    assert [p["metadata"]["uid"] for p in t.failed] == ["b"]
