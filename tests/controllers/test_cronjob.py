"""The CronJob controller, driven one ``reconcile`` at a time on the harness's fake clock (``harness.py``; no
test waits for a real minute), and the schedule walker on its own."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shoal.client import ApiClient, ApiException
from shoal.controllers import cronsched
from shoal.controllers.cronjob import CronJobController, job_name
from tests.controllers.harness import Harness

Obj = dict[str, Any]
UTC = dt.UTC


@pytest.fixture
def client(h: Harness) -> ApiClient:
    return h.client


@pytest.fixture
async def ns(h: Harness) -> str:
    return await h.namespace("cron")


def cron_body(name: str, schedule: str = "*/5 * * * *", **spec: Any) -> Obj:
    return {"metadata": {"name": name}, "spec": {
        "schedule": schedule,
        "jobTemplate": {"metadata": {"labels": {"from": name}}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}},
        **spec}}


class Env:
    def __init__(self, h: Harness, ns: str, ctl: CronJobController) -> None:
        self.h, self.client, self.ns, self.ctl, self.clock = h, h.client, ns, ctl, h.clock

    async def create(self, body: Obj) -> Obj:
        cj = await self.client.create("cronjobs", body, self.ns)
        await self.settle(body["metadata"]["name"])
        return cj

    async def settle(self, name: str) -> None:
        """Bring the controller's caches up to what the API holds (its workers never run)."""
        await self.h.factory.relist()

    async def at(self, name: str, when: dt.datetime) -> Obj:
        """Set the clock, run one pass (and write its Events), update the caches; the CronJob as it is then."""
        self.clock.set(when)
        await self.h.reconcile(self.ctl, f"{self.ns}/{name}")
        await self.settle(name)
        return await self.client.get("cronjobs", name, self.ns)

    async def jobs(self) -> list[str]:
        return sorted(j["metadata"]["name"] for j in (await self.client.list("jobs", self.ns))["items"])

    async def finish(self, job: str, cond: str = "Complete") -> None:
        j = await self.client.get("jobs", job, self.ns)
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        j["status"] = {"startTime": now, "conditions": [{"type": cond, "status": "True", "lastTransitionTime": now}]}
        if cond == "Complete":
            j["status"]["completionTime"] = now
        await self.client.update_status("jobs", j)

    async def events(self, reason: str) -> list[Obj]:
        items = (await self.client.list("events", self.ns))["items"]
        return [e for e in items if e.get("reason") == reason]


@pytest.fixture
async def env(h: Harness, ns: str) -> Env:
    return Env(h, ns, await h.start(CronJobController))


def next_slot(after: dt.datetime, minutes: int = 5) -> dt.datetime:
    t = after.replace(second=0, microsecond=0)
    return t + dt.timedelta(minutes=minutes - t.minute % minutes)


