"""The log backend: audit events as JSON lines in a file, rotated by size.

How an event reaches the file is upstream's ``--audit-log-mode``:

- ``blocking`` (upstream's default for the log backend): the events of one
  turn of the event loop are made into their lines and written together, in
  one ``write``, when that turn ends (made there, one after another, rather
  than each as it is emitted amid its request's work: the server spent
  10-35 us less CPU per audited create, docs/benchmarks.md; a record's
  fields a later stage sets are left out of an earlier stage's line, as in
  batch mode, ``event.event``).
  A RequestReceived is in the file before the request is handled; a
  ResponseComplete as soon as the turn that handed its response to the
  socket ends (upstream's blocking backend writes each event from the
  request's goroutine, before the response; one write per event here would
  stall the whole loop on every event, not one request: profiled at ~21 us
  of loop time per write on the shared machine, against ~10 events per turn
  written in one). A server killed has logged what it answered up to that
  instant, not 20 ms behind as the queue this replaced; a disk slower than
  the API slows the API down.
- ``batch``: a request only puts its event in a bounded buffer
  (``buffer_size`` events, ``--audit-log-buffer-size``; upstream's
  ``--audit-log-batch-buffer-size``); one writer task takes whatever has
  gathered within ``linger`` seconds (up to ``batch_max``), makes the lines and appends them
  in one write, so no request waits on a disk. When the buffer is full the
  event is dropped and counted (``dropped``, logged once a minute at most),
  as upstream's buffered backend drops when its channel is full.

Both write from the event loop, not a thread: a write lands in the page
cache, and a thread hop per batch cost ~80 us of server CPU per audited
create (GIL hand-offs; measured in docs/benchmarks.md), more than the whole
audit path otherwise costs. For the same reason a write to a file keeps the
GIL (``append``): the store's writer thread would otherwise take it at every
audit write and the loop wait to have it back.

Rotation is lumberjack's (which upstream uses): before a write would take
the file past ``max_size_mb`` (0: lumberjack's 100 MB), it is renamed to
``<name>-<UTC time>.<ext>`` (``audit-2026-12-01T10-00-00.000.log``) and a new
one started; beyond ``max_backups`` old files (0: keep all) the oldest are
removed. ``-`` as the path writes to standard output, never rotated.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from shoal.apiserver.audit.line import line

log = logging.getLogger(__name__)

_libc_write = ctypes.PyDLL(None, use_errno=True).write  # PyDLL: the call keeps the GIL (see ``append``)
_libc_write.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t)
_libc_write.restype = ctypes.c_ssize_t


def append(fd: int, data: bytes) -> int:
    """``os.write(fd, data)`` to a regular file, without letting go of the GIL while the kernel copies it.

    Why: ``os.write`` releases the GIL around the system call, and the store's writer thread (SQLite's
    commits) is usually waiting for it; it takes the GIL then, and the event loop, back from its ~5 us
    write, waits until the writer lets go again, a hand-off in each direction for each audit write. A
    write to a regular file lands in the page cache and does not wait on a peer, so holding the GIL
    through it costs the other thread those microseconds only (measured in docs/benchmarks.md: the
    audited server ~10 us less CPU per create). Not for pipes or terminals (``-``), which may block."""
    while True:
        n = _libc_write(fd, data, len(data))
        if n >= 0:
            return int(n)
        err = ctypes.get_errno()
        if err != errno.EINTR:
            raise OSError(err, os.strerror(err))
MODES = ("blocking", "batch")
DEFAULT_MAX_SIZE_MB = 100
_STOP = object()


def backup_name(path: Path, when: datetime) -> Path:
    """lumberjack's name for a rotated file: ``audit.log`` -> ``audit-2026-12-01T10-00-00.000.log``. Pure."""
    stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H-%M-%S.") + f"{when.microsecond // 1000:03d}"
    return path.with_name(f"{path.stem}-{stamp}{path.suffix}")


def backups(path: Path) -> list[Path]:
    """The rotated files of ``path``, oldest first (their names sort by time)."""
    prefix, suffix = f"{path.stem}-", path.suffix
    return sorted(p for p in path.parent.glob(f"{prefix}*{suffix}")
                  if p.name != path.name and p.name[len(prefix):len(prefix) + 4].isdigit())


class RotatingFile:
    """An append-only file rotated by size: plain blocking calls, one ``write`` system call per ``write``.

    Its size is counted as it is written (read once, when it is opened), so a write checks the limit
    without a ``stat``."""

    def __init__(self, path: str, *, max_size_mb: int = 0, max_backups: int = 0,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.stdout = path == "-"
        self.path = Path(path)
        self.max_size = (max_size_mb or DEFAULT_MAX_SIZE_MB) * 1024 * 1024
        self.max_backups = max_backups
        self._now = now
        self._fd: int | None = None
        self._size = 0

    def _open(self) -> int:
        if self._fd is None:
            if self.stdout:
                self._fd = sys.stdout.fileno()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._size = os.fstat(self._fd).st_size
        return self._fd

    def write(self, data: bytes) -> None:
        fd = self._open()
        if not self.stdout and self._size and self._size + len(data) > self.max_size:
            self.rotate()
            fd = self._open()
        n = os.write(fd, data) if self.stdout else append(fd, data)
        while n < len(data):  # a regular file takes it all at once; a pipe (standard output) may take part
            n += os.write(fd, memoryview(data)[n:])
        self._size += len(data)

    def rotate(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.rename(self.path, backup_name(self.path, self._now()))
        if self.max_backups:
            for old in backups(self.path)[:-self.max_backups]:
                with contextlib.suppress(FileNotFoundError):
                    old.unlink()

    def close(self) -> None:
        if self._fd is not None and not self.stdout:
            os.close(self._fd)
        self._fd = None
        self._size = 0


def encode(pending: Any) -> bytes:
    """One event as a JSON line: a ``recorder.Pending`` is made into its Event's line here (off the request
    path; ``line``), anything else (an Event, a dict) is encoded as it is."""
    return line(*pending) if isinstance(pending, tuple) else _encoder.encode(pending) + b"\n"


_encoder = msgspec.json.Encoder()


class LogBackend:
    """Events in, JSON lines out: written as they come (blocking), or by one writer task from a bounded
    buffer (batch)."""

    def __init__(self, sink: RotatingFile, *, mode: str = "blocking", buffer_size: int = 10_000,
                 batch_max: int = 400, linger: float = 0.02) -> None:
        if mode not in MODES:
            raise ValueError(f"--audit-log-mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.sink = sink
        self.mode = mode
        self.blocking = mode == "blocking"
        self.batch_max = batch_max
        self.linger = linger
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=buffer_size)  # batch mode's buffer
        self.dropped = 0
        self.accepted = 0  # events written or in the buffer (not dropped)
        self.written = 0
        self.failed = 0  # events a write error lost
        self._warned = 0.0
        self._task: asyncio.Task[None] | None = None
        self._turn: list[Any] = []  # blocking mode: the events of this loop turn, written at its end

    async def start(self) -> None:
        if not self.blocking:
            self._task = asyncio.create_task(self._run(), name="audit-log-writer")

    def emit(self, ev: Any) -> None:
        self.accepted += 1
        if self.blocking:  # in the file at the end of this loop turn (see the module's docstring)
            if not self._turn:
                asyncio.get_running_loop().call_soon(self._write_turn)
            self._turn.append(ev)  # made into its line with the turn's others, when the turn ends
            return
        try:
            self.queue.put_nowait(ev)
        except asyncio.QueueFull:
            self.accepted -= 1
            self.dropped += 1
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                log.error("audit buffer queue blocked: %d events dropped so far", self.dropped)

    def _write_turn(self) -> None:
        events, self._turn = self._turn, []
        if events:
            self._write(b"".join([line(*ev) if type(ev) is tuple else encode(ev) for ev in events]), len(events))

    def _write(self, data: bytes, events: int) -> None:
        try:
            self.sink.write(data)  # to the page cache, from the event loop (see the module's docstring)
            self.written += events
        except OSError as e:
            self.failed += events
            log.error("writing %d audit events failed: %s", events, e)

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            if self.linger and self.queue.qsize() < self.batch_max:
                await asyncio.sleep(self.linger)  # let a batch gather: one encode pass and one write for many
            while len(batch) < self.batch_max and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            stop = batch[-1] is _STOP
            events = [e for e in batch if e is not _STOP]
            if events:
                self._write(b"".join(encode(e) for e in events), len(events))
            if stop:
                return

    async def flush(self) -> None:
        """Wait until every event emitted so far is in the file (tests, shutdown)."""
        self._write_turn()
        while self.written + self.failed < self.accepted:
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._task is not None:
            await self.queue.put(_STOP)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._write_turn()
        self.sink.close()
