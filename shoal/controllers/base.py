"""What every controller is: informers in, a keyed queue, ``reconcile(key)`` out.

Event handlers only compute keys and enqueue them; ``reconcile`` re-reads the
object and what it owns from the informer caches, computes the difference to
the desired state, acts through the client, and writes status. It must be
idempotent: the same inputs give the same actions, so a crash or a missed
event is healed by the next pass. ``Expectations`` keep a controller from
creating the same pods twice while its cache catches up with its own writes.

Events are recorded in the background (an event is worth less than the work it
describes, and must not slow it down) through a per-object spam filter with
client-go's defaults (a burst of 25, then one per five minutes), so scaling a
ReplicaSet to 1,000 does not write 1,000 Events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from shoal.api.views import Body, uid, utcnow
from shoal.client import ApiClient, Informer, InformerFactory, WorkQueue, run_workers
from shoal.client.events import EventRecorder

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]  # wall time, for what is written into objects and compared with them
Monotonic = Callable[[], float]  # seconds that never go back, for intervals kept in memory (back-offs, buckets)


@dataclass
class Context:
    """What the manager hands every controller."""

    client: ApiClient
    factory: InformerFactory
    clock: Clock = utcnow
    options: dict[str, Any] = field(default_factory=dict)
    monotonic: Monotonic = time.monotonic  # a test's fake clock moves both

    def recorder(self, component: str) -> EventRecorder:
        return EventRecorder(self.client, component, clock=self.clock)


class SpamFilter:
    """A token bucket per object (client-go's EventSourceObjectSpamFilter: burst 25, 1 per 300 s)."""

    def __init__(self, *, burst: int = 25, refill_seconds: float = 300.0, max_objects: int = 4096) -> None:
        self.burst = burst
        self.refill = refill_seconds
        self.max_objects = max_objects
        self._buckets: dict[str, tuple[float, float]] = {}  # uid -> (tokens, last refill)

    def allow(self, uid: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(uid, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) / self.refill)
        if tokens < 1.0:
            self._buckets[uid] = (tokens, now)
            return False
        if len(self._buckets) >= self.max_objects and uid not in self._buckets:
            self._buckets.pop(next(iter(self._buckets)))
        self._buckets[uid] = (tokens - 1.0, now)
        return True


class Controller:
    """Base class: subclasses set ``name``, register informers in ``setup`` and implement ``reconcile``."""

    name = "controller"
    workers = 4

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.monotonic = ctx.monotonic
        self.queue = WorkQueue(name=self.name)
        self.events = ctx.recorder(self.name)
        self._spam = SpamFilter()
        self._event_tasks: set[asyncio.Task[None]] = set()

    def setup(self) -> None:
        """Get informers from ``self.ctx.factory`` and add handlers that enqueue keys."""
        raise NotImplementedError

    async def reconcile(self, key: Hashable) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        await run_workers(self.queue, self.reconcile, self.workers)

    async def stop(self) -> None:
        await self.queue.shutdown()
        await self.events_written(timeout=2)

    async def events_written(self, timeout: float | None = None) -> None:
        """Wait for the Events recorded so far to be written (or ``timeout``)."""
        if self._event_tasks:
            await asyncio.wait(list(self._event_tasks), timeout=timeout)

    def emit(self, obj: Body, type_: str, reason: str, message: str, *, kind: str = "",
             api_version: str = "") -> None:
        """Record an Event about ``obj`` in the background (never blocks, never raises).

        ``kind``/``api_version`` fill in what list items from an informer may lack.
        """
        if not self._spam.allow(uid(obj), self.monotonic()):
            return
        ref = dict(obj)
        if kind:
            ref["kind"] = kind
        if api_version:
            ref["apiVersion"] = api_version
        try:
            task = asyncio.get_running_loop().create_task(self.events.event(ref, type_, reason, message))
        except RuntimeError:
            return
        self._event_tasks.add(task)
        task.add_done_callback(self._event_tasks.discard)


def ensure_index(informer: Informer, name: str, fn: Callable[[Body], list[str]]) -> None:
    """Add an index unless a controller sharing this informer already did."""
    try:
        informer.by_index(name, "")
    except KeyError:
        informer.add_index(name, fn)


class Expectations:
    """Creates/deletes a controller issued but has not yet seen in its cache.

    While a key has unmet expectations, the controller does not act on the
    (stale) count; a timeout guards against a lost event. Deletes may be tracked
    by the deleted objects' keys (``expect_deletions``), as upstream's
    UIDTrackingControllerExpectations do, so one pod seen twice (first with a
    deletionTimestamp, then gone) lowers the count only once.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._pending: dict[Hashable, tuple[int, int, float]] = {}  # key -> (adds, dels, since)
        self._deleting: dict[Hashable, set[str]] = {}

    def expect(self, key: Hashable, *, adds: int = 0, dels: int = 0) -> None:
        if adds == 0 and dels == 0:
            return  # nothing to wait for: recording it would hold the key until the timeout
        a, d, _ = self._pending.get(key, (0, 0, 0.0))
        self._pending[key] = (a + adds, d + dels, time.monotonic())

    def expect_deletions(self, key: Hashable, obj_keys: Iterable[str]) -> None:
        keys = set(obj_keys)
        self._deleting.setdefault(key, set()).update(keys)
        self.expect(key, dels=len(keys))

    def deletion_observed(self, key: Hashable, obj_key: str) -> None:
        """``obj_key`` was seen terminating or gone: lower the deletes once per object."""
        pending = self._deleting.get(key)
        if pending is None or obj_key not in pending:
            return
        pending.discard(obj_key)
        if not pending:
            del self._deleting[key]
        self._lower(key, 0, 1)

    def lower_adds(self, key: Hashable, n: int) -> None:
        """Creates that failed will never be observed."""
        self._lower(key, n, 0)

    def lower_deletes(self, key: Hashable, obj_keys: Iterable[str]) -> None:
        """Deletes that failed (other than not-found) will never be observed."""
        for k in obj_keys:
            self.deletion_observed(key, k)

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
            self.forget(key)
            return True
        return False

    def pending(self, key: Hashable) -> tuple[int, int]:
        a, d, _ = self._pending.get(key, (0, 0, 0.0))
        return a, d

    def forget(self, key: Hashable) -> None:
        self._pending.pop(key, None)
        self._deleting.pop(key, None)


async def sleep_until(clock: Clock, when: dt.datetime) -> None:
    """Sleep until ``when`` by ``clock`` (for controllers with schedules)."""
    delay = (when - clock()).total_seconds()
    if delay > 0:
        await asyncio.sleep(delay)


__all__ = ["Clock", "Context", "Controller", "Expectations", "Monotonic", "SpamFilter", "ensure_index", "sleep_until", "utcnow"]
