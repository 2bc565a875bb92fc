"""``emptyDir`` volumes on the node: a directory, or a tmpfs for ``medium: Memory``; and their usage.

A disk-backed emptyDir is a directory under the pod's; its ``sizeLimit`` is
enforced as upstream does it, by eviction: the agent measures usage every
second or so (``usage``: allocated blocks, as ``du`` counts) and fails the pod
with reason ``Evicted`` once it is over (the decision is ``plan.over_limit``).
A memory-backed one is a tmpfs sized as upstream sizes it (``tmpfssize``: the
``sizeLimit``, else the pod's memory limit, else the node's memory), so the
kernel refuses the write before the agent even looks.

Where the agent is not root (the process runtime on a workstation), it cannot
mount; a tmpfs volume then lives in a directory under ``/dev/shm`` (which is a
tmpfs) and the volume path is a link to it, so secrets still stay off disk.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from shoal.agent.volumes import mounts

SHM_ROOT = Path("/dev/shm/shoal")


def ensure_dir(path: Path, mode: int = 0o777) -> None:
    """A disk-backed emptyDir: world-writable as upstream (containers may run as any user)."""
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)


def ensure_tmpfs(path: Path, size: int | None, mode: int = 0o777) -> None:
    """A tmpfs at ``path`` (mounted once: a mounted path is left as it is)."""
    if path.is_symlink() or mounts.is_mounted(path):
        return
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        mounts.mount_tmpfs(path, size, mode)
        return
    shm = SHM_ROOT / "-".join(path.parts[-4:])  # <uid>-volumes-<plugin>-<name>, unique per pod and volume
    shm.mkdir(parents=True, exist_ok=True, mode=mode)
    path.rmdir()
    path.symlink_to(shm)


def remove(path: Path) -> None:
    """Unmount whatever is mounted at or under ``path`` and delete it (and its /dev/shm home)."""
    if path.is_symlink():
        shutil.rmtree(os.path.realpath(path), ignore_errors=True)
        path.unlink()
        return
    if path.exists():
        mounts.unmount_all_under(path)
        shutil.rmtree(path, ignore_errors=True)


def usage(path: Path) -> int:
    """Bytes allocated below ``path`` (``du``'s count: blocks, hard links once), not crossing mounts."""
    total = 0
    seen: set[tuple[int, int]] = set()
    try:
        dev = path.lstat().st_dev
    except FileNotFoundError:
        return 0
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            try:
                st = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            if st.st_dev != dev or (st.st_nlink > 1 and (st.st_dev, st.st_ino) in seen):
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total
