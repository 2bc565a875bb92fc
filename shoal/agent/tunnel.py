"""The agent end of the tunnel that carries ``kubectl logs`` and ``kubectl exec``.

Agents may run behind NAT with no inbound port, so the agent dials out (as k3s
does): it keeps one authenticated WebSocket open to the API server at
``/shoal/v1/tunnel?node=NAME`` and serves the log and exec streams the server
multiplexes over it by calling the node's runtime ``Driver``. The connection is
re-established with growing back-off (0.2 s up to 10 s) whenever it drops; the
streams open at that moment end (a running exec is killed).

Use from the agent::

    from shoal.agent.tunnel import TunnelClient

    def resolve(namespace: str, pod: str, container: str, previous: bool) -> tuple[Driver, str]:
        # the driver and runtime container id holding this container's logs / processes;
        # previous=True: the container instance before the last restart.
        # Unknown pod or container: raise LookupError("a sentence kubectl shows"),
        # e.g. f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating'
        ...

    tunnel = TunnelClient(client, node_name="node-1", resolver=resolve)   # an ApiClient
    # or: TunnelClient("https://10.0.0.1:6443", token=..., ca_file=..., node_name=..., resolver=...)
    await tunnel.start()      # returns at once; connects (and reconnects) in the background
    await tunnel.wait_connected(timeout=5)   # optional
    ...
    await tunnel.stop()       # closes the tunnel, ends its streams, kills running execs

``resolver`` may be a plain or an ``async`` function. ``node_name`` may be a
list: one agent process that simulates many nodes serves them all over one
tunnel. With an ``ApiClient`` the tunnel uses its transport (HTTPS with token
and CA, or the in-process Unix socket of ``shoal server``); the client is not
closed by ``stop()``.

The wire format and its credit-based flow control are described in
``shoal.apiserver.tunnel``; the frame constants are repeated here because the
agent must not import the API server (a test checks that both agree).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import random
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from shoal.agent.drivers.base import Driver, ExecSession
from shoal.client import ApiClient
from shoal.client.transport import WebSocketTransport
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

Resolver = Callable[[str, str, str, bool], tuple[Driver, str] | Awaitable[tuple[Driver, str]]]


class _Closed(Exception):
    pass


class _Window:
    """Credit for the agent's DATA to the server, on one stream."""

    def __init__(self) -> None:
        self.avail = WINDOW_SIZE
        self.changed = asyncio.Event()
        self.closed = False

    async def take(self, wanted: int) -> int:
        while self.avail <= 0 and not self.closed:
            self.changed.clear()
            await self.changed.wait()
        if self.closed:
            raise _Closed
        n = min(wanted, self.avail)
        self.avail -= n
        return n

    def give(self, n: int) -> None:
        self.avail += n
        self.changed.set()

    def close(self) -> None:
        self.closed = True
        self.changed.set()


class _Stream:
    """One stream the server opened: its task, send credit and stdin queue."""

    def __init__(self, sid: int) -> None:
        self.sid = sid
        self.window = _Window()
        self.stdin: asyncio.Queue[bytes | None] = asyncio.Queue()  # None = EOF
        self.size: tuple[int, int] | None = None
        self.session: ExecSession | None = None
        self.task: asyncio.Task[None] | None = None


