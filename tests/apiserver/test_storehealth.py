"""A store that stops answering: writes fail within interval + timeout, /readyz names it, recovery."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shoal.apiserver.storehealth import GuardedStore, StoreHealth
from shoal.store.base import StoreUnavailableError
from shoal.store.sqlite import SqliteStore


class Stalling(SqliteStore):
    """SQLite that hangs every call while ``stalled`` (as etcd without quorum holds requests)."""

    stalled = False

    async def _hang(self) -> None:
        while self.stalled:
            await asyncio.sleep(0.01)

    async def current_revision(self) -> int:
        await self._hang()
        return await super().current_revision()

    async def create(self, key: str, value: bytes) -> int:
        await self._hang()
        return await super().create(key, value)


async def test_writes_fail_fast_while_unhealthy_and_readyz_says_why(tmp_path: Path) -> None:
    inner = Stalling(tmp_path / "s.db")
    await inner.start()
    health = StoreHealth(inner, interval=0.1, timeout=0.3)
    store = GuardedStore(inner, health)
    health.start()
    loop = asyncio.get_running_loop()
    try:
        await store.create("/a", b"1")
        assert health.readyz(False) == (200, "ok")
        inner.stalled = True
        t0 = loop.time()
        with pytest.raises(StoreUnavailableError, match="etcd is unavailable"):
            await store.create("/b", b"2")  # in flight when the probe fails: abandoned then
        assert loop.time() - t0 < 0.3 + 0.1 + 0.3
        t1 = loop.time()
        with pytest.raises(StoreUnavailableError):
            await store.create("/c", b"3")  # already unhealthy: at once
        assert loop.time() - t1 < 0.05
        status, text = health.readyz(True)
        assert status == 500 and "[-]etcd failed" in text and "readyz check failed" in text
        inner.stalled = False
        for _ in range(50):
            if health.healthy:
                break
            await asyncio.sleep(0.05)
        assert health.healthy
        await store.create("/d", b"4")
        assert health.readyz(True)[1].startswith("[+]ping ok\n[+]etcd ok")
        assert await store.get("/d") is not None
    finally:
        await health.stop()
        await inner.close()


async def test_a_caller_cancelled_by_others_stays_cancelled(tmp_path: Path) -> None:
    """The guard turns only its own cancellation into StoreUnavailableError: a request cancelled by its
    client (a closed connection) is still cancelled, and one abandoned carries no cancellation onwards."""
    inner = Stalling(tmp_path / "s.db")
    await inner.start()
    health = StoreHealth(inner, interval=0.05, timeout=0.2)
    store = GuardedStore(inner, health)
    try:
        inner.stalled = True
        waiting = asyncio.create_task(store.create("/a", b"1"))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

        async def abandoned_then_more() -> str:
            with pytest.raises(StoreUnavailableError):
                await store.create("/b", b"2")
            await asyncio.sleep(0.01)  # not cancelled here
            return "went on"
        task = asyncio.create_task(abandoned_then_more())
        await asyncio.sleep(0.05)
        await health.probe()  # fails (stalled): abandons the waiting create
        assert await task == "went on" and task.cancelling() == 0
    finally:
        inner.stalled = False
        await inner.close()
