"""The lean Unix-socket client against a real aiohttp server: bodies, keep-alive, bad answers.

Each test runs on asyncio's loop and on uvloop's (``conftest.py``). The server is aiohttp's (what ``shoal server`` runs), on a socket in the test's
temporary directory; the raw-socket cases are small asyncio servers that answer
what no correct server would, to check that the client fails clearly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from shoal.client import ApiClient, ApiException
from shoal.client.unixhttp import ProtocolError, UnixHttpPool


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[str, list[web.Request]]]:
    seen: list[web.Request] = []
    peers: set[int] = set()

    async def echo(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        peers.add(id(request.transport))
        body = await request.read()
        if request.path == "/chunked":
            resp = web.StreamResponse(status=200)
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for part in (b'{"a":', b" 1", b"}"):
                await resp.write(part)
            await resp.write_eof()
            return resp
        if request.path.endswith("/pods") and request.query.get("watch"):
            resp = web.StreamResponse(status=200)
            await resp.prepare(request)
            ev = b'{"type":"ADDED","object":{"metadata":{"name":"%s","resourceVersion":"1"}}}'
            # two events in one write, one split over two writes, one without its newline at the end
            await resp.write(ev % b"a" + b"\n" + ev % b"b" + b"\n" + (ev % b"c")[:20])
            await asyncio.sleep(0.05)
            await resp.write((ev % b"c")[20:] + b"\n\n" + ev % b"d")
            await resp.write_eof()
            return resp
        if request.path == "/slow":
            await asyncio.sleep(1.5)
        if request.path == "/empty":
            return web.Response(status=204)
        if request.path == "/missing":
            return web.json_response({"kind": "Status", "reason": "NotFound", "message": "pods \"x\" not found"},
                                     status=404)
        return web.json_response({"method": request.method, "path": request.path, "query": dict(request.query),
                                  "body": body.decode(), "type": request.content_type,
                                  "auth": request.headers.get("Authorization", ""), "peers": len(peers)})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    path = str(tmp_path / "api.sock")
    await web.UnixSite(runner, path).start()
    yield path, seen
    await runner.cleanup()


async def test_requests_bodies_and_keep_alive(server: tuple[str, list[web.Request]]) -> None:
    path, seen = server
    pool = UnixHttpPool(path, headers={"Authorization": "Bearer t"}, limit=4)
    try:
        status, raw = await pool.request("POST", "/api/v1/namespaces/a b/pods", params={"labelSelector": "app=x,y!=z"},
                                         body=b'{"x":1}', content_type="application/merge-patch+json")
        assert status == 200
        import json
        got = json.loads(raw)
        assert got["path"] == "/api/v1/namespaces/a b/pods" and got["query"] == {"labelSelector": "app=x,y!=z"}
        assert got["body"] == '{"x":1}' and got["type"] == "application/merge-patch+json"
        assert got["auth"] == "Bearer t"
        assert await pool.request("GET", "/chunked") == (200, b'{"a": 1}')
        assert await pool.request("DELETE", "/empty") == (204, b"")
        for _ in range(20):  # one at a time: one connection, reused
            status, raw = await pool.request("GET", "/x")
        assert json.loads(raw)["peers"] == 1
        answers = await asyncio.gather(*(pool.request("GET", f"/p{i}") for i in range(30)))
        assert all(s == 200 for s, _ in answers)
        assert max(json.loads(r)["peers"] for _, r in answers) <= 4  # never more connections than the limit
        assert len(seen) == 53
    finally:
        await pool.close()


async def test_api_client_uses_it_and_maps_errors(server: tuple[str, list[web.Request]]) -> None:
    path, _ = server
    client = ApiClient.unix(path, token="t", timeout=0.5)
    try:
        assert (await client.request("GET", "/api/v1/namespaces"))["auth"] == "Bearer t"
        with pytest.raises(ApiException) as e:
            await client.request("GET", "/missing")
        assert e.value.status == 404 and "not found" in str(e.value)
        with pytest.raises(ApiException) as e:
            await client.request("GET", "/slow")
        assert e.value.status == 0  # a timeout is a connection error, not a hang
        assert (await client.request("GET", "/after"))["path"] == "/after"  # the pool recovered
    finally:
        await client.close()


async def _raw_server(tmp_path: Path, answer: bytes, *, close: bool) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        if close:
            writer.close()
        else:
            await asyncio.sleep(1)
            writer.close()

    path = str(tmp_path / "raw.sock")
    return await asyncio.start_unix_server(handle, path), path


@pytest.mark.parametrize(("answer", "close", "error"), [
    (b"", True, ConnectionError),                                          # dropped without an answer
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", True, ConnectionError),  # body cut short
    (b"SMTP ready\r\n\r\n", False, ProtocolError),                          # not HTTP
    (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", False, ProtocolError),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", False, ProtocolError),
])
async def test_bad_answers_fail_clearly(tmp_path: Path, answer: bytes, close: bool, error: type[Exception]) -> None:
    srv, path = await _raw_server(tmp_path, answer, close=close)
    pool = UnixHttpPool(path, headers={})
    try:
        with pytest.raises(error):
            await pool.request("GET", "/", timeout=5)
    finally:
        await pool.close()
        srv.close()
        await srv.wait_closed()


async def test_body_until_close_and_connection_close(tmp_path: Path) -> None:
    srv, path = await _raw_server(tmp_path, b"HTTP/1.0 200 OK\r\n\r\n{\"old\": true}", close=True)
    pool = UnixHttpPool(path, headers={})
    try:
        assert await pool.request("GET", "/") == (200, b'{"old": true}')
        assert not pool._idle  # HTTP/1.0 without keep-alive: not reused
    finally:
        await pool.close()
        srv.close()
        await srv.wait_closed()


async def test_watch_lines_split_anywhere(server: tuple[str, list[web.Request]]) -> None:
    """Events arrive many per chunk or cut across chunks; each is read once and whole."""
    path, _ = server
    client = ApiClient.unix(path, token="t")
    try:
        names = [ev.object["metadata"]["name"] async for ev in client.watch("pods", "default")]
        assert names == ["a", "b", "c", "d"]
    finally:
        await client.close()


async def test_a_get_on_a_connection_the_server_dropped_is_sent_again(tmp_path: Path) -> None:
    """The server answers one request per connection, then drops the next unanswered (as a server
    closing an idle keep-alive connection at the wrong moment would): a GET goes out once more on a
    new connection; a POST is not repeated (it may have been applied)."""
    requests = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        await reader.readuntil(b"\r\n\r\n")
        requests += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")  # the second request on this connection: no answer
            requests += 1
        writer.close()

    path = str(tmp_path / "drop.sock")
    srv = await asyncio.start_unix_server(handle, path)
    pool = UnixHttpPool(path, headers={})
    try:
        assert await pool.request("GET", "/a", timeout=5) == (200, b"ok")
        assert await pool.request("GET", "/b", timeout=5) == (200, b"ok")  # dropped once, sent again
        assert requests == 3
        with pytest.raises(ConnectionError):
            await pool.request("POST", "/c", body=b"{}", timeout=5)
        assert requests == 4
    finally:
        await pool.close()
        srv.close()
        await srv.wait_closed()
