"""The in-process transport answers as the sockets do: the same API server, asked the same things, both ways.

One ``ApiServer`` serves its Unix socket the way ``shoal server`` does (the lean
server in front of aiohttp) and is also called in process; every request of a
script goes both ways and the answers must match, status and body (less what
differs between two objects by nature: uid, resourceVersion, timestamps).
Then what only a stream shows: watch events, the end of a watch when the
reader leaves, and a 410.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from shoal.apiserver.app import ApiServer
from shoal.apiserver.auth import ADMIN, TokenAuthenticator
from shoal.apiserver.inprocess import InProcessTransport
from shoal.apiserver.leanhttp import LeanServer
from shoal.client import ApiClient, ApiException, InformerFactory
from tests.client.inprocess import inprocess_api
from tests.eventually import eventually

TOKEN = "inprocess-test-token"
VOLATILE = {"uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "lastTransitionTime"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[ApiServer]:
    auth = TokenAuthenticator()
    auth.add(TOKEN, ADMIN)
    async with inprocess_api(tmp_path, authenticator=auth) as api:
        yield api


@pytest.fixture
async def both(api: ApiServer, tmp_path: Path) -> AsyncIterator[tuple[ApiClient, ApiClient]]:
    """(over the Unix socket, in process), to one server."""
    runner = web.AppRunner(api.app(), access_log=None)
    await runner.setup()
    assert runner.server is not None
    lean = LeanServer(api, runner.server)
    sock = str(tmp_path / "api.sock")
    await lean.start_unix(sock)
    unix = ApiClient.unix(sock, token=TOKEN)
    local = ApiClient(InProcessTransport(api, token=TOKEN))
    try:
        yield unix, local
    finally:
        await unix.close()
        await local.close()
        await lean.close()
        await runner.cleanup()


def _stable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _stable(x) for k, x in v.items() if k not in VOLATILE}
    if isinstance(v, list):
        return [_stable(x) for x in v]
    return v


async def _answer(c: ApiClient, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
    try:
        return 200, _stable(await c.request(method, path, body=body, **kw))
    except ApiException as e:
        return e.status, _stable(e.body)


def _script(ns: str) -> list[tuple[str, str, Any, dict[str, Any]]]:
    base = f"/api/v1/namespaces/{ns}"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"k": "v"}}, "data": {"x": "1"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    return [
        ("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}, {}),
        ("POST", f"{base}/configmaps", cm, {}),
        ("POST", f"{base}/configmaps", cm, {}),  # 409 AlreadyExists
        ("GET", f"{base}/configmaps/a", None, {}),
        ("GET", f"{base}/configmaps", None, {"params": {"labelSelector": "k=v"}}),
        ("GET", f"{base}/configmaps", None, {"params": {"labelSelector": "k=(("}}),  # 400
        ("PATCH", f"{base}/configmaps/a", {"data": {"x": "2"}}, {"content_type": "application/merge-patch+json"}),
        ("PATCH", f"{base}/configmaps/a", [{"op": "test", "path": "/data/x", "value": "9"}],
         {"content_type": "application/json-patch+json"}),  # a failed test: 422
        ("POST", f"{base}/pods", pod, {}),
        ("POST", f"{base}/pods", {**pod, "metadata": {"name": "Bad_Name"}}, {}),  # 422
        ("GET", f"{base}/pods/p/status", None, {}),
        ("GET", f"{base}/pods/nope", None, {}),  # 404
        ("GET", "/api/v1/nosuchresources", None, {}),  # 404 from the router
        ("GET", "/version", None, {}),
        ("GET", "/apis/apps/v1", None, {}),
        ("DELETE", f"{base}/configmaps/a", None, {}),
        ("DELETE", f"{base}/pods/p", {"gracePeriodSeconds": 0}, {}),
    ]


async def test_the_same_answers_as_over_the_socket(both: tuple[ApiClient, ApiClient]) -> None:
    unix, local = both
    for (method, path, body, kw), (_, path2, body2, _) in zip(_script("one"), _script("two"), strict=True):
        a = await _answer(unix, method, path, body, **kw)
        b = await _answer(local, method, path2, body2, **kw)
        assert (a[0], str(a[1]).replace("one", "NS")) == (b[0], str(b[1]).replace("two", "NS")), (method, path)
    statuses = [(await _answer(local, m, p, b, **kw))[0] for m, p, b, kw in _script("three")]
    assert statuses == [200, 200, 409, 200, 200, 400, 200, 422, 200, 422, 200, 404, 404, 200, 200, 200, 200]


async def test_authentication_applies(api: ApiServer) -> None:
    async with ApiClient(InProcessTransport(api)) as anonymous:
        with pytest.raises(ApiException) as e:
            await anonymous.list("configmaps", "default")
        assert e.value.status == 401
        with pytest.raises(ApiException) as e:
            await anonymous.request("GET", "/apis")  # through aiohttp's side: its middleware too
        assert e.value.status == 401
    async with ApiClient(InProcessTransport(api, token=TOKEN)) as admin:
        assert (await admin.list("configmaps", "default"))["items"] == []


async def test_a_watch_streams_and_ends_when_its_reader_leaves(api: ApiServer) -> None:
    async with ApiClient(InProcessTransport(api, token=TOKEN)) as c:
        rv = (await c.list("configmaps", "default"))["metadata"]["resourceVersion"]
        bc = api.broadcasters["/registry/core/configmaps/"]
        seen: list[tuple[str, str]] = []

        async def follow() -> None:
            async for ev in c.watch("configmaps", "default", resource_version=rv, allow_bookmarks=False):
                seen.append((ev.type, ev.object["metadata"]["name"]))
                if len(seen) == 3:
                    return  # leaving the stream: the handler must end and unsubscribe

        task = asyncio.create_task(follow())
        await eventually(lambda: len(bc.watchers) == 1, timeout=5)
        await c.create("configmaps", {"metadata": {"name": "w1"}}, "default")
        await c.patch("configmaps", "w1", {"data": {"a": "b"}}, "default")
        await c.delete("configmaps", "w1", "default")
        await asyncio.wait_for(task, 5)
        assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
        await eventually(lambda: not bc.watchers, timeout=5)


async def test_a_watch_older_than_the_window_is_410(api: ApiServer) -> None:
    api.broadcasters["/registry/core/configmaps/"].window = collections.deque(maxlen=2)
    async with ApiClient(InProcessTransport(api, token=TOKEN)) as c:
        rv = (await c.create("configmaps", {"metadata": {"name": "c0"}}, "default"))["metadata"]["resourceVersion"]
        for i in range(1, 4):
            await c.create("configmaps", {"metadata": {"name": f"c{i}"}}, "default")
        await eventually(lambda: len(api.broadcasters["/registry/core/configmaps/"].window) == 2, timeout=5)
        with pytest.raises(ApiException) as e:
            async for _ in c.watch("configmaps", "default", resource_version=rv):
                pass
        assert e.value.status == 410


async def test_an_informer_runs_on_it(api: ApiServer) -> None:
    async with ApiClient(InProcessTransport(api, token=TOKEN)) as c:
        factory = InformerFactory(c)
        inf = factory.informer("configmaps", namespace="default")
        factory.start()
        try:
            await factory.wait_synced(5)
            await c.create("configmaps", {"metadata": {"name": "seen"}}, "default")
            await eventually(lambda: inf.get("default/seen") is not None, timeout=5)
        finally:
            await factory.stop()


async def test_closing_ends_open_streams(api: ApiServer) -> None:
    transport = InProcessTransport(api, token=TOKEN)
    c = ApiClient(transport)
    entered = asyncio.Event()

    async def hold() -> None:
        async with c.stream("/api/v1/namespaces/default/configmaps", params={"watch": "1"}) as resp:
            entered.set()
            async for _ in resp.chunks():
                pass

    task = asyncio.create_task(hold())
    await asyncio.wait_for(entered.wait(), 5)
    await c.close()  # cancels the handler: the stream ends
    with contextlib.suppress(asyncio.CancelledError, ApiException):
        await asyncio.wait_for(task, 5)
    assert task.done()
