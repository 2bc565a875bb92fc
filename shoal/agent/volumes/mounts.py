"""Mounting on the node: tmpfs, unmount, and "is this already mounted?" from the kernel's own table.

Whether a path is a mount point is read from ``/proc/self/mountinfo`` (parsed
by the pure ``mount_points``), never remembered: an agent that restarts finds
its tmpfs and loop-device volumes still mounted and must not mount them
again. ``mount(2)`` and ``umount2(2)`` are called through libc directly (no
``mount`` process per volume: a pod with four volumes starts in the time of
one fork less than four).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class MountFailed(OSError):
    pass


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (``\\040``)."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 4 <= len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points(mountinfo: str) -> dict[str, tuple[str, str]]:
    """Mount point -> (file system type, source), from the text of ``/proc/self/mountinfo``. Pure."""
    out: dict[str, tuple[str, str]] = {}
    for line in mountinfo.splitlines():
        parts = line.split(" ")
        if len(parts) < 10 or "-" not in parts:
            continue
        sep = parts.index("-")
        out[_unescape(parts[4])] = (parts[sep + 1], _unescape(parts[sep + 2]))
    return out


def current() -> dict[str, tuple[str, str]]:
    return mount_points(Path("/proc/self/mountinfo").read_text())


def is_mounted(path: str | Path) -> bool:
    return os.path.realpath(path) in current()


def mount(source: str, target: str | Path, fstype: str, options: str = "", flags: int = 0) -> None:
    rc = _libc.mount(source.encode(), str(target).encode(), fstype.encode(), ctypes.c_ulong(flags),
                     options.encode() if options else None)
    if rc != 0:
        err = ctypes.get_errno()
        raise MountFailed(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def mount_tmpfs(target: str | Path, size: int | None = None, mode: int = 0o755) -> None:
    opts = f"mode={mode:o}" + (f",size={size}" if size else "")
    mount("tmpfs", target, "tmpfs", opts)


def unmount(target: str | Path) -> None:
    """Unmount (lazily, so a process still holding a file cannot block the pod's removal)."""
    if _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
            raise MountFailed(err, f"unmount {target}: {os.strerror(err)}")


def unmount_all_under(root: str | Path) -> None:
    """Every mount at or below ``root``, deepest first."""
    base = os.path.realpath(root)
    for mp in sorted((m for m in current() if m == base or m.startswith(base + "/")), key=len, reverse=True):
        unmount(mp)
