"""Is the store answering? A probe for ``/readyz``, and writes that fail fast while it is not.

With etcd, losing quorum does not refuse a write: etcd holds it until its own
request timeout and the client's, several seconds later. Upstream answers
with a timeout then; shoal answers sooner and says why:

* ``StoreHealth`` reads the store's current revision every ``interval``
  (a linearizable read: it needs a quorum) with a short ``timeout``; after a
  failed probe the store is unhealthy until a probe succeeds again.
* ``GuardedStore`` wraps the store for the API server: while unhealthy, a
  request to the store fails at once with ``StoreUnavailableError`` (a 503
  with ``Retry-After``); a request already waiting when the probe fails is
  abandoned then, with the same error. So a write answers 503 within
  ``interval + timeout`` of losing quorum (1.5 s by default), as the issue asks
  (2 s). Watches are left alone: the watch cache keeps serving reads.
  An abandoned write has an unknown outcome (etcd may still commit it once
  quorum returns), as any timed-out write has.
* ``/readyz`` fails while unhealthy, naming etcd (upstream's ``[-]etcd failed``,
  with upstream's status for a failed check, 500).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable
from typing import TypeVar

from shoal.store.base import KeyValue, Store, StoreError, StoreUnavailableError, WatchEvent

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreHealth:
    def __init__(self, store: Store, *, name: str = "etcd", interval: float = 0.5, timeout: float = 1.0) -> None:
        self.store = store
        self.name = name
        self.interval = interval
        self.timeout = timeout
        self.healthy = True
        self.reason = ""
        self._inflight: set[asyncio.Task[object]] = set()  # tasks waiting on the store in guard()
        self._abandoned: set[asyncio.Task[object]] = set()  # those cancelled by a failed probe
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"store-health:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def probe(self) -> None:
        try:
            await asyncio.wait_for(self.store.current_revision(), self.timeout)
        except (TimeoutError, StoreError) as e:
            self._set(False, f"{type(e).__name__}: {e}" if str(e) else f"no answer within {self.timeout:.1f} s")
        else:
            self._set(True, "")

    def _set(self, healthy: bool, reason: str) -> None:
        if healthy != self.healthy:
            (log.info if healthy else log.warning)("%s is %s%s", self.name, "healthy again" if healthy else
                                                   "unavailable: ", reason)
        self.healthy, self.reason = healthy, reason
        if not healthy:  # requests waiting on the store are abandoned now (see guard)
            for task in self._inflight - self._abandoned:
                self._abandoned.add(task)
                task.cancel()

    async def _run(self) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(self.interval)

    def unavailable(self) -> StoreUnavailableError:
        return StoreUnavailableError(f"{self.name} is unavailable ({self.reason or 'no quorum'})")

    async def guard(self, op: Awaitable[T]) -> T:
        """``op``, abandoned with ``StoreUnavailableError`` as soon as the store is (or becomes) unhealthy.

        ``op`` runs in the caller's task (no task of its own, no waiter: ~2 µs instead of ~20 µs per store
        call); the caller's task is registered while it waits, and a failed probe cancels it there, which
        this turns into the unavailable error."""
        if not self.healthy:
            if asyncio.iscoroutine(op):
                op.close()
            raise self.unavailable()
        task = asyncio.current_task()
        if task is None or task in self._inflight:  # no task to cancel, or a guard within a guard
            return await op
        self._inflight.add(task)
        try:
            return await op
        except asyncio.CancelledError:
            if task in self._abandoned:
                self._abandoned.discard(task)
                if task.uncancel() == 0:  # cancelled by us alone: the store is lost
                    raise self.unavailable() from None
            raise
        finally:
            self._inflight.discard(task)
            if task in self._abandoned:  # op turned our cancellation into an error of its own: undo it
                self._abandoned.discard(task)
                task.uncancel()

    def readyz(self, verbose: bool) -> tuple[int, str]:
        """(status, body) of the store's part of ``/readyz``, in upstream's words."""
        line = f"[+]{self.name} ok" if self.healthy else f"[-]{self.name} failed: {self.reason or 'no answer'}"
        if self.healthy:
            return 200, (f"[+]ping ok\n{line}\nreadyz check passed\n" if verbose else "ok")
        # upstream's health checks answer a failure with 500 (kubectl then shows the body)
        return 500, f"[+]ping ok\n{line}\nreadyz check failed\n"


class GuardedStore:
    """``Store`` over ``inner`` whose requests go through ``health.guard`` (watches pass through)."""

    def __init__(self, inner: Store, health: StoreHealth) -> None:
        self.inner = inner
        self.health = health

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def current_revision(self) -> int:
        return await self.health.guard(self.inner.current_revision())

    async def get(self, key: str) -> KeyValue | None:
        return await self.health.guard(self.inner.get(key))

    async def list(self, prefix: str, *, start_after: str | None = None, limit: int = 0,
                   revision: int = 0) -> tuple[builtins.list[KeyValue], int, bool]:
        return await self.health.guard(self.inner.list(prefix, start_after=start_after, limit=limit,
                                                       revision=revision))

    async def count(self, prefix: str) -> int:
        return await self.health.guard(self.inner.count(prefix))

    async def create(self, key: str, value: bytes) -> int:
        return await self.health.guard(self.inner.create(key, value))

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        return await self.health.guard(self.inner.update(key, value, expected_revision=expected_revision))

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        return await self.health.guard(self.inner.delete(key, expected_revision=expected_revision))

    def watch(self, prefix: str, *, from_revision: int) -> AsyncGenerator[builtins.list[WatchEvent], None]:
        return self.inner.watch(prefix, from_revision=from_revision)

    async def compact(self, revision: int) -> None:
        await self.health.guard(self.inner.compact(revision))

    async def compacted_revision(self) -> int:
        return await self.health.guard(self.inner.compacted_revision())
