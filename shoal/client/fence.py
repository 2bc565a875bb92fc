"""A transport that refuses writes while a condition is false: how a leader that lost its Lease stops acting.

A leader-elected component (the scheduler, the controllers) may be anywhere
when its leadership ends: in the middle of a reconcile, or frozen (SIGSTOP) and
thawed long after another server took over, with callbacks ready to run before
the elector's own timer gets a turn. Cancelling its tasks is not enough, since
cancellation happens only when the elector runs. So its client's transport
asks the fence (``leading()`` of ``shoal.leader.lease``, against the monotonic
clock) before every request that is not a read, immediately before handing it
to the inner transport, and refuses with ``NotLeadingError`` (a
``ConnectionError``: the client reports status 0 and callers treat it as a
transient failure) when the fence is down.

What remains is the instant between the check and the bytes leaving (no await
in between here, but the inner transport may await a connection): the renew
deadline is shorter than the lease duration by a margin that covers it.
Reads (GET, watches) pass: a stale read decides nothing by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager

from shoal.client.transport import JSON, StreamResponse, Transport

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class NotLeadingError(ConnectionError):
    """A write from a component whose leadership has ended (or not begun)."""


class FencedTransport:
    """``inner`` with every write checked against ``fence`` first; see the module docstring."""

    def __init__(self, inner: Transport, fence: Callable[[], bool], *, what: str = "component") -> None:
        self.inner = inner
        self.fence = fence
        self.what = what
        self.refused = 0  # writes refused so far (tests and diagnostics)

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: bytes | None = None, content_type: str = JSON,
                      timeout: float | None = None) -> tuple[int, bytes]:
        if method not in _READS and not self.fence():
            self.refused += 1
            raise NotLeadingError(f"{self.what} is not the leader: {method} {path} not sent")
        return await self.inner.request(method, path, params=params, body=body, content_type=content_type,
                                        timeout=timeout)

    def stream(self, method: str, path: str, *, params: Mapping[str, str] | None = None
               ) -> AbstractAsyncContextManager[StreamResponse]:
        if method not in _READS and not self.fence():
            self.refused += 1
            raise NotLeadingError(f"{self.what} is not the leader: {method} {path} not sent")
        return self.inner.stream(method, path, params=params)

    async def close(self) -> None:
        await self.inner.close()
