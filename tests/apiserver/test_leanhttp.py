"""The lean HTTP/1.1 server in front of the API: what it serves, what it hands to aiohttp, and that
the answers are aiohttp's answers.

The parser is pure and tested by table. The rest runs a real ``ApiServer`` over a real SQLite store
twice in one process: once behind ``LeanServer`` and once behind aiohttp's own ``UnixSite``, and
sends the same raw bytes to both, so "the same answer as before" is checked against the real
before, not against expectations written here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from shoal.apiserver import leanhttp
from shoal.apiserver.app import ApiServer
from shoal.apiserver.auth import ADMIN, TokenAuthenticator
from shoal.apiserver.certs import ensure_serving_cert
from shoal.datadir import DataDir
from shoal.store.sqlite import SqliteStore

CMS = "/api/v1/namespaces/default/configmaps"


# ---- the parser -------------------------------------------------------------------------------

def test_a_plain_head_is_parsed() -> None:
    h = leanhttp.parse_head(b"POST /api/v1/namespaces/default/pods?dryRun=All HTTP/1.1\r\nHost: x\r\n"
                            b"Content-Type: application/json\r\nContent-Length: 12\r\nX-A:  spaced \t")
    assert h is not None
    assert (h.method, h.target, h.length, h.keep_alive) == ("POST", "/api/v1/namespaces/default/pods?dryRun=All",
                                                            12, True)
    assert h.headers["content-type"] == "application/json" and h.headers["X-A"] == "spaced"
    closing = leanhttp.parse_head(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close")
    assert closing is not None and not closing.keep_alive and closing.length == 0


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.0",                                       # not HTTP/1.1
    b"GET / HTTP/1.1 extra",                                 # not three parts
    b"BREW / HTTP/1.1",                                      # not a method of ours
    b"HEAD / HTTP/1.1",                                      # an answer without its body
    b"GET http://x/ HTTP/1.1",                               # an absolute target
    b"GET / HTTP/1.1\r\nNo-Colon",                           # a header line without a colon
    b"GET / HTTP/1.1\r\nA: b\r\n folded",                    # obsolete line folding
    b"GET / HTTP/1.1\r\nA : b",                              # a space before the colon
    b"GET / HTTP/1.1\r\n: b",                                # an empty name
    b"GET / HTTP/1.1\r\nA: b\nC: d",                         # a bare LF
    b"GET / HTTP/1.1\r\nA: b\x00",                           # a control character
    b"GET /\xc3\xa9 HTTP/1.1",                               # not ASCII
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked",        # a chunked body
    b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1",
    b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade",
    b"GET / HTTP/1.1\r\nConnection: upgrade",
    b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1",
    b"POST / HTTP/1.1\r\nContent-Length: +1",
    b"POST / HTTP/1.1\r\nContent-Length: -1",
    b"POST / HTTP/1.1\r\nContent-Length: 1048577",           # over MAX_BODY: aiohttp enforces the limit
    b"GET / HTTP/1.1\r\nContent-Type: a\r\nContent-Type: b",  # a second of a singleton header
    b"GET / HTTP/1.1\r\nX-A: " + b"a" * 8190,                  # a line longer than aiohttp reads
    b"GET / HTTP/1.1" + b"\r\nX-A: a" * 128,                  # more headers than aiohttp reads
    b"GET /a\tb HTTP/1.1",                                   # a tab in the target
    b'GET /a"b HTTP/1.1',                                    # not a URI character
])
def test_heads_left_to_aiohttp(head: bytes) -> None:
    assert leanhttp.parse_head(_with_host(head)) is None


def test_a_head_without_one_host_is_left_to_aiohttp() -> None:
    assert leanhttp.parse_head(b"GET / HTTP/1.1") is None
    assert leanhttp.parse_head(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b") is None
    assert leanhttp.parse_head(b"GET / HTTP/1.1\r\nHost: a") is not None


def _with_host(head: bytes) -> bytes:
    """``head`` with a Host header after its request line (so each case is refused for its own reason)."""
    first, sep, rest = head.partition(b"\r\n")
    return first + b"\r\nHost: x" + (b"\r\n" + rest if sep else b"")


def _lean_request(raw_head: bytes) -> leanhttp.Request | None:
    h = leanhttp.parse_head(_with_host(raw_head))
    assert h is not None
    return leanhttp._make_request(h)


@pytest.mark.parametrize("target,headers", [
    ("/api/v1/pods?labelSelector=app%3Dweb%2Ctier%21%3Ddb&limit=5&watch", {}),
    ("/api/v1/pods?a=1&a=2&b=+x+&c=&d", {"Content-Type": "Application/JSON; charset=utf-8"}),
    ("/api/v1/pods", {"Content-Type": "application/merge-patch+json", "Content-Length": "7"}),
    ("/api/v1/pods?fieldSelector=spec.nodeName%3D", {}),
])
def test_requests_read_as_aiohttp_reads_them(target: str, headers: dict[str, str]) -> None:
    head = f"PATCH {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    lean = _lean_request(head.rstrip("\r\n").encode())
    assert lean is not None
    real = make_mocked_request("PATCH", target, headers=CIMultiDict(headers))
    assert lean.path == real.path
    assert list(lean.query.items()) == list(real.query.items())
    assert lean.content_type == real.content_type
    assert lean.content_length == real.content_length
    assert lean.method == real.method


def test_escaped_or_dotted_paths_are_left_to_aiohttp() -> None:
    assert _lean_request(b"GET /api/v1/namespaces/a%2Fb/pods HTTP/1.1") is None
    assert _lean_request(b"GET /api/v1/namespaces/x/../pods HTTP/1.1") is None
    assert _lean_request(b"GET /api/v1/namespaces/./pods HTTP/1.1") is None


def test_a_response_is_encoded_once_with_its_headers() -> None:
    resp = web.Response(body=b'{"a":1}', status=201, content_type="application/json",
                        headers={"Warning": '299 - "x"', "Content-Length": "999"})
    raw = leanhttp.encode_response(resp, keep_alive=False)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 201 Created" and body == b'{"a":1}'
    fields = dict(line.split(": ", 1) for line in lines[1:])
    assert fields["Content-Length"] == "7" and fields["Content-Type"] == "application/json"
    assert fields["Warning"] == '299 - "x"' and fields["Connection"] == "close" and fields["Date"].endswith("GMT")
    assert "Connection" not in leanhttp.encode_response(resp, keep_alive=True).decode()


# ---- the server -------------------------------------------------------------------------------

@dataclass
class Pair:
    api: ApiServer
    lean: leanhttp.LeanServer
    lean_path: str
    plain_path: str
    handovers: list[int]


@contextlib.asynccontextmanager
async def lean_api(tmp_path: Path, *, authenticator: TokenAuthenticator | None = None
                   ) -> AsyncIterator[tuple[ApiServer, web.AppRunner, leanhttp.LeanServer, list[int]]]:
    """An ``ApiServer`` over SQLite, its aiohttp runner, and a lean server counting its hand-overs."""
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    api = ApiServer(store, authenticator=authenticator)
    await api.start()
    runner = web.AppRunner(api.app(), access_log=None)
    await runner.setup()
    assert runner.server is not None
    handovers: list[int] = []
    aiohttp_protocol = runner.server

    def fallback() -> asyncio.Protocol:
        handovers.append(1)
        return aiohttp_protocol()

    lean = leanhttp.LeanServer(api, fallback)
    try:
        yield api, runner, lean, handovers
    finally:
        await lean.close()
        await api.stop()  # ends open watches, as Server.stop does, before aiohttp waits for its handlers
        await runner.cleanup()
        await store.close()


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    async with lean_api(tmp_path) as (api, runner, lean, handovers):
        lean_path, plain_path = str(tmp_path / "lean.sock"), str(tmp_path / "plain.sock")
        await lean.start_unix(lean_path)
        await web.UnixSite(runner, plain_path).start()
        yield Pair(api, lean, lean_path, plain_path, handovers)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def read_answer(r: asyncio.StreamReader, *, bodiless: bool = False) -> Answer:
    head = await r.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}
    if headers.get("transfer-encoding") == "chunked" or bodiless:
        return Answer(status, headers, b"")  # a stream (the caller reads it), or the answer to a HEAD
    return Answer(status, headers, await r.readexactly(int(headers.get("content-length", "0"))))


def req(method: str, target: str, body: bytes | None = None, *, ctype: str = "application/json",
        extra: str = "") -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\n{extra}"
    if body is not None:
        head += f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


async def ask(path: str, data: bytes, answers: int = 1) -> list[Answer]:
    r, w = await asyncio.open_unix_connection(path)
    try:
        w.write(data)
        return [await read_answer(r, bodiless=data.startswith(b"HEAD ")) for _ in range(answers)]
    finally:
        w.close()


def cm(name: str, **labels: str) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": name, "labels": labels}, "data": {"k": name}}).encode()


def _volatile_free(obj: Any) -> Any:
    """An object without what differs between two creates of the same manifest."""
    if isinstance(obj, dict):
        return {k: _volatile_free(v) for k, v in obj.items()
                if k not in ("uid", "resourceVersion", "creationTimestamp", "name", "time")}
    if isinstance(obj, list):
        return [_volatile_free(v) for v in obj]
    return obj


async def test_unary_requests_are_served_lean_with_aiohttps_answers(pair: Pair) -> None:
    # the same requests to both servers (names differ only where a create would collide)
    cases: list[tuple[str, str, bytes | None, str]] = [
        ("POST", CMS, cm("{n}-a", app="web"), "application/json"),
        ("POST", CMS, cm("{n}-a"), "application/json"),                      # 409 AlreadyExists
        ("GET", CMS + "/{n}-a", None, ""),
        ("GET", CMS + "?labelSelector=app%3Dweb", None, ""),
        ("GET", CMS + "?labelSelector=app%3D%3D%3D", None, ""),               # 400 bad selector
        ("GET", CMS + "?limit=x", None, ""),                                  # 400 naming limit
        ("PATCH", CMS + "/{n}-a", b'{"data":{"k":"v2"}}', "application/merge-patch+json"),
        ("PATCH", CMS + "/{n}-a", b'{"data":', "application/merge-patch+json"),   # 400 bad JSON
        ("PATCH", CMS + "/{n}-a", b"{}", "text/plain"),                       # 415
        ("POST", CMS, b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"BAD_NAME"}}',
         "application/json"),                                                 # 422 naming metadata.name
        ("POST", CMS, b"", "application/json"),                               # 400 empty body
        ("POST", CMS + "?fieldValidation=Warn",
         '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{n}-w"},"日本":1}'.encode(),
         "application/json"),                                                 # 201, a Warning naming 日本
        ("POST", CMS + "?fieldValidation=Strict",
         b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{n}-s"},"bogus":1}',
         "application/json"),                                                 # 400 naming the field
        ("PUT", "/api/v1/namespaces/default/pods/none/binding", b"{}", "application/json"),  # 405
        ("POST", "/api/v1/namespaces/default/pods/none/binding",
         b'{"target":{"name":"n1"}}', "application/json"),                    # 404 pod not found
        ("GET", CMS + "/missing", None, ""),                                  # 404
        ("DELETE", CMS + "/{n}-a", None, ""),
        ("DELETE", CMS + "/{n}-a", None, ""),                                 # 404 now
    ]
    for method, target, body, ctype in cases:
        answers = []
        for path, n in ((pair.lean_path, "lean"), (pair.plain_path, "plain")):
            b = body.replace(b"{n}", n.encode()) if body is not None else None
            (a,) = await ask(path, req(method, target.replace("{n}", n), b, ctype=ctype or "application/json"))
            answers.append(a)
        lean, plain = answers
        assert lean.status == plain.status, (method, target, lean.body, plain.body)
        assert lean.headers.get("content-type") == plain.headers.get("content-type")
        assert lean.headers.get("warning") == plain.headers.get("warning")
        if b"\xe6\x97\xa5" in (body or b""):
            assert "日本".encode().decode("latin-1") in lean.headers["warning"]  # UTF-8 on the wire
        # an answer about the object each side made names it; a list shows both sides' objects
        expected = [json.loads(plain.body.replace(b"plain-", b"lean-")), plain.json()]
        if lean.status >= 400:
            assert lean.json()["kind"] == "Status"
            assert lean.json() in expected, (method, target)
        else:
            assert _volatile_free(lean.json()) in [_volatile_free(e) for e in expected], (method, target)
    assert pair.handovers == []  # every one of them was served by the lean server


async def test_pipelined_requests_are_answered_in_order(pair: Pair) -> None:
    await ask(pair.lean_path, req("POST", CMS, cm("p1")))
    data = req("GET", CMS + "/p1") + req("GET", CMS + "/nope") + req("POST", CMS, cm("p2")) + req("GET", CMS + "/p2")
    got = await ask(pair.lean_path, data, answers=4)
    assert [a.status for a in got] == [200, 404, 201, 200]
    assert got[0].json()["metadata"]["name"] == "p1" and got[3].json()["metadata"]["name"] == "p2"
    assert pair.handovers == []


async def test_a_request_arriving_byte_by_byte(pair: Pair) -> None:
    r, w = await asyncio.open_unix_connection(pair.lean_path)
    try:
        for b in req("POST", CMS, cm("slow")):
            w.write(bytes([b]))
            await w.drain()
        a = await read_answer(r)
        assert a.status == 201 and a.json()["metadata"]["name"] == "slow"
    finally:
        w.close()
    assert pair.handovers == []


async def test_a_watch_hands_the_connection_to_aiohttp(pair: Pair) -> None:
    r, w = await asyncio.open_unix_connection(pair.lean_path)
    try:
        w.write(req("POST", CMS, cm("w1")))
        created = await read_answer(r)
        assert created.status == 201 and pair.handovers == []
        rv = created.json()["metadata"]["resourceVersion"]
        w.write(req("GET", f"{CMS}?watch=true&resourceVersion={rv}"))
        stream = await read_answer(r)
        assert stream.status == 200 and stream.headers["transfer-encoding"] == "chunked"
        assert pair.handovers == [1]
        await ask(pair.lean_path, req("POST", CMS, cm("w2")))  # on another (lean) connection
        async with asyncio.timeout(10):
            size = int((await r.readline()).strip(), 16)
            event = json.loads(await r.readexactly(size))
        assert event["type"] == "ADDED" and event["object"]["metadata"]["name"] == "w2"
    finally:
        w.close()
    assert pair.handovers == [1]


@pytest.mark.parametrize("data", [
    b"GET /api/v1/namespaces HTTP/1.0\r\n\r\n",                               # HTTP/1.0
    b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",         # a bad head
    b"GET /api/v1 HTTP/1.1\r\nHost: x\r\n\r\n",                               # discovery
    b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/namespaces/default/configmaps/a%62 HTTP/1.1\r\nHost: x\r\n\r\n",  # an escape
    b"GET /api/v1/foos HTTP/1.1\r\nHost: x\r\n\r\n",                          # no such resource
    b"HEAD /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\n\r\n",   # no body in the answer
    b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n",      # a chunked body
])
async def test_what_the_lean_server_does_not_read_aiohttp_answers(pair: Pair, data: bytes) -> None:
    (lean,) = await ask(pair.lean_path, data)
    (plain,) = await ask(pair.plain_path, data)
    assert pair.handovers == [1]
    assert (lean.status, lean.headers.get("content-type")) == (plain.status, plain.headers.get("content-type"))
    assert lean.body == b"" if data.startswith(b"HEAD ") else lean.body != b""
    if plain.headers.get("content-type") == "application/json" and plain.body:
        assert _volatile_free(lean.json()) == _volatile_free(plain.json())


async def test_a_body_over_the_lean_limit_meets_the_apis_limit(pair: Pair) -> None:
    big = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":"' + b"x" * (4 << 20) + b'"}}'
    (a,) = await ask(pair.lean_path, req("POST", CMS, big))
    assert a.status == 413 and a.json()["kind"] == "Status"
    assert pair.handovers == [1]
    medium = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"medium"},"data":{"k":"' + b"x" * 900_000 + b'"}}'
    (a,) = await ask(pair.lean_path, req("POST", CMS, medium))
    assert a.status == 201 and pair.handovers == [1]  # under MAX_BODY: served lean


async def test_connection_close_and_a_half_closed_client(pair: Pair) -> None:
    r, w = await asyncio.open_unix_connection(pair.lean_path)
    w.write(req("GET", CMS, extra="Connection: close\r\n"))
    a = await read_answer(r)
    assert a.status == 200 and a.headers["connection"] == "close"
    assert await r.read() == b""  # the server closed it
    w.close()
    r, w = await asyncio.open_unix_connection(pair.lean_path)
    w.write(req("POST", CMS, cm("half")))
    w.write_eof()  # nothing more to send: the answer still comes
    a = await read_answer(r)
    assert a.status == 201 and a.json()["metadata"]["name"] == "half"
    assert await r.read() == b""
    w.close()
    assert pair.handovers == []


async def test_a_write_whose_client_left_is_still_made(pair: Pair) -> None:
    r, w = await asyncio.open_unix_connection(pair.lean_path)
    w.write(req("POST", CMS, cm("orphan")))
    await w.drain()
    w.close()
    res = next(x for x in pair.api.resources.values() if x.info.plural == "configmaps")
    async with asyncio.timeout(10):
        while True:
            try:
                got = await res.get("default", "orphan")
                break
            except Exception:
                await asyncio.sleep(0.02)
    assert got.obj["data"] == {"k": "orphan"}


async def test_idle_connections_are_closed(pair: Pair) -> None:
    pair.lean.idle_timeout = 0.2  # the sweep looks at least once a second
    r, w = await asyncio.open_unix_connection(pair.lean_path)
    w.write(req("GET", CMS))
    assert (await read_answer(r)).status == 200
    async with asyncio.timeout(5):
        assert await r.read() == b""  # closed once idle
    w.close()


async def test_authentication_on_the_lean_path(tmp_path: Path) -> None:
    auth = TokenAuthenticator()
    auth.add("admin-token", ADMIN)
    async with lean_api(tmp_path, authenticator=auth) as (_, _, lean, handovers):
        path = str(tmp_path / "lean.sock")
        await lean.start_unix(path)
        (a,) = await ask(path, req("GET", CMS))
        assert a.status == 401 and a.json()["reason"] == "Unauthorized"
        (a,) = await ask(path, req("GET", CMS, extra="Authorization: Bearer wrong-token\r\n"))
        assert a.status == 401 and a.json()["kind"] == "Status"
        (a,) = await ask(path, req("GET", CMS, extra="Authorization: Bearer admin-token\r\n"))
        assert a.status == 200 and a.json()["kind"] == "ConfigMapList"
        assert handovers == []


async def test_tls_unary_lean_and_a_watch_handed_over(tmp_path: Path) -> None:
    dd = DataDir(tmp_path / "dd").ensure()
    crt, key = ensure_serving_cert(dd, hosts=["127.0.0.1"])
    sctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sctx.load_cert_chain(crt, key)
    cctx = ssl.create_default_context(cafile=str(dd.ca_crt))
    async with lean_api(tmp_path) as (_, _, lean, handovers):
        port = await lean.start_tcp("127.0.0.1", 0, ssl=sctx)
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=cctx)
        w.write(req("POST", CMS, cm("t1")))
        a = await read_answer(r)
        assert a.status == 201 and handovers == []
        w.write(req("GET", f"{CMS}?watch=1&resourceVersion={a.json()['metadata']['resourceVersion']}"))
        assert (await read_answer(r)).status == 200 and handovers == [1]
        r2, w2 = await asyncio.open_connection("127.0.0.1", port, ssl=cctx)
        w2.write(req("POST", CMS, cm("t2")))
        assert (await read_answer(r2)).status == 201
        w2.close()
        async with asyncio.timeout(10):
            size = int((await r.readline()).strip(), 16)
            event = json.loads(await r.readexactly(size))
        assert event["object"]["metadata"]["name"] == "t2"
        w.close()


@pytest.mark.parametrize("http_server", ["lean", "aiohttp"])
def test_shoal_server_serves_with_either(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: str) -> None:
    """The real ``shoal server``, as shipped and with ``SHOAL_HTTP_SERVER=aiohttp``: kubectl over HTTPS,
    and a raw request over the Unix socket."""
    from shoal.server import HTTP_SERVER_ENV
    from tests.server_fixture import start_server

    monkeypatch.setenv(HTTP_SERVER_ENV, http_server)
    srv = start_server(tmp_path / "data", args=["--disable-scheduler", "--disable-controller-manager"])
    try:
        srv.kubectl("create", "configmap", "both", "--from-literal=k=v")
        got = json.loads(srv.kubectl("get", "configmap", "both", "-o", "json").stdout)
        assert got["data"] == {"k": "v"}

        async def over_the_socket() -> Answer:
            (a,) = await ask(str(srv.data_dir / "api.sock"),
                             req("GET", CMS + "/both", extra=f"Authorization: Bearer {srv.token}\r\n"))
            return a

        a = asyncio.run(over_the_socket())
        assert a.status == 200 and a.json()["data"] == {"k": "v"}
    finally:
        srv.stop()


def test_a_newline_in_a_response_header_is_refused() -> None:
    resp = web.Response(body=b"{}", content_type="application/json")
    resp.headers["Warning"] = 'x\r\nSet-Cookie: y'
    with pytest.raises(ValueError):
        leanhttp.encode_response(resp, keep_alive=True)


# ---- the parser against aiohttp's own ------------------------------------------------------------

_ODD_TARGET_CHARS = "abcz09/?=&%.-_~+#:;, é\t\"<>{}|\\^`[]"
_ODD_VALUE_CHARS = "aZ09 \t:;,=\"'/.-é\x00\x7f"


def _mostly(plain: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``plain`` nine times in ten, else ``odd``: most heads are ones the lean server takes."""
    return st.integers(0, 9).flatmap(lambda i: odd if i == 0 else plain)


