"""Local persistent volumes: the agent's half of the ``shoal.io/local`` provisioner.

The control plane (the PV controller, branch ``storage``) makes a PV for a
claim of the ``local`` class with ``spec.local.path = <volume dir>/<PV name>``
(the volume dir being what this agent advertises in its Node's
``shoal.io/volume-dir`` annotation), pins it to this node, and puts the
``shoal.io/local-volume`` finalizer on it (the names are
``shoal.api.storage_contract``'s).

On first use the agent *creates* the volume so that its size holds: a sparse
image file of the claim's size beside the directory (``<path>.img``), an ext4
file system in it (``mkfs.ext4 -m 0``: no blocks reserved for root, so the
whole size is the container's), attached to a loop device with direct I/O
(no second page cache in the way of throughput) and mounted on the path. A
write past the size fails with ENOSPC inside the container. The data lives
in the image: it outlives containers, pods and agents. Whether the path is
mounted is asked of the kernel (``mounts.is_mounted``) under a per-volume
lock, so nothing is mounted twice, also after the agent restarts.

Expansion: when the PV's capacity grows past the image (the controller raised
it for a bigger claim), ``grow`` extends the image, tells the loop device and
grows ext4 online (``resize2fs`` on the mounted device), or, where the kernel
refuses that (no CAP_SYS_RESOURCE, as in some sandboxes), offline the next
time a pod mounts it, as upstream does for drivers without online expansion;
the agent then records the new size on the claim, which ends the expansion.

When the PV is deleted (``deletionTimestamp`` set, e.g. its claim was
released under the ``Delete`` policy) and no pod here uses it, ``wipe``
unmounts it, removes the image and the directory, and the agent removes the
finalizer. Static ``local`` and ``hostPath`` PVs are mounted as they are:
their data is the administrator's, never created nor wiped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoal.agent.volumes import mounts
from shoal.agent.volumes.plan import MountError
from shoal.api import views
from shoal.api.quantity import InvalidQuantity, int_value
from shoal.api.storage_contract import (
    HOSTNAME_LABEL,
    LOCAL_PROVISIONER,
    LOCAL_VOLUME_FINALIZER,
    PROVISIONED_BY,
)

IMAGE_SUFFIX = ".img"
RESIZE_MARK = ".resize"  # beside the image: grown, but the file system not yet
MIN_SIZE = 1 << 20  # the smallest image mkfs.ext4 makes here (a 1 KiB-block file system without a journal)


@dataclass(frozen=True, slots=True)
class PVSource:
    """Where a bound PV's data is on this node, and whether the agent owns (creates, sizes, wipes) it."""

    pv_name: str
    path: str
    managed: bool  # provisioned by shoal.io/local for this node
    size: int | None  # bytes (spec.capacity.storage)


def pv_source(pv: Mapping[str, Any], node: str) -> PVSource | str:
    """The PV's data on ``node``, or why it cannot be mounted here. Pure."""
    spec = views.spec(pv)
    name = views.name(pv)
    path = str((spec.get("local") or {}).get("path") or (spec.get("hostPath") or {}).get("path") or "")
    if not path:
        kind = next((k for k in spec if k not in _PV_COMMON and spec.get(k) is not None), "unknown")
        return f'persistentvolume "{name}" has volume type "{kind}", which this node cannot mount'
    nodes = affinity_nodes(pv)
    if nodes is not None and node not in nodes:
        return f'persistentvolume "{name}" has node affinity to {sorted(nodes)}, not to this node "{node}"'
    managed = (views.annotations(pv).get(PROVISIONED_BY) == LOCAL_PROVISIONER
               or LOCAL_VOLUME_FINALIZER in views.finalizers(pv))
    raw = (spec.get("capacity") or {}).get("storage")
    try:
        size = int_value(raw) if raw is not None else None
    except InvalidQuantity:
        size = None
    return PVSource(name, path, managed and nodes is not None, size)


_PV_COMMON = {"capacity", "accessModes", "claimRef", "persistentVolumeReclaimPolicy", "storageClassName",
              "mountOptions", "volumeMode", "nodeAffinity", "volumeAttributesClassName"}


