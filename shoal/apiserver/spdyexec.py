"""``pods/exec`` and ``pods/attach`` over plain SPDY/3.1: kubectl's fallback when WebSockets are off or fail.

The request offers stream protocols in ``X-Stream-Protocol-Version``
(kubectl 1.32: ``v5``, ``v4``, ``v3``, ``v2.channel.k8s.io``); the server takes
the client's first that it accepts, as upstream's ``httpstream.Handshake``,
answers ``101`` (``shoal.apiserver.bytechannel``) and waits for the client to
open one SPDY stream per standard stream, each named by its ``streamType``
header: ``error`` always, ``stdin``/``stdout``/``stderr`` as the query asks,
``resize`` with a TTY (v3 and later). Each is answered with a SYN_REPLY. Once
all have arrived (within ``STREAM_TIMEOUT``, as the kubelet waits) the agent's
output is relayed as data frames on ``stdout``/``stderr``; the client's data on
``stdin`` goes to the process (its FIN closes the process's stdin) and the JSON
sizes on ``resize`` resize the terminal. At the end ``stdout``/``stderr`` are
finished, and the ``error`` stream carries the end: in v4/v5 the JSON
``Status`` (exit code in its causes, as the WebSocket path), in v2/v3 only a
failure's message; then the server waits briefly for the client to hang up
(closing first could reset the connection before kubectl has read the end).
v5 over SPDY is v4, as upstream (its close signal is WebSocket-only).

The agent's stream is opened before the ``101``, so a refusal (an unknown
container, no agent tunnel) is still an HTTP Status kubectl prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shoal.apiserver import bytechannel, errors, spdy
from shoal.apiserver.bytechannel import ByteChannel
from shoal.apiserver.spdyconn import SpdyConn
from shoal.apiserver.streaming import STDERR, STDOUT, end_status
from shoal.apiserver.tunnel import ServerStream, TunnelError

log = logging.getLogger(__name__)

ACCEPTED = ("v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io")
STREAM_TIMEOUT = 30.0  # seconds the client has to open its streams (the kubelet's default)
HANGUP_WAIT = 5.0  # seconds to wait, after the end, for the client to close the connection


# ---- decisions (pure) ---------------------------------------------------------------------
def expected_streams(opts: dict[str, Any], protocol: str) -> frozenset[str]:
    """The ``streamType``s the client opens for these options, as the kubelet counts them."""
    want = {"error"} | {k for k in ("stdin", "stdout", "stderr") if opts.get(k)}
    if opts.get("tty") and protocol != "v2.channel.k8s.io":
        want.add("resize")
    return frozenset(want)


def error_stream_body(status: dict[str, Any], protocol: str) -> bytes:
    """What the ``error`` stream carries at the end: v4/v5 the Status as JSON; v2/v3 a failure's message only."""
    if protocol in ("v5.channel.k8s.io", "v4.channel.k8s.io"):
        return json.dumps(status).encode()
    if status.get("status") == "Success":
        return b""
    return str(status.get("message") or "").encode()


def take_sizes(buf: bytes) -> tuple[list[tuple[int, int]], bytes]:
    """Terminal sizes out of the ``resize`` stream (JSON objects, Go's encoder puts a newline after each);
    returns the sizes and the bytes of an object not complete yet. Nonsense is skipped."""
    sizes: list[tuple[int, int]] = []
    dec = json.JSONDecoder()
    text = buf.decode("utf-8", "replace")
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return sizes, b""
        try:
            v, end = dec.raw_decode(text, pos)
        except ValueError:
            nl = text.find("\n", pos)
            if nl < 0:
                return sizes, text[pos:].encode()  # not complete yet
            pos = nl + 1  # a broken line
            continue
        pos = end
        if isinstance(v, dict):
            try:
                w, h = int(v.get("Width") or v.get("width") or 0), int(v.get("Height") or v.get("height") or 0)
            except (TypeError, ValueError):
                continue
            if 0 < w <= 10_000 and 0 < h <= 10_000:
                sizes.append((w, h))


