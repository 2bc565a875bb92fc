"""The wire format of the node tunnel, shared by its two ends.

A node agent keeps one WebSocket open to the API server (``PATH``, subprotocol
``SUBPROTOCOL``); log and exec streams are multiplexed over it as binary frames:
one byte of kind, four bytes of stream id, then the payload. Each stream has a
flow-control window of ``WINDOW_SIZE`` bytes per direction, granted back with
``WINDOW`` frames. The server side lives in ``shoal.apiserver.tunnel``, the
agent side in ``shoal.agent.tunnel``; both take the format from here.
"""

from __future__ import annotations

import struct

PATH = "/shoal/v1/tunnel"
SUBPROTOCOL = "shoal-tunnel.v1"

OPEN, READY, ERROR, DATA, EOF, RESIZE, WINDOW, EXIT, CLOSE = range(1, 10)
WINDOW_SIZE = 256 * 1024  # DATA bytes in flight per stream and direction
MAX_CHUNK = 32 * 1024  # the largest DATA payload one frame carries

_HEADER = struct.Struct(">BI")


def frame(kind: int, stream: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, stream) + payload


def parse(raw: bytes) -> tuple[int, int, bytes]:
    if len(raw) < _HEADER.size:
        raise ValueError(f"short tunnel frame ({len(raw)} bytes)")
    kind, stream = _HEADER.unpack_from(raw)
    return kind, stream, raw[_HEADER.size:]
