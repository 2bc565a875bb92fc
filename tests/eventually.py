"""Waiting for a condition on a running server: the one ``eventually`` of the test suite.

Tests against a real server (end-to-end, kubectl, agents, the network) cannot
know when a component in another process has acted, so they poll: ``check`` is
called (sync or async) every ``interval`` seconds until it returns something
truthy, which is returned; past ``timeout`` the test fails with the last value.
An exception of a type in ``retry_on`` counts as "not yet" (an object that is
not there yet answers 404).

Tests of a controller's own behaviour do not poll: they drive it step by step
with ``tests/controllers/harness.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def eventually(check: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.05,
                     retry_on: tuple[type[BaseException], ...] = ()) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    while True:
        try:
            last = check()
            if asyncio.iscoroutine(last):
                last = await last
        except retry_on as e:
            last = e
        else:
            if last:
                return last
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(interval)