# ---- the entry point --------------------------------------------------------------------
async def serve(request: web.Request, *, opts: dict[str, Any],
                open_stream: Callable[[], Awaitable[ServerStream]]) -> web.StreamResponse:
    offers = bytechannel.offered(request)
    refusal = spdy.handshake_error(offers, ACCEPTED)
    if refusal is not None:
        raise errors.ApiError(refusal[0], "BadRequest" if refusal[0] == 400 else "Forbidden", refusal[1])
    protocol = spdy.negotiate(offers, ACCEPTED) or ACCEPTED[1]
    stream = await open_stream()
    try:
        resp, channel = await bytechannel.upgrade(request, protocol)
        await ExecSession(channel, stream, opts, protocol).run()
    finally:
        await stream.close()
    return resp


class ExecSession(SpdyConn):
    """One exec or attach over SPDY: the client's streams, and the agent's stream they are relayed to."""

    def __init__(self, channel: ByteChannel, stream: ServerStream, opts: dict[str, Any], protocol: str) -> None:
        super().__init__(channel, "exec over SPDY")
        self.stream = stream
        self.opts = opts
        self.protocol = protocol
        self.expected = expected_streams(opts, protocol)
        self.sids: dict[str, int] = {}
        self.kinds: dict[int, str] = {}
        self.ready = asyncio.Event()
        self._resize = b""

    async def run(self) -> None:
        client = asyncio.create_task(self._from_client(), name="spdy-exec-client")
        ready = asyncio.create_task(self.ready.wait())
        try:
            await asyncio.wait({client, ready}, timeout=STREAM_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
            if not self.ready.is_set():
                if not client.done():
                    log.info("exec over SPDY: the client did not open its streams %s", sorted(self.expected))
                return
            await self._to_client()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(client), HANGUP_WAIT)
        except (ConnectionError, TunnelError):
            pass
        finally:
            ready.cancel()
            client.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await client
            with contextlib.suppress(Exception):
                await self.ch.close()

    async def _to_client(self) -> None:
        while (item := await self.stream.read()) is not None:
            ch, data = item
            kind = "stdout" if ch == STDOUT else "stderr" if ch == STDERR else ""
            sid = self.sids.get(kind)
            if sid is not None and data:
                await self.send(spdy.data(sid, data))
        for kind in ("stdout", "stderr"):
            if kind in self.sids:
                await self.send(spdy.data(self.sids[kind], b"", spdy.FLAG_FIN))
        body = error_stream_body(end_status(self.stream.exit, self.opts), self.protocol)
        err = self.sids["error"]
        if body:
            await self.send(spdy.data(err, body))
        await self.send(spdy.data(err, b"", spdy.FLAG_FIN))

    async def _from_client(self) -> None:
        await self.serve_frames()
        # the client hung up: a process still running is stopped (as when a WebSocket closes)
        await self.stream.close()

    async def on_stream(self, sid: int, headers: dict[str, list[str]]) -> None:
        kind = (headers.get("streamtype") or [""])[0]
        if kind in self.expected and kind not in self.sids:
            self.sids[kind] = sid
            self.kinds[sid] = kind
        else:
            log.info("exec over SPDY: unexpected stream type %r", kind)
        if self.expected <= self.sids.keys():
            self.ready.set()

    async def on_data(self, f: spdy.Data) -> None:
        kind = self.kinds.get(f.stream)
        if f.data:
            await self.send(spdy.window_update(f.stream, len(f.data)))
        if kind == "stdin":
            with contextlib.suppress(TunnelError):
                if f.data:
                    await self.stream.write_stdin(f.data)
                if f.flags & spdy.FLAG_FIN:
                    await self.stream.close_stdin()
        elif kind == "resize" and f.data:
            sizes, self._resize = take_sizes(self._resize + f.data)
            for w, h in sizes:
                with contextlib.suppress(TunnelError):
                    await self.stream.resize(w, h)
