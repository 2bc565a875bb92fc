"""The mount plan: what each of a pod's volumes is on the node, and what each container mounts. Pure.

``plan_volumes(pod, pod_dir)`` classifies ``spec.volumes`` into typed
volumes (one frozen dataclass per kind) with the directory each gets under
the pod's directory, as the kubelet lays them out
(``<pod dir>/volumes/kubernetes.io~<plugin>/<name>``), and lists the volumes
whose type the agent cannot mount, so the pod fails visibly (a
``FailedMount`` event) rather than running without them.

``container_mounts(container, plan, sources, env)`` turns a container's
``volumeMounts`` into driver ``Mount``s: the host path (with ``subPath`` or
``subPathExpr`` expanded from the container's environment as upstream), read
only where the mount or the volume says so (ConfigMap, Secret, downward-API
and projected volumes always are), and the propagation that
``mountPropagation`` asks for.

Nothing here touches the file system: the executor (``volumes.manager``)
makes the directories, mounts tmpfs and loop devices, and writes payloads;
table tests cover this module without I/O.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shoal.agent.drivers.base import Mount, Propagation
from shoal.agent.env import expand
from shoal.agent.volumes.tmpfssize import memory_volume_size, pod_memory_limit
from shoal.api import views
from shoal.api.quantity import InvalidQuantity, int_value

# where each kind lives under the pod's directory (the kubelet's plugin names)
PLUGIN_DIRS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
SUPPORTED = ("emptyDir", "hostPath", "configMap", "secret", "downwardAPI", "projected", "persistentVolumeClaim")
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice")
Projection = Literal["configMap", "secret", "downwardAPI", "projected"]


class MountError(Exception):
    """A volume or a mount cannot be set up; the message is the ``FailedMount`` event's text."""


@dataclass(frozen=True, slots=True)
class EmptyDir:
    name: str
    path: str
    memory: bool  # medium: Memory -> a tmpfs
    size_limit: int | None  # bytes; enforced by eviction (and by the tmpfs size for memory)
    size_text: str | None  # the limit as written, for the eviction message
    tmpfs_size: int | None = None  # memory: the tmpfs's size (``tmpfssize``; None: the kernel's default)


@dataclass(frozen=True, slots=True)
class HostPath:
    name: str
    path: str
    type: str  # one of HOST_PATH_TYPES


@dataclass(frozen=True, slots=True)
class Projected:
    """ConfigMap, Secret, downward-API and projected volumes: files written by the atomic writer."""

    name: str
    path: str
    kind: Projection
    source: Mapping[str, Any]  # the volume source as written (defaults applied by the API server)
    tmpfs: bool  # secrets and everything that may hold them never touch the disk


@dataclass(frozen=True, slots=True)
class Claim:
    name: str
    claim_name: str
    read_only: bool


@dataclass(frozen=True, slots=True)
class Unsupported:
    name: str
    type: str


Volume = EmptyDir | HostPath | Projected | Claim


@dataclass(frozen=True, slots=True)
class VolumePlan:
    pod_dir: str
    volumes: tuple[Volume, ...]
    unsupported: tuple[Unsupported, ...] = ()

    def get(self, name: str) -> Volume | None:
        return next((v for v in self.volumes if v.name == name), None)

    @property
    def size_limited(self) -> tuple[EmptyDir, ...]:
        return tuple(v for v in self.volumes if isinstance(v, EmptyDir) and v.size_limit is not None)


def volume_dir(pod_dir: str, kind: str, name: str) -> str:
    return posixpath.join(pod_dir, "volumes", PLUGIN_DIRS[kind], name)


def volume_type(volume: Mapping[str, Any]) -> str:
    """The source a volume names (its one key besides ``name``), ``emptyDir`` when it names none."""
    return next((k for k, v in volume.items() if k != "name" and v is not None), "emptyDir")


