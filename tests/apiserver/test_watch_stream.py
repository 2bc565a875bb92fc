"""The watch stream's framing over HTTP: bursts, bookmarks when idle, timeoutSeconds."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from shoal.apiserver.app import ApiServer
from shoal.store.sqlite import SqliteStore

CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
async def api(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    server = ApiServer(store, bookmark_interval=0.2)
    await server.start()
    http = TestServer(server.app(), host="127.0.0.1")
    await http.start_server()
    async with aiohttp.ClientSession(base_url=str(http.make_url(""))) as session:
        yield server, session
    await http.close()
    await server.stop()
    await store.close()


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}


async def _lines(resp: aiohttp.ClientResponse, n: int, timeout: float = 10) -> list[dict[str, Any]]:
    out = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            line = await resp.content.readline()
            if not line:
                break
            out.append(json.loads(line))
    return out


async def test_a_burst_arrives_whole_and_in_order(api: Any) -> None:
    server, s = api
    res = next(r for r in server.resources.values() if r.info.plural == "configmaps")
    first = await res.create("default", cm("c-0"))
    rv = first.obj["metadata"]["resourceVersion"]
    for i in range(1, 600):  # queued faster than the stream is written: several events per write
        await res.create("default", cm(f"c-{i}"))
    async with s.get(CMS, params={"watch": "1", "resourceVersion": rv}) as resp:
        assert resp.status == 200
        events = await _lines(resp, 599)
    assert [e["type"] for e in events] == ["ADDED"] * 599
    assert [e["object"]["metadata"]["name"] for e in events] == [f"c-{i}" for i in range(1, 600)]
    revs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert revs == sorted(revs) and revs[0] > int(rv)


async def test_idle_stream_gets_bookmarks_and_then_events(api: Any) -> None:
    _, s = api
    async with s.get(CMS, params={"watch": "1", "resourceVersion": "1", "allowWatchBookmarks": "true"}) as resp:
        got = await _lines(resp, 2, timeout=5)
        assert [e["type"] for e in got] == ["BOOKMARK", "BOOKMARK"]
        r = await s.post(CMS, json=cm("late"))
        assert r.status == 201
        while True:
            [e] = await _lines(resp, 1, timeout=5)
            if e["type"] != "BOOKMARK":
                break
        assert e["type"] == "ADDED" and e["object"]["metadata"]["name"] == "late"


async def test_no_bookmarks_unless_asked(api: Any) -> None:
    _, s = api
    async with s.get(CMS, params={"watch": "1", "resourceVersion": "1", "timeoutSeconds": "1"}) as resp:
        body = await resp.read()  # the stream ends after timeoutSeconds, having sent nothing
    assert body == b""


async def test_timeout_seconds_ends_a_busy_stream(api: Any) -> None:
    server, s = api
    res = next(r for r in server.resources.values() if r.info.plural == "configmaps")
    started = time.monotonic()
    async with s.get(CMS, params={"watch": "1", "resourceVersion": "1", "timeoutSeconds": "1"}) as resp:
        async def writer() -> None:
            for i in range(1000):
                await res.create("default", cm(f"busy-{i}"))
                await asyncio.sleep(0.005)

        task = asyncio.create_task(writer())
        body = await asyncio.wait_for(resp.read(), 10)
        task.cancel()
    assert time.monotonic() - started < 5
    lines = [json.loads(x) for x in body.splitlines()]
    assert lines and all(e["type"] == "ADDED" for e in lines)


async def test_live_bursts_and_single_events_are_all_sent_in_order(api: Any) -> None:
    # live events come in bursts (gathered into one write) and alone after a quiet moment; whatever
    # is created or deleted must follow in order, none lost or repeated
    server, s = api
    res = next(r for r in server.resources.values() if r.info.plural == "configmaps")
    async with s.get(CMS, params={"watch": "1", "resourceVersion": "1"}) as resp:
        assert resp.status == 200
        want: list[tuple[str, str]] = []
        for i in range(150):
            await res.create("default", cm(f"g-{i}"))
            want.append(("ADDED", f"g-{i}"))
            if i % 3 == 0:
                await res.delete("default", f"g-{i}")
                want.append(("DELETED", f"g-{i}"))
            if i % 10 == 0:
                await asyncio.sleep(0.003)  # a quiet moment: the next event is written alone
        events = await _lines(resp, len(want))
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == want
    revs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert revs == sorted(set(revs))
