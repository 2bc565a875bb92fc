"""When a cron schedule fires: next times and the most recent missed one, in a time zone. Pure.

The expression is parsed by ``shoal.api.validation_workloads.parse_cron`` (the
same parser that validates ``spec.schedule``); this module walks wall-clock
time in the CronJob's zone the way robfig/cron (which Kubernetes uses) does:
skip whole months, days, hours and minutes that cannot match, so even
``0 0 29 2 *`` is found in a few hundred steps. Day-of-month and day-of-week
are ORed unless one of them is ``*`` (then both must match), as in cron.
Around daylight-saving changes a wall time that does not exist is skipped and
one that exists twice fires at its first occurrence.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from shoal.api.validation_workloads import CronSchedule, parse_cron

__all__ = ["CronSchedule", "most_recent", "next_after", "parse_cron", "zone"]

_MAX_YEARS = 5


def _day_matches(s: CronSchedule, d: dt.datetime) -> bool:
    dom = d.day in s.days_of_month
    dow = (d.isoweekday() % 7) in s.days_of_week
    if s.dom_star or s.dow_star:
        return dom and dow
    return dom or dow


def _exists(local: dt.datetime, tz: dt.tzinfo) -> dt.datetime | None:
    aware = local.replace(tzinfo=tz, fold=0)
    back = aware.astimezone(dt.UTC).astimezone(tz).replace(tzinfo=None)
    return aware if back == local else None


def next_after(s: CronSchedule, after: dt.datetime, tz: dt.tzinfo | None = None) -> dt.datetime | None:
    """The first time strictly after ``after`` (aware) that ``s`` fires, in UTC; None within 5 years."""
    tz = tz or dt.UTC
    if s.every_seconds is not None:
        t = after + dt.timedelta(seconds=s.every_seconds)
        return t.replace(microsecond=0).astimezone(dt.UTC)
    local = after.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0) + dt.timedelta(minutes=1)
    limit = local.year + _MAX_YEARS
    while local.year <= limit:
        if local.month not in s.months:
            y, m = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
            local = dt.datetime(y, m, 1)
            continue
        if not _day_matches(s, local):
            local = dt.datetime(local.year, local.month, local.day) + dt.timedelta(days=1)
            continue
        if local.hour not in s.hours:
            local = local.replace(minute=0) + dt.timedelta(hours=1)
            continue
        if local.minute not in s.minutes:
            local += dt.timedelta(minutes=1)
            continue
        aware = _exists(local, tz)
        if aware is not None and aware > after:
            return aware.astimezone(dt.UTC)
        local += dt.timedelta(minutes=1)
    return None


def most_recent(s: CronSchedule, earliest: dt.datetime, now: dt.datetime, tz: dt.tzinfo | None = None,
                *, cap: int = 101) -> tuple[dt.datetime | None, int]:
    """The latest fire time in (earliest, now], and how many there were (counting stops at ``cap``)."""
    last: dt.datetime | None = None
    n = 0
    t = next_after(s, earliest, tz)
    while t is not None and t <= now:
        last = t
        n += 1
        if n >= cap:
            # too many to walk one by one: jump to the last before now
            t2 = _last_before(s, now, tz, after=t)
            return (t2 or t), n
        t = next_after(s, t, tz)
    return last, n


def _last_before(s: CronSchedule, now: dt.datetime, tz: dt.tzinfo | None, *, after: dt.datetime) -> dt.datetime | None:
    """The latest fire time <= now, searching backwards from now in growing windows."""
    window = dt.timedelta(hours=1)
    while True:
        start = max(after, now - window)
        best = None
        t = next_after(s, start, tz)
        while t is not None and t <= now:
            best = t
            t = next_after(s, t, tz)
        if best is not None or start == after:
            return best
        window *= 4


def zone(name: str | None) -> dt.tzinfo:
    """The zone of ``spec.timeZone`` (UTC when unset); raises ``ValueError`` for an unknown one."""
    if not name:
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as e:
        raise ValueError(f"unknown time zone {name!r}") from e