def plan_volumes(pod: views.Pod, pod_dir: str, *, node_memory: int | None = None) -> VolumePlan:
    """``node_memory``: the node's allocatable memory in bytes, the largest a memory-backed emptyDir gets."""
    out: list[Volume] = []
    bad: list[Unsupported] = []
    for vol in views.spec(pod).get("volumes") or []:
        name, kind = str(vol.get("name") or ""), volume_type(vol)
        src: Mapping[str, Any] = vol.get(kind) or {}
        if kind == "emptyDir":
            text = src.get("sizeLimit")
            try:
                limit = int_value(text) if text is not None else None
            except InvalidQuantity:
                limit = None
            memory = src.get("medium") == "Memory"
            size = memory_volume_size(size_limit=limit or None, pod_limit=pod_memory_limit(views.spec(pod)),
                                      node_memory=node_memory) if memory else None
            out.append(EmptyDir(name, volume_dir(pod_dir, kind, name), memory, limit or None,
                                str(text) if limit else None, size))
        elif kind == "hostPath":
            out.append(HostPath(name, str(src.get("path") or ""), str(src.get("type") or "")))
        elif kind in ("configMap", "secret", "downwardAPI", "projected"):
            tmpfs = kind != "configMap"
            out.append(Projected(name, volume_dir(pod_dir, kind, name), kind, src, tmpfs))  # type: ignore[arg-type]
        elif kind == "persistentVolumeClaim":
            out.append(Claim(name, str(src.get("claimName") or ""), bool(src.get("readOnly"))))
        else:
            bad.append(Unsupported(name, kind))
    return VolumePlan(pod_dir, tuple(out), tuple(bad))


def unsupported_message(u: Unsupported) -> str:
    return (f'MountVolume.SetUp failed for volume "{u.name}" : volume type "{u.type}" is not supported by '
            "this node (shoal mounts emptyDir, hostPath, configMap, secret, downwardAPI, projected and "
            "persistentVolumeClaim)")


def setup_failed(name: str, why: str) -> str:
    """Upstream's FailedMount text for one volume."""
    return f'MountVolume.SetUp failed for volume "{name}" : {why}'


_PROPAGATION: dict[str, Propagation] = {"": "rprivate", "None": "rprivate", "HostToContainer": "rslave",
                                        "Bidirectional": "rshared"}


def container_mounts(container: Mapping[str, Any], plan: VolumePlan, sources: Mapping[str, str],
                     env: Mapping[str, str]) -> tuple[Mount, ...]:
    """The container's mounts: ``sources`` maps a volume name to its directory (or file) on the node.

    Raises ``MountError`` for a ``subPathExpr`` that expands to an absolute path or one with ``..``
    (upstream refuses those at this point, since the API server cannot see the expanded value)."""
    out: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        name = str(vm.get("name") or "")
        vol = plan.get(name)
        host = sources.get(name)
        if vol is None or host is None:
            raise MountError(f'volume "{name}" of container "{container.get("name")}" is not set up')
        sub = str(vm.get("subPath") or "")
        if vm.get("subPathExpr"):
            sub = expand(str(vm["subPathExpr"]), dict(env))
        if sub:
            if sub.startswith("/") or ".." in sub.split("/"):
                raise MountError(f'subPath "{sub}" of volume "{name}" must be a relative path without ".."')
            host = posixpath.join(host, sub)
        ro = bool(vm.get("readOnly")) or isinstance(vol, Projected) or (isinstance(vol, Claim) and vol.read_only)
        out.append(Mount(host, str(vm.get("mountPath") or ""), ro,
                         _PROPAGATION.get(str(vm.get("mountPropagation") or ""), "rprivate")))
    return tuple(out)


def uses_subpath(container: Mapping[str, Any], volume: str) -> bool:
    return any(vm.get("name") == volume and (vm.get("subPath") or vm.get("subPathExpr"))
               for vm in container.get("volumeMounts") or [])


def claims(plan: VolumePlan) -> tuple[Claim, ...]:
    return tuple(v for v in plan.volumes if isinstance(v, Claim))


def eviction_message(v: EmptyDir) -> str:
    """Upstream's eviction message for an emptyDir over its ``sizeLimit``."""
    return f'Usage of EmptyDir volume "{v.name}" exceeds the limit "{v.size_text}".'


def over_limit(plan: VolumePlan, usage: Mapping[str, int]) -> EmptyDir | None:
    """The first size-limited emptyDir whose measured usage (bytes, by volume name) exceeds its limit."""
    for v in plan.size_limited:
        if v.size_limit is not None and usage.get(v.name, 0) > v.size_limit:
            return v
    return None
