"""The server's clock and how its instants are written into objects.

Pure (no I/O beyond reading the system clock in ``utcnow``), so decisions that
stamp times, such as the deletion planner, take a ``now`` and format it here
without reaching the store or the HTTP layer.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@functools.lru_cache(maxsize=4)
def _format_second(second: int) -> str:
    return dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_time(t: dt.datetime) -> str:
    """RFC 3339 in UTC, whole seconds, as metadata timestamps are (most writes share their second)."""
    return _format_second(int(t.timestamp() // 1))
