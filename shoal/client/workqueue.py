"""A keyed work queue, as controllers use it.

Event handlers only add keys; workers take keys and reconcile. A key is never
handed to two workers at once (one worker per key); a key added while it is
being processed is queued again once the worker is done, and a key added many
times while waiting is processed once. Failures requeue with per-key
exponential back-off; ``forget`` resets it after a success.

Every queue reports client-go's work-queue metrics to Prometheus, by its
``name``: ``workqueue_depth``, ``workqueue_adds_total``, ``workqueue_retries_total``
(read from plain counters when scraped), ``workqueue_queue_duration_seconds``
(added to taken) and ``workqueue_work_duration_seconds`` (a reconcile).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shoal.promlite import HistogramFamily

log = logging.getLogger(__name__)


_BUCKETS = (1e-5, 1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0)
# yielded by the collector below (not registered on their own)
QUEUE_DURATION = HistogramFamily("workqueue_queue_duration_seconds", "How long in seconds an item stays in "
                                 "workqueue before being requested.", ["name"], buckets=_BUCKETS)
WORK_DURATION = HistogramFamily("workqueue_work_duration_seconds", "How long in seconds processing an item from "
                                "workqueue takes.", ["name"], buckets=_BUCKETS)
_QUEUES: weakref.WeakSet[WorkQueue] = weakref.WeakSet()


class _QueueCollector(Collector):
    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("workqueue_depth", "Current depth of workqueue", labels=["name"])
        adds = CounterMetricFamily("workqueue_adds", "Total number of adds handled by workqueue", labels=["name"])
        retries = CounterMetricFamily("workqueue_retries", "Total number of retries handled by workqueue",
                                      labels=["name"])
        totals: dict[str, list[int]] = {}
        for q in list(_QUEUES):
            t = totals.setdefault(q.name, [0, 0, 0])
            t[0] += len(q)
            t[1] += q.adds
            t[2] += q.retries
        for name, (d, a, r) in sorted(totals.items()):
            depth.add_metric([name], float(d))
            adds.add_metric([name], float(a))
            retries.add_metric([name], float(r))
        yield depth
        yield adds
        yield retries
        yield from QUEUE_DURATION.collect()
        yield from WORK_DURATION.collect()


REGISTRY.register(_QueueCollector())


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
        self.adds = 0
        self.retries = 0
        self._queued_at: dict[Hashable, float] = {}
        self._queue_duration: Any = QUEUE_DURATION.labels(name)
        self.work_duration: Any = WORK_DURATION.labels(name)
        _QUEUES.add(self)

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, key: Hashable) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        self.adds += 1
        if key not in self._processing:
            self._queue.append(key)
            self._queued_at[key] = time.perf_counter()
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
        self.retries += 1
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
            since = self._queued_at.pop(key, None)
            if since is not None:
                self._queue_duration.observe(time.perf_counter() - since)
            self._processing.add(key)
            self._dirty.discard(key)
            return key

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._queued_at[key] = time.perf_counter()
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
        t0 = time.perf_counter()
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
        queue.work_duration.observe(time.perf_counter() - t0)
        queue.done(key)


async def run_workers(queue: WorkQueue, reconcile: Callable[[Hashable], Awaitable[None]], n: int) -> None:
    await asyncio.gather(*(run_worker(queue, reconcile) for _ in range(n)))
