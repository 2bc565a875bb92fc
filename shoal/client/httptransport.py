"""The two transports over a socket: HTTPS to a URL, and the server's own Unix socket.

Both keep one aiohttp session (created on first use, inside the running loop)
for what is long-lived: watch streams, logs, and the node agent's WebSocket
tunnel (``ws_connect``). They differ in unary requests: over TCP/TLS those go
through the same aiohttp session; over the Unix socket they go through the lean
keep-alive pool of ``shoal.client.unixhttp`` (measured in docs/decisions.md:
aiohttp's client cost a third of the scheduler process's CPU there), which
``UnixSocketTransport`` *is*, so a unary request is one call into the pool with
nothing in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import aiohttp

from shoal.client.transport import JSON, StreamResponse
from shoal.client.unixhttp import UnixHttpPool


def default_headers(*, token: str | None, user_agent: str) -> dict[str, str]:
    """What every request carries: who asks, what it accepts, its credentials."""
    headers = {"User-Agent": user_agent, "Accept": JSON}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class _AiohttpStream:
    """An aiohttp response as a ``StreamResponse``."""

    __slots__ = ("_resp",)

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp

    @property
    def status(self) -> int:
        return self._resp.status

    async def read(self) -> bytes:
        return await self._resp.read()

    def chunks(self) -> AsyncIterator[bytes]:
        return self._resp.content.iter_any()


class _AiohttpStreams:
    """One lazily made aiohttp session to ``_base`` (a URL, or ``http://shoal`` over a Unix socket): streams and
    WebSockets, for both transports."""

    def _init_session(self, base: str, connector: Callable[[], aiohttp.BaseConnector], headers: dict[str, str]) -> None:
        self._base = base
        self._connector = connector  # called inside the running loop, which a connector binds
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None
        self._streams: dict[aiohttp.ClientResponse, aiohttp.ClientSession] = {}  # open streams, by session

    @property
    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session (for callers that need more of HTTP than the API's requests)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=self._connector(), headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    def stream(self, method: str, path: str, *, params: Mapping[str, str] | None = None
               ) -> AbstractAsyncContextManager[StreamResponse]:
        return self._stream(method, path, params)

    @asynccontextmanager
    async def _stream(self, method: str, path: str, params: Mapping[str, str] | None) -> AsyncIterator[_AiohttpStream]:
        session = self.session
        async with session.request(method, self._base + path, params=params,
                                   timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
            self._streams[resp] = session
            try:
                yield _AiohttpStream(resp)
            finally:
                self._streams.pop(resp, None)

    async def _end_streams(self, session: aiohttp.ClientSession) -> None:
        """Cut the streams open on ``session`` so that their readers see an error (a watch re-lists and
        re-watches): closing the session alone leaves a pending read waiting for ever, as aiohttp lets go of
        the payload before the connection is lost."""
        lost: list[asyncio.Future[None]] = []
        for resp, on in list(self._streams.items()):
            conn = resp.connection
            if on is not session or conn is None or conn.transport is None:
                continue
            closed = getattr(conn.protocol, "closed", None)  # set once the connection is lost
            conn.transport.abort()
            if isinstance(closed, asyncio.Future):
                lost.append(closed)
        if lost:
            await asyncio.wait(lost, timeout=1.0)

    def ws_connect(self, path: str, **kw: Any) -> AbstractAsyncContextManager[aiohttp.ClientWebSocketResponse]:
        """aiohttp's ``ws_connect`` to ``path`` (the node agent's tunnel)."""
        return self.session.ws_connect(self._base + path, **kw)

    async def _close_session(self) -> None:
        if self._session is not None:
            await self._session.close()


class HttpTransport(_AiohttpStreams):
    """HTTPS (or HTTP) to ``server`` through aiohttp, keep-alive connections, at most ``limit`` at a time."""

    def __init__(self, server: str, *, token: str | None = None, ca_file: str | None = None,
                 insecure: bool = False, user_agent: str = "shoal", limit: int = 64,
                 client_cert: tuple[str, str] | None = None) -> None:
        self.server = server.rstrip("/")
        self._ca_file = ca_file
        self._client_cert = client_cert  # (certificate file, key file): a TLS client certificate
        self._insecure = insecure
        self._limit = limit
        # sessions renew_connections retired, each closed by its task after the grace period (or by ``close``)
        self._retired: dict[aiohttp.ClientSession, asyncio.Task[None]] = {}
        self._init_session(self.server, self._tcp_connector, default_headers(token=token, user_agent=user_agent))

    def renew_connections(self, grace: float = 30.0) -> None:
        """Open new connections from now on with the client certificate's files read again (a node whose
        certificate was renewed, ``shoal.agent.certrenewal``); the connections open now, watches among
        them, keep going for ``grace`` seconds and are then closed, as the kubelet closes its connections
        after a rotation so that the server sees the new certificate (a watch cut so re-lists and
        re-watches on a new connection)."""
        old, self._session = self._session, None
        if old is None or old.closed:
            return

        async def close_later() -> None:
            await asyncio.sleep(grace)
            del self._retired[old]
            await self._end_streams(old)
            await _cut(old)

        self._retired[old] = asyncio.get_running_loop().create_task(close_later(),
                                                                    name=f"retire-session-{self.server}")

    def _tcp_connector(self) -> aiohttp.BaseConnector:
        ssl_ctx: ssl.SSLContext | bool = True
        if self.server.startswith("https"):
            if self._insecure:
                ssl_ctx = ssl.create_default_context()
                ssl_ctx.check_hostname = False
                ssl_ctx.verify_mode = ssl.CERT_NONE
                if self._client_cert is None:
                    ssl_ctx = False
            else:
                ssl_ctx = ssl.create_default_context(cafile=self._ca_file)
            if self._client_cert is not None and not isinstance(ssl_ctx, bool):
                ssl_ctx.load_cert_chain(*self._client_cert)
        return aiohttp.TCPConnector(ssl=ssl_ctx, limit=self._limit)

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: bytes | None = None, content_type: str = JSON,
                      timeout: float | None = None) -> tuple[int, bytes]:
        async with self.session.request(
            method, self.server + path, params=params, data=body,
            headers={"Content-Type": content_type} if body is not None else None,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            return resp.status, await resp.read()

    async def close(self) -> None:
        retired, self._retired = self._retired, {}
        for session, task in retired.items():
            task.cancel()
            await self._end_streams(session)
            await _cut(session)
        await self._close_session()


async def _cut(session: aiohttp.ClientSession) -> None:
    """Close ``session`` and its connections at once, those in use too (a watch on one ends): TLS ones are
    aborted, not shut down, since a peer busy streaming would hold a graceful shutdown for up to 30 s."""
    connector = session.connector
    if connector is not None:
        with contextlib.suppress(TypeError):  # aiohttp before abort_ssl (3.12): the graceful close below
            await connector.close(abort_ssl=True)  # type: ignore[call-arg,unused-ignore]
    await session.close()


class UnixSocketTransport(UnixHttpPool, _AiohttpStreams):
    """The API server's Unix socket: unary requests on the lean pool (this class), streams through aiohttp."""

    def __init__(self, path: str, *, token: str | None = None, user_agent: str = "shoal", limit: int = 64) -> None:
        headers = default_headers(token=token, user_agent=user_agent)
        super().__init__(path, headers=headers, limit=limit)
        self._init_session("http://shoal", lambda: aiohttp.UnixConnector(path=path, limit=limit), headers)

    async def close(self) -> None:
        await super().close()
        await self._close_session()
