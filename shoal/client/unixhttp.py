"""A lean HTTP/1.1 keep-alive client for the API server's own Unix socket.

Why: components inside ``shoal server`` (the scheduler process, controllers,
the node agent) talk to the API through its Unix socket. For unary requests
aiohttp's client costs ~300 us of CPU each on these machines (URL objects,
timers, payload registry, response objects, stream readers); in the scheduler
benchmark the client side of bindings was a third of the scheduler
process's CPU. Over a Unix socket to a server we wrote, nothing of that is
needed: no TLS, no proxies, no redirects, no cookies, no compression. This
module writes the request in one ``write`` and parses the response with
``bytes.find`` on a plain ``asyncio.Protocol`` (Content-Length or chunked
bodies), connections kept alive in a small pool. Watches (long streams) still
go through aiohttp. Measured in docs/decisions.md.

Errors: a connection that drops before a whole response arrived raises
``ConnectionError``; a response the parser cannot read raises
``ProtocolError`` (a ``ConnectionError``) and the connection is closed. Only a
GET is ever retried, once, on a fresh connection, and only when it failed on a
kept-alive one that the server may have closed while it sat idle; anything
else may have been applied, and the caller decides.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from typing import cast
from urllib.parse import quote, urlencode

_MAX_HEAD = 64 * 1024


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.1 as this client reads it."""


class Response:
    __slots__ = ("status", "body", "keep_alive")

    def __init__(self, status: int, body: bytes, keep_alive: bool) -> None:
        self.status = status
        self.body = body
        self.keep_alive = keep_alive


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, one request at a time (no pipelining), over any stream transport:
    the pool's are on the Unix socket; the benchmarks' load generators use it over TLS."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._buf = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self._head_done = False
        self._status = 0
        self._length = -1  # -1: chunked, or until close
        self._chunked = False
        self._keep_alive = True
        self._body = bytearray()

    # ---- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._waiter is not None and not self._waiter.done():
            try:
                self._parse()
            except ProtocolError as e:
                self._fail(e)

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        w = self._waiter
        if w is None or w.done():
            return
        if self._head_done and not self._chunked and self._length < 0:
            self._finish(bytes(self._buf), keep_alive=False)  # a body delimited by the close
            return
        w.set_exception(ConnectionError(f"connection closed before the response was read: {exc!r}"))

    # ---- requests ---------------------------------------------------------------------
    def send(self, data: bytes) -> asyncio.Future[Response]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._head_done = False
        self._body = bytearray()
        if self._buf:  # bytes that arrived unasked belong to no request: the connection is unusable
            self._fail(ProtocolError("data before a request"))
        else:
            self.transport.write(data)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, e: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(e)
        self.close()

    def _finish(self, body: bytes, *, keep_alive: bool) -> None:
        assert self._waiter is not None
        if not self._waiter.done():
            self._waiter.set_result(Response(self._status, body, keep_alive))

    def _parse(self) -> None:
        buf = self._buf
        if not self._head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise ProtocolError("response head too long")
                return
            head = bytes(buf[:end]).decode("latin-1").split("\r\n")
            del buf[:end + 4]
            parts = head[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise ProtocolError(f"bad status line {head[0][:80]!r}")
            self._status = int(parts[1])
            self._length, self._chunked = -1, False
            keep = parts[0] == "HTTP/1.1"
            for line in head[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                value = value.strip()
                if name == "content-length":
                    if not value.isdigit():
                        raise ProtocolError(f"bad Content-Length {value[:40]!r}")
                    self._length = int(value)
                elif name == "transfer-encoding":
                    self._chunked = value.lower().endswith("chunked")
                elif name == "connection":
                    keep = value.lower() != "close" and (keep or value.lower() == "keep-alive")
            self._keep_alive = keep
            self._head_done = True
            if self._status in (204, 304) or 100 <= self._status < 200:
                self._length, self._chunked = 0, False
        if self._chunked:
            self._parse_chunks()
        elif self._length >= 0 and len(buf) >= self._length:
            body = bytes(buf[:self._length])
            del buf[:self._length]
            self._finish(body, keep_alive=self._keep_alive)

    def _parse_chunks(self) -> None:
        buf = self._buf
        while True:
            line_end = buf.find(b"\r\n")
            if line_end < 0:
                return
            size_text = bytes(buf[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size_text[:20]!r}") from None
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", line_end)
                if trailer_end == line_end:  # no trailers: "0\r\n\r\n"
                    del buf[:line_end + 4]
                elif trailer_end < 0:
                    return
                else:
                    del buf[:trailer_end + 4]
                self._finish(bytes(self._body), keep_alive=self._keep_alive)
                return
            if len(buf) < line_end + 2 + size + 2:
                return
            start = line_end + 2
            self._body += buf[start:start + size]
            del buf[:start + size + 2]


class UnixHttpPool:
    """Keep-alive connections to one Unix socket, at most ``limit`` at a time."""

    def __init__(self, path: str, *, headers: dict[str, str], limit: int = 64) -> None:
        self.path = path
        self.limit = limit
        self._idle: deque[Connection] = deque()
        self._slots = asyncio.Semaphore(limit)
        self._head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "localhost", **headers}.items()).encode("latin-1")
        self._closed = False

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: bytes | None = None, content_type: str = "application/json",
                      timeout: float | None = None) -> tuple[int, bytes]:
        """(status, body) of one request; raises ``ConnectionError`` or ``TimeoutError``."""
        if self._closed:
            raise ConnectionError("the client is closed")
        target = quote(path, safe="/:@!$&'()*+,;=-._~")
        if params:
            target += "?" + urlencode(params)
        head = f"{method} {target} HTTP/1.1\r\n".encode("latin-1") + self._head
        if body is not None:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode("latin-1")
            data = head + body
        else:
            data = head + b"Content-Length: 0\r\n\r\n" if method in ("POST", "PUT", "PATCH") else head + b"\r\n"
        async with self._slots:
            conn, reused = await self._connection()
            try:
                async with asyncio.timeout(timeout):
                    try:
                        resp = await conn.send(data)
                    except ConnectionError as e:
                        if not (reused and method == "GET") or isinstance(e, ProtocolError):
                            raise
                        conn.close()
                        conn, reused = await self._connection(fresh=True)
                        resp = await conn.send(data)
            except BaseException:
                conn.close()
                raise
            if resp.keep_alive and not conn.closed and not self._closed:
                self._idle.append(conn)
            else:
                conn.close()
            return resp.status, resp.body

    async def _connection(self, *, fresh: bool = False) -> tuple[Connection, bool]:
        """A connection, and whether it is a kept-alive one (which the server may have closed)."""
        while self._idle and not fresh:
            conn = self._idle.pop()  # the most recently used: the least likely to have been closed
            if not conn.closed:
                return conn, True
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_unix_connection(Connection, self.path)
        return proto, False

    async def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()
        await asyncio.sleep(0)  # let the transports run their close callbacks
