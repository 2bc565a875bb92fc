"""Random identifiers for new objects: uids and generateName suffixes.

``uuid.uuid4()`` and ``secrets.choice`` each read the kernel's random source
(one system call per uid, one per suffix character). In the server a system
call releases the GIL, and the event loop then waits for the store's threads
to hand it back, so each costs far more than its few microseconds. The same
kernel randomness is read here 4 KiB at a time and handed out from a buffer.
"""

from __future__ import annotations

import os

_POOL_BYTES = 4096
_pool = bytearray()


def _take(n: int) -> bytearray:
    global _pool
    if len(_pool) < n:
        _pool = bytearray(os.urandom(_POOL_BYTES))
    out = _pool[-n:]
    del _pool[-n:]
    return out


def new_uid() -> str:
    """A random (version 4, RFC 4122 variant) UUID, as ``uuid.uuid4()`` formats it."""
    b = _take(16)
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def random_suffix(alphabet: str, n: int) -> str:
    """``n`` characters drawn uniformly from ``alphabet`` (at most 256 characters)."""
    size = len(alphabet)
    if not 0 < size <= 256:
        raise ValueError("the alphabet must have 1 to 256 characters")
    limit = 256 - 256 % size  # bytes at or above this would favour the first characters
    out: list[str] = []
    while len(out) < n:
        for byte in _take(n - len(out) + 2):
            if byte < limit and len(out) < n:
                out.append(alphabet[byte % size])
    return "".join(out)
