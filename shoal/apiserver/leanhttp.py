"""A lean HTTP/1.1 server in front of the API, handing anything unusual to aiohttp.

Why: a bound pod is three unary requests (the create, over HTTPS from the
client; the binding and the ``Scheduled`` event, over the Unix socket from the
scheduler process), and aiohttp spent ~95 us of server CPU on each before and
after shoal's handler (request and URL objects, the router, middleware
wrappers, response preparation, the writer). For a plain request almost none
of that is needed. It serves both the HTTPS port and the Unix socket; measured
in docs/decisions.md.

What it serves itself: a request whose head is plain HTTP/1.1 (no
Transfer-Encoding, no Expect, no Upgrade, not HEAD, no percent-escapes or dot
segments in the path, a Content-Length of at most ``MAX_BODY``) and that the
application's ``accepts`` claims. It reads the whole body, awaits ``dispatch`` and writes the answer in
one ``write``. Anything else — a watch, the upgrade of an exec, a head it cannot
read, discovery — and the connection is handed, with every byte not yet
consumed, to aiohttp's own protocol for good, which answers exactly as it did
before this server existed. Requests on one connection are answered in order; a handler
already running when its client goes away runs to its end (as aiohttp's
default), so an acknowledged-or-not write is never cut in half.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import http
import logging
import re
import ssl as ssl_
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

log = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024  # larger bodies go to aiohttp, which enforces the API's own limit
_HIGH_WATER = MAX_HEAD + MAX_BODY  # stop reading while this much waits behind a running request

# bytes no request head of ours has: control characters (a CR or LF alone included), DEL, non-ASCII
_UNUSUAL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f-\xff]")
# HEAD is aiohttp's: its answer must leave the body out
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# what aiohttp's parser refuses (its defaults): more headers, longer lines, a second of these
_MAX_HEADERS = 128
_MAX_LINE = 8190
_SINGLETONS = frozenset({"content-length", "content-location", "content-range", "content-type", "etag", "host",
                         "max-forwards", "server", "transfer-encoding", "user-agent"})
_HANDED_OVER = frozenset({"transfer-encoding", "expect", "upgrade"})  # aiohttp's business
_NOTABLE = _SINGLETONS | _HANDED_OVER | {"connection"}  # the names parse_head looks at (lower-case)
# an origin-form target of RFC 3986 characters only (a fragment, "#", is aiohttp's to refuse)
_TARGET = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]+")
_REASONS = {s.value: s.phrase for s in http.HTTPStatus}
_INTERNAL_ERROR = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 25\r\n"
                   b"Connection: close\r\n\r\n500 Internal Server Error")


class _Body:
    """``request.content`` for a body already read whole."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        for i in range(0, len(self._data), n):
            yield self._data[i:i + n]


_NO_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())


