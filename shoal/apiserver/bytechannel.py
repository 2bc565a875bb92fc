"""The byte pipe SPDY runs over: a WebSocket's binary messages, or an HTTP/1.1 connection upgraded to ``SPDY/3.1``.

kubectl speaks SPDY/3.1 two ways. Since 1.30 it tunnels the SPDY byte stream
inside WebSocket binary messages; when WebSockets are off
(``KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false``, ``KUBECTL_PORT_FORWARD_WEBSOCKETS=false``)
or the WebSocket upgrade fails, it falls back to the older way: a request with
``Upgrade: SPDY/3.1`` and ``X-Stream-Protocol-Version`` offers, answered with
``101 Switching Protocols``, after which the raw connection carries SPDY frames.
Both are the same thing to the SPDY sessions (``shoal.apiserver.portforward``,
``shoal.apiserver.spdyexec``): ``recv`` a slice of bytes (``None`` at the end),
``send`` bytes, ``close``. This module hides which one it is.

aiohttp has no API for upgrades other than WebSocket (its parser treats only
``websocket`` and ``tcp`` as upgrades), so the raw path does what aiohttp's
own ``WebSocketResponse`` does: before the 101 goes out it installs its own
payload parser on the request's protocol (``set_parser``), which from then on
receives every byte the client sends; the 101 is a ``StreamResponse`` whose
writer, having no length and no chunking (a 1xx has no body), writes bytes
through unchanged and waits for the transport to drain. Reading pauses while
more than ``HIGH_WATER`` bytes wait unread, so a fast uploader cannot fill the
server's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol, cast

from aiohttp import WSMsgType, web

HIGH_WATER = 1024 * 1024
UPGRADE = "SPDY/3.1"
PROTOCOL_HEADER = "X-Stream-Protocol-Version"


class ByteChannel(Protocol):
    async def recv(self) -> bytes | None: ...

    async def send(self, data: bytes) -> None: ...

    async def close(self) -> None: ...

    @property
    def closed(self) -> bool: ...


class WsChannel:
    """A WebSocket whose binary messages are slices of one byte stream (text and control messages skipped)."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def recv(self) -> bytes | None:
        while True:
            msg = await self.ws.receive()
            if msg.type == WSMsgType.BINARY:
                return cast(bytes, msg.data)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return None

    async def send(self, data: bytes) -> None:
        if not self.ws.closed:
            await self.ws.send_bytes(data)

    async def close(self) -> None:
        await self.ws.close()

    @property
    def closed(self) -> bool:
        return self.ws.closed


class _Parser:
    """What aiohttp's protocol feeds an upgraded connection's bytes to (the shape of its WebSocket reader)."""

    def __init__(self, channel: RawChannel) -> None:
        self._channel = channel

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._channel._arrived(bytes(data))
        return False, b""

    def feed_eof(self) -> None:
        self._channel._arrived(None)


class RawChannel:
    """An HTTP/1.1 connection after its ``101 Switching Protocols``."""

    def __init__(self, request: web.Request, response: web.StreamResponse) -> None:
        self._request = request
        self._response = response
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._buffered = 0
        self._paused = False
        self._closed = False

    def _arrived(self, data: bytes | None) -> None:
        self._queue.put_nowait(data)
        if data is None:
            return
        self._buffered += len(data)
        t = self._request.transport
        if self._buffered > HIGH_WATER and not self._paused and t is not None:
            self._paused = True
            with contextlib.suppress(Exception):
                t.pause_reading()

    async def recv(self) -> bytes | None:
        if self._closed:
            return None
        data = await self._queue.get()
        if data is None:
            self._closed = True
            return None
        self._buffered -= len(data)
        t = self._request.transport
        if self._paused and self._buffered <= HIGH_WATER // 2 and t is not None:
            self._paused = False
            with contextlib.suppress(Exception):
                t.resume_reading()
        return data

    async def send(self, data: bytes) -> None:
        if self._closed:
            return
        t = self._request.transport
        if t is None or t.is_closing():
            raise ConnectionResetError("the client went away")
        await self._response.write(data)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(None)
        t = self._request.transport
        if t is not None:
            t.close()  # what is buffered is still written first

    @property
    def closed(self) -> bool:
        return self._closed


def offered(request: web.Request) -> list[str]:
    """The ``X-Stream-Protocol-Version`` values a client offers, in its order (repeated or comma-separated)."""
    out: list[str] = []
    for h in request.headers.getall(PROTOCOL_HEADER, []):
        out += [p.strip() for p in h.split(",") if p.strip()]
    return out


def is_spdy_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").strip().lower() == UPGRADE.lower()


async def upgrade(request: web.Request, protocol: str) -> tuple[web.StreamResponse, RawChannel]:
    """Answer ``101`` with ``Upgrade: SPDY/3.1`` and the negotiated protocol; the connection is then the channel's.

    The handler must return the response it gets here (aiohttp then closes the connection)."""
    resp = web.StreamResponse(status=101, headers={
        "Connection": "Upgrade", "Upgrade": UPGRADE, PROTOCOL_HEADER: protocol})
    resp.force_close()
    channel = RawChannel(request, resp)
    request.protocol.set_parser(cast(Any, _Parser(channel)))
    await resp.prepare(request)
    return resp, channel
