"""One SPDY/3.1 session over a byte channel: what every kubectl stream session shares.

Port-forward (``shoal.apiserver.portforward``) and exec/attach
(``shoal.apiserver.spdyexec``) differ only in what their streams mean; the
session mechanics are the same and live here: frames reassembled from the
channel's slices (``spdy.FrameReader``), each SYN_STREAM's headers decoded
through the session's compression context and answered with a SYN_REPLY,
PING echoed, GOAWAY ending the session, HEADERS decoded only to keep the
context in step, and every write serialised (frames from several tasks never
interleave). Subclasses say what a new stream, a data frame and a reset mean.
"""

from __future__ import annotations

import asyncio
import logging
import struct

from shoal.apiserver import spdy
from shoal.apiserver.bytechannel import ByteChannel

log = logging.getLogger(__name__)


class SpdyConn:
    def __init__(self, channel: ByteChannel, what: str) -> None:
        self.ch = channel
        self.what = what  # for the log
        self.codec = spdy.HeaderCodec()
        self.reader = spdy.FrameReader()
        self._lock = asyncio.Lock()

    async def send(self, raw: bytes) -> None:
        async with self._lock:
            if not self.ch.closed:
                await self.ch.send(raw)

    async def serve_frames(self) -> None:
        """Handle the client's frames until it hangs up, says GOAWAY or breaks the protocol."""
        try:
            while (chunk := await self.ch.recv()) is not None:
                for f in self.reader.feed(chunk):
                    if isinstance(f, spdy.Data):
                        await self.on_data(f)
                    else:
                        await self._on_control(f)
        except spdy.ProtocolError as e:
            log.info("%s: %s", self.what, e)
        except (ConnectionError, RuntimeError):
            pass

    async def _on_control(self, f: spdy.Control) -> None:
        if f.type == spdy.SYN_STREAM:
            sid, block = spdy.syn_stream_id(f.body)
            headers = self.codec.decode(block)
            await self.send(spdy.syn_reply(sid, self.codec.encode({})))
            await self.on_stream(sid, headers)
        elif f.type == spdy.PING:
            await self.send(spdy.control(spdy.PING, f.body))
        elif f.type == spdy.RST_STREAM and len(f.body) >= 4:
            await self.on_reset(struct.unpack(">I", f.body[:4])[0] & 0x7FFFFFFF)
        elif f.type == spdy.GOAWAY:
            await self.ch.close()
        elif f.type == spdy.HEADERS and len(f.body) >= 4:
            self.codec.decode(f.body[4:])  # keeps the peer's compression context in step

    async def on_stream(self, sid: int, headers: dict[str, list[str]]) -> None:
        """The client opened stream ``sid`` (already answered)."""

    async def on_data(self, f: spdy.Data) -> None:
        """A data frame from the client."""

    async def on_reset(self, sid: int) -> None:
        """The client reset stream ``sid``."""
