"""A tiny container monitor for the ``process`` driver (what conmon is to Podman).

``python -m shoal.agent.drivers.conmon LOG EXIT -- CMD ARGS...`` runs CMD,
writes its stdout and stderr to LOG in the CRI log format (``<time> stdout F
<line>``, ``P`` for a partial line), forwards SIGTERM/SIGINT to it, and writes
its exit code (128+signal when killed) to EXIT. Because it outlives the agent,
logs keep flowing and the exit code is known even when the agent restarts and
adopts the process later. The command runs in its own process group (its id is
written to EXIT.pgid), so a stop reaches everything it started.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import selectors
import signal
import subprocess
import sys


def _ts() -> bytes:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: conmon LOG EXIT -- CMD [ARGS...]", file=sys.stderr)
        return 2
    log_path, exit_path, cmd = argv[0], argv[1], argv[3:]
    log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - lives as long as this process
    try:
        # its own process group: a signal reaches the command and everything it started, as
        # stopping a container's PID 1 does
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 process_group=0)
    except OSError as e:
        log.write(_ts() + b" stderr F " + str(e).encode() + b"\n")
        _write_exit(exit_path, 127)
        return 127
    _write_exit(exit_path + ".pgid", child.pid)

    def forward(sig: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    sel = selectors.DefaultSelector()
    assert child.stdout is not None and child.stderr is not None
    sel.register(child.stdout, selectors.EVENT_READ, b"stdout")
    sel.register(child.stderr, selectors.EVENT_READ, b"stderr")
    partial: dict[bytes, bytes] = {b"stdout": b"", b"stderr": b""}
    open_streams = 2
    while open_streams:
        for key, _ in sel.select():
            stream: bytes = key.data
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
                if partial[stream]:
                    log.write(_ts() + b" " + stream + b" P " + partial[stream] + b"\n")
                    partial[stream] = b""
                continue
            buf = partial[stream] + data
            *lines, rest = buf.split(b"\n")
            for line in lines:
                log.write(_ts() + b" " + stream + b" F " + line + b"\n")
            partial[stream] = rest
    code = child.wait()
    _write_exit(exit_path, 128 - code if code < 0 else code)
    return 0


def _write_exit(path: str, code: int) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(code))
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
