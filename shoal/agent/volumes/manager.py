"""The volume manager: carries out a pod's mount plan on the node, keeps it current, takes it down.

``setup(pod)`` is what the pod worker runs for the planner's ``SetUpVolumes``
action, on every pass of a live pod: the first time it makes each volume
(directories, tmpfs, hostPath checks, claim -> bound PV -> local volume),
every time it projects ConfigMap, Secret and downward-API payloads again from
the agent's caches, and service-account tokens (``volumes.tokens``: renewed
through the TokenRequest API at 80% of their lifetime; the atomic writer
writes only what changed), which is how
a ConfigMap change reaches a running pod: the agent's informer sees the change,
queues the pods that read the object (``users``), and their next sync
re-projects. Everything it does is idempotent and asks the node (is it
mounted? is it written?) rather than memory, so after an agent restart the
first sync of an adopted pod finds its volumes in place and mounts nothing
twice.

``teardown(uid)`` (the planner's ``TearDownVolumes``, after the containers
are gone, or the orphan sweep) unmounts the pod's tmpfs volumes, deletes its
directory and lets go of local volumes no other pod here uses.

With ``dry`` (the simulated runtime) volumes are accepted and nothing is
mounted or written: no I/O at all, only the checks that need none (an
unsupported volume type still fails visibly).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.agent.drivers.base import Mount
from shoal.agent.volumes import atomic, emptydir, hostpath
from shoal.agent.volumes.local import LocalVolumes, pv_source
from shoal.agent.volumes.payload import Lookup, Payload, payload, sources_of
from shoal.agent.volumes.plan import (
    Claim,
    EmptyDir,
    HostPath,
    MountError,
    Projected,
    VolumePlan,
    container_mounts,
    plan_volumes,
    setup_failed,
    unsupported_message,
)
from shoal.agent.volumes.tokens import TokenCache, token_sources
from shoal.api import views
from shoal.api.quantity import InvalidQuantity, int_value

log = logging.getLogger(__name__)

Fetch = Callable[[str, str, str], Awaitable[views.Body | None]]  # (kind, namespace, name) -> object


@dataclass(slots=True)
class PodVolumes:
    plan: VolumePlan
    sources: dict[str, str] = field(default_factory=dict)  # volume name -> its path on the node
    written: dict[str, Payload] = field(default_factory=dict)  # projected volume name -> its payload now
    local_paths: set[str] = field(default_factory=set)  # managed local volumes this pod holds


class VolumeManager:
    def __init__(self, *, root: Path, node_name: str, lookup: Callable[[str, str, str], views.Body | None],
                 fetch: Fetch, node_capacity: Mapping[str, str] | None = None, dry: bool = False,
                 tokens: TokenCache | None = None) -> None:
        self.root = root  # pods' directories are <root>/<pod uid>
        self.node_name = node_name
        self.lookup = lookup  # (configmaps | secrets, namespace, name) -> object from the caches
        self.fetch = fetch  # (persistentvolumeclaims | persistentvolumes, namespace, name) -> object
        self.node_capacity = dict(node_capacity or {})
        self.dry = dry
        self.tokens = tokens  # service-account tokens through the TokenRequest API (None: not projected)
        self.pods: dict[str, PodVolumes] = {}
        self.local = LocalVolumes()
        self._locks: dict[str, asyncio.Lock] = {}

    def _node_memory(self) -> int | None:
        """The node's memory in bytes (its allocatable: shoal's agents report capacity as allocatable)."""
        raw = self.node_capacity.get("memory")
        try:
            return int_value(raw) if raw else None
        except InvalidQuantity:
            return None

    def pod_dir(self, uid: str) -> Path:
        return self.root / uid

    # ---- set up -------------------------------------------------------------------------------
    async def setup(self, pod: views.Pod) -> PodVolumes:
        """Make (or refresh) the pod's volumes; raises ``MountError`` with the FailedMount message."""
        uid = views.uid(pod)
        async with self._locks.setdefault(uid, asyncio.Lock()):
            pv = self.pods.get(uid)
            if pv is None:
                plan = plan_volumes(pod, str(self.pod_dir(uid)), node_memory=self._node_memory())
                if plan.unsupported:
                    raise MountError(unsupported_message(plan.unsupported[0]))
                pv = PodVolumes(plan)
                if not self.dry:
                    await self._make(pod, pv)
                self.pods[uid] = pv
            if not self.dry:
                tokens = await self._tokens(pod, pv)
                await asyncio.to_thread(self._project, pod, pv, tokens)
            return pv

    async def _tokens(self, pod: views.Pod, pv: PodVolumes) -> dict[str, dict[str, bytes]]:
        """Each projected volume's service-account tokens, by path: current ones (re)requested as due."""
        out: dict[str, dict[str, bytes]] = {}
        for vol in pv.plan.volumes:
            if not isinstance(vol, Projected) or vol.kind != "projected":
                continue
            for src in token_sources(vol.source):
                if self.tokens is None:
                    raise MountError(setup_failed(vol.name, "projected source serviceAccountToken is not "
                                                            "supported by this node"))
                try:
                    t = await self.tokens.get(pod, src)
                except Exception as e:  # the API's refusal, or no answer: FailedMount, retried
                    raise MountError(setup_failed(vol.name, f"failed to fetch token: {e}")) from None
                out.setdefault(vol.name, {})[str(src.get("path") or "")] = t.token.encode()
        return out

    async def _make(self, pod: views.Pod, pv: PodVolumes) -> None:
        ns = views.namespace(pod) or "default"
        for vol in pv.plan.volumes:
            try:
                if isinstance(vol, EmptyDir):
                    path = Path(vol.path)
                    if vol.memory:
                        await asyncio.to_thread(emptydir.ensure_tmpfs, path, vol.tmpfs_size)
                    else:
                        await asyncio.to_thread(emptydir.ensure_dir, path)
                    pv.sources[vol.name] = vol.path
                elif isinstance(vol, HostPath):
                    await asyncio.to_thread(hostpath.prepare, vol.path, vol.type)
                    pv.sources[vol.name] = vol.path
                elif isinstance(vol, Projected):
                    path = Path(vol.path)
                    if vol.tmpfs:
                        await asyncio.to_thread(emptydir.ensure_tmpfs, path, None, 0o755)
                    else:
                        path.mkdir(parents=True, exist_ok=True)
                    pv.sources[vol.name] = vol.path
                elif isinstance(vol, Claim):
                    pv.sources[vol.name] = await self._claim(ns, vol, pv)
            except MountError as e:
                raise MountError(setup_failed(vol.name, str(e))) from None
            except OSError as e:
                raise MountError(setup_failed(vol.name, f"{e.strerror or e}")) from None

    async def _claim(self, ns: str, vol: Claim, pv: PodVolumes) -> str:
        try:
            pvc = await self.fetch("persistentvolumeclaims", ns, vol.claim_name)
        except KeyError:  # a server without the storage kinds
            raise MountError("this API server serves no persistentvolumeclaims") from None
        if pvc is None:
            raise MountError(f'persistentvolumeclaim "{vol.claim_name}" not found')
        if views.is_terminating(pvc):
            raise MountError(f'persistentvolumeclaim "{vol.claim_name}" is being deleted')
        pv_name = str(views.spec(pvc).get("volumeName") or "")
        if not pv_name or views.status(pvc).get("phase") != "Bound":
            raise MountError(f'persistentvolumeclaim "{vol.claim_name}" is not bound')
        obj = await self.fetch("persistentvolumes", "", pv_name)
        if obj is None:
            raise MountError(f'persistentvolume "{pv_name}" not found')
        src = pv_source(obj, self.node_name)
        if isinstance(src, str):
            raise MountError(src)
        path = await self.local.ensure(src)
        if src.managed:
            pv.local_paths.add(src.path)
        return path

    def _project(self, pod: views.Pod, pv: PodVolumes, tokens: Mapping[str, Mapping[str, bytes]]) -> None:
        ns = views.namespace(pod) or "default"

        def lookup(kind: str, name: str) -> views.Body | None:
            return self.lookup(kind, ns, name)

        look: Lookup = lookup
        for vol in pv.plan.volumes:
            if not isinstance(vol, Projected):
                continue
            try:
                files = payload(vol, pod, look, node_capacity=self.node_capacity, tokens=tokens.get(vol.name))
                atomic.write(Path(vol.path), files, current=pv.written.get(vol.name))
            except MountError as e:
                raise MountError(setup_failed(vol.name, str(e))) from None
            except OSError as e:
                raise MountError(setup_failed(vol.name, f"{e.strerror or e}")) from None
            pv.written[vol.name] = files

    def mounts(self, pod: views.Pod, container: Mapping[str, Any], env: Mapping[str, str]) -> tuple[Mount, ...]:
        """The container's mounts (``MountError`` if its pod's volumes are not set up or a subPath is bad)."""
        pv = self.pods.get(views.uid(pod))
        if pv is None:
            if not container.get("volumeMounts"):
                return ()
            raise MountError("the pod's volumes are not set up")
        if self.dry:
            return ()
        out = container_mounts(container, pv.plan, pv.sources, env)
        return tuple(self._subpath(m, pv) for m in out)

    @staticmethod
    def _subpath(m: Mount, pv: PodVolumes) -> Mount:
        """A subPath that does not exist yet is made a directory, as upstream; one that is a link (a
        ConfigMap key) is resolved now, so the container keeps the file it got (no updates, as upstream)."""
        base = next((s for s in pv.sources.values() if m.host_path.startswith(s.rstrip("/") + "/")), None)
        if base is None:
            return m
        p = Path(m.host_path)
        if not p.exists() and not p.is_symlink():
            p.mkdir(parents=True, exist_ok=True, mode=0o755)
        real = p.resolve()
        if not str(real).startswith(str(Path(base).resolve()) + "/") and real != Path(base).resolve():
            raise MountError(f"subpath {m.host_path!r} escapes its volume")
        return Mount(str(real), m.container_path, m.read_only, m.propagation)

    # ---- changes ------------------------------------------------------------------------------
    def users(self, kind: str, namespace: str, name: str, namespaces: Mapping[str, str]) -> list[str]:
        """The pods (uids) here whose volumes read (kind, namespace/name); ``namespaces``: uid -> namespace."""
        out = []
        for uid, pv in self.pods.items():
            if namespaces.get(uid) != namespace:
                continue
            if any((kind, name) in sources_of(v) for v in pv.plan.volumes if isinstance(v, Projected)):
                out.append(uid)
        return out

    async def usage(self, uid: str) -> dict[str, int]:
        """Bytes used by each size-limited emptyDir of the pod."""
        pv = self.pods.get(uid)
        if pv is None or self.dry:
            return {}
        limited = pv.plan.size_limited
        if not limited:
            return {}
        return {v.name: await asyncio.to_thread(emptydir.usage, Path(v.path)) for v in limited}

    # ---- tear down ----------------------------------------------------------------------------
    async def teardown(self, uid: str) -> None:
        """Unmount and delete the pod's volumes (its containers are gone); release unused local volumes."""
        async with self._locks.setdefault(uid, asyncio.Lock()):
            pv = self.pods.pop(uid, None)
            if self.tokens is not None:
                self.tokens.forget(uid)
            if not self.dry:
                d = self.pod_dir(uid)
                vols = d / "volumes"
                if vols.is_dir():
                    for plugin in vols.iterdir():
                        for v in plugin.iterdir() if plugin.is_dir() else []:
                            await asyncio.to_thread(emptydir.remove, v)
                await asyncio.to_thread(shutil.rmtree, d, True)
                for path in pv.local_paths if pv is not None else ():
                    if not any(path in other.local_paths for other in self.pods.values()):
                        await self.local.release(path)
        self._locks.pop(uid, None)

    def known_dirs(self) -> list[str]:
        """Pod uids with a directory on the node (for the orphan sweep after a restart)."""
        if self.dry or not self.root.is_dir():
            return []
        return [d.name for d in self.root.iterdir() if d.is_dir()]

    def local_in_use(self, path: str) -> bool:
        return any(path in pv.local_paths for pv in self.pods.values())
