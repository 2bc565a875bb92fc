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

Every one of those decisions is ``jobplan.plan_job`` (pure); this module
gathers its inputs (the Job and its pods from the informers, the clock, the
last failure it saw, its expectations) and executes the plan.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Hashable, Sequence
from typing import Any

from shoal.api.views import Body, controller_ref, controller_uid, meta, spec, status, uid
from shoal.api.views import key as key_of
from shoal.client import ApiException, Informer
from shoal.controllers import jobplan as plan
from shoal.controllers.base import Context, Controller, Expectations
from shoal.controllers.ownership import pod_from_template

log = logging.getLogger(__name__)

FINALIZER = plan.TRACKING_FINALIZER


def _job_key_of_pod(pod: Body) -> list[str]:
    ref = controller_ref(pod)
    if ref is None or ref.get("kind") != "Job":
        return []
    return [f"{meta(pod).get('namespace')}/{ref.get('name')}"]


def job_labels(job: Body) -> dict[str, str]:
    md = meta(job)
    job_uid, name = str(md.get("uid")), str(md.get("name"))
    return {"batch.kubernetes.io/controller-uid": job_uid, "controller-uid": job_uid,
            "batch.kubernetes.io/job-name": name, "job-name": name}


class JobController(Controller):
    name = "job"
    workers = 4

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.expectations = Expectations()
        self.backoff = plan.Backoff(base=float(ctx.options.get("job_backoff_seconds", 1.0)),
                                    cap=float(ctx.options.get("job_backoff_max_seconds", 360.0)))
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

    def _job_seen(self, job: Body) -> None:
        self.queue.add(key_of(job))

    def _pod_added(self, pod: Body) -> None:
        for k in _job_key_of_pod(pod):
            self.expectations.observed_add(k)
            self.queue.add(k)

    def _pod_seen(self, pod: Body) -> None:
        for k in _job_key_of_pod(pod):
            self.queue.add(k)

    # ---- reconcile: gather, plan, execute ----------------------------------------------------
    async def reconcile(self, key: Hashable) -> None:
        k = str(key)
        job = self.jobs.get(k)
        candidates = self.pods.by_index("job:owner", k)
        job_uid = uid(job) if job is not None else None
        pods = [p for p in candidates if controller_uid(p) == job_uid]
        strays = [p for p in candidates if controller_uid(p) != job_uid]
        if strays:
            await self._release_strays(k, strays, job)
        if job is None:
            self.expectations.forget(k)
            self._last_failure.pop(k, None)
            return
        now = self.clock()
        p = plan.plan_job(job, pods, now, last_failure=self._last_failure.get(k), backoff=self.backoff,
                          expectations_met=self.expectations.satisfied(k))
        await self._execute(k, job, p, now)

    async def _execute(self, k: str, job: Body, p: plan.JobPlan, now: dt.datetime) -> None:
        await self._remove_finalizers(p.release)
        await self._delete_pods(job, p.delete)
        created = await self._create_pods(k, job, p.create) if p.create else 0
        if p.status is not None:
            new = {**p.status, "active": int(p.status.get("active") or 0) + created} if created else p.status
            await self._write_status(job, new)
        for type_, reason, message in p.events:
            self.emit_event(job, type_, reason, message)
        if p.failure_seen:
            self._last_failure[k] = now
        if p.requeue_after == 0:
            self.queue.add(k)
        elif p.requeue_after is not None:
            self.queue.add_after(k, p.requeue_after)
        if p.delete_job:
            await self._delete_job(job)

    async def _release_strays(self, k: str, strays: Sequence[Body], job: Body | None) -> None:
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
        live_uid = uid(job) if job is not None else None
        await self._remove_finalizers([p for p in stale if controller_uid(p) != live_uid])

    async def _remove_finalizers(self, pods: Sequence[Body]) -> None:
        async def one(p: Body) -> None:
            md = meta(p)
            fins = [f for f in md.get("finalizers") or [] if f != FINALIZER]
            try:
                await self.client.patch("pods", md["name"], {"metadata": {
                    "finalizers": fins or None, "uid": md.get("uid")}}, md.get("namespace"))
            except ApiException as e:
                if e.status not in (404, 409):
                    raise
        await asyncio.gather(*(one(p) for p in pods))

    async def _create_pods(self, k: str, job: Body, n: int) -> int:
        md = meta(job)
        tmpl = spec(job).get("template") or {}
        self.expectations.expect(k, adds=n)

        async def one() -> bool:
            body = pod_from_template(tmpl, owner={**job, "apiVersion": "batch/v1", "kind": "Job"},
                                     generate_name=f"{md['name']}-", namespace=md["namespace"])
            body["metadata"]["finalizers"] = [*body["metadata"].get("finalizers", []), FINALIZER]
            # the labels upstream's API server puts into a Job's template, whether or not ours did
            body["metadata"]["labels"] = {**body["metadata"].get("labels", {}), **job_labels(job)}
            try:
                pod = await self.client.create("pods", dict(body), md["namespace"])
            except ApiException as e:
                self.expectations.observed_add(k)
                self.emit_event(job, "Warning", "FailedCreate", f"Error creating: {e.message}")
                return False
            self.emit_event(job, "Normal", "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
            return True

        results = await asyncio.gather(*(one() for _ in range(n)))
        return sum(results)

    async def _delete_pods(self, job: Body, pods: Sequence[Body]) -> None:
        async def one(p: Body) -> None:
            pm = meta(p)
            try:
                await self.client.delete("pods", pm["name"], pm.get("namespace"), uid=pm.get("uid"))
            except ApiException as e:
                if e.status not in (404, 409):
                    raise
                return
            self.emit_event(job, "Normal", "SuccessfulDelete", f"Deleted pod: {pm['name']}")
        await asyncio.gather(*(one(p) for p in pods))

    async def _write_status(self, job: Body, new: dict[str, Any]) -> None:
        if new == status(job):
            return
        try:
            await self.client.update_status("jobs", {**job, "status": new})
        except ApiException as e:
            if e.status == 404:
                return
            raise  # a conflict: the work queue retries with the fresh object

    async def _delete_job(self, job: Body) -> None:
        """ttlSecondsAfterFinished ran out: delete the Job (foreground, as upstream's TTL controller)."""
        md = meta(job)
        try:
            await self.client.delete("jobs", md["name"], md["namespace"], uid=md.get("uid"),
                                     propagation_policy="Foreground")
        except ApiException as e:
            if e.status not in (404, 409):
                raise
            return
        log.info("job: deleted %s/%s: finished %ss ago (ttlSecondsAfterFinished)", md["namespace"], md["name"],
                 spec(job).get("ttlSecondsAfterFinished"))

    def emit_event(self, obj: Body, type_: str, reason: str, message: str) -> None:
        """Record an Event in the background: it must not slow the reconcile down."""
        ref = {**obj, "apiVersion": "batch/v1", "kind": "Job"}
        task = asyncio.get_running_loop().create_task(self.events.event(ref, type_, reason, message))
        self._event_tasks.add(task)  # which stop() and events_written() wait for
        task.add_done_callback(self._event_tasks.discard)