@st.composite
def _heads(draw: st.DrawFn) -> bytes:
    method = draw(_mostly(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
                          st.sampled_from(["HEAD", "BREW", "get", "G ET"])))
    segment = st.text("abz09-._~", min_size=1, max_size=6)
    path = "/" + "/".join(draw(st.lists(segment, max_size=4)))
    query = draw(st.one_of(st.just(""), st.lists(st.tuples(st.text("ab=_%2C3D+", max_size=5),
                                                            st.text("ab=_%2C3D+,!", max_size=6)), max_size=3)
                           .map(lambda kv: "?" + "&".join(f"{k}={v}" for k, v in kv))))
    target = draw(_mostly(st.just(path + query), st.text(_ODD_TARGET_CHARS, max_size=20).map(lambda t: path + t)))
    version = draw(_mostly(st.just("HTTP/1.1"), st.sampled_from(["HTTP/1.0", "HTTP/2", "HTTP/1.1 "])))
    names = _mostly(st.sampled_from(["Accept", "Content-Type", "Authorization", "X-A", "x-b", "Connection",
                                     "Content-Length"]),
                    st.one_of(st.sampled_from(["Transfer-Encoding", "Expect", "Upgrade", "Host", "User-Agent"]),
                              st.text("aZ-_ :é", max_size=6)))
    values = _mostly(st.one_of(st.sampled_from(["close", "keep-alive", "application/json", "Bearer t", "0", "12"]),
                               st.text("aZ09 ,;=/.-", max_size=10)),
                     st.one_of(st.sampled_from(["Upgrade", "chunked", "+3", "1,1", "-1"]),
                               st.text(_ODD_VALUE_CHARS, max_size=10)))
    headers = draw(st.lists(st.tuples(names, values), max_size=5))
    # one Content-Length at most, mostly, as real clients send
    if draw(st.integers(0, 9)):
        seen = False
        kept = []
        for k, v in headers:
            if k == "Content-Length":
                if seen or not v.isdigit():
                    continue
                seen = True
            kept.append((k, v))
        headers = kept
    if draw(st.integers(0, 9)):  # mostly with the Host header HTTP/1.1 asks for
        headers.insert(draw(st.integers(0, len(headers))), ("Host", "x"))
    lines = [f"{method} {target} {version}"] + [f"{k}: {v}" for k, v in headers]
    if not draw(st.integers(0, 19)):
        lines.append(" folded")
    return "\r\n".join(lines).encode("utf-8")


@settings(max_examples=600, deadline=None)
@given(_heads())
def test_what_the_lean_parser_reads_aiohttps_parser_reads_the_same(head: bytes) -> None:
    """A head the lean server serves is one aiohttp's parser (the C one, as the server runs) reads
    without complaint and the same way: method, target, headers, keep-alive, path and query."""
    from unittest import mock

    from aiohttp.http_parser import HttpRequestParser

    h = leanhttp.parse_head(head)
    if h is None:
        return
    loop = asyncio.new_event_loop()
    try:
        parser = HttpRequestParser(mock.Mock(), loop, 2**16, max_line_size=8190, max_field_size=8190)
        messages, _, _ = parser.feed_data(head + b"\r\n\r\n" + b"x" * h.length)
    finally:
        loop.close()
    msg = messages[0][0]
    assert msg.method == h.method and msg.path == h.target
    assert list(msg.headers.items()) == list(h.headers.items())
    assert msg.should_close == (not h.keep_alive)
    req = leanhttp._make_request(h)
    if req is not None:
        assert req.path == msg.url.path
        assert list(req.query.items()) == list(msg.url.query.items())