async def test_creates_one_job_per_scheduled_time(env: Env) -> None:
    cj = await env.create(cron_body("tick"))
    created = dt.datetime.fromisoformat(cj["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    slot = next_slot(created)
    await env.at("tick", slot - dt.timedelta(seconds=1))
    assert await env.jobs() == []  # not yet
    got = await env.at("tick", slot + dt.timedelta(seconds=2))
    name = job_name("tick", slot)
    assert await env.jobs() == [name] and name == f"tick-{int(slot.timestamp()) // 60}"
    assert got["status"]["lastScheduleTime"] == slot.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [r["name"] for r in got["status"]["active"]] == [name]
    job = await env.client.get("jobs", name, env.ns)
    assert job["metadata"]["labels"]["from"] == "tick"
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"] == \
        slot.strftime("%Y-%m-%dT%H:%M:%SZ")
    await env.at("tick", slot + dt.timedelta(seconds=30))
    assert await env.jobs() == [name]  # the same time is not run twice
    await env.finish(name)
    await env.settle("tick")
    got = await env.at("tick", slot + dt.timedelta(minutes=5, seconds=1))
    assert len(await env.jobs()) == 2
    assert got["status"]["lastSuccessfulTime"]
    assert [r["name"] for r in got["status"]["active"]] == [job_name("tick", slot + dt.timedelta(minutes=5))]


async def test_forbid_skips_while_a_job_runs(env: Env) -> None:
    cj = await env.create(cron_body("solo", concurrencyPolicy="Forbid"))
    slot = next_slot(dt.datetime.fromisoformat(cj["metadata"]["creationTimestamp"].replace("Z", "+00:00")))
    await env.at("solo", slot + dt.timedelta(seconds=1))
    await env.at("solo", slot + dt.timedelta(minutes=5, seconds=1))
    assert await env.jobs() == [job_name("solo", slot)]
    assert await env.events("JobAlreadyActive")  # recorded in the background, written by the pass
    await env.finish(job_name("solo", slot), "Failed")
    await env.settle("solo")
    await env.at("solo", slot + dt.timedelta(minutes=10, seconds=1))
    assert job_name("solo", slot + dt.timedelta(minutes=10)) in await env.jobs()


async def test_replace_deletes_the_running_job(env: Env) -> None:
    cj = await env.create(cron_body("swap", concurrencyPolicy="Replace"))
    slot = next_slot(dt.datetime.fromisoformat(cj["metadata"]["creationTimestamp"].replace("Z", "+00:00")))
    await env.at("swap", slot + dt.timedelta(seconds=1))
    got = await env.at("swap", slot + dt.timedelta(minutes=5, seconds=1))
    assert await env.jobs() == [job_name("swap", slot + dt.timedelta(minutes=5))]
    assert len(got["status"]["active"]) == 1


async def test_allow_runs_side_by_side(env: Env) -> None:
    cj = await env.create(cron_body("many"))
    slot = next_slot(dt.datetime.fromisoformat(cj["metadata"]["creationTimestamp"].replace("Z", "+00:00")))
    await env.at("many", slot + dt.timedelta(seconds=1))
    got = await env.at("many", slot + dt.timedelta(minutes=5, seconds=1))
    assert len(await env.jobs()) == 2 and len(got["status"]["active"]) == 2


async def test_suspend(env: Env) -> None:
    cj = await env.create(cron_body("zzz", suspend=True))
    slot = next_slot(dt.datetime.fromisoformat(cj["metadata"]["creationTimestamp"].replace("Z", "+00:00")))
    await env.at("zzz", slot + dt.timedelta(minutes=20))
    assert await env.jobs() == []


async def test_starting_deadline_skips_a_late_run(env: Env) -> None:
    cj = await env.create(cron_body("late", startingDeadlineSeconds=10))
    slot = next_slot(dt.datetime.fromisoformat(cj["metadata"]["creationTimestamp"].replace("Z", "+00:00")))
    await env.at("late", slot + dt.timedelta(seconds=30))  # 30 s late with a 10 s deadline
    assert await env.jobs() == []
    await env.at("late", slot + dt.timedelta(minutes=5, seconds=5))  # within the deadline
    assert await env.jobs() == [job_name("late", slot + dt.timedelta(minutes=5))]


async def test_many_missed_times_run_only_the_latest(env: Env) -> None:
    cj = await env.create(cron_body("behind", "* * * * *"))
    created = dt.datetime.fromisoformat(cj["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    when = created + dt.timedelta(minutes=300, seconds=30)
    await env.at("behind", when)
    latest = when.replace(second=0)
    assert await env.jobs() == [job_name("behind", latest)]
    assert await env.events("TooManyMissedTimes")


async def test_history_limits(env: Env) -> None:
    cj = await env.create(cron_body("hist", successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1))
    slot = next_slot(dt.datetime.fromisoformat(cj["metadata"]["creationTimestamp"].replace("Z", "+00:00")))
    names = []
    for i, outcome in enumerate(["Complete", "Complete", "Failed", "Failed", "Complete"]):
        t = slot + dt.timedelta(minutes=5 * i)
        await env.at("hist", t + dt.timedelta(seconds=1))
        names.append(job_name("hist", t))
        await env.finish(names[-1], outcome)
        await env.settle("hist")
    await env.at("hist", slot + dt.timedelta(minutes=22))

    assert await env.jobs() == sorted([names[3], names[4]])


async def test_time_zone(env: Env) -> None:
    # 09:00 in Tokyo is 00:00 UTC
    cj = await env.create(cron_body("tokyo", "0 9 * * *", timeZone="Asia/Tokyo"))
    created = dt.datetime.fromisoformat(cj["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    midnight = (created + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    await env.at("tokyo", midnight + dt.timedelta(seconds=5))
    assert await env.jobs() == [job_name("tokyo", midnight)]
    job = await env.client.get("jobs", job_name("tokyo", midnight), env.ns)
    assert job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"].endswith("T09:00:00+09:00")


async def test_bad_schedules_are_refused_naming_the_field(client: ApiClient, ns: str) -> None:
    for bad in ("61 * * * *", "* * *", "@fortnightly", "TZ=UTC 0 * * * *"):
        with pytest.raises(ApiException) as e:
            await client.create("cronjobs", cron_body(f"bad-{uuid.uuid4().hex[:4]}", bad), ns)
        assert e.value.status == 422 and "spec.schedule" in e.value.message, (bad, e.value.message)
    with pytest.raises(ApiException) as e:
        await client.create("cronjobs", cron_body("badtz", timeZone="/etc/passwd"), ns)
    assert e.value.status == 422 and "spec.timeZone" in e.value.message


async def test_an_unknown_time_zone_is_reported_not_run(env: Env) -> None:
    # the API accepts any well-formed zone name (it does not read the zone database); the controller cannot
    await env.create(cron_body("mars", "* * * * *", timeZone="Mars/Olympus"))
    await env.at("mars", env.clock() + dt.timedelta(minutes=3))
    assert await env.jobs() == []
    assert await env.events("UnknownTimeZone")


# ---- the schedule walker ----------------------------------------------------------------------


def t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s).replace(tzinfo=UTC)


@pytest.mark.parametrize(("expr", "after", "want"), [
    ("*/15 * * * *", "2024-01-01T10:07:00", "2024-01-01T10:15:00"),
    ("0 * * * *", "2024-01-01T10:00:00", "2024-01-01T11:00:00"),  # strictly after
    ("@hourly", "2024-01-01T10:30:00", "2024-01-01T11:00:00"),
    ("@daily", "2024-12-31T23:59:59", "2025-01-01T00:00:00"),
    ("0 0 29 2 *", "2024-03-01T00:00:00", "2028-02-29T00:00:00"),  # the next leap day
    ("0 0 13 * 5", "2024-01-01T00:00:00", "2024-01-05T00:00:00"),  # day of month OR Friday
    ("0 0 * * 5", "2024-01-01T00:00:00", "2024-01-05T00:00:00"),
    ("0 0 13 * *", "2024-01-01T00:00:00", "2024-01-13T00:00:00"),
    ("30 2 * jan-mar mon-fri", "2024-03-29T03:00:00", "2025-01-01T02:30:00"),
    ("@every 90s", "2024-01-01T00:00:00", "2024-01-01T00:01:30"),
])
def test_next_after(expr: str, after: str, want: str) -> None:
    assert cronsched.next_after(cronsched.parse_cron(expr), t(after)) == t(want)


def test_daylight_saving_in_a_time_zone() -> None:
    ny = ZoneInfo("America/New_York")
    s = cronsched.parse_cron("30 2 * * *")
    # 2024-03-10 02:30 does not exist in New York: skipped to the next day
    got = cronsched.next_after(s, dt.datetime(2024, 3, 9, 12, tzinfo=ny), ny)
    assert got is not None and got.astimezone(ny).replace(tzinfo=None) == dt.datetime(2024, 3, 11, 2, 30)
    s = cronsched.parse_cron("30 1 * * *")
    # 2024-11-03 01:30 happens twice: it fires once, at the first
    got = cronsched.next_after(s, dt.datetime(2024, 11, 3, 0, 0, tzinfo=ny), ny)
    assert got == dt.datetime(2024, 11, 3, 5, 30, tzinfo=UTC)
    after = cronsched.next_after(s, got, ny)
    assert after is not None and after.astimezone(ny).day == 4


def test_most_recent_counts_and_caps() -> None:
    s = cronsched.parse_cron("*/10 * * * *")
    last, n = cronsched.most_recent(s, t("2024-01-01T00:00:00"), t("2024-01-01T01:05:00"))
    assert (last, n) == (t("2024-01-01T01:00:00"), 6)
    assert cronsched.most_recent(s, t("2024-01-01T00:00:00"), t("2024-01-01T00:05:00")) == (None, 0)
    every = cronsched.parse_cron("* * * * *")
    last, n = cronsched.most_recent(every, t("2024-01-01T00:00:00"), t("2024-01-08T00:00:30"))
    assert last == t("2024-01-08T00:00:00") and n > 100
    with pytest.raises(ValueError, match="time zone"):
        cronsched.zone("Nowhere/Special")
    assert cronsched.next_after(cronsched.parse_cron("0 0 30 2 *"), t("2024-01-01T00:00:00")) is None
