"""The kubelet's atomic writer: a volume's files change all at once, never half.

Layout of a ConfigMap, Secret, downward-API or projected volume directory::

    ..2026_12_01_10_00_00.123456789/   the payload, written whole
    ..data -> ..2026_12_01_10_00_00.123456789
    key    -> ..data/key               one link per top-level name

An update writes a new timestamped directory, points a temporary link at it
and renames that link over ``..data`` (``rename(2)`` is atomic), then adds
and removes the top-level links and deletes the old directory. A reader that
opens ``key`` sees either the old payload or the new one. A mount of one file
under ``subPath`` resolves the link when the container starts, so it keeps
the file it got, as upstream. ``write`` is idempotent: the same payload
twice writes nothing, which is what lets every pod sync call it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path

from shoal.agent.volumes.payload import File, Payload

DATA = "..data"
_TMP = "..data_tmp"


def top_level(payload: Payload) -> set[str]:
    """The names that get a link in the volume's directory (the first element of each path)."""
    return {p.split("/", 1)[0] for p in payload}


def read_current(target: Path) -> Payload | None:
    """What the volume holds now (None: never written)."""
    data = target / DATA
    if not data.is_symlink():
        return None
    out: Payload = {}
    base = target / os.readlink(data)
    for root, _, files in os.walk(base):
        for f in files:
            p = Path(root) / f
            out[str(p.relative_to(base))] = File(p.read_bytes(), p.stat().st_mode & 0o7777)
    return out


def _stamp() -> str:
    ns = time.time_ns()
    return time.strftime("..%Y_%m_%d_%H_%M_%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}"


def write(target: Path, payload: Payload, *, current: Payload | None = None) -> bool:
    """Make ``target`` hold exactly ``payload``; False when it already did (nothing written).

    ``current`` is what the caller remembers was written last (read from disk when not given)."""
    target.mkdir(parents=True, exist_ok=True)
    if current is None:
        current = read_current(target)
    if current == payload:
        return False
    old = os.readlink(target / DATA) if (target / DATA).is_symlink() else None
    stamp = _stamp()
    new = target / stamp
    new.mkdir(mode=0o755)
    for rel, f in payload.items():
        p = new / rel
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, f.mode)
        try:
            os.write(fd, f.data)
        finally:
            os.close(fd)
        os.chmod(p, f.mode)  # past the umask
    tmp = target / _TMP
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.symlink(stamp, tmp)
    os.rename(tmp, target / DATA)
    names = top_level(payload)
    for name in names:
        link = target / name
        if not link.is_symlink():
            os.symlink(f"{DATA}/{name}", link)
    for entry in os.listdir(target):
        if not entry.startswith("..") and entry not in names and (target / entry).is_symlink():
            (target / entry).unlink()
    if old is not None and old != stamp:
        shutil.rmtree(target / old, ignore_errors=True)
    return True