def affinity_nodes(pv: Mapping[str, Any]) -> set[str] | None:
    """The host names a PV's required node affinity allows (None: no hostname term)."""
    terms = ((((views.spec(pv).get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms")) or [])
    out: set[str] | None = None
    for t in terms:
        for e in t.get("matchExpressions") or []:
            if e.get("key") == HOSTNAME_LABEL and e.get("operator") == "In":
                out = (out or set()) | set(e.get("values") or [])
    return out


async def _run(*argv: str) -> None:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise MountError(f"{' '.join(argv[:2])}: {out.decode(errors='replace').strip()[-300:]}")


class LocalVolumes:
    """Create, mount and wipe the node's local volumes; one lock per volume path."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, path: str) -> asyncio.Lock:
        return self._locks.setdefault(path, asyncio.Lock())

    async def ensure(self, src: PVSource) -> str:
        """The directory to bind into containers, created and mounted if the agent owns it."""
        async with self._lock(src.path):
            if not src.managed:
                if not os.path.exists(src.path):
                    raise MountError(f"path {src.path!r} of persistentvolume {src.pv_name!r} does not exist")
                return src.path
            if mounts.is_mounted(src.path):
                return src.path
            image = src.path + IMAGE_SUFFIX
            os.makedirs(src.path, mode=0o755, exist_ok=True)
            if not os.path.exists(image):
                size = max(src.size or 0, MIN_SIZE)
                tmp = image + ".new"
                with open(tmp, "wb") as f:
                    f.truncate(size)
                await _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "nodiscard,lazy_itable_init=1", tmp)
                os.replace(tmp, image)
            elif (src.size is not None and image_size(src.path) < src.size) or os.path.exists(image + RESIZE_MARK):
                await self._grow_offline(image, src.size)
            await self._attach(image, src.path)
            return src.path

    async def _attach(self, image: str, path: str) -> None:
        proc = await asyncio.create_subprocess_exec("losetup", "--find", "--show", "--direct-io=on", image,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise MountError(f"losetup {image}: {err.decode(errors='replace').strip()}")
        dev = out.decode().strip()
        try:
            mounts.mount(dev, path, "ext4")
        except OSError as e:
            await _run("losetup", "-d", dev)
            raise MountError(str(e)) from None

    async def grow(self, src: PVSource) -> bool:
        """Grow a managed volume's file system to the PV's capacity: online where the kernel lets us
        (CAP_SYS_RESOURCE), else it is marked and grown offline the next time a pod mounts it (upstream's
        "Waiting for user to (re-)start a pod"). True once the file system has the size."""
        async with self._lock(src.path):
            image = src.path + IMAGE_SUFFIX
            if not src.managed or src.size is None or not os.path.exists(image):
                return False
            if image_size(src.path) >= src.size:
                return not os.path.exists(image + RESIZE_MARK)
            dev = mounts.current().get(os.path.realpath(src.path), ("", ""))[1]
            if not dev.startswith("/dev/loop"):
                return False  # not mounted: ensure() grows it before it mounts it
            Path(image + RESIZE_MARK).touch()
            with open(image, "r+b") as f:
                f.truncate(src.size)
            await _run("losetup", "--set-capacity", dev)
            try:
                await _run("resize2fs", dev)
            except MountError:
                return False  # not allowed online here: the mark stays, the next mount grows it
            os.unlink(image + RESIZE_MARK)
            return True

    async def _grow_offline(self, image: str, size: int | None) -> None:
        if size is not None and os.path.getsize(image) < size:
            Path(image + RESIZE_MARK).touch()
            with open(image, "r+b") as f:
                f.truncate(size)
        await _run("e2fsck", "-f", "-p", image)
        await _run("resize2fs", image)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(image + RESIZE_MARK)

    async def release(self, path: str) -> None:
        """Unmount a managed volume no pod here uses any more (its data stays in the image)."""
        async with self._lock(path):
            if mounts.is_mounted(path):
                dev = mounts.current().get(os.path.realpath(path), ("", ""))[1]
                mounts.unmount(path)
                if dev.startswith("/dev/loop"):
                    with contextlib.suppress(MountError):
                        await _run("losetup", "-d", dev)

    async def wipe(self, path: str) -> None:
        """Delete a managed volume and its data for good."""
        await self.release(path)
        async with self._lock(path):
            for leftover in (path + IMAGE_SUFFIX, path + IMAGE_SUFFIX + RESIZE_MARK):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)
            shutil.rmtree(path, ignore_errors=True)
        self._locks.pop(path, None)


def image_size(path: str) -> int:
    try:
        return Path(path + IMAGE_SUFFIX).stat().st_size
    except FileNotFoundError:
        return 0
