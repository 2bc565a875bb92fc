"""The event loop shoal's long-running processes run on: uvloop when it is importable.

uvloop is not a dependency (docs/decisions.md: ~5 % on the API server, measured
twice); where it is installed, the server, the scheduler process and the agent
all run on it, through this one function, rather than each deciding.
``SHOAL_EVENT_LOOP=asyncio`` keeps the standard loop even then (to compare, or
to rule uvloop out when chasing a bug).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor, or None for asyncio's default (not installed, or not wanted)."""
    if os.environ.get("SHOAL_EVENT_LOOP", "").strip().lower() == "asyncio":
        return None
    try:
        import uvloop  # type: ignore[import-not-found, unused-ignore]  # optional: not a dependency
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)


__all__ = ["loop_factory", "run"]
