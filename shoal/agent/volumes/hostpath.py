"""``hostPath`` volumes: the ``type`` checks, as upstream's ``hostPathTypeChecker``.

``decide(type, mode)`` is pure: given what ``lstat`` found at the path
(``None``: nothing there) it answers ``"ok"``, ``"mkdir"`` (DirectoryOrCreate,
mode 0755), ``"touch"`` (FileOrCreate, mode 0644; the parent must exist, as
upstream) or the failure text the ``FailedMount`` event shows. ``prepare``
applies it to the node.
"""

from __future__ import annotations

import os
import stat
from typing import Literal

from shoal.agent.volumes.plan import MountError

Decision = Literal["ok", "mkdir", "touch"]

_WANT = {
    "Directory": (stat.S_ISDIR, "is not a directory"),
    "DirectoryOrCreate": (stat.S_ISDIR, "is not a directory"),
    "File": (stat.S_ISREG, "is not a file"),
    "FileOrCreate": (stat.S_ISREG, "is not a file"),
    "Socket": (stat.S_ISSOCK, "is not a socket file"),
    "CharDevice": (stat.S_ISCHR, "is not a character device"),
    "BlockDevice": (stat.S_ISBLK, "is not a block device"),
}


def decide(type_: str, mode: int | None, path: str) -> Decision | str:
    """What to do for a hostPath of ``type_`` where ``mode`` is the path's st_mode (None: missing)."""
    if not type_:
        return "ok"  # no checks at all
    if type_ not in _WANT:
        return f"hostPath type check failed: unknown type {type_!r}"
    test, what = _WANT[type_]
    if mode is None:
        if type_ == "DirectoryOrCreate":
            return "mkdir"
        if type_ == "FileOrCreate":
            return "touch"
        return f"hostPath type check failed: {path} {what}"
    return "ok" if test(mode) else f"hostPath type check failed: {path} {what}"


def prepare(path: str, type_: str) -> None:
    """Check (and create, for the *OrCreate types) the path; raises ``MountError``."""
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise MountError(f"hostPath type check failed: {path}: {e.strerror}") from None
    d = decide(type_, mode, path)
    try:
        if d == "mkdir":
            os.makedirs(path, mode=0o755, exist_ok=True)
        elif d == "touch":
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
            os.close(fd)
        elif d != "ok":
            raise MountError(d)
    except OSError as e:
        raise MountError(f"hostPath type check failed: {path}: {e.strerror}") from None
