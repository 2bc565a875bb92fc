"""Several API servers of one cluster behind one transport: a small client-side balancer (as k3s agents have).

An agent given ``--server A,B,C`` sends every request to the current server
and moves to the next when that one cannot be reached, so a server that is
killed or frozen costs the agent one failed attempt, not its connection to the
cluster. What is retried on the next server at once, and what is not:

* a connection that could not be opened (refused, unreachable): the request
  never left, so any request is retried on the next server;
* any other failure (a timeout, a connection dropped mid-request) and a 503
  (that server lost its store): a read is retried on the next server; a write
  is not, since it may have been applied. The error goes to the caller, as
  status 0 (reconcilers treat it as transient, and their next request goes to
  the next server).

Streams (watches) and WebSockets (the agent's tunnel) open on the current
server with the same rule as a read; a stream that breaks later ends, and the
caller's informer re-lists and re-watches, on the next server.

The order is fixed (the first URL first), and the balancer stays on a server
that works: no spreading of load, only failover. The list can be replaced while
requests run (``set_servers``: an agent learning the servers from the
``kubernetes`` endpoints, ``shoal.agent.apiservers``): a request in flight
finishes on the transport it started on, which is never closed before the
balancer is (a dropped server's idle connections time out on their own), and
a failure on a server no longer current moves nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import aiohttp

from shoal.client.httptransport import HttpTransport
from shoal.client.transport import JSON, StreamResponse

T = TypeVar("T")

log = logging.getLogger(__name__)

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
_FAILURES = (OSError, TimeoutError, aiohttp.ClientError)


def _never_sent(e: BaseException) -> bool:
    return isinstance(e, aiohttp.ClientConnectorError | ConnectionRefusedError)


def split_servers(value: str | Sequence[str]) -> list[str]:
    """``--server`` values (repeated and/or comma-separated) as a list of URLs, in order, without repeats."""
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        for url in item.split(","):
            url = url.strip().rstrip("/")
            if url and url not in out:
                out.append(url)
    return out


class FailoverTransport:
    """``HttpTransport``s to each server; see the module docstring."""

    def __init__(self, servers: Sequence[str], **kw: Any) -> None:
        if not servers:
            raise ValueError("no server given")
        self._kw = kw
        self._made: dict[str, HttpTransport] = {}  # every transport made, by URL: closed by ``close``
        self.transports = [self.transport_for(s) for s in servers]
        self.current = 0
        self.failovers = 0

    @property
    def server(self) -> str:
        return self.transports[self.current].server

    @property
    def servers(self) -> list[str]:
        return [t.server for t in self.transports]

    def transport_for(self, server: str) -> HttpTransport:
        """A transport to ``server`` with this balancer's credentials and CA (one per URL, kept until
        ``close``)."""
        server = server.rstrip("/")
        t = self._made.get(server)
        if t is None:
            t = self._made[server] = HttpTransport(server, **self._kw)
        return t

    def set_servers(self, servers: Sequence[str], current: int) -> None:
        """Fail over between ``servers`` from now on, using ``servers[current]`` now."""
        if not servers or not 0 <= current < len(servers):
            raise ValueError(f"no server {current} among {list(servers)}")
        self.transports = [self.transport_for(s) for s in servers]
        self.current = current

    def renew_connections(self, grace: float = 30.0) -> None:
        """Every server's new connections with the client certificate read again (``HttpTransport``'s)."""
        for t in self._made.values():
            t.renew_connections(grace)

    def _advance(self, failed: HttpTransport, why: BaseException | str) -> None:
        if self.transports[self.current] is not failed:
            return  # another request moved on already (or the list was replaced)
        self.current = (self.current + 1) % len(self.transports)
        self.failovers += 1
        log.warning("API server %s failed (%s): using %s", failed.server, why, self.transports[self.current].server)

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: bytes | None = None, content_type: str = JSON,
                      timeout: float | None = None) -> tuple[int, bytes]:
        read = method in _READS
        last: BaseException | None = None
        for _ in range(len(self.transports)):
            t = self.transports[self.current]
            try:
                status, raw = await t.request(
                    method, path, params=params, body=body, content_type=content_type, timeout=timeout)
            except _FAILURES as e:
                last = e
                self._advance(t, e)
                if read or _never_sent(e):
                    continue
                raise
            if status == 503 and len(self.transports) > 1:
                self._advance(t, "503")
                if read:
                    last = None
                    continue
            return status, raw
        if last is None:  # every server answered 503: the last answer stands
            return await self.transports[self.current].request(
                method, path, params=params, body=body, content_type=content_type, timeout=timeout)
        raise last

    def stream(self, method: str, path: str, *, params: Mapping[str, str] | None = None
               ) -> AbstractAsyncContextManager[StreamResponse]:
        return self._first_open(lambda t: t.stream(method, path, params=params))

    def ws_connect(self, path: str, **kw: Any) -> AbstractAsyncContextManager[aiohttp.ClientWebSocketResponse]:
        return self._first_open(lambda t: t.ws_connect(path, **kw))

    @asynccontextmanager
    async def _first_open(self, open_on: Callable[[HttpTransport], AbstractAsyncContextManager[T]]
                          ) -> AsyncIterator[T]:
        """The stream or WebSocket ``open_on`` opens on the first server that lets it open (a failure once
        it is open is the caller's: what was sent may have been acted on)."""
        last: BaseException | None = None
        for _ in range(len(self.transports)):
            t = self.transports[self.current]
            cm = open_on(t)
            try:
                opened = await cm.__aenter__()
            except _FAILURES as e:
                last = e
                self._advance(t, e)
                continue
            try:
                yield opened
            except BaseException as e:
                if not await cm.__aexit__(type(e), e, e.__traceback__):
                    raise
            else:
                await cm.__aexit__(None, None, None)
            return
        assert last is not None
        raise last

    async def close(self) -> None:
        for t in self._made.values():
            await t.close()
