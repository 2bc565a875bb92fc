"""``pods/portforward``: kubectl's SPDY streams, carried over the agent tunnel to the pod's port.

kubectl (1.30+) opens a WebSocket with subprotocol ``SPDY/3.1+portforward.k8s.io``
and speaks SPDY/3.1 inside it (``shoal.apiserver.spdy``). For every local
connection it opens two SPDY streams with the same ``requestID`` and ``port``:
an *error* stream (the server writes a message there if forwarding fails) and
a *data* stream (the connection's bytes, both ways). Once both exist, the
server asks the pod's node agent, over its tunnel, to connect to the pod's
address on that port (op ``portforward``) and relays: the client's data frames
go to the agent as stdin (the client's FIN half-closes the connection), the
agent's bytes come back as data frames; when the agent's connection ends the
data stream is finished, and a failure is written on the error stream first,
worded as the kubelet words it. Each stream is answered with a SYN_REPLY and
its consumed bytes are returned as WINDOW_UPDATE (SPDY/3.1 flow control).

The plain SPDY upgrade (kubectl's fallback) is refused with a 400 that says to
use the WebSocket tunnel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from shoal.apiserver import errors, spdy
from shoal.apiserver.tunnel import AgentTunnel, ServerStream, TunnelError

log = logging.getLogger(__name__)

PROTOCOL = "SPDY/3.1+portforward.k8s.io"


@dataclass(slots=True)
class Pair:
    """The error and data streams of one forwarded connection."""

    port: int
    error_sid: int = 0
    data_sid: int = 0
    stream: ServerStream | None = None
    task: asyncio.Task[None] | None = None
    pending: list[bytes | None] = field(default_factory=list)  # client bytes before the agent answered


def check_pod(pod: dict[str, Any]) -> None:
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise errors.bad_request(f"unable to forward port because pod is not running. Current status={phase}")


async def pod_portforward(request: web.Request, *, pod: dict[str, Any], tunnel: AgentTunnel) -> web.StreamResponse:
    check_pod(pod)
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise errors.bad_request(
            f"unable to upgrade connection: port forwarding is served over a WebSocket with subprotocol {PROTOCOL} "
            "(kubectl 1.30 or later)")
    ws = web.WebSocketResponse(protocols=(PROTOCOL,), max_msg_size=16 * 1024 * 1024, autoping=True)
    ready = ws.can_prepare(request)
    if not ready.ok or ready.protocol != PROTOCOL:
        raise errors.bad_request(f"unable to upgrade connection: the client must offer subprotocol {PROTOCOL}")
    await ws.prepare(request)
    await Session(ws, tunnel, pod).run()
    return ws


class Session:
    """One kubectl port-forward connection: its SPDY streams and the tunnel streams behind them."""

    def __init__(self, ws: web.WebSocketResponse, tunnel: AgentTunnel, pod: dict[str, Any]) -> None:
        self.ws = ws
        self.tunnel = tunnel
        self.pod = pod
        self.codec = spdy.HeaderCodec()
        self.reader = spdy.FrameReader()
        self.pairs: dict[str, Pair] = {}
        self.by_sid: dict[int, Pair] = {}
        self._lock = asyncio.Lock()

    async def send(self, raw: bytes) -> None:
        async with self._lock:
            if not self.ws.closed:
                await self.ws.send_bytes(raw)

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    continue
                for f in self.reader.feed(msg.data):
                    if isinstance(f, spdy.Data):
                        await self._on_data(f)
                    else:
                        await self._on_control(f)
        except spdy.ProtocolError as e:
            log.info("port-forward to %s: %s", self.pod["metadata"]["name"], e)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            for p in list(self.pairs.values()):
                if p.task is not None:
                    p.task.cancel()
                if p.stream is not None:
                    await p.stream.close()
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _on_control(self, f: spdy.Control) -> None:
        if f.type == spdy.SYN_STREAM:
            sid, block = spdy.syn_stream_id(f.body)
            headers = self.codec.decode(block)
            await self.send(spdy.syn_reply(sid, self.codec.encode({})))
            self._open(sid, headers)
        elif f.type == spdy.PING:
            await self.send(spdy.control(spdy.PING, f.body))
        elif f.type == spdy.RST_STREAM and len(f.body) >= 4:
            p = self.by_sid.get(struct.unpack(">I", f.body[:4])[0] & 0x7FFFFFFF)
            if p is not None:
                await self._drop(p)
        elif f.type == spdy.GOAWAY:
            await self.ws.close()
        elif f.type == spdy.HEADERS and len(f.body) >= 4:
            self.codec.decode(f.body[4:])  # keeps the peer's compression context in step

    def _open(self, sid: int, headers: dict[str, list[str]]) -> None:
        kind = (headers.get("streamtype") or [""])[0]
        try:
            port = int((headers.get("port") or [""])[0])
        except ValueError:
            port = 0
        rid = (headers.get("requestid") or [str(sid)])[0]
        p = self.pairs.get(rid)
        if p is None:
            p = self.pairs[rid] = Pair(port)
        self.by_sid[sid] = p
        if kind == "error":
            p.error_sid = sid
        elif kind == "data":
            p.data_sid = sid
        if p.error_sid and p.data_sid and p.task is None:
            p.task = asyncio.create_task(self._forward(rid, p), name=f"portforward-{p.port}")

    async def _on_data(self, f: spdy.Data) -> None:
        p = self.by_sid.get(f.stream)
        if p is None:
            await self.send(spdy.rst_stream(f.stream, spdy.RST_INVALID_STREAM))
            return
        if f.stream != p.data_sid:
            return  # the client writes nothing on the error stream but its FIN
        if f.data:
            await self.send(spdy.window_update(f.stream, len(f.data)))
        chunks: list[bytes | None] = [f.data] if f.data else []
        if f.flags & spdy.FLAG_FIN:
            chunks.append(None)
        for c in chunks:
            if p.stream is None:
                p.pending.append(c)
            else:
                await _write(p.stream, c)

    async def _forward(self, rid: str, p: Pair) -> None:
        md = self.pod["metadata"]
        failure: str | None = None
        try:
            stream = await self.tunnel.open({
                "op": "portforward", "namespace": md.get("namespace"), "pod": md["name"], "uid": md.get("uid"),
                "port": p.port, "host": (self.pod.get("status") or {}).get("podIP") or ""})
            # what the client sent while the stream opened goes first, in order: chunks arriving during
            # these writes queue behind it, and only an empty queue hands writing over to ``_on_data``
            while p.pending:
                await _write(stream, p.pending.pop(0))
            p.stream = stream
            while (item := await stream.read()) is not None:
                await self.send(spdy.data(p.data_sid, item[1]))
            info = stream.exit or {}
            if info.get("error") and info.get("error") != "closed by the API server":
                failure = str(info["error"])
        except TunnelError as e:
            failure = e.message
        except (ConnectionError, RuntimeError):
            return
        if failure is not None:
            msg = f"error forwarding port {p.port} to pod {md.get('uid')}, uid : {failure}"
            await self.send(spdy.data(p.error_sid, msg.encode()))
        await self.send(spdy.data(p.data_sid, b"", spdy.FLAG_FIN))
        await self.send(spdy.data(p.error_sid, b"", spdy.FLAG_FIN))
        self.pairs.pop(rid, None)
        self.by_sid.pop(p.data_sid, None)
        self.by_sid.pop(p.error_sid, None)

    async def _drop(self, p: Pair) -> None:
        if p.stream is not None:
            await p.stream.close()
        if p.task is not None:
            p.task.cancel()


async def _write(stream: ServerStream, chunk: bytes | None) -> None:
    """Client bytes (None: its FIN) to the agent; dropped once the pod's side has ended (the end says why)."""
    with contextlib.suppress(TunnelError):
        if chunk is None:
            await stream.close_stdin()
        else:
            await stream.write_stdin(chunk)
