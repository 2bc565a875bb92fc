"""SPDY/3.1 framing, as much as ``kubectl port-forward`` speaks (client-go's spdystream).

kubectl 1.30+ tunnels SPDY inside WebSocket binary messages (subprotocol
``SPDY/3.1+portforward.k8s.io``): the messages are slices of one SPDY byte
stream, so ``FrameReader`` reassembles frames from whatever slices arrive.
Frames: a control frame is ``1|version:15 type:16 flags:8 length:24`` then its
body; a data frame is ``0|stream:31 flags:8 length:24`` then data. Header
blocks (in SYN_STREAM, SYN_REPLY, HEADERS) are name/value pairs with 32-bit
lengths, zlib-compressed with the spec's dictionary, one compression context
per direction for the whole session (``HeaderCodec``), each block ending on a
sync flush. Everything here is pure (no I/O).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_FRAME = 16 * 1024 * 1024
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5


def _dictionary() -> bytes:
    """The SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00, 2.6.10.1): length-prefixed words, then text."""
    words = str.split(
        "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges age "
        "allow authorization cache-control connection content-base content-encoding content-language content-length "
        "content-location content-md5 content-range content-type date etag expect expires from host if-match "
        "if-modified-since if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
        "proxy-authenticate proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
        "user-agent vary via warning www-authenticate method get status"
    ) + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
    head = b"".join(struct.pack(">I", len(w)) + w.encode() for w in words)
    tail = (
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
        "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
        "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
        "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
        "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
        "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
    )
    return head + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3.1."""


@dataclass(slots=True)
class Control:
    type: int
    flags: int
    body: bytes


@dataclass(slots=True)
class Data:
    stream: int
    flags: int
    data: bytes


@dataclass(slots=True)
class FrameReader:
    """Frames out of a byte stream that arrives in arbitrary slices."""

    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, chunk: bytes) -> list[Control | Data]:
        self._buf += chunk
        out: list[Control | Data] = []
        while len(self._buf) >= 8:
            length = int.from_bytes(self._buf[5:8], "big")
            if length > MAX_FRAME:
                raise ProtocolError(f"frame of {length} bytes")
            if len(self._buf) < 8 + length:
                break
            head, body = bytes(self._buf[:8]), bytes(self._buf[8:8 + length])
            del self._buf[:8 + length]
            flags = head[4]
            if head[0] & 0x80:
                version = struct.unpack(">H", head[:2])[0] & 0x7FFF
                if version != VERSION:
                    raise ProtocolError(f"SPDY version {version}")
                out.append(Control(struct.unpack(">H", head[2:4])[0], flags, body))
            else:
                out.append(Data(struct.unpack(">I", head[:4])[0] & 0x7FFFFFFF, flags, body))
        return out


def control(kind: int, body: bytes, flags: int = 0) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body


def data(stream: int, payload: bytes, flags: int = 0) -> bytes:
    return struct.pack(">II", stream & 0x7FFFFFFF, (flags << 24) | len(payload)) + payload


class HeaderCodec:
    """One session's two header compression contexts (ours and the peer's)."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY,
                                         zdict=DICTIONARY)

    def decode(self, block: bytes) -> dict[str, list[str]]:
        try:
            raw = self._inflate.decompress(block)
        except zlib.error as e:
            raise ProtocolError(f"header block: {e}") from None
        out: dict[str, list[str]] = {}
        try:
            (n,), pos = struct.unpack_from(">I", raw, 0), 4
            for _ in range(n):
                (kl,) = struct.unpack_from(">I", raw, pos)
                name = raw[pos + 4:pos + 4 + kl].decode()
                pos += 4 + kl
                (vl,) = struct.unpack_from(">I", raw, pos)
                value = raw[pos + 4:pos + 4 + vl].decode()
                pos += 4 + vl
                out.setdefault(name.lower(), []).extend(value.split("\x00"))
        except (struct.error, UnicodeDecodeError) as e:
            raise ProtocolError(f"header block: {e}") from None
        return out

    def encode(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers)) + b"".join(
            struct.pack(">I", len(k)) + k.lower().encode() + struct.pack(">I", len(v.encode())) + v.encode()
            for k, v in headers.items())
        return self._deflate.compress(raw) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def syn_stream_id(body: bytes) -> tuple[int, bytes]:
    """A SYN_STREAM's stream id and header block."""
    if len(body) < 10:
        raise ProtocolError("short SYN_STREAM")
    return struct.unpack(">I", body[:4])[0] & 0x7FFFFFFF, body[10:]


def syn_reply(stream: int, block: bytes, flags: int = 0) -> bytes:
    return control(SYN_REPLY, struct.pack(">I", stream) + block, flags)


def rst_stream(stream: int, status: int) -> bytes:
    return control(RST_STREAM, struct.pack(">II", stream, status))


def window_update(stream: int, delta: int) -> bytes:
    return control(WINDOW_UPDATE, struct.pack(">II", stream, delta))


def negotiate(offered: list[str], accepted: tuple[str, ...]) -> str | None:
    """The stream protocol of a plain SPDY upgrade (``X-Stream-Protocol-Version``): the client's first offer
    that the server accepts, as upstream's ``httpstream.Handshake``; ``None`` when there is none."""
    return next((p for p in offered if p in accepted), None)


def handshake_error(offered: list[str], accepted: tuple[str, ...]) -> tuple[int, str] | None:
    """Why a plain SPDY upgrade offering ``offered`` is refused (status, message, worded as upstream), or ``None``."""
    if not offered:
        return 400, "unable to upgrade: X-Stream-Protocol-Version is required"
    if negotiate(offered, accepted) is None:
        return 403, (f"unable to upgrade: unable to negotiate protocol: client supports [{' '.join(offered)}], "
                     f"server accepts [{' '.join(accepted)}]")
    return None
