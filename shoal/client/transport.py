"""How an ``ApiClient`` reaches the API server: the transport seam (as httpx's transports).

``ApiClient`` speaks Kubernetes REST (paths, verbs, JSON bodies, watch lines,
``Status`` errors); a ``Transport`` only moves one request to the server and
its answer back. Three ship with shoal:

- ``HttpTransport`` (``shoal.client.httptransport``): HTTPS (or plain HTTP) to
  a URL through aiohttp, with a bearer token and the cluster CA: what the node
  agent, the benchmarks, the tests and any outside program use.
- ``UnixSocketTransport`` (same module): the private Unix socket of
  ``shoal server`` (no TLS), unary requests on the lean pool of
  ``shoal.client.unixhttp``, streams through aiohttp: what the components
  inside the server (and its scheduler process) use.
Both also open WebSockets (``WebSocketTransport``) for the node agent's tunnel.
- ``InProcessTransport`` (``shoal.apiserver.inprocess``, on the server's side of
  the import rules): calls the API server's own request dispatcher, no socket,
  the same authentication, routing, admission, handlers and watch streams as
  HTTP. Tests wire it to drive a controller's ``reconcile(key)`` without a
  running server.

A transport holds what is the same for every request (where the server is,
credentials, the ``User-Agent``): per request it gets the method, the path
(not escaped), the query, the body and its content type, and answers the
status and the whole body; the client decodes it. Nothing more is asked of the
hot path (no header dict, no response object per request): the scheduler's
bindings go through here thousands of times a second.

Errors: a server that cannot be reached (or that dropped the connection) is an
``OSError`` (``ConnectionError``), ``TimeoutError``, or, for the aiohttp-based
transports, an ``aiohttp.ClientError``; the client turns each into an
``ApiException`` with status 0. An HTTP error status is not a transport error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import aiohttp

JSON = "application/json"


class StreamResponse(Protocol):
    """A response read as it arrives (a watch, a pod's log)."""

    @property
    def status(self) -> int: ...

    async def read(self) -> bytes:
        """The whole (rest of the) body: for error answers, which are short."""

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as the server writes it, in pieces of any size, until it ends."""


class Transport(Protocol):
    """One way to the API server; see the module docstring."""

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: bytes | None = None, content_type: str = JSON,
                      timeout: float | None = None) -> tuple[int, bytes]:
        """Send one request; its status and whole body."""

    def stream(self, method: str, path: str, *, params: Mapping[str, str] | None = None
               ) -> AbstractAsyncContextManager[StreamResponse]:
        """Send one request whose answer is read as it arrives; leaving the context ends it."""

    async def close(self) -> None:
        """Release connections; the transport is not used again."""


@runtime_checkable
class WebSocketTransport(Transport, Protocol):
    """A transport that can also open a WebSocket (the node agent's tunnel needs one)."""

    def ws_connect(self, path: str, **kw: Any) -> AbstractAsyncContextManager[aiohttp.ClientWebSocketResponse]:
        """aiohttp's ``ClientSession.ws_connect`` to ``path`` on this transport's server."""
