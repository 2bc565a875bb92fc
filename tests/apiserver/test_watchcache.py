"""The watch cache over a real SQLite store: replay, live fan-out, and 410 Gone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shoal.api import kinds
from shoal.apiserver.resource import Resource
from shoal.apiserver.watchcache import Broadcaster, TooOldError
from shoal.store.sqlite import SqliteStore

CM = kinds.lookup("", "v1", "configmaps")
assert CM is not None


def cm(name: str, labels: dict[str, str] | None = None) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}}}


async def _setup(tmp_path: Path, window: int) -> tuple[SqliteStore, Resource, Broadcaster]:
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    res = Resource(store, CM)
    bc = Broadcaster(store, CM, window=window)
    await bc.start()
    return store, res, bc


async def _next(w: object) -> object:
    return await asyncio.wait_for(w.queue.get(), 5)  # type: ignore[attr-defined]


async def test_replay_then_live_in_order(tmp_path: Path) -> None:
    store, res, bc = await _setup(tmp_path, 100)
    try:
        a = await res.create("default", cm("a"))
        await res.create("default", cm("b"))
        start = int(a.obj["metadata"]["resourceVersion"])
        await asyncio.sleep(0.05)
        w = bc.subscribe(prefix=CM.prefix("default"), from_rev=start, match=None)
        await res.delete("default", "a")
        got = [await _next(w), await _next(w)]
        assert [(e.type, e.obj["metadata"]["name"]) for e in got] == [("ADDED", "b"), ("DELETED", "a")]
        assert all(e.rev > start for e in got)
        # one serialisation per event, shared by every watcher
        assert got[0].line().startswith(b'{"type":"ADDED","object":{"apiVersion":"v1"')
    finally:
        await bc.stop()
        await store.close()


async def test_namespace_prefix_isolates_watchers(tmp_path: Path) -> None:
    store, res, bc = await _setup(tmp_path, 100)
    try:
        rev = await store.current_revision()
        w = bc.subscribe(prefix=CM.prefix("ns-b"), from_rev=rev, match=None)
        await res.create("ns-a", cm("x"))
        await res.create("ns-b", cm("y"))
        e = await _next(w)
        assert e.obj["metadata"]["name"] == "y" and w.queue.empty()
    finally:
        await bc.stop()
        await store.close()


async def test_revision_older_than_window_is_too_old(tmp_path: Path) -> None:
    store, res, bc = await _setup(tmp_path, 3)
    try:
        first = await res.create("default", cm("c0"))
        for i in range(1, 6):
            await res.create("default", cm(f"c{i}"))
        for _ in range(50):
            if bc.last_rev >= await store.current_revision():
                break
            await asyncio.sleep(0.01)
        with pytest.raises(TooOldError):
            bc.subscribe(prefix=CM.prefix(None), from_rev=int(first.obj["metadata"]["resourceVersion"]), match=None)
        # the newest revisions are still servable
        bc.subscribe(prefix=CM.prefix(None), from_rev=bc.last_rev - 1, match=None)
    finally:
        await bc.stop()
        await store.close()


async def test_slow_watcher_is_cut_off_not_the_server(tmp_path: Path) -> None:
    store, res, bc = await _setup(tmp_path, 10)
    try:
        w = bc.subscribe(prefix=CM.prefix(None), from_rev=await store.current_revision(), match=None)
        w.queue = asyncio.Queue(maxsize=2)
        for i in range(5):
            await res.create("default", cm(f"s{i}"))
        for _ in range(100):
            if w.closed:
                break
            await asyncio.sleep(0.01)
        assert w.closed and w not in bc.watchers
    finally:
        await bc.stop()
        await store.close()
