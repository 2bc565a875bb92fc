"""The ConfigMaps and Secrets this node's pods use, each watched alone (upstream's watch-based manager).

A node may read only the objects its own pods reference (the API server's
Node authorizer), so the agent cannot list and watch every Secret of the
cluster; as the kubelet's ``WatchBasedManager``, it watches each object its
pods reference by itself (``?fieldSelector=metadata.name=NAME`` in its
namespace), starting the watch before a pod that uses it is synced and
stopping it when no pod here uses it any more. A change to a watched object is
told to the handlers (which requeue the pods that project it).

``source_refs`` is pure: the (resource, namespace, name) objects a pod reads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from shoal.client import ApiClient, Informer

Ref = tuple[str, str, str]  # (configmaps | secrets, namespace, name)
Handlers = tuple[Callable[[Any], None], Callable[[Any, Any], None], Callable[[Any], None]]
SYNC_TIMEOUT = 10.0  # seconds a pod's sync waits for a new watch's first list (then it goes on; a retry follows)


def _name(ref: Any, key: str = "name") -> str:
    return str(ref.get(key) or "") if isinstance(ref, dict) else ""


def _refs(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for s in spec.get("imagePullSecrets") or []:
        yield "secrets", _name(s)
    for vol in spec.get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        yield "configmaps", _name(vol.get("configMap"))
        yield "secrets", _name(vol.get("secret"), "secretName")
        for src in (vol.get("projected") or {}).get("sources") or []:
            if isinstance(src, dict):
                yield "configmaps", _name(src.get("configMap"))
                yield "secrets", _name(src.get("secret"))
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            if not isinstance(c, dict):
                continue
            for ef in c.get("envFrom") or []:
                if isinstance(ef, dict):
                    yield "configmaps", _name(ef.get("configMapRef"))
                    yield "secrets", _name(ef.get("secretRef"))
            for env in c.get("env") or []:
                vf = env.get("valueFrom") if isinstance(env, dict) else None
                if isinstance(vf, dict):
                    yield "configmaps", _name(vf.get("configMapKeyRef"))
                    yield "secrets", _name(vf.get("secretKeyRef"))


def source_refs(pod: Mapping[str, Any]) -> frozenset[Ref]:
    """The ConfigMaps and Secrets ``pod`` reads (its volumes, environment and image pull secrets)."""
    ns = str((pod.get("metadata") or {}).get("namespace") or "")
    return frozenset((kind, ns, name) for kind, name in _refs(pod.get("spec") or {}) if name)


class ObjectWatches:
    """One informer per object some pod here references; ``get`` reads their caches."""

    def __init__(self, client: ApiClient, handlers: Callable[[str], Handlers]) -> None:
        self.client = client
        self.handlers = handlers
        self._informers: dict[Ref, Informer] = {}
        self._users: dict[Ref, set[str]] = {}
        self._by_pod: dict[str, frozenset[Ref]] = {}

    async def track(self, pod_key: str, pod: Mapping[str, Any] | None) -> None:
        """Watch what ``pod`` (``None``: gone) references now, stop what no pod references any more, and
        wait (at most ``SYNC_TIMEOUT``) for the first list of each of its watches."""
        refs = source_refs(pod) if pod is not None else frozenset()
        old = self._by_pod.get(pod_key, frozenset())
        for ref in refs - old:
            self._users.setdefault(ref, set()).add(pod_key)
            if ref not in self._informers:
                kind, ns, name = ref
                inf = Informer(self.client, kind, namespace=ns, field_selector=f"metadata.name={name}")
                inf.add_handler(*self.handlers(kind))
                inf.start()
                self._informers[ref] = inf
        for ref in old - refs:
            users = self._users.get(ref, set())
            users.discard(pod_key)
            if not users:
                self._users.pop(ref, None)
                gone = self._informers.pop(ref, None)
                if gone is not None:
                    await gone.stop()
        if refs:
            self._by_pod[pod_key] = refs
        else:
            self._by_pod.pop(pod_key, None)
        for ref in refs:
            with contextlib.suppress(asyncio.TimeoutError):
                await self._informers[ref].wait_synced(SYNC_TIMEOUT)

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        inf = self._informers.get((kind, namespace, name))
        return inf.get_by(namespace, name) if inf is not None else None

    @property
    def watched(self) -> frozenset[Ref]:
        return frozenset(self._informers)

    async def stop(self) -> None:
        for inf in self._informers.values():
            await inf.stop()
        self._informers.clear()
        self._users.clear()
        self._by_pod.clear()
