"""A component of ``shoal server`` run as a child process, restarted when it dies.

``shoal server`` stays one command; a component that is better off on a core
of its own (the scheduler, see ``shoal.scheduler.main``) runs as a child that
talks to the API over the server's private socket. The child shares the
server's stdout/stderr (one log), is in the server's process group only for
signals we send (it has a session of its own so a terminal's Ctrl-C reaches
the server, which then stops it in order), and is started again with growing
back-off if it exits while the server runs: a dead scheduler must not leave
pods Pending for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

log = logging.getLogger(__name__)


def python_module(module: str, args: list[str]) -> list[str]:
    """The command that runs ``module`` of shoal with this interpreter."""
    return [sys.executable, "-m", module, *args]


class ChildComponent:
    """``cmd`` run and restarted; ``output``: a file its stdout and stderr go to (default: the server's)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str] | None = None, *, output: Any = None,
                 restart_base: float = 0.5, restart_max: float = 30.0, stop_timeout: float = 15.0) -> None:
        self.name = name
        self.cmd = cmd
        self.env = env or {}
        self.output = output
        self.restart_base = restart_base
        self.restart_max = restart_max
        self.stop_timeout = stop_timeout
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        await self._spawn()
        self._task = asyncio.create_task(self._supervise(), name=f"child-{self.name}")

    async def _spawn(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.cmd, env={**os.environ, **self.env}, stdin=asyncio.subprocess.DEVNULL, stdout=self.output,
            stderr=self.output, start_new_session=True)
        log.info("%s: started as process %d", self.name, self.proc.pid)

    async def _supervise(self) -> None:
        delay = self.restart_base
        loop = asyncio.get_running_loop()
        while not self._stopping:
            assert self.proc is not None
            started = loop.time()
            code = await self.proc.wait()
            if self._stopping:
                return
            if loop.time() - started > 60:  # it ran a good while: the next failure starts the back-off over
                delay = self.restart_base
            log.warning("%s: process %d exited with %s; starting it again in %.1f s",
                        self.name, self.proc.pid, code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.restart_max)
            if self._stopping:
                return
            self.restarts += 1
            try:
                await self._spawn()
            except OSError as e:
                log.error("%s: cannot start: %s", self.name, e)

    async def stop(self) -> None:
        self._stopping = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


    def exited(self) -> int | None:
        """The exit code of the process that ran last, None while it runs (or before it started)."""
        return None if self.proc is None else self.proc.returncode


__all__ = ["ChildComponent", "python_module"]
