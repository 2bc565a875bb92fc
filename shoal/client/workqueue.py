"""A keyed work queue, as controllers use it.

Event handlers only add keys; workers take keys and reconcile. A key is never
handed to two workers at once (one worker per key); a key added while it is
being processed is queued again once the worker is done, and a key added many
times while waiting is processed once. Failures requeue with per-key
exponential back-off; ``forget`` resets it after a success.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)


class ShutDown(Exception):
    """The queue was shut down; workers should exit."""


class WorkQueue:
    def __init__(self, *, base_delay: float = 0.005, max_delay: float = 60.0, name: str = "") -> None:
        self.name = name
        self._queue: collections.deque[Hashable] = collections.deque()
        self._dirty: set[Hashable] = set()
        self._processing: set[Hashable] = set()
        self._failures: dict[Hashable, int] = {}
        self._timers: dict[Hashable, asyncio.TimerHandle] = {}
        self._cond = asyncio.Condition()
        self._base = base_delay
        self._max = max_delay
        self._shutdown = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: Hashable) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._notify()

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._cond:
                self._cond.notify()

        asyncio.get_running_loop().create_task(wake())

    def add_after(self, key: Hashable, delay: float) -> None:
        """Add ``key`` after ``delay`` seconds (an earlier pending timer wins)."""
        if self._shutdown:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        old = self._timers.get(key)
        when = loop.time() + delay
        if old is not None:
            if old.when() <= when:
                return
            old.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            self.add(key)

        self._timers[key] = loop.call_at(when, fire)

    def add_rate_limited(self, key: Hashable) -> None:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        self.add_after(key, min(self._max, self._base * (2**n)))

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)

    async def get(self) -> Hashable:
        async with self._cond:
            while not self._queue:
                if self._shutdown:
                    raise ShutDown
                await self._cond.wait()
            key = self._queue.popleft()
            self._processing.add(key)
            self._dirty.discard(key)
            return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._notify()

    async def shutdown(self) -> None:
        self._shutdown = True
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        async with self._cond:
            self._cond.notify_all()


async def run_worker(queue: WorkQueue, reconcile: Callable[[Hashable], Awaitable[None]]) -> None:
    """Take keys and reconcile them until the queue shuts down; errors back off per key."""
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            await reconcile(key)
            queue.forget(key)
        except asyncio.CancelledError:
            queue.done(key)
            raise
        except Exception as e:
            log.debug("%s: reconcile %s failed: %s", queue.name, key, e, exc_info=True)
            if queue.num_requeues(key) > 5:
                log.warning("%s: reconcile %s keeps failing: %s", queue.name, key, e)
            queue.add_rate_limited(key)
        queue.done(key)


async def run_workers(queue: WorkQueue, reconcile: Callable[[Hashable], Awaitable[None]], n: int) -> None:
    await asyncio.gather(*(run_worker(queue, reconcile) for _ in range(n)))
