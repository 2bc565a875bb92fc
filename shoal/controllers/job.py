"""The Job controller: run pods until enough succeed, or give up; count every finished pod once.

Pods are created as ``<job>-<5 random>`` with the template's labels (the API
server adds ``batch.kubernetes.io/job-name`` and ``controller-uid``), a
controller reference, and the ``batch.kubernetes.io/job-tracking`` finalizer.
As upstream, the finalizer is what makes counting exact: a finished pod is
first recorded in ``status.uncountedTerminatedPods`` (and the counts) in one
status write, then its finalizer is removed, then it leaves the uncounted
list, so a crash between the steps never counts a pod twice, and a pod deleted
by the pod GC, a user or a lost node is still counted (as failed if it had not
finished).

Each pass: count newly finished pods; if the Job fails (more failed pods than
``backoffLimit``, container restarts past it with ``restartPolicy: OnFailure``,
or ``activeDeadlineSeconds`` passed) or succeeds (``completions`` pods
succeeded; without ``completions``, any pod succeeded and none is running),
set ``FailureTarget``/``SuccessCriteriaMet``, delete the pods still running,
and once none is left set ``Failed``/``Complete`` (upstream 1.31's order).
Otherwise keep ``min(parallelism, completions - succeeded)`` pods active,
replacing failed ones after a doubling back-off (``job_backoff_seconds``, 1 s
by default in shoal against upstream's 10 s, capped at 6 min). ``suspend``
deletes the active pods. A finished Job with ``ttlSecondsAfterFinished`` is
deleted (foreground, as upstream's TTL controller does) when it expires.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
from collections.abc import Hashable
from typing import Any

from shoal.client import ApiException, Informer, key_of
from shoal.controllers import jobplan as plan
from shoal.controllers.base import Context, Controller, Expectations
from shoal.controllers.podutil import (
    controller_ref,
    fmt_time,
    is_active,
    is_ready,
    is_terminal,
    is_terminating,
    meta,
    parse_time,
    pod_from_template,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FINALIZER = plan.TRACKING_FINALIZER
MAX_BATCH = 500


def _job_key_of_pod(pod: Obj) -> list[str]:
    ref = controller_ref(pod)
    if ref is None or ref.get("kind") != "Job":
        return []
    return [f"{meta(pod).get('namespace')}/{ref.get('name')}"]


def job_labels(job: Obj) -> dict[str, str]:
    md = meta(job)
    uid, name = str(md.get("uid")), str(md.get("name"))
    return {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
            "batch.kubernetes.io/job-name": name, "job-name": name}


def _condition(type_: str, reason: str, message: str, now: dt.datetime) -> Obj:
    stamp = fmt_time(now)
    return {"type": type_, "status": "True", "lastProbeTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def _set_condition(status: Obj, cond: Obj) -> None:
    conds = [c for c in status.get("conditions") or [] if c.get("type") != cond["type"]]
    old = next((c for c in status.get("conditions") or [] if c.get("type") == cond["type"]), None)
    if old is not None and old.get("status") == cond["status"] and old.get("reason") == cond.get("reason"):
        conds.append(old)
    else:
        conds.append(cond)
    status["conditions"] = conds


class JobController(Controller):
    name = "job"
    workers = 4

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.expectations = Expectations()
        self.backoff_base = float(ctx.options.get("job_backoff_seconds", 1.0))
        self.backoff_cap = float(ctx.options.get("job_backoff_max_seconds", 360.0))
        self._last_failure: dict[str, dt.datetime] = {}

    def setup(self) -> None:
        f = self.ctx.factory
        self.jobs: Informer = f.informer("jobs")
        self.pods: Informer = f.informer("pods")
        self.pods.add_index("job:owner", _job_key_of_pod)
        self.jobs.add_handler(on_add=self._job_seen, on_update=lambda _o, n: self._job_seen(n),
                              on_delete=self._job_seen)
        self.pods.add_handler(on_add=self._pod_added, on_update=lambda _o, n: self._pod_seen(n),
                              on_delete=self._pod_seen)

    def _job_seen(self, job: Obj) -> None:
        self.queue.add(key_of(job))

    def _pod_added(self, pod: Obj) -> None:
        for k in _job_key_of_pod(pod):
            self.expectations.observed_add(k)
            self.queue.add(k)

    def _pod_seen(self, pod: Obj) -> None:
        for k in _job_key_of_pod(pod):
            self.queue.add(k)

    # ---- reconcile -------------------------------------------------------------------------
    async def reconcile(self, key: Hashable) -> None:
        k = str(key)
        job = self.jobs.get(k)
        candidates = self.pods.by_index("job:owner", k)
        uid = meta(job).get("uid") if job is not None else None
        pods = [p for p in candidates if (controller_ref(p) or {}).get("uid") == uid]
        strays = [p for p in candidates if (controller_ref(p) or {}).get("uid") != uid]
        if strays:
            await self._release_strays(k, strays, job)
        if job is None:
            self.expectations.forget(k)
            self._last_failure.pop(k, None)
            return
        if is_terminating(job):
            # the Job is going: its pods' finalizers must not hold them (the collector deletes them)
            await self._remove_finalizers([p for p in pods if FINALIZER in (meta(p).get("finalizers") or [])])
            return
        now = self.clock()
        if plan.is_finished(job):
            # counting is over: nothing may hold the pods any more
            await self._remove_finalizers([p for p in pods if FINALIZER in (meta(p).get("finalizers") or [])])
            status = copy.deepcopy(job.get("status") or {})
            if status.pop("uncountedTerminatedPods", None) is not None:
                await self._write_status(job, job.get("status") or {}, status)
            await self._ttl(job, now)
            return
        if not self.expectations.satisfied(k):
            return
        await self._sync(k, job, pods, now)

    async def _release_strays(self, k: str, strays: list[Obj], job: Obj | None) -> None:
        """Pods of an older Job of the same name (or of a deleted one): only their finalizer matters."""
        stale = [p for p in strays if FINALIZER in (meta(p).get("finalizers") or [])]
        if not stale:
            return
        if job is None:
            ns, _, name = k.partition("/")
            try:
                job = await self.client.get("jobs", name, ns)
            except ApiException as e:
                if e.status != 404:
                    raise
        live_uid = meta(job).get("uid") if job is not None else None
        await self._remove_finalizers([p for p in stale if (controller_ref(p) or {}).get("uid") != live_uid])

    async def _count(self, k: str, job: Obj, tally: plan.Tally, now: dt.datetime) -> None:
        """Record newly finished pods: counts and uids in one status write, before any finalizer goes."""
        status = copy.deepcopy(job.get("status") or {})
        uncounted = status.get("uncountedTerminatedPods") or {}
        uncounted = {
            "succeeded": [*(uncounted.get("succeeded") or []), *(meta(p)["uid"] for p in tally.succeeded)],
            "failed": [*(uncounted.get("failed") or []), *(meta(p)["uid"] for p in tally.failed)],
        }
        status["uncountedTerminatedPods"] = {kk: v for kk, v in uncounted.items() if v}
        status["succeeded"] = int(status.get("succeeded") or 0) + len(tally.succeeded)
        status["failed"] = int(status.get("failed") or 0) + len(tally.failed)
        if not status.get("startTime") and not plan.spec(job).get("suspend"):
            status["startTime"] = fmt_time(now)
        await self._write_status(job, job.get("status") or {}, status)
        if tally.failed:
            self._last_failure[k] = now
            for p in tally.failed:
                self.emit_event(job, "Warning", "PodFailed", f"Pod {meta(p)['name']} failed")
        self.queue.add(k)  # go on with the counted status

    async def _sync(self, k: str, job: Obj, pods: list[Obj], now: dt.datetime) -> None:
        old_status = job.get("status") or {}
        spec = plan.spec(job)
        suspended = bool(spec.get("suspend"))
        finishing = (plan.cond_true(job, "SuccessCriteriaMet") or plan.cond_true(job, "FailureTarget")) is not None
        # 1. count what finished (see the module doc); that write comes first
        tally = plan.new_finished(pods, old_status.get("uncountedTerminatedPods") or {},
                                  finishing=finishing or suspended)
        if tally.succeeded or tally.failed:
            await self._count(k, job, tally, now)
            return
        # 2. counted pods may go now: remove their finalizers, then forget their uids
        status = copy.deepcopy(old_status)
        counted = _uids(status)
        release = [p for p in pods if FINALIZER in (meta(p).get("finalizers") or [])
                   and (meta(p).get("uid") in counted
                        or ((finishing or suspended) and is_terminating(p) and not is_terminal(p)))]
        await self._remove_finalizers(release)
        status.pop("uncountedTerminatedPods", None)
        succeeded = int(status.get("succeeded") or 0)
        failed = int(status.get("failed") or 0)
        active = [p for p in pods if is_active(p)]
        if not suspended and not status.get("startTime"):
            status["startTime"] = fmt_time(now)
        start = parse_time(status.get("startTime"))
        requeue: float | None = None
        created = 0
        # 3. decide
        if not finishing and not suspended:
            why = plan.failure_reason(job, pods, failed=failed, start=start, now=now)
            if why is not None:
                _set_condition(status, _condition("FailureTarget", why[0], why[1], now))
                finishing = True
                self.emit_event(job, "Warning", why[0], why[1])
            elif plan.success_met(job, succeeded=succeeded, active=len(active)):
                _set_condition(status, _condition("SuccessCriteriaMet", "CompletionsReached",
                                                  "Reached expected number of succeeded pods", now))
                finishing = True
        if finishing or suspended:
            await self._delete_pods(job, active)
            active = []
            if suspended and not finishing:
                _set_condition(status, _condition("Suspended", "JobSuspended", "Job suspended", now))
                status.pop("startTime", None)
        else:
            if plan.cond_true(job, "Suspended"):
                _set_condition(status, {**_condition("Suspended", "JobResumed", "Job resumed", now), "status": "False"})
            diff = len(active) - plan.want_active(job, succeeded, len(active))
            if diff > 0:
                victims = plan.deletion_order(active)[:diff]
                await self._delete_pods(job, victims)
                active = [p for p in active if p not in victims]
            elif diff < 0:
                wait = self._backoff_left(k, failed, now)
                if wait > 0:
                    requeue = wait
                else:
                    created = await self._create_pods(k, job, min(-diff, MAX_BATCH))
            dl = plan.deadline_at(job, start)
            if dl is not None:
                left = (dl - now).total_seconds()
                requeue = left if requeue is None else min(requeue, left)
        # 4. a finishing Job is finished once none of its pods is left running or stopping
        if finishing and not any(not is_terminal(p) for p in pods):
            target = plan.cond_true({"status": status}, "FailureTarget")
            if target is not None:
                _set_condition(status, _condition("Failed", str(target.get("reason")), str(target.get("message")), now))
            else:
                _set_condition(status, _condition("Complete", "CompletionsReached",
                                                  "Reached expected number of succeeded pods", now))
                status["completionTime"] = fmt_time(now)
                self.emit_event(job, "Normal", "Completed", "Job completed")
        status["active"] = len(active) + created
        status["ready"] = sum(1 for p in active if is_ready(p))
        status["terminating"] = sum(1 for p in pods if is_terminating(p) and not is_terminal(p))
        for f in ("succeeded", "failed"):
            status.setdefault(f, 0)
        await self._write_status(job, old_status, status)
        if requeue is not None:
            self.queue.add_after(k, max(0.01, requeue))
        if plan.is_finished({"status": status}):
            await self._ttl({**job, "status": status}, now)

    def _backoff_left(self, k: str, failed: int, now: dt.datetime) -> float:
        last = self._last_failure.get(k)
        if last is None or failed <= 0:
            return 0.0
        delay = plan.backoff_delay(failed, base=self.backoff_base, cap=self.backoff_cap)
        return max(0.0, delay - (now - last).total_seconds())

    async def _remove_finalizers(self, pods: list[Obj]) -> None:
        async def one(p: Obj) -> None:
            md = meta(p)
            fins = [f for f in md.get("finalizers") or [] if f != FINALIZER]
            try:
                await self.client.patch("pods", md["name"], {"metadata": {
                    "finalizers": fins or None, "uid": md.get("uid")}}, md.get("namespace"))
            except ApiException as e:
                if e.status not in (404, 409):
                    raise
        await asyncio.gather(*(one(p) for p in pods))

    async def _create_pods(self, k: str, job: Obj, n: int) -> int:
        md = meta(job)
        tmpl = plan.spec(job).get("template") or {}
        self.expectations.expect(k, adds=n)

        async def one() -> bool:
            body = pod_from_template(tmpl, owner={**job, "apiVersion": "batch/v1", "kind": "Job"},
                                     generate_name=f"{md['name']}-", namespace=md["namespace"])
            body["metadata"]["finalizers"] = [*body["metadata"].get("finalizers", []), FINALIZER]
            # the labels upstream's API server puts into a Job's template, whether or not ours did
            body["metadata"]["labels"] = {**body["metadata"].get("labels", {}), **job_labels(job)}
            try:
                pod = await self.client.create("pods", body, md["namespace"])
            except ApiException as e:
                self.expectations.observed_add(k)
                self.emit_event(job, "Warning", "FailedCreate", f"Error creating: {e.message}")
                return False
            self.emit_event(job, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
            return True

        results = await asyncio.gather(*(one() for _ in range(n)))
        return sum(results)

    async def _delete_pods(self, job: Obj, pods: list[Obj]) -> None:
        async def one(p: Obj) -> None:
            pm = meta(p)
            try:
                await self.client.delete("pods", pm["name"], pm.get("namespace"), uid=pm.get("uid"))
            except ApiException as e:
                if e.status not in (404, 409):
                    raise
                return
            self.emit_event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {pm['name']}")
        await asyncio.gather(*(one(p) for p in pods))

    async def _write_status(self, job: Obj, old: Obj, new: Obj) -> None:
        if new == old:
            return
        body = copy.deepcopy(job)
        body["status"] = new
        try:
            await self.client.update_status("jobs", body)
        except ApiException as e:
            if e.status == 404:
                return
            raise  # a conflict: the work queue retries with the fresh object

    async def _ttl(self, job: Obj, now: dt.datetime) -> None:
        ttl = plan.spec(job).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        done = plan.finish_time(job)
        if done is None:
            return
        left = (done + dt.timedelta(seconds=int(ttl)) - now).total_seconds()
        md = meta(job)
        if left > 0:
            self.queue.add_after(f"{md['namespace']}/{md['name']}", left)
            return
        try:
            await self.client.delete("jobs", md["name"], md["namespace"], uid=md.get("uid"),
                                     propagation_policy="Foreground")
        except ApiException as e:
            if e.status not in (404, 409):
                raise
            return
        log.info("job: deleted %s/%s: finished %ss ago (ttlSecondsAfterFinished)", md["namespace"], md["name"], ttl)

    def emit_event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Record an Event in the background: it must not slow the reconcile down."""
        ref = {**obj, "apiVersion": "batch/v1", "kind": "Job"}
        task = asyncio.get_running_loop().create_task(self.events.event(ref, type_, reason, message))
        self._event_tasks.add(task)  # which stop() and events_written() wait for
        task.add_done_callback(self._event_tasks.discard)


def _uids(status: Obj) -> set[str]:
    u = status.get("uncountedTerminatedPods") or {}
    return set(u.get("succeeded") or []) | set(u.get("failed") or [])
