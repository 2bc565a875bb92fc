"""memtrim: glibc heap trimming is callable, periodic, cancellable, and refuses bad intervals."""

from __future__ import annotations

import asyncio

import pytest

from shoal.apiserver import memtrim


def test_trim_and_limit_answer_booleans() -> None:
    assert isinstance(memtrim.trim(), bool)
    assert isinstance(memtrim.limit_arenas(1), bool)


def test_trim_releases_a_freed_heap() -> None:
    if not memtrim.available():
        pytest.skip("libc is not glibc")
    blocks = [bytearray(2048) for _ in range(20_000)]  # ~40 MB of small heap chunks
    del blocks
    memtrim.trim()  # must not crash; whether pages were returned depends on the heap


@pytest.mark.parametrize("interval", [0, -1.0])
async def test_bad_interval_is_refused(interval: float) -> None:
    with pytest.raises(ValueError):
        await memtrim.trim_periodically(interval)


async def test_periodic_trim_runs_until_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    if not memtrim.available():
        pytest.skip("libc is not glibc")
    calls = []
    monkeypatch.setattr(memtrim, "trim", lambda: calls.append(1) or True)
    task = asyncio.create_task(memtrim.trim_periodically(0.01))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(calls) >= 2
