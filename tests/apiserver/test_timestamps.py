"""Metadata timestamps: RFC 3339 in UTC, whole seconds, whatever zone the clock's value is in."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from shoal.apiserver.resource import fmt_time


@given(st.floats(0, 4e9), st.integers(-12 * 60, 14 * 60), st.booleans())
def test_format_matches_strftime_in_utc(ts: float, offset_minutes: int, repeat: bool) -> None:
    t = dt.datetime.fromtimestamp(ts, dt.UTC).astimezone(dt.timezone(dt.timedelta(minutes=offset_minutes)))
    want = t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert fmt_time(t) == want
    if repeat:  # the second formatted last is answered from memory: still right, and a later one too
        assert fmt_time(t + dt.timedelta(microseconds=1)) == (t + dt.timedelta(microseconds=1)).astimezone(
            dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert fmt_time(t + dt.timedelta(seconds=1)) == (t + dt.timedelta(seconds=1)).astimezone(
            dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_example() -> None:
    assert fmt_time(dt.datetime(2026, 12, 2, 3, 4, 5, 999_999, tzinfo=dt.UTC)) == "2026-12-02T03:04:05Z"
    assert fmt_time(dt.datetime(2026, 12, 2, 3, 4, 6, tzinfo=dt.UTC)) == "2026-12-02T03:04:06Z"
