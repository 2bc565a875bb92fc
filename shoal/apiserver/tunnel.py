"""The server end of the agent tunnel: how the API server reaches node agents.

Agents may sit behind NAT and open no port, so (as k3s does) each agent dials
*out* to the API server and keeps one authenticated WebSocket open at
``/shoal/v1/tunnel?node=NAME`` (``node`` may repeat: one agent process can serve
several simulated nodes). ``pods/log`` and ``pods/exec`` requests are then
multiplexed over it as numbered streams.

Wire format (subprotocol ``shoal-tunnel.v1``): every WebSocket binary message is
one frame, ``type:u8 | stream:u32 (big endian) | payload``::

    OPEN   server->agent  JSON request {"op": "logs"|"exec", "namespace", "pod", ...}
    READY  agent->server  the agent found the container; data may follow
    ERROR  agent->server  JSON {"code", "reason", "message"}: the open failed (stream gone)
    DATA   both           channel:u8 + bytes (0 stdin; 1 stdout or log; 2 stderr)
    EOF    server->agent  stdin is closed
    RESIZE server->agent  JSON {"width", "height"}
    WINDOW both           u32: the peer may send that many more DATA bytes
    EXIT   agent->server  JSON {"code": int} or {"error": message}; the stream is over
    CLOSE  server->agent  the client went away: stop the stream (kill the exec)

Backpressure is credit based, as in HTTP/2: each side may have at most
``WINDOW_SIZE`` DATA bytes of a stream in flight and the receiver returns credit
only once the bytes have been handed on (written to kubectl). A fast ``logs -f``
therefore stalls the container's log reader on the agent instead of filling the
server's memory, and one slow client does not block other streams.

The agent's end is ``shoal.agent.tunnel`` (the agent may not import the
apiserver, so the few frame constants are written on both sides; a test checks
that they agree).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from typing import Any

from aiohttp import WSMsgType, web

from shoal.apiserver import errors
from shoal.apiserver.auth import USER_KEY
from shoal.apiserver.authn.components import node_name
from shoal.client.tunnelwire import (
    CLOSE,
    DATA,
    EOF,
    ERROR,
    EXIT,
    MAX_CHUNK,
    OPEN,
    PATH,
    READY,
    RESIZE,
    SUBPROTOCOL,
    WINDOW,
    WINDOW_SIZE,
    frame,
    parse,
)

log = logging.getLogger(__name__)

OPEN_TIMEOUT = 15.0  # seconds the agent has to answer an OPEN
_NODE_GROUPS = frozenset({"system:nodes", "system:masters", "system:shoal:simulated-nodes"})


class TunnelError(Exception):
    """A stream could not be opened or died; carries the Status to answer with."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message

    def api_error(self) -> errors.ApiError:
        return errors.ApiError(self.code, self.reason, self.message)


class Window:
    """Send credit of one direction of one stream."""

    def __init__(self, size: int) -> None:
        self._avail = size
        self._changed = asyncio.Event()
        self._closed = False

    async def take(self, wanted: int) -> int:
        """Wait for credit; return how much of ``wanted`` may be sent now (at least 1)."""
        while self._avail <= 0 and not self._closed:
            self._changed.clear()
            await self._changed.wait()
        if self._closed:
            raise TunnelError(503, "ServiceUnavailable", "the stream is closed")
        n = min(wanted, self._avail)
        self._avail -= n
        return n

    def give(self, n: int) -> None:
        self._avail += n
        self._changed.set()

    def close(self) -> None:
        self._closed = True
        self._changed.set()


