"""Local persistent volumes on real loop devices, written by real Podman containers.

Host-wide (loop devices, mounts, containers): run under the host-tests lock.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.agent.volumes import mounts
from shoal.agent.volumes.local import IMAGE_SUFFIX, LocalVolumes, PVSource
from tests.agent.conftest import IMAGE


@pytest.fixture()
def volume_dir(tmp_path: Path) -> Iterator[Path]:
    if shutil.which("mkfs.ext4") is None or not Path("/dev/loop-control").exists():
        pytest.skip("no loop devices or mkfs.ext4 here")
    d = tmp_path / "volumes"
    d.mkdir()
    yield d
    for mp in sorted((m for m in mounts.current() if m.startswith(str(d))), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)


def run(path: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "run", "--rm", "-v", f"{path}:/data", IMAGE, "sh", "-c", script],
                          capture_output=True, text=True, timeout=60)


def test_sized_volume_refuses_writes_past_its_size_and_keeps_data(volume_dir: Path) -> None:
    src = PVSource("pvc-1", str(volume_dir / "pvc-1"), managed=True, size=8 << 20)
    lv = LocalVolumes()
    path = Path(asyncio.run(lv.ensure(src)))
    assert mounts.is_mounted(path)
    assert (volume_dir / ("pvc-1" + IMAGE_SUFFIX)).stat().st_size == 8 << 20
    # a write past the size fails with ENOSPC inside the container
    out = run(path, "echo kept > /data/f; dd if=/dev/zero of=/data/big bs=1M count=20 2>&1; echo rc=$?")
    assert "No space left on device" in out.stdout and "rc=1" in out.stdout, out
    # another container (a restart) sees the data
    assert run(path, "cat /data/f").stdout == "kept\n"
    # an agent that restarts (a new LocalVolumes) mounts nothing twice
    before = [m for m in mounts.current() if m == str(path)]
    asyncio.run(LocalVolumes().ensure(src))
    assert [m for m in mounts.current() if m == str(path)] == before
    assert sum(1 for line in Path("/proc/self/mountinfo").read_text().splitlines()
               if line.split(" ")[4] == str(path)) == 1
    # released (no pod uses it): unmounted, the data stays in the image, and comes back
    asyncio.run(lv.release(str(path)))
    assert not mounts.is_mounted(path)
    asyncio.run(lv.ensure(src))
    assert run(path, "cat /data/f").stdout == "kept\n"
    # wiped (the PV was deleted): nothing left
    asyncio.run(lv.wipe(str(path)))
    assert not mounts.is_mounted(path) and not path.exists()
    assert not (volume_dir / ("pvc-1" + IMAGE_SUFFIX)).exists()


def test_static_volume_is_used_as_it_is(volume_dir: Path) -> None:
    static = volume_dir / "static"
    static.mkdir()
    lv = LocalVolumes()
    assert asyncio.run(lv.ensure(PVSource("pv-s", str(static), managed=False, size=1 << 20))) == str(static)
    assert not mounts.is_mounted(static)
    with pytest.raises(Exception, match="does not exist"):
        asyncio.run(lv.ensure(PVSource("pv-m", str(volume_dir / "missing"), managed=False, size=None)))