class TunnelClient:
    """Keeps the node's tunnel to the API server up and serves its streams."""

    def __init__(
        self,
        server: ApiClient | str,
        *,
        node_name: str | Sequence[str],
        resolver: Resolver,
        token: str | None = None,
        ca_file: str | None = None,
        insecure: bool = False,
        min_backoff: float = 0.2,
        max_backoff: float = 10.0,
    ) -> None:
        if isinstance(server, ApiClient):
            self.client, self._owns_client = server, False
        else:
            self.client = ApiClient.http(server, token=token, ca_file=ca_file, insecure=insecure,
                                         user_agent="shoal-agent")
            self._owns_client = True
        if not isinstance(self.client.transport, WebSocketTransport):
            raise TypeError("the tunnel needs a transport that opens WebSockets, "
                            f"not {type(self.client.transport).__name__}")
        self.nodes = [node_name] if isinstance(node_name, str) else list(node_name)
        if not self.nodes:
            raise ValueError("TunnelClient needs at least one node name")
        self.resolver = resolver
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._streams: dict[int, _Stream] = {}
        self._lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    # ---- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting in the background (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"tunnel-{self.nodes[0]}")

    async def stop(self) -> None:
        """Close the tunnel and end every stream; running execs are killed."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._owns_client:
            await self.client.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def _run(self) -> None:
        delay = self.min_backoff
        transport = self.client.transport
        assert isinstance(transport, WebSocketTransport)  # checked in __init__
        params = [("node", n) for n in self.nodes]
        while True:
            try:
                async with transport.ws_connect(
                    PATH, params=params, protocols=(SUBPROTOCOL,), heartbeat=15.0,
                    max_msg_size=4 * MAX_CHUNK, timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                ) as ws:
                    self._ws = ws
                    self._connected.set()
                    self.last_error = None
                    delay = self.min_backoff
                    log.info("tunnel to the API server is up for node %s", ", ".join(self.nodes))
                    await self._serve(ws)
                    self.last_error = f"closed by the server ({ws.close_code})"
            except asyncio.CancelledError:
                raise
            except Exception as e:  # connection refused, 401, TLS, ...: retry with back-off
                self.last_error = str(e) or type(e).__name__
            finally:
                self._connected.clear()
                self._ws = None
                await self._end_all()
            log.warning("tunnel for node %s down (%s); retrying in %.1fs", ", ".join(self.nodes), self.last_error,
                        delay)
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))  # noqa: S311 - jitter
            delay = min(self.max_backoff, delay * 2)

    async def _end_all(self) -> None:
        streams = list(self._streams.values())
        self._streams.clear()
        for st in streams:
            st.window.close()
            if st.task is not None:
                st.task.cancel()
        for st in streams:
            if st.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await st.task

    # ---- frames -----------------------------------------------------------------------
    async def _send(self, raw: bytes) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            raise _Closed
        async with self._lock:
            await ws.send_bytes(raw)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                continue
            try:
                kind, sid, payload = parse(msg.data)
            except ValueError:
                continue
            if kind == OPEN:
                new = _Stream(sid)
                self._streams[sid] = new
                new.task = asyncio.create_task(self._run_stream(new, payload), name=f"tunnel-stream-{sid}")
                continue
            st = self._streams.get(sid)
            if st is None:
                continue
            if kind == WINDOW and len(payload) == 4:
                st.window.give(struct.unpack(">I", payload)[0])
            elif kind == DATA and payload[:1] == b"\x00":
                st.stdin.put_nowait(payload[1:])
            elif kind == EOF:
                st.stdin.put_nowait(None)
            elif kind == RESIZE:
                size = _size(payload)
                if size is not None:
                    st.size = size
                    if st.session is not None:
                        asyncio.create_task(_quiet(st.session.resize(*size)))  # noqa: RUF006
            elif kind == CLOSE:
                self._streams.pop(sid, None)
                st.window.close()
                if st.task is not None:
                    st.task.cancel()

    async def _send_data(self, st: _Stream, channel: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = await st.window.take(min(len(view), MAX_CHUNK))
            await self._send(frame(DATA, st.sid, bytes([channel]) + bytes(view[:n])))
            view = view[n:]

    # ---- one stream -------------------------------------------------------------------
    async def _run_stream(self, st: _Stream, payload: bytes) -> None:
        try:
            req = json.loads(payload)
            if not isinstance(req, dict):
                raise ValueError("not an object")
        except ValueError as e:
            await _quiet(self._send(frame(ERROR, st.sid, _err(400, "BadRequest", f"bad tunnel request: {e}"))))
            return
        try:
            if req.get("op") == "portforward":
                await self._portforward(st, req)
                return
            try:
                driver, cid = await self._resolve(req)
            except LookupError as e:
                msg = str(e.args[0]) if e.args else f'container "{req.get("container")}" not found'
                await self._send(frame(ERROR, st.sid, _err(400, "BadRequest", msg)))
                return
            except Exception as e:
                log.exception("resolving %s/%s for a tunnel stream failed", req.get("namespace"), req.get("pod"))
                await self._send(frame(ERROR, st.sid, _err(503, "ServiceUnavailable", f"the node agent failed: {e}")))
                return
            await self._send(frame(READY, st.sid))
            if req.get("op") in ("exec", "attach"):
                await self._exec(st, req, driver, cid)
            else:
                await self._logs(st, req, driver, cid)
        except (_Closed, ConnectionError, aiohttp.ClientError):
            pass  # the tunnel went down or the server closed the stream
        finally:
            self._streams.pop(st.sid, None)

    async def _resolve(self, req: dict[str, Any]) -> tuple[Driver, str]:
        got = self.resolver(str(req.get("namespace") or "default"), str(req.get("pod") or ""),
                            str(req.get("container") or ""), bool(req.get("previous")))
        if inspect.isawaitable(got):
            got = await got
        return got

    async def _logs(self, st: _Stream, req: dict[str, Any], driver: Driver, cid: str) -> None:
        code = 0
        error: str | None = None
        chunks = driver.logs(cid, follow=bool(req.get("follow")), tail=req.get("tail"),
                             since_seconds=req.get("sinceSeconds"), timestamps=bool(req.get("timestamps")))
        try:
            async for chunk in chunks:
                if chunk:
                    await self._send_data(st, 1, chunk)
        except (_Closed, asyncio.CancelledError):
            raise
        except Exception as e:  # a driver error mid-stream: end the response, say why in the log
            log.warning("logs of %s/%s failed: %s", req.get("namespace"), req.get("pod"), e)
            error, code = str(e), 1
        finally:
            await _aclose(chunks)
        await self._send(frame(EXIT, st.sid, json.dumps({"code": code} if error is None else {"error": error}).encode()))

    async def _exec(self, st: _Stream, req: dict[str, Any], driver: Driver, cid: str) -> None:
        command = [str(c) for c in req.get("command") or []]
        try:
            if req.get("op") == "attach":
                attach = getattr(driver, "attach", None)  # runtimes that can attach to a container's process
                if attach is None:
                    raise RuntimeError("this node's container runtime cannot attach to a running container")
                session = await attach(cid, tty=bool(req.get("tty")), stdin=bool(req.get("stdin")))
            else:
                session = await driver.exec(cid, command, tty=bool(req.get("tty")), stdin=bool(req.get("stdin")))
        except Exception as e:
            await self._send(frame(EXIT, st.sid, json.dumps({"error": str(e) or type(e).__name__}).encode()))
            return
        st.session = session
        finished = False
        feeder = asyncio.create_task(self._feed_stdin(st, session), name=f"tunnel-stdin-{st.sid}")
        try:
            if st.size is not None:
                await _quiet(session.resize(*st.size))
            async for channel, data in session.output():
                if data:
                    await self._send_data(st, 2 if channel == 2 else 1, data)
            code = await session.wait()
            finished = True
            await self._send(frame(EXIT, st.sid, json.dumps({"code": int(code)}).encode()))
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder
            if not finished:
                await _quiet(session.kill())

    async def _portforward(self, st: _Stream, req: dict[str, Any]) -> None:
        """Connect to the pod's address on the port asked for and relay both ways (stdin is what the
        client sends; channel 1 what the pod answers) until either side is done."""
        host, port = str(req.get("host") or ""), req.get("port")
        if not host or not isinstance(port, int) or not 0 < port < 65536:
            await self._send(frame(ERROR, st.sid, _err(400, "BadRequest", "the pod has no address, or the port "
                                                       "is not valid")))
            return
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 10)
        except (OSError, TimeoutError) as e:
            await self._send(frame(READY, st.sid))
            errno = e.errno if isinstance(e, OSError) else None
            why = f"connect: {os.strerror(errno).lower()}" if errno else "i/o timeout"
            await self._send(frame(EXIT, st.sid, json.dumps(
                {"error": f"failed to connect to localhost:{port} inside the pod: dial tcp {host}:{port}: {why}"}
            ).encode()))
            return
        await self._send(frame(READY, st.sid))

        async def upstream() -> None:
            while (data := await st.stdin.get()) is not None:
                writer.write(data)
                await writer.drain()
                await self._send(frame(WINDOW, st.sid, struct.pack(">I", len(data))))
            if writer.can_write_eof():
                writer.write_eof()

        feeder = asyncio.create_task(upstream(), name=f"tunnel-portforward-{st.sid}")
        try:
            while data := await reader.read(MAX_CHUNK):
                await self._send_data(st, 1, data)
            await self._send(frame(EXIT, st.sid, json.dumps({"code": 0}).encode()))
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder
            writer.close()

    async def _feed_stdin(self, st: _Stream, session: ExecSession) -> None:
        while True:
            data = await st.stdin.get()
            if data is None:
                await session.close_stdin()
                return
            await session.write_stdin(data)
            await self._send(frame(WINDOW, st.sid, struct.pack(">I", len(data))))


def _err(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"code": code, "reason": reason, "message": message}).encode()


def _size(payload: bytes) -> tuple[int, int] | None:
    try:
        v = json.loads(payload)
        w, h = int(v["width"]), int(v["height"])
    except (ValueError, KeyError, TypeError):
        return None
    return (w, h) if w > 0 and h > 0 else None


async def _quiet(aw: Awaitable[Any]) -> None:
    with contextlib.suppress(Exception):
        await aw


async def _aclose(it: AsyncIterator[bytes]) -> None:
    close = getattr(it, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()
