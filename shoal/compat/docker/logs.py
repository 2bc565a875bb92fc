"""``docker service logs`` / task logs: pod logs in Docker's multiplexed stream.

Docker frames each chunk with an 8-byte header (stream 1 = stdout, then the
big-endian length; ``stdcopy``) and, with ``details``, starts each line with
``com.docker.swarm.node.id=..,com.docker.swarm.service.id=..,com.docker.swarm.task.id=..``,
which the CLI turns into ``web.1.abc123@node``. The lines come from the pods'
``log`` subresource through ``shoal.client`` (kubelet keeps one stream per
container, so stdout and stderr arrive together, as stdout).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

from shoal.client import ApiClient, ApiException, object_path, resource


@dataclass(frozen=True, slots=True)
class LogSource:
    namespace: str
    pod: str
    node_id: str
    service_id: str
    task_id: str


def frame(payload: bytes, stream: int = 1) -> bytes:
    return struct.pack(">BxxxL", stream, len(payload)) + payload


def _line(src: LogSource, raw: bytes, *, details: bool, timestamps: bool) -> bytes:
    ts, msg = b"", raw
    if b" " in raw:
        ts, _, msg = raw.partition(b" ")  # the API's RFC 3339 timestamp
    prefix = (ts + b" ") if timestamps and ts else b""
    if details:
        d = (f"com.docker.swarm.node.id={quote(src.node_id)},com.docker.swarm.service.id={quote(src.service_id)},"
             f"com.docker.swarm.task.id={quote(src.task_id)} ").encode()
        prefix += d
    return prefix + msg + b"\n"


async def _pod_lines(client: ApiClient, src: LogSource, *, follow: bool, tail: int | None) -> AsyncIterator[bytes]:
    params = {"timestamps": "true"}
    if follow:
        params["follow"] = "true"
    if tail is not None:
        params["tailLines"] = str(tail)
    path = object_path(resource("pods"), src.namespace, src.pod, "log")
    try:
        async with client.stream(path, params=params) as resp:
            rest = b""
            async for chunk in resp.chunks():
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    yield line
            if rest:
                yield rest
    except ApiException:  # the pod went away, or has no log yet: nothing to show of it
        return


async def stream(client: ApiClient, sources: list[LogSource], *, follow: bool, tail: int | None,
                 details: bool, timestamps: bool) -> AsyncIterator[bytes]:
    """Framed log lines of every source; with ``follow``, interleaved as they come, until cancelled."""
    if not follow:
        for src in sources:
            async for line in _pod_lines(client, src, follow=False, tail=tail):
                yield frame(_line(src, line, details=details, timestamps=timestamps))
        return
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1024)

    async def pump(src: LogSource) -> None:
        async for line in _pod_lines(client, src, follow=True, tail=tail):
            await queue.put(frame(_line(src, line, details=details, timestamps=timestamps)))

    async def all_done() -> None:
        await asyncio.gather(*(pump(s) for s in sources), return_exceptions=True)
        await queue.put(None)

    runner = asyncio.create_task(all_done())
    try:
        while (item := await queue.get()) is not None:
            yield item
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
