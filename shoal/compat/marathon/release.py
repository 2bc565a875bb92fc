"""The loop that starts Marathon apps held back for their dependencies, run by ``shoal server``.

A group deployment writes its later stages with 0 replicas and what they wait
for in annotations (``shoal.formats.marathon.holdback``); this loop, once a
second, lists the Marathon workloads and starts those whose dependencies are
healthy. Level-triggered and stateless: a server restart resumes it from the
store, and a missed pass is made up by the next. It acts with the server's own
client: the hold-back was authorised when the caller's request wrote it, and
the release only finishes that write (as a Deployment controller scales a
ReplicaSet its user could not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from shoal.client import ApiClient, ApiException
from shoal.compat.marathon.backend import MarathonBackend
from shoal.formats.marathon.errors import MarathonError

log = logging.getLogger("shoal.compat.marathon")
INTERVAL = 1.0


class Releaser:
    def __init__(self, client: ApiClient, *, interval: float = INTERVAL) -> None:
        self.backend = MarathonBackend(client)
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="marathon-release")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                for aid in await self.backend.release_held():
                    log.info("marathon: started %s, its dependencies are healthy", aid)
            except (ApiException, MarathonError) as e:
                log.debug("marathon release pass: %s", e)
            except Exception:
                log.exception("marathon release pass failed")
            await asyncio.sleep(self.interval)
