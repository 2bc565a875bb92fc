"""CPU and memory of containers and of the node, read from the cgroup file system.

Why cgroups, and which files: a container runtime puts every container in a
cgroup of its own, and the kernel keeps its counters there, so the agent reads
them directly (as cAdvisor does for the kubelet) instead of asking the runtime
for ``docker stats`` (one HTTP stream per container, ~100x dearer). Three
layouts exist and all three are read:

- **v1** (one hierarchy per controller): CPU from ``cpuacct/<path>/cpuacct.usage``
  (nanoseconds), memory from ``memory/<path>/memory.usage_in_bytes`` minus
  ``total_inactive_file`` of ``memory.stat`` (cAdvisor's working set);
- **v2** (one unified hierarchy): ``cpu.stat``'s ``usage_usec`` and
  ``memory.current`` minus ``memory.stat``'s ``inactive_file``;
- **hybrid** (v1 controllers plus a v2 tree at ``unified/`` that carries no
  controllers, which is this machine's layout): the v1 controllers, because the
  unified tree has no ``memory.current`` or ``cpu.stat`` usage for containers.

Where a runtime puts a container differs (Podman with cgroupfs:
``libpod_parent/libpod-<id>``; with systemd: ``machine.slice/libpod-<id>.scope``;
Docker: ``docker/<id>`` or ``system.slice/docker-<id>.scope``), so the reader
does not guess one path: it walks the controller's tree a few levels deep once,
remembers every directory whose name holds a 64-hex container id, and walks
again only when an id is missing (a container created since).

The node's figures come from the root cgroup (v1), or from ``/proc/stat`` and
``/proc/meminfo`` (v2, whose root has no usage files), as the kubelet's do.
Parsing is pure (``parse_*``); ``CgroupReader`` does the reading.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Layout = Literal["v1", "v2", "hybrid", "none"]

_ID = re.compile(r"[0-9a-f]{64}")
_WALK_DEPTH = 4
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class Usage:
    """Cumulative CPU time (ns) and the memory working set (bytes) of one cgroup at one moment."""

    cpu_ns: int
    memory_bytes: int


def detect_layout(root: Path) -> Layout:
    """Which cgroup layout is mounted at ``root`` (``/sys/fs/cgroup``)."""
    if (root / "cgroup.controllers").exists():
        return "v2"
    if (root / "cpuacct").is_dir() or (root / "cpu,cpuacct").is_dir():
        return "hybrid" if (root / "unified").is_dir() else "v1"
    return "none"


def parse_keyed(text: str) -> dict[str, int]:
    """A ``key value`` per line file (``memory.stat``, ``cpu.stat``) as a dict of ints."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def working_set(usage: int, stat: dict[str, int], *, v2: bool) -> int:
    """cAdvisor's working set: usage minus inactive file pages, never below zero."""
    inactive = stat.get("inactive_file" if v2 else "total_inactive_file", 0)
    return max(0, usage - inactive)


def parse_proc_stat_cpu(text: str) -> int:
    """The CPU time the whole machine spent busy (ns), from ``/proc/stat``'s first line."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = [int(f) for f in line.split()[1:]]
            busy = sum(fields[:3]) + sum(fields[5:8])  # user nice system, irq softirq steal (not idle, iowait)
            return busy * 1_000_000_000 // _CLK_TCK
    return 0


def parse_meminfo_working_set(text: str) -> int:
    """The machine's working set (bytes) from ``/proc/meminfo``: total - free - inactive file pages."""
    kb: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            kb[key] = int(parts[0])
    return max(0, kb.get("MemTotal", 0) - kb.get("MemFree", 0) - kb.get("Inactive(file)", 0)) * 1024


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