class ServerStream:
    """One log or exec stream, as the API server sees it."""

    def __init__(self, tunnel: AgentTunnel, sid: int) -> None:
        self.tunnel = tunnel
        self.sid = sid
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.exit: dict[str, Any] | None = None  # the agent's EXIT, once read() returned None
        self._inbox: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._send = Window(WINDOW_SIZE)
        self._unacked = 0
        self._done = False

    # -- from the tunnel's reader --
    def _on_frame(self, kind: int, payload: bytes) -> None:
        if kind == READY:
            if not self.ready.done():
                self.ready.set_result(None)
        elif kind == ERROR:
            info = _json(payload)
            err = TunnelError(int(info.get("code") or 503), str(info.get("reason") or "ServiceUnavailable"),
                              str(info.get("message") or "the node agent refused the request"))
            if not self.ready.done():
                self.ready.set_exception(err)
            self._finish({"error": err.message})
        elif kind == DATA and payload:
            self._inbox.put_nowait((payload[0], payload[1:]))
        elif kind == WINDOW and len(payload) == 4:
            self._send.give(struct.unpack(">I", payload)[0])
        elif kind == EXIT:
            self._finish(_json(payload))

    def _finish(self, info: dict[str, Any]) -> None:
        if self._done:
            return
        self._done = True
        self.exit = info
        self._send.close()
        self._inbox.put_nowait(None)
        self.tunnel.streams.pop(self.sid, None)

    def _lost(self, message: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(TunnelError(503, "ServiceUnavailable", message))
        self._finish({"error": message})

    # -- for the handler --
    async def read(self) -> tuple[int, bytes] | None:
        """The next (channel, bytes) from the agent; None once the stream is over."""
        item = await self._inbox.get()
        if item is not None:
            self._unacked += len(item[1])
            if self._unacked >= WINDOW_SIZE // 4 or self._inbox.empty():
                n, self._unacked = self._unacked, 0
                if not self._done:
                    with contextlib.suppress(TunnelError):  # a lost tunnel ends the stream anyway
                        await self.tunnel.send(frame(WINDOW, self.sid, struct.pack(">I", n)))
        return item

    async def write_stdin(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = await self._send.take(min(len(view), MAX_CHUNK))
            await self.tunnel.send(frame(DATA, self.sid, b"\x00" + bytes(view[:n])))
            view = view[n:]

    async def close_stdin(self) -> None:
        if not self._done:
            await self.tunnel.send(frame(EOF, self.sid))

    async def resize(self, width: int, height: int) -> None:
        if not self._done:
            await self.tunnel.send(frame(RESIZE, self.sid, json.dumps({"width": width, "height": height}).encode()))

    async def close(self) -> None:
        """Stop the stream (idempotent); the agent cancels the log reader or kills the exec."""
        if self._done:
            return
        self._finish({"error": "closed by the API server"})
        with contextlib.suppress(Exception):
            await self.tunnel.send(frame(CLOSE, self.sid))


class AgentTunnel:
    """One connected agent's WebSocket and the streams multiplexed over it."""

    def __init__(self, ws: web.WebSocketResponse, nodes: tuple[str, ...]) -> None:
        self.ws = ws
        self.nodes = nodes
        self.streams: dict[int, ServerStream] = {}
        self._next = 1
        self._lock = asyncio.Lock()
        self.closed = False

    async def send(self, raw: bytes) -> None:
        if self.closed:
            raise TunnelError(503, "ServiceUnavailable", f"the tunnel to node {self.nodes[0]!r} is closed")
        try:
            async with self._lock:
                await self.ws.send_bytes(raw)
        except (ConnectionError, RuntimeError) as e:
            raise TunnelError(503, "ServiceUnavailable", f"the tunnel to node {self.nodes[0]!r} failed: {e}") from e

    async def open(self, request: dict[str, Any]) -> ServerStream:
        """Ask the agent to start a stream; raises ``TunnelError`` if it refuses or is gone."""
        sid = self._next
        self._next += 1
        st = ServerStream(self, sid)
        self.streams[sid] = st
        try:
            await self.send(frame(OPEN, sid, json.dumps(request).encode()))
        except TunnelError:
            self.streams.pop(sid, None)
            raise
        try:
            await asyncio.wait_for(asyncio.shield(st.ready), OPEN_TIMEOUT)
        except TimeoutError:
            await st.close()
            raise TunnelError(503, "ServiceUnavailable",
                              f"the node agent of {self.nodes[0]!r} did not answer within {OPEN_TIMEOUT:.0f}s") from None
        return st

    def dispatch(self, raw: bytes) -> None:
        kind, sid, payload = parse(raw)
        st = self.streams.get(sid)
        if st is not None:
            st._on_frame(kind, payload)

    def lost(self, message: str) -> None:
        self.closed = True
        for st in list(self.streams.values()):
            st._lost(message)
        self.streams.clear()


class TunnelRegistry:
    """Which agent tunnel serves which node, for this API server process."""

    def __init__(self) -> None:
        self._by_node: dict[str, AgentTunnel] = {}

    def get(self, node: str) -> AgentTunnel | None:
        t = self._by_node.get(node)
        return None if t is None or t.closed else t

    def nodes(self) -> list[str]:
        return sorted(n for n, t in self._by_node.items() if not t.closed)

    def _add(self, tunnel: AgentTunnel) -> list[AgentTunnel]:
        replaced = {id(old): old for n in tunnel.nodes if (old := self._by_node.get(n)) is not None}
        for n in tunnel.nodes:
            self._by_node[n] = tunnel
        return list(replaced.values())

    def _remove(self, tunnel: AgentTunnel) -> None:
        for n in tunnel.nodes:
            if self._by_node.get(n) is tunnel:
                del self._by_node[n]

    async def close_all(self, app: web.Application | None = None) -> None:
        for t in {id(t): t for t in self._by_node.values()}.values():
            t.lost("the API server is shutting down")
            with contextlib.suppress(Exception):
                await t.ws.close()
        self._by_node.clear()

    # -- the endpoint --
    async def endpoint(self, request: web.Request) -> web.StreamResponse:
        user = request.get(USER_KEY)
        if user is not None and not _NODE_GROUPS.intersection(getattr(user, "groups", ())):
            raise errors.forbidden(f'User "{user.name}" cannot open a node tunnel')
        nodes = tuple(dict.fromkeys(n for n in request.query.getall("node", []) if n))
        own = node_name(user) if user is not None else None
        if own is not None and nodes != (own,):  # a node's credential opens its own tunnel only
            raise errors.forbidden(f'User "system:node:{own}" cannot open a node tunnel for {", ".join(nodes)}')
        bad = [n for n in nodes if not _valid_node_name(n)]
        if not nodes or bad:
            raise errors.bad_request(f"node: a node name is required (got {bad or nodes!r})")
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), heartbeat=15.0, max_msg_size=4 * MAX_CHUNK)
        ready = ws.can_prepare(request)
        if not ready.ok or ready.protocol != SUBPROTOCOL:
            raise errors.bad_request(f"a tunnel is a WebSocket with subprotocol {SUBPROTOCOL}")
        await ws.prepare(request)
        tunnel = AgentTunnel(ws, nodes)
        for old in self._add(tunnel):
            old.lost("replaced by a newer tunnel from the same node")
            with contextlib.suppress(Exception):
                await old.ws.close()
        log.info("node agent tunnel connected: %s", ", ".join(nodes))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    try:
                        tunnel.dispatch(msg.data)
                    except ValueError as e:
                        log.warning("bad frame on the tunnel of %s: %s", nodes[0], e)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            tunnel.lost(f"the node agent of {nodes[0]!r} disconnected")
            self._remove(tunnel)
            log.info("node agent tunnel closed: %s", ", ".join(nodes))
        return ws


REGISTRY = web.AppKey("shoal.tunnels", TunnelRegistry)


def install(app: web.Application) -> TunnelRegistry:
    """Register the tunnel endpoint and its registry on ``app`` (before any catch-all route)."""
    reg = TunnelRegistry()
    app[REGISTRY] = reg
    app.router.add_get(PATH, reg.endpoint)
    app.on_shutdown.append(reg.close_all)
    return reg


def registry_of(app: web.Application) -> TunnelRegistry | None:
    return app.get(REGISTRY)


def _valid_node_name(name: str) -> bool:
    return 0 < len(name) <= 253 and all(c.isalnum() or c in "-." for c in name) and name.isascii()


def _json(payload: bytes) -> dict[str, Any]:
    try:
        v = json.loads(payload) if payload else {}
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}
