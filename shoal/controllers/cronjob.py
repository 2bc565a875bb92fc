"""The CronJob controller: create a Job at each scheduled time, by an injectable clock.

Upstream's (v2) algorithm, pass by pass for one CronJob:

1. Bring ``status.active`` up to date from the Jobs it owns; note
   ``lastSuccessfulTime``; delete the oldest finished Jobs beyond
   ``successfulJobsHistoryLimit`` / ``failedJobsHistoryLimit``.
2. Unless suspended, find the most recent scheduled time not yet acted on,
   between ``lastScheduleTime`` (or creation) and now, in ``spec.timeZone``
   (UTC when unset). With ``startingDeadlineSeconds`` only times within the
   deadline count; a time missed by more is reported (``MissSchedule``) and
   skipped. More than 100 missed times are reported (``TooManyMissedTimes``)
   and only the latest is run.
3. ``Forbid`` skips the run while a Job is active; ``Replace`` deletes the
   active Jobs first; ``Allow`` runs them side by side.
4. Create ``<cronjob>-<scheduled time in minutes since the epoch>`` from
   ``jobTemplate`` (the name makes a second create of the same run a no-op),
   record it in ``status.active`` and ``lastScheduleTime``, and come back at
   the next scheduled time.

Time is ``Context.clock``: a test moves the clock and calls ``reconcile``,
nothing waits for real minutes.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
from collections.abc import Hashable, Sequence
from typing import Any

from shoal.api.views import (
    Body,
    ObjectMeta,
    controller_ref,
    controller_uid,
    format_time,
    is_terminating,
    labels,
    meta,
    owner_reference,
    parse_time,
    spec,
    status,
    uid,
)
from shoal.api.views import (
    annotations as annotations_of,
)
from shoal.api.views import key as key_of
from shoal.client import ApiException, Informer
from shoal.controllers import cronsched
from shoal.controllers.base import Context, Controller
from shoal.controllers.jobplan import cond_true, finish_time, is_finished

log = logging.getLogger(__name__)

SCHEDULED_ANNOTATION = "batch.kubernetes.io/cronjob-scheduled-timestamp"
TOO_MANY_MISSED = 100


def job_name(cronjob: str, scheduled: dt.datetime) -> str:
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


def _cron_key_of_job(job: Body) -> list[str]:
    ref = controller_ref(job)
    if ref is None or ref.get("kind") != "CronJob":
        return []
    return [f"{meta(job).get('namespace')}/{ref.get('name')}"]


def _ref(job: Body) -> dict[str, Any]:
    """An ObjectReference to ``job`` for ``status.active``."""
    md = meta(job)
    return {"apiVersion": "batch/v1", "kind": "Job", "name": md.get("name"), "namespace": md.get("namespace"),
            "uid": md.get("uid"), "resourceVersion": md.get("resourceVersion")}


class CronJobController(Controller):
    name = "cronjob"
    workers = 4

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._bg = self._event_tasks  # its Events, which stop() and events_written() wait for

    def setup(self) -> None:
        f = self.ctx.factory
        self.cronjobs: Informer = f.informer("cronjobs")
        self.jobs: Informer = f.informer("jobs")
        self.jobs.add_index("cronjob:owner", _cron_key_of_job)
        self.cronjobs.add_handler(on_add=lambda o: self.queue.add(key_of(o)),
                                  on_update=lambda _o, n: self.queue.add(key_of(n)))
        self.jobs.add_handler(on_add=self._job_seen, on_update=lambda _o, n: self._job_seen(n),
                              on_delete=self._job_seen)

    def _job_seen(self, job: Body) -> None:
        for k in _cron_key_of_job(job):
            self.queue.add(k)

    def _event(self, cj: Body, type_: str, reason: str, message: str) -> None:
        ref = {**cj, "apiVersion": "batch/v1", "kind": "CronJob"}
        task = asyncio.get_running_loop().create_task(self.events.event(ref, type_, reason, message))
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # ---- reconcile -------------------------------------------------------------------------
    async def reconcile(self, key: Hashable) -> None:
        k = str(key)
        cj = self.cronjobs.get(k)
        if cj is None or is_terminating(cj):
            return
        now = self.clock()
        jobs = [j for j in self.jobs.by_index("cronjob:owner", k) if controller_uid(j) == meta(cj).get("uid")]
        old_status = status(cj)
        st = copy.deepcopy(old_status)
        self._sync_active(cj, st, jobs)
        await self._clean_history(cj, jobs)
        delay = await self._schedule(k, cj, st, jobs, now)
        if st != old_status:
            body = {**cj, "status": st}
            try:
                await self.client.update_status("cronjobs", body)
            except ApiException as e:
                if e.status != 404:
                    raise
        if delay is not None:
            self.queue.add_after(k, delay)

    def _sync_active(self, cj: Body, st: dict[str, Any], jobs: Sequence[Body]) -> None:
        by_uid = {meta(j).get("uid"): j for j in jobs}
        active = [r for r in st.get("active") or [] if r.get("uid") in by_uid and not is_finished(by_uid[r["uid"]])]
        known = {r.get("uid") for r in active}
        for j in jobs:
            if not is_finished(j) and meta(j).get("uid") not in known:
                active.append(_ref(j))  # ours but not listed (e.g. a status write was lost)
        for j in jobs:
            if cond_true(j, "Complete"):
                done = finish_time(j)
                last = parse_time(st.get("lastSuccessfulTime"))
                if done is not None and (last is None or done > last):
                    st["lastSuccessfulTime"] = format_time(done)
        if active:
            st["active"] = active
        else:
            st.pop("active", None)
        for gone in {r.get("uid") for r in old_active(cj)} - {r.get("uid") for r in active}:
            finished = by_uid.get(gone)
            if finished is not None and is_finished(finished):
                outcome = "Complete" if cond_true(finished, "Complete") else "Failed"
                self._event(cj, "Normal", "SawCompletedJob", f"Saw completed job: {meta(finished)['name']}, status: {outcome}")

    async def _clean_history(self, cj: Body, jobs: Sequence[Body]) -> None:
        for cond, field, default in (("Complete", "successfulJobsHistoryLimit", 3),
                                     ("Failed", "failedJobsHistoryLimit", 1)):
            limit = spec(cj).get(field)
            limit = default if limit is None else int(limit)
            done = [j for j in jobs if cond_true(j, cond) and not is_terminating(j)]
            if len(done) <= limit:
                continue
            done.sort(key=_age_key)
            for j in done[: len(done) - limit]:
                await self._delete_job(cj, j, why="history limit")

    async def _delete_job(self, cj: Body, job: Body, *, why: str) -> None:
        md = meta(job)
        try:
            await self.client.delete("jobs", md["name"], md.get("namespace"), uid=md.get("uid"),
                                     propagation_policy="Background")
        except ApiException as e:
            if e.status not in (404, 409):
                raise
            return
        self._event(cj, "Normal", "SuccessfulDelete", f"Deleted job {md['name']}")
        log.debug("cronjob: deleted job %s/%s (%s)", md.get("namespace"), md["name"], why)

    async def _schedule(self, k: str, cj: Body, st: dict[str, Any], jobs: Sequence[Body],
                        now: dt.datetime) -> float | None:
        """Start the Job of the most recent unmet time, if any; seconds until the next time."""
        cspec = spec(cj)
        try:
            tz = cronsched.zone(cspec.get("timeZone"))
        except ValueError:
            self._event(cj, "Warning", "UnknownTimeZone", f"invalid timeZone: {cspec.get('timeZone')!r}")
            return None
        try:
            sched = cronsched.parse_cron(str(cspec.get("schedule") or ""))
        except ValueError as e:
            self._event(cj, "Warning", "UnparseableSchedule", f"unparseable schedule: {cspec.get('schedule')!r}: {e}")
            return None
        if cspec.get("suspend"):
            return None
        earliest = parse_time(st.get("lastScheduleTime")) or parse_time(meta(cj).get("creationTimestamp")) or now
        deadline = cspec.get("startingDeadlineSeconds")
        if deadline is not None:
            floor = now - dt.timedelta(seconds=int(deadline))
            earliest = max(earliest, floor)
        scheduled, missed = (None, 0) if earliest > now else cronsched.most_recent(sched, earliest, now, tz)
        if missed > TOO_MANY_MISSED:
            self._event(cj, "Warning", "TooManyMissedTimes",
                        "too many missed start times (> 100); set or decrease .spec.startingDeadlineSeconds "
                        "or check clock skew")
        nxt = cronsched.next_after(sched, now, tz)
        delay = None if nxt is None else (nxt - now).total_seconds() + 0.1
        if scheduled is None:
            return delay
        if deadline is not None and scheduled + dt.timedelta(seconds=int(deadline)) < now:
            self._event(cj, "Warning", "MissSchedule", f"Missed scheduled time to start a job: {format_time(scheduled)}")
            return delay
        name = job_name(meta(cj)["name"], scheduled)
        if any(r.get("name") == name for r in st.get("active") or []):
            return delay
        policy = cspec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and st.get("active"):
            self._event(cj, "Normal", "JobAlreadyActive", "Not starting job because prior execution is running "
                        "and concurrency policy is Forbid")
            return delay
        if policy == "Replace":
            for r in list(st.get("active") or []):
                j = next((j for j in jobs if uid(j) == r.get("uid")), None)
                if j is not None:
                    await self._delete_job(cj, j, why="concurrency policy Replace")
            st.pop("active", None)
        job = await self._create_job(cj, name, scheduled, tz)
        if job is not None:
            st["active"] = [*(st.get("active") or []), _ref(job)]
        st["lastScheduleTime"] = format_time(scheduled)
        return delay

    async def _create_job(self, cj: Body, name: str, scheduled: dt.datetime, tz: dt.tzinfo) -> Body | None:
        md = meta(cj)
        tmpl = spec(cj).get("jobTemplate") or {}
        md_new: ObjectMeta = {
            "name": name, "namespace": md["namespace"],
            "annotations": {**annotations_of(tmpl), SCHEDULED_ANNOTATION: _rfc3339(scheduled, tz)},
            "ownerReferences": [owner_reference(cj, api_version="batch/v1", kind="CronJob")],
        }
        tmpl_labels = dict(labels(tmpl))
        if tmpl_labels:
            md_new["labels"] = tmpl_labels
        body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": md_new,
                "spec": copy.deepcopy(tmpl.get("spec") or {})}
        try:
            job = await self.client.create("jobs", body, md["namespace"])
        except ApiException as e:
            if e.status == 409:
                return None  # created in an earlier pass (its status write was lost): already handled
            self._event(cj, "Warning", "FailedCreate", f"Error creating job: {e.message}")
            raise
        self._event(cj, "Normal", "SuccessfulCreate", f"Created job {name}")
        return job


def _age_key(job: Body) -> tuple[str, float, str]:
    """Oldest first: by start time (as upstream), then by scheduled time, then by name."""
    md = meta(job)
    sched = parse_time(annotations_of(job).get(SCHEDULED_ANNOTATION))
    return (str(status(job).get("startTime") or md.get("creationTimestamp") or ""),
            sched.timestamp() if sched else 0.0, str(md.get("name")))


def _rfc3339(t: dt.datetime, tz: dt.tzinfo) -> str:
    return t.astimezone(tz).isoformat().replace("+00:00", "Z")


def old_active(cj: Body) -> list[dict[str, Any]]:
    return list(status(cj).get("active") or [])
