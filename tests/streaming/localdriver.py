"""A small real driver for the tunnel tests: logs from real files, exec as real processes.

It implements only the ``logs`` and ``exec`` parts of the ``Driver`` protocol,
which is all the tunnel calls. A "container" ``ID`` is a log file
``ROOT/ID.log`` of lines ``<RFC 3339 time> <text>`` (the way Docker keeps
timestamps beside each line); ``ROOT/ID.done`` marks it stopped, which ends a
follow. ``exec`` runs the command as a host process in ``ROOT`` (with a
pseudo-terminal when ``tty``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import os
import pty
import struct
import termios
from collections.abc import AsyncIterator
from pathlib import Path

from shoal.agent.drivers.base import DriverError


def stamp(t: dt.datetime | None = None) -> str:
    return (t or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def append_log(root: Path, cid: str, *lines: str, at: dt.datetime | None = None) -> None:
    with open(root / f"{cid}.log", "a") as f:
        for line in lines:
            f.write(f"{stamp(at)} {line}\n")


class LocalDriver:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   since_seconds: int | None = None, timestamps: bool = False) -> AsyncIterator[bytes]:
        path = self.root / f"{container_id}.log"
        done = self.root / f"{container_id}.done"
        cutoff = None
        if since_seconds is not None:
            cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=since_seconds)

        def shown(line: str) -> bytes | None:
            ts, _, text = line.partition(" ")
            if cutoff is not None and dt.datetime.fromisoformat(ts[:26] + "+00:00") < cutoff:
                return None
            return (line if timestamps else text).encode()

        with open(path) as f:
            lines = f.readlines()
            if tail is not None:
                lines = lines[-tail:] if tail else []
            out = [b for b in map(shown, lines) if b is not None]
            if out:
                yield b"".join(out)
            while follow:
                line = f.readline()
                if line:
                    b = shown(line)
                    if b is not None:
                        yield b
                    continue
                if done.exists():
                    return
                await asyncio.sleep(0.02)

    async def exec(self, container_id: str, command: list[str], *, tty: bool = False,
                   stdin: bool = False) -> LocalExec:
        try:
            if tty:
                return await LocalExec.start_tty(command, cwd=self.root)
            return await LocalExec.start_pipes(command, cwd=self.root, stdin=stdin)
        except FileNotFoundError:
            raise DriverError(f'exec: "{command[0]}": executable file not found in $PATH') from None


class LocalExec:
    """An ExecSession over a local process (pipes, or a pty master)."""

    def __init__(self, proc: asyncio.subprocess.Process, *, master: int | None = None) -> None:
        self.proc = proc
        self.master = master
        self.queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue(maxsize=16)
        self.readers: list[asyncio.Task[None]] = []

    @classmethod
    async def start_pipes(cls, command: list[str], *, cwd: Path, stdin: bool) -> LocalExec:
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=cwd, stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        s = cls(proc)
        assert proc.stdout is not None and proc.stderr is not None
        s.readers = [asyncio.create_task(s._pump(proc.stdout, 1)), asyncio.create_task(s._pump(proc.stderr, 2))]
        return s

    @classmethod
    async def start_tty(cls, command: list[str], *, cwd: Path) -> LocalExec:
        master, slave = pty.openpty()

        def controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            proc = await asyncio.create_subprocess_exec(
                *command, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_tty,
                env={**os.environ, "TERM": "xterm", "PS1": "$ "})
        finally:
            os.close(slave)
        s = cls(proc, master=master)
        s.readers = [asyncio.create_task(s._pump_pty())]
        return s

    async def _pump(self, reader: asyncio.StreamReader, channel: int) -> None:
        while chunk := await reader.read(65536):
            await self.queue.put((channel, chunk))
        await self.queue.put(None)

    async def _pump_pty(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.master is not None
        while True:
            try:
                chunk = await loop.run_in_executor(None, os.read, self.master, 65536)
            except OSError:  # EIO: the terminal's last process is gone
                break
            if not chunk:
                break
            await self.queue.put((1, chunk))
        await self.queue.put(None)

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            os.write(self.master, data)
            return
        if self.proc.stdin is not None:
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is None and self.proc.stdin is not None:
            self.proc.stdin.close()

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        ended = 0
        while ended < len(self.readers):
            item = await self.queue.get()
            if item is None:
                ended += 1
                continue
            yield item

    async def resize(self, width: int, height: int) -> None:
        if self.master is not None:
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    async def wait(self) -> int:
        code = await self.proc.wait()
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None
        return code

    async def kill(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        for t in self.readers:
            t.cancel()
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None
