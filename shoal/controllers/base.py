"""What every controller is: informers in, a keyed queue, ``reconcile(key)`` out.

Event handlers only compute keys and enqueue them; ``reconcile`` re-reads the
object and what it owns from the informer caches, computes the difference to
the desired state, acts through the client, and writes status. It must be
idempotent: the same inputs give the same actions, so a crash or a missed
event is healed by the next pass. ``Expectations`` keep a controller from
creating the same pods twice while its cache catches up with its own writes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from shoal.client import ApiClient, InformerFactory, WorkQueue, run_workers
from shoal.client.events import EventRecorder

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Context:
    """What the manager hands every controller."""

    client: ApiClient
    factory: InformerFactory
    clock: Clock = utcnow
    options: dict[str, Any] = field(default_factory=dict)

    def recorder(self, component: str) -> EventRecorder:
        return EventRecorder(self.client, component, clock=self.clock)


class Controller:
    """Base class: subclasses set ``name``, register informers in ``setup`` and implement ``reconcile``."""

    name = "controller"
    workers = 4

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.queue = WorkQueue(name=self.name)
        self.events = ctx.recorder(self.name)

    def setup(self) -> None:
        """Get informers from ``self.ctx.factory`` and add handlers that enqueue keys."""
        raise NotImplementedError

    async def reconcile(self, key: Hashable) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        await run_workers(self.queue, self.reconcile, self.workers)

    async def stop(self) -> None:
        await self.queue.shutdown()


class Expectations:
    """Counts of creates/deletes a controller issued but has not yet seen in its cache.

    While a key has unmet expectations, the controller does not act on the
    (stale) count; a timeout guards against a lost event.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._pending: dict[Hashable, tuple[int, int, float]] = {}  # key -> (adds, dels, since)

    def expect(self, key: Hashable, *, adds: int = 0, dels: int = 0) -> None:
        a, d, _ = self._pending.get(key, (0, 0, 0.0))
        self._pending[key] = (a + adds, d + dels, time.monotonic())

    def observed_add(self, key: Hashable) -> None:
        self._lower(key, 1, 0)

    def observed_del(self, key: Hashable) -> None:
        self._lower(key, 0, 1)

    def _lower(self, key: Hashable, a: int, d: int) -> None:
        cur = self._pending.get(key)
        if cur is None:
            return
        na, nd = max(0, cur[0] - a), max(0, cur[1] - d)
        if na == 0 and nd == 0:
            del self._pending[key]
        else:
            self._pending[key] = (na, nd, cur[2])

    def satisfied(self, key: Hashable) -> bool:
        cur = self._pending.get(key)
        if cur is None:
            return True
        if time.monotonic() - cur[2] > self.timeout:
            del self._pending[key]
            return True
        return False

    def forget(self, key: Hashable) -> None:
        self._pending.pop(key, None)


async def sleep_until(clock: Clock, when: dt.datetime) -> None:
    """Sleep until ``when`` by ``clock`` (for controllers with schedules)."""
    delay = (when - clock()).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)