class CgroupReader:
    """Reads containers' and the node's usage from one cgroup mount (``/sys/fs/cgroup`` by default)."""

    def __init__(self, root: Path = Path("/sys/fs/cgroup"), *, proc: Path = Path("/proc")) -> None:
        self.root = root
        self.proc = proc
        self.layout: Layout = detect_layout(root)
        v1 = self.layout in ("v1", "hybrid")
        cpu = root / "cpuacct" if (root / "cpuacct").is_dir() else root / "cpu,cpuacct"
        self._cpu_root = cpu if v1 else root
        self._mem_root = root / "memory" if v1 else root
        self._paths: dict[str, Path] = {}  # container id -> its directory under the CPU root

    @property
    def v2(self) -> bool:
        return self.layout == "v2"

    def _walk(self) -> None:
        found: dict[str, Path] = {}
        stack = [(self._cpu_root, 0)]
        while stack:
            d, depth = stack.pop()
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            for e in entries:
                if not e.is_dir(follow_symlinks=False):
                    continue
                m = _ID.search(e.name)
                if m is not None:
                    found.setdefault(m.group(0), Path(e.path))
                elif depth + 1 < _WALK_DEPTH:
                    stack.append((Path(e.path), depth + 1))
        self._paths = found

    def container_dir(self, container_id: str) -> Path | None:
        """The container's cgroup directory (under the CPU controller's tree), walking once more on a miss."""
        path = self._paths.get(container_id)
        if path is None or not path.is_dir():
            self._walk()
            path = self._paths.get(container_id)
        return path

    def container(self, container_id: str) -> Usage | None:
        """A container's usage; None when it has no cgroup (not running, or not on this machine)."""
        if self.layout == "none":
            return None
        cpu_dir = self.container_dir(container_id)
        if cpu_dir is None:
            return None
        rel = cpu_dir.relative_to(self._cpu_root)
        return self._usage(cpu_dir, self._mem_root / rel)

    def _usage(self, cpu_dir: Path, mem_dir: Path) -> Usage | None:
        if self.v2:
            stat = _read(cpu_dir / "cpu.stat")
            current = _read_int(mem_dir / "memory.current")
            if stat is None or current is None:
                return None
            cpu_ns = parse_keyed(stat).get("usage_usec", 0) * 1000
            mstat = parse_keyed(_read(mem_dir / "memory.stat") or "")
            return Usage(cpu_ns, working_set(current, mstat, v2=True))
        cpu = _read_int(cpu_dir / "cpuacct.usage")
        mem = _read_int(mem_dir / "memory.usage_in_bytes")
        if cpu is None or mem is None:
            return None
        mstat = parse_keyed(_read(mem_dir / "memory.stat") or "")
        return Usage(cpu, working_set(mem, mstat, v2=False))

    def node(self) -> Usage | None:
        """The whole machine's usage: the root cgroup (v1), else ``/proc``."""
        if self.layout in ("v1", "hybrid"):
            u = self._usage(self._cpu_root, self._mem_root)
            if u is not None:
                return u
        stat = _read(self.proc / "stat")
        meminfo = _read(self.proc / "meminfo")
        if stat is None or meminfo is None:
            return None
        return Usage(parse_proc_stat_cpu(stat), parse_meminfo_working_set(meminfo))

    def group_pids(self, pgid: int) -> list[int]:
        """The processes of one process group (a ``process`` driver container and what it started)."""
        out: list[int] = []
        try:
            entries = os.listdir(self.proc)
        except OSError:
            return out
        for name in entries:
            if not name.isdigit():
                continue
            stat = _read(self.proc / name / "stat")
            if stat is not None and stat.rsplit(")", 1)[-1].split()[2:3] == [str(pgid)]:
                out.append(int(name))
        return out

    def process(self, pids: list[int]) -> Usage | None:
        """The summed usage of host processes (the ``process`` driver's containers are no cgroups)."""
        cpu = mem = 0
        seen = False
        for pid in pids:
            stat = _read(self.proc / str(pid) / "stat")
            status = _read(self.proc / str(pid) / "status")
            if stat is None or status is None:
                continue
            seen = True
            fields = stat.rsplit(")", 1)[-1].split()
            cpu += (int(fields[11]) + int(fields[12])) * 1_000_000_000 // _CLK_TCK  # utime + stime
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    mem += int(line.split()[1]) * 1024
        return Usage(cpu, mem) if seen else None