class Request:
    """The part of ``aiohttp.web.Request`` that shoal's unary handlers use, for one lean request.

    ``method``, ``path`` (decoded; it never had an escape), ``query``,
    ``headers``, ``content_type`` (as aiohttp gives it), ``content_length``,
    ``content.iter_chunked`` and item assignment for request-scoped values (the
    authenticated user); ``route`` is what the application's ``accepts`` parsed of
    the path, so that it is parsed once; ``peercert`` is the connection's verified
    TLS client certificate (as ``ssl`` reports it), if any; ``remote`` the peer's IP address (``None`` on a
    Unix socket), as aiohttp's ``request.remote``.
    """

    __slots__ = ("method", "path", "query_string", "headers", "body", "keep_alive", "route", "peercert", "remote",
                 "_query", "_items")

    def __init__(self, method: str, path: str, query_string: str, headers: CIMultiDictProxy[str],
                 *, keep_alive: bool = True) -> None:
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body = b""
        self.keep_alive = keep_alive
        self.route: Any = None
        self.peercert: Any = None
        self.remote: str | None = None
        self._query: MultiDictProxy[str] | None = None
        self._items: dict[Any, Any] = {}

    @property
    def query(self) -> MultiDictProxy[str]:
        if self._query is None:
            self._query = MultiDictProxy(MultiDict(parse_qsl(self.query_string, keep_blank_values=True))) \
                if self.query_string else _NO_QUERY  # most requests have none; read-only, so shared
        return self._query

    @property
    def content_type(self) -> str:
        raw = self.headers.get("Content-Type")
        if not raw:
            return "application/octet-stream"  # aiohttp's default
        return raw.split(";", 1)[0].strip().lower()

    @property
    def content_length(self) -> int | None:
        v = self.headers.get("Content-Length")
        return int(v) if v is not None else None

    @property
    def content(self) -> _Body:
        return _Body(self.body)

    def __getitem__(self, key: Any) -> Any:
        return self._items[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._items[key] = value


class _Head:
    __slots__ = ("method", "target", "headers", "length", "keep_alive")

    def __init__(self, method: str, target: str, headers: CIMultiDictProxy[str], length: int, keep_alive: bool) -> None:
        self.method = method
        self.target = target
        self.headers = headers
        self.length = length
        self.keep_alive = keep_alive


def parse_head(head: bytes) -> _Head | None:
    """Parse a request head (without the blank line); ``None`` for anything this server leaves to aiohttp.

    Pure. ``None`` is not an error: it means "aiohttp decides", and aiohttp
    answers a bad head with a 400 as it always has.
    """
    if _UNUSUAL.search(head.replace(b"\r\n", b"\t")):
        return None
    lines = head.decode("ascii").split("\r\n")
    if len(lines[0]) > _MAX_LINE:
        return None
    parts = lines[0].split(" ")
    if (len(parts) != 3 or parts[2] != "HTTP/1.1" or parts[0] not in _METHODS or not parts[1].startswith("/")
            or not _TARGET.fullmatch(parts[1])):
        return None
    if len(lines) > _MAX_HEADERS + 1:
        return None
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()  # the singletons met so far, lower-case
    keep_alive = True
    length = 0
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or len(line) > _MAX_LINE or not _TOKEN.fullmatch(name):
            return None  # obsolete line folding, a space before the colon, an empty name, too long
        value = value.strip(" \t")
        low = name.lower()
        if low in _NOTABLE:
            if low in _HANDED_OVER:
                return None
            if low == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                if "upgrade" in tokens:
                    return None
                if "close" in tokens:
                    keep_alive = False
            else:
                if low in seen:
                    return None  # aiohttp refuses a second of these with a 400
                seen.add(low)
                if low == "content-length":
                    if not value.isdigit() or not value.isascii():
                        return None
                    length = int(value)
                    if length > MAX_BODY:
                        return None
        pairs.append((name, value))
    if "host" not in seen:
        return None  # HTTP/1.1 asks for one Host
    headers = CIMultiDictProxy(CIMultiDict(pairs))
    return _Head(parts[0], parts[1], headers, length, keep_alive)


def _make_request(h: _Head) -> Request | None:
    path, _, qs = h.target.partition("?")
    if "%" in path or "/." in path or "#" in h.target:
        return None  # decoding or normalising a path the way aiohttp does is aiohttp's business
    return Request(h.method, path, qs, h.headers, keep_alive=h.keep_alive)


class _HttpDate:
    """The ``Date`` header, formatted once per second."""

    __slots__ = ("_sec", "_value")

    def __init__(self) -> None:
        self._sec = -1
        self._value = b""

    def __call__(self) -> bytes:
        now = int(time.time())
        if now != self._sec:
            self._sec = now
            self._value = email.utils.formatdate(now, usegmt=True).encode()
        return self._value


_http_date = _HttpDate()


def encode_response(resp: web.Response, *, keep_alive: bool) -> bytes:
    """One response's bytes: status line, the handler's headers, Date, Content-Length, body."""
    body = resp.body
    if not isinstance(body, bytes | bytearray):
        raise TypeError(f"the lean server sends bytes bodies only, not {type(body).__name__}")
    status = resp.status
    out: list[bytes | bytearray] = [b"HTTP/1.1 %d %s\r\n" % (status, (resp.reason or _REASONS.get(status, "")).encode())]
    for k, v in resp.headers.items():
        if k.lower() not in ("content-length", "connection", "date", "transfer-encoding"):
            if "\r" in v or "\n" in v or "\r" in k or "\n" in k:  # as aiohttp: never split a response
                raise ValueError(f"a newline in the value of response header {k!r}")
            out.append(f"{k}: {v}\r\n".encode())  # UTF-8, as aiohttp writes headers
    out.append(b"Date: %s\r\nContent-Length: %d\r\n" % (_http_date(), len(body)))
    if not keep_alive:
        out.append(b"Connection: close\r\n")
    out.append(b"\r\n")
    out.append(body)
    return b"".join(out)


class App(Protocol):
    """What the lean server asks of the application behind it."""

    def accepts(self, request: Request) -> bool:
        """Whether this request is served here (else the connection goes to aiohttp)."""

    async def dispatch(self, request: Request) -> web.Response:
        """The answer to an accepted request; errors are answered, never raised."""


class LeanProtocol(asyncio.Protocol):
    """One connection: lean requests served in order until one is handed to aiohttp."""

    def __init__(self, server: LeanServer) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._tls = False
        self._peercert: Any = None
        self._remote: str | None = None
        self._buf = bytearray()
        self._pending: tuple[Request, int, int] | None = None  # a head read, its body still arriving
        self._task: asyncio.Task[None] | None = None
        self._paused_reading = False
        self._drain: asyncio.Future[None] | None = None
        self._closing = False
        self.last_active = 0.0

    def idle(self) -> bool:
        return self._task is None and not self._buf and self._transport is not None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # ---- asyncio callbacks -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._tls = transport.get_extra_info("sslcontext") is not None
        if self._tls:
            self._peercert = transport.get_extra_info("peercert")
        peer = transport.get_extra_info("peername")
        self._remote = str(peer[0]) if isinstance(peer, tuple) and peer else None
        self.last_active = asyncio.get_running_loop().time()
        self._server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._task is None:
            self._next()
        elif len(self._buf) > _HIGH_WATER and not self._paused_reading and self._transport is not None:
            self._transport.pause_reading()
            self._paused_reading = True

    def eof_received(self) -> bool:
        # the client is done sending: answer what is running, then close (TLS closes at once anyway)
        self._closing = True
        if self._task is None and self._buf:
            self._next()  # a whole request is served; a head with its body cut short is aiohttp's
        return self._task is not None and not self._tls

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # ---- requests ------------------------------------------------------------------------
    def _next(self) -> None:
        """Start on the next whole request in the buffer, or hand the connection over."""
        buf = self._buf
        if self._pending is None:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD or (self._closing and buf):
                    self._hand_over()
                return
            head = parse_head(bytes(buf[:end]))
            req = _make_request(head) if head is not None else None
            if head is None or req is None or not self._server.app.accepts(req):
                self._hand_over()
                return
            req.peercert = self._peercert
            req.remote = self._remote
            self._pending = (req, end + 4, head.length)
        req, start, length = self._pending
        if len(buf) < start + length:
            if self._closing:
                self._hand_over()
            return
        self._pending = None
        req.body = bytes(buf[start:start + length])
        del buf[:start + length]
        task = self._task = asyncio.get_running_loop().create_task(self._serve(req))
        self._server.tasks.add(task)
        task.add_done_callback(self._server.tasks.discard)

    async def _serve(self, req: Request) -> None:
        try:
            resp = await self._server.app.dispatch(req)
            data = encode_response(resp, keep_alive=req.keep_alive)
        except Exception:  # dispatch answers errors itself: this is a bug, answered as aiohttp would
            log.exception("internal error serving %s %s", req.method, req.path)
            data, req.keep_alive = _INTERNAL_ERROR, False
        t = self._transport
        if t is not None:
            t.write(data)
            if not req.keep_alive:
                self._closing = True
                self._buf.clear()
                t.close()
            elif self._drain is not None and not self._drain.done():
                await self._drain
        self._task = None
        t = self._transport
        if t is None:
            return
        self.last_active = asyncio.get_running_loop().time()
        if self._paused_reading:
            self._paused_reading = False
            t.resume_reading()
        if self._buf:
            self._next()
        elif self._closing:
            t.close()

    def _hand_over(self) -> None:
        """Give this connection, and every byte not yet served, to aiohttp for good."""
        t = self._transport
        if t is None:
            return
        self._server.connections.discard(self)
        self._transport = None
        self._pending = None
        proto = self._server.fallback()
        t.set_protocol(proto)
        proto.connection_made(t)
        if self._buf:
            data, self._buf = bytes(self._buf), bytearray()
            proto.data_received(data)
        if self._closing and not t.is_closing() and not proto.eof_received():
            t.close()
        if self._paused_reading:
            t.resume_reading()


class LeanServer:
    """Listeners of lean connections, and the aiohttp protocol factory they fall back to.

    A kept-alive connection idle for ``idle_timeout`` seconds is closed (aiohttp's
    default is the same 75 s); connections handed to aiohttp are aiohttp's, and its
    runner's cleanup closes them.
    """

    def __init__(self, app: App, fallback: Callable[[], asyncio.Protocol], *, idle_timeout: float = 75.0) -> None:
        self.app = app
        self.fallback = fallback
        self.idle_timeout = idle_timeout
        self.connections: set[LeanProtocol] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._servers: list[asyncio.AbstractServer] = []
        self._sweeper: asyncio.Task[None] | None = None

    async def start_unix(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        self._servers.append(await loop.create_unix_server(lambda: LeanProtocol(self), path))
        self._sweep_soon()

    async def start_tcp(self, host: str, port: int, *, ssl: ssl_.SSLContext | None, backlog: int = 1024) -> int:
        """Listen on ``host:port`` (0: any free port); returns the port."""
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(lambda: LeanProtocol(self), host, port, ssl=ssl, backlog=backlog,
                                       reuse_address=True)
        self._servers.append(srv)
        self._sweep_soon()
        return int(srv.sockets[0].getsockname()[1])

    def _sweep_soon(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep(), name="lean-http-idle")

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(self.idle_timeout / 4, 1.0))
            old = loop.time() - self.idle_timeout
            for c in [c for c in self.connections if c.idle() and c.last_active < old]:
                c.close()

    async def close(self, timeout: float = 5.0) -> None:
        """Stop listening, let running requests finish (up to ``timeout``), close lean connections."""
        for srv in self._servers:
            srv.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=timeout)
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        for c in list(self.connections):
            c.close()
        self.connections.clear()
        for srv in self._servers:
            with contextlib.suppress(Exception):
                await srv.wait_closed()
        self._servers.clear()
