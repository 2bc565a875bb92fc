"""Readings of another process from /proc: CPU time, memory, and py-spy profiles.

The benchmarks report the server's (and etcd's, and the load generators') CPU
next to every rate, because on a 2-core machine the question "who is the
bottleneck" is answered by who sits at 100% of a core.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (all its threads) so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM, ...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def find_pid(cmdline_part: str) -> int | None:
    """The pid of the process whose command line contains ``cmdline_part`` (a unique path)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline_part in cmd:
            return int(entry.name)
    return None


@dataclass
class CpuMeter:
    """CPU used by some processes between ``start`` and ``stop``, as % of one core."""

    pids: dict[str, int]

    def start(self) -> None:
        self._t0 = os.times().elapsed
        self._c0 = {k: cpu_seconds(p) for k, p in self.pids.items()}

    def stop(self) -> dict[str, float]:
        wall = os.times().elapsed - self._t0
        return {k: round(100 * (cpu_seconds(p) - self._c0[k]) / wall, 1) for k, p in self.pids.items()}


class Profiler:
    """``py-spy record`` of a pid while a phase runs (only when asked for and installed)."""

    def __init__(self, out_dir: Path | None) -> None:
        self.out_dir = out_dir
        self.binary = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def enabled(self) -> bool:
        return self.out_dir is not None and Path(self.binary).exists()

    def start(self, pid: int, name: str) -> None:
        if not self.enabled:
            return
        assert self.out_dir is not None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._path = self.out_dir / f"{name}.txt"
        self._proc = subprocess.Popen(
            [self.binary, "record", "--pid", str(pid), "--format", "raw", "--threads",
             "--rate", "200", "--nonblocking", "-o", str(self._path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def stop(self) -> Path | None:
        if self._proc is None:
            return None
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        return self._path


def summarize(collapsed: Path, *, top: int = 25) -> str:
    """The hottest functions of a py-spy raw (collapsed) profile: self and inclusive share."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return "(no samples)"
    lines = [f"{total} samples", "-- self --"]
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    lines.append("-- inclusive --")
    lines += [f"{100 * n / total:5.1f}%  {f}" for f, n in incl.most_common(top)]
    return "\n".join(lines)
