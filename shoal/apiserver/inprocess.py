"""The client's in-process transport: the API server's own request pipeline, called without a socket.

Why: a controller's ``reconcile(key)`` should be testable deterministically —
write objects, call it, assert on what it wrote — with everything the API does
to a request (authentication, routing, defaults, validation, admission, the
store's revisions, watch streams) but without a server process, a port, TLS,
or polling for it to be up. ``shoal.client.transport`` defines the seam; this
is the implementation, on the server's side of the import rules (clients may
not import the API server), and a test or a composition root wires the two.

It takes the very paths a request over HTTP takes, no second copy of them:

- unary requests the lean server would serve (``ApiServer.accepts``) go to
  ``ApiServer.dispatch`` as a ``leanhttp.Request``, as ``shoal.apiserver.leanhttp``
  hands them over for a socket;
- everything else (watches, discovery, pods' logs, anything ``accepts`` leaves
  to aiohttp) goes to the aiohttp application's own handler (its router and
  middlewares, ``Application._handle``, which aiohttp's server calls for each
  request), with a ``web.Request`` whose body writer is a queue that the client
  reads from: a watch streams as it does over HTTP, and leaving the stream
  cancels the handler as a dropped connection would end it.

What it does not do: bytes on a wire (HTTP framing, TLS, chunked encoding,
the lean server's parser) — the end-to-end tests cover those — and WebSockets
(the node agent's tunnel needs a socket).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, cast
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import HttpVersion11, RawRequestMessage
from aiohttp.streams import EMPTY_PAYLOAD, StreamReader
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from shoal.apiserver import leanhttp
from shoal.apiserver.app import ApiServer

JSON = "application/json"
_QUEUED_CHUNKS = 64  # a stream's writer waits when this many chunks are unread (as a socket's buffer fills)


class _Peer:
    """What a ``web.Request`` asks of the connection it came on: there is none."""

    ssl_context = None
    peername = None
    sockname = None
    transport = None
    max_field_size = 8190
    max_line_length = 8190
    max_headers = 128

    def pause_reading(self) -> None:  # a request body is fed whole: never asked
        pass

    def resume_reading(self) -> None:
        pass


class _Stream(AbstractStreamWriter):
    """A response's writer that hands the body to the reader through a queue: the client's ``StreamResponse``."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue(_QUEUED_CHUNKS)
        self._closed = False  # the reader is gone

    # ---- the handler's side (aiohttp.abc.AbstractStreamWriter) ---------------------------
    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        self.status = int(status_line.split(" ", 2)[1])
        self.headers = headers
        if not self.started.done():
            self.started.set_result(None)

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise ConnectionResetError("the in-process reader is gone")
        if chunk:
            self.output_size += len(chunk)
            await self._chunks.put(bytes(chunk))

    async def write_eof(self, chunk: bytes = b"") -> None:
        if chunk:
            await self.write(chunk)
        if not self._closed:
            await self._chunks.put(None)

    async def drain(self) -> None:
        pass

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        pass  # nothing on a wire to save

    def enable_chunking(self) -> None:
        pass

    def fail(self, e: BaseException) -> None:
        """The handler ended without an answer: the reader gets ``e``."""
        if not self.started.done():
            self.started.set_exception(e)

    # ---- the client's side (shoal.client.transport.StreamResponse) -----------------------
    async def read(self) -> bytes:
        return b"".join([c async for c in self.chunks()])

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self._closed:
            chunk = await self._chunks.get()
            if chunk is None:
                self._closed = True
                return
            yield chunk

    def close(self) -> None:
        self._closed = True
        while not self._chunks.empty():  # a writer waiting for room goes on, and finds the reader gone
            self._chunks.get_nowait()


class InProcessTransport:
    """``shoal.client.transport.Transport`` over an ``ApiServer`` in this process (see the module docstring).

    ``app`` is the server's aiohttp application (``api.app()``, made here if not
    given); ``token`` authenticates as it would over HTTP when the server has an
    authenticator.
    """

    def __init__(self, api: ApiServer, app: web.Application | None = None, *, token: str | None = None,
                 user_agent: str = "shoal-inprocess") -> None:
        self.api = api
        self.app = app if app is not None else api.app()
        self.app.freeze()  # what aiohttp's runner does before serving: routes and middlewares fixed
        headers = {"Host": "shoal", "User-Agent": user_agent, "Accept": JSON}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._headers = headers
        self._plain = CIMultiDictProxy(CIMultiDict(headers))
        self._tasks: set[asyncio.Task[web.StreamResponse | None]] = set()

    def _head(self, body: bytes | None, content_type: str) -> CIMultiDictProxy[str]:
        if body is None:
            return self._plain
        return CIMultiDictProxy(CIMultiDict({**self._headers, "Content-Type": content_type,
                                             "Content-Length": str(len(body))}))

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: bytes | None = None, content_type: str = JSON,
                      timeout: float | None = None) -> tuple[int, bytes]:
        async with asyncio.timeout(timeout):
            lean = leanhttp.Request(method, path, urlencode(params) if params else "", self._head(body, content_type))
            lean.body = body or b""
            if self.api.accepts(lean):
                resp = await self.api.dispatch(lean)
                return resp.status, cast(bytes, resp.body or b"")
            async with self._stream(method, path, params, body, content_type) as s:
                return s.status, await s.read()

    def stream(self, method: str, path: str, *, params: Mapping[str, str] | None = None
               ) -> AbstractAsyncContextManager[_Stream]:
        return self._stream(method, path, params, None, JSON)

    @contextlib.asynccontextmanager
    async def _stream(self, method: str, path: str, params: Mapping[str, str] | None, body: bytes | None,
                      content_type: str) -> AsyncIterator[_Stream]:
        """Run the aiohttp application's handler for one request, reading its answer as it is written."""
        out = _Stream()
        url = URL.build(path=path, query=dict(params) if params else None)
        headers = self._head(body, content_type)
        message = RawRequestMessage(method, str(url), HttpVersion11, headers,
                                    tuple((k.encode(), v.encode()) for k, v in headers.items()),
                                    False, None, False, False, url)
        loop = asyncio.get_running_loop()
        payload: StreamReader = EMPTY_PAYLOAD
        peer = _Peer()
        if body:
            payload = StreamReader(cast(Any, peer), len(body) + 1, loop=loop)
            payload.feed_data(body)
            payload.feed_eof()
        task = loop.create_task(self._serve(message, payload, peer, out))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            await out.started
            yield out
        finally:
            out.close()
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _serve(self, message: RawRequestMessage, payload: StreamReader, peer: _Peer,
                     out: _Stream) -> web.StreamResponse | None:
        """What aiohttp's ``RequestHandler`` does for one request, minus the connection."""
        loop = asyncio.get_running_loop()
        request = web.Request(message, payload, cast(Any, peer), out, cast(Any, asyncio.current_task()), loop,
                              client_max_size=self.app._client_max_size)
        try:
            try:
                resp = await self.app._handle(request)
            except web.HTTPException as e:  # raised past the middlewares: aiohttp answers with it
                resp = e
            if not resp.prepared:
                await resp.prepare(request)
                await resp.write_eof()
            return resp
        except BaseException as e:
            out.fail(e if isinstance(e, Exception) else ConnectionResetError("the handler was cancelled"))
            raise
        finally:
            out.fail(ConnectionResetError("the handler ended without an answer"))

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
