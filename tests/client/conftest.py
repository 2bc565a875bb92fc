"""The lean Unix-socket client's tests run on every event loop shoal can run on here.

shoal's processes run on uvloop when it is importable (``shoal.eventloop``; it
is not a dependency, see docs/decisions.md), and uvloop's transports are not
asyncio's classes, so where uvloop is installed the client's tests run on both
loops; the rest of this directory runs on asyncio's loop as every other test does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest

from shoal.eventloop import loop_factory

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, LoopFactory]:
    loops: dict[str, LoopFactory] = {"asyncio": asyncio.new_event_loop}
    uv = loop_factory()
    if item.path.name == "test_unixhttp.py" and uv is not None:
        loops["uvloop"] = uv
    return loops
