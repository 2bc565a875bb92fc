"""The garbage collector: cascading deletion through ownerReferences, and pod cleanup.

Upstream's design, kept: the collector watches every kind that can own or be
owned (one shared informer each; Events excluded, as upstream), indexes
objects by the uids of their owners, and works object by object:

* an object whose owners are all gone (or all being deleted in the
  foreground) is deleted itself; with some owner still there, references to
  the gone ones are removed instead. "Gone" is checked against the API, not
  only the cache, so a dependent seen before its brand-new owner survives;
* an owner being deleted with ``propagationPolicy: Orphan`` carries the
  ``orphan`` finalizer: the collector removes the owner from every dependent's
  ownerReferences, then the finalizer, and the API server removes the owner;
* an owner deleted with ``Foreground`` carries ``foregroundDeletion``: its
  dependents are deleted (those with dependents of their own in the foreground
  too) and the finalizer comes off once no dependent with
  ``blockOwnerDeletion`` is left;
* ``Background`` (kubectl's default) needs no finalizer: the owner goes at
  once and its dependents follow as the collector notices their owner missing.

Each of those decisions is a pure function of typed views in ``gcplan``
(``plan_owner``, ``plan_dependent`` over a closed set of owner states and
actions); this module looks owners up, and executes what they return.

Custom kinds are followed as they come: the collector watches the CRDs, and
when one is established it starts an informer for the kind (its storage
version) with the same indexes and handlers as every built-in kind's, and stops
it when the CRD goes. Custom kinds are keyed ``<plural>.<group>`` so they never
collide with a built-in plural.

``podgc`` (terminated pods beyond a threshold, pods of nodes that no longer
exist) runs beside it on a timer; see that module.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Hashable, Sequence
from typing import Any

from shoal.api import kinds
from shoal.api.crd.kind import is_established, primary_info
from shoal.api.registry import ResourceInfo
from shoal.api.views import (
    Body,
    OwnerReference,
    finalizers,
    is_terminating,
    meta,
    namespace,
    owner_references,
    uid,
)
from shoal.api.views import key as key_of
from shoal.client import ApiException, Informer
from shoal.controllers import gcplan
from shoal.controllers.base import Context, Controller
from shoal.controllers.gcplan import FOREGROUND, ORPHAN, OwnerState
from shoal.controllers.podgc import PodGC

log = logging.getLogger(__name__)

IGNORED = frozenset({"events"})


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0] if "/" in api_version else ""


def _owner_uids(obj: Body) -> list[str]:
    return [str(r["uid"]) for r in owner_references(obj) if r.get("uid")]


def _uid(obj: Body) -> list[str]:
    u = uid(obj)
    return [u] if u else []


def collectable() -> list[ResourceInfo]:
    """Every served resource the collector watches (a converted view's objects are its stored kind's)."""
    return [r for r in kinds.RESOURCES
            if r.plural not in IGNORED and {"list", "watch", "delete"} <= set(r.verbs) and "view_of" not in r.extra]


class GarbageCollector(Controller):
    name = "garbagecollector"
    workers = 8

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.infos = {r.plural: r for r in collectable()}
        self.by_kind = {(r.group, r.kind): r for r in self.infos.values()}
        self.informers: dict[str, Informer] = {}
        self._custom: dict[str, str] = {}  # CRD name -> the key of its kind in infos/informers
        self.podgc = PodGC(ctx, period=float(ctx.options.get("podgc_period", 5.0)),
                           threshold=int(ctx.options.get("terminated_pod_gc_threshold", 12500)))
        self._podgc_task: asyncio.Task[None] | None = None

    # ---- wiring --------------------------------------------------------------------------
    def setup(self) -> None:
        for plural, info in self.infos.items():
            self._follow(plural, self.ctx.factory.informer(info))
        self.podgc.setup(self.informers["pods"], self.informers["nodes"])
        crds = self.ctx.factory.informer("customresourcedefinitions")
        crds.add_handler(on_add=self._crd_changed, on_update=lambda _o, n: self._crd_changed(n),
                         on_delete=self._crd_deleted)

    def _follow(self, key: str, inf: Informer) -> None:
        inf.add_index("gc:owner", _owner_uids)
        inf.add_index("gc:uid", _uid)
        self.informers[key] = inf
        inf.add_handler(
            on_add=lambda o, p=key: self._changed(p, None, o),  # type: ignore[misc]
            on_update=lambda old, new, p=key: self._changed(p, old, new),  # type: ignore[misc]
            on_delete=lambda o, p=key: self._deleted(p, o),  # type: ignore[misc]
        )

    # ---- custom kinds, as their CRDs come and go -----------------------------------------------
    def _crd_changed(self, crd: Body) -> None:
        name = str(meta(crd).get("name") or "")
        info = primary_info(crd) if is_established(crd) else None
        if info is None or name in self._custom:
            return
        key = f"{info.plural}.{info.group}"
        self.infos[key] = info
        self.by_kind[(info.group, info.kind)] = info
        self._custom[name] = key
        # the collector's own informer (not the factory's): it is stopped and dropped with the CRD
        inf = Informer(self.client, info)
        self._follow(key, inf)
        inf.start()
        log.info("garbagecollector: following %s", key)

    def _crd_deleted(self, crd: Body) -> None:
        key = self._custom.pop(str(meta(crd).get("name") or ""), None)
        if key is None:
            return
        info = self.infos.pop(key, None)
        if info is not None and self.by_kind.get((info.group, info.kind)) is info:
            del self.by_kind[(info.group, info.kind)]
        inf = self.informers.pop(key, None)
        if inf is not None:
            asyncio.get_running_loop().create_task(inf.stop())

    def _changed(self, plural: str, old: Body | None, new: Body) -> None:
        md = meta(new)
        fins = finalizers(new)
        deleting = is_terminating(new) and (ORPHAN in fins or FOREGROUND in fins)
        refs_changed = old is None or meta(old).get("ownerReferences") != md.get("ownerReferences")
        if deleting or (md.get("ownerReferences") and (refs_changed or is_terminating(new) != is_terminating(old or {}))):
            self.queue.add((plural, key_of(new)))
        if old is not None and refs_changed:
            self._enqueue_owners(new, owner_references(old))

    def _deleted(self, plural: str, obj: Body) -> None:
        for dep_plural, dep in self.dependents(uid(obj)):
            self.queue.add((dep_plural, key_of(dep)))
        self._enqueue_owners(obj, owner_references(obj))

    def _enqueue_owners(self, obj: Body, refs: Sequence[OwnerReference]) -> None:
        for ref in refs:
            info = self.by_kind.get((_group(str(ref.get("apiVersion") or "")), str(ref.get("kind") or "")))
            if info is None:
                continue
            ns = meta(obj).get("namespace") if info.namespaced else None
            self.queue.add((self._key(info), f"{ns}/{ref.get('name')}" if ns else str(ref.get("name"))))

    def _key(self, info: ResourceInfo) -> str:
        """The key of a kind in ``infos`` / ``informers``: the plural, ``<plural>.<group>`` if custom."""
        custom = f"{info.plural}.{info.group}"
        return custom if self.infos.get(custom) is info else info.plural

    def dependents(self, owner_uid: str) -> list[tuple[str, Body]]:
        if not owner_uid:
            return []
        return [(p, o) for p, inf in self.informers.items() for o in inf.by_index("gc:owner", owner_uid)]

    async def run(self) -> None:
        self._podgc_task = asyncio.create_task(self.podgc.run(), name="podgc")
        try:
            await super().run()
        finally:
            self._podgc_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._podgc_task

    async def stop(self) -> None:
        if self._podgc_task is not None:
            self._podgc_task.cancel()
        for key in list(self._custom.values()):
            inf = self.informers.get(key)
            if inf is not None:
                await inf.stop()
        await super().stop()

    # ---- reconcile: look up, plan (gcplan), execute ----------------------------------------
    async def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        plural, okey = str(key[0]), str(key[1])
        inf = self.informers.get(plural)
        obj = inf.get(okey) if inf is not None else None
        if obj is None:
            return
        info = self.infos[plural]
        deps = self.dependents(uid(obj))
        action = gcplan.plan_owner(obj, [d for _, d in deps])
        if isinstance(action, gcplan.OrphanDependents):
            for dep_plural, dep in deps:
                if dep_plural in self.infos:
                    await self._edit(self.infos[dep_plural], dep, drop_owner_uids={uid(obj)})
            await self._edit(info, obj, drop_finalizer=ORPHAN)
            log.info("garbagecollector: orphaned the dependents of %s %s", info.kind, key_of(obj))
            return
        if isinstance(action, gcplan.RemoveForegroundFinalizer):
            await self._edit(info, obj, drop_finalizer=FOREGROUND)
        elif isinstance(action, gcplan.AwaitDependents):
            for p, d in deps:
                self.queue.add((p, key_of(d)))
        if owner_references(obj):
            await self._attempt_to_delete(info, obj)

    async def _owner_state(self, dep: Body, ref: OwnerReference) -> OwnerState:
        """Look the owner up (the cache, then the API) and classify what was found."""
        info = self.by_kind.get((_group(str(ref.get("apiVersion") or "")), str(ref.get("kind") or "")))
        if info is None:
            return "solid"  # a kind shoal does not serve: never delete on its account
        ns = namespace(dep) if info.namespaced else None
        if info.namespaced and not ns:
            return "solid"  # a namespaced owner of a cluster-scoped object is invalid; leave it
        inf = self.informers.get(self._key(info))
        owner = inf.get_by(ns, str(ref.get("name"))) if inf is not None else None
        if owner is None or uid(owner) != ref.get("uid"):
            try:  # the cache may be behind: ask the API before deleting anything
                owner = await self.client.get(info, str(ref.get("name")), ns)
            except ApiException as e:
                if e.status == 404:
                    return "dangling"
                raise
        return gcplan.owner_state(ref, owner)

    async def _plan_dependent(self, obj: Body) -> gcplan.GcAction:
        owners = [(ref, await self._owner_state(obj, ref)) for ref in owner_references(obj)]
        return gcplan.plan_dependent(obj, owners, has_dependents=bool(self.dependents(uid(obj))))

    async def _attempt_to_delete(self, info: ResourceInfo, obj: Body) -> None:
        if isinstance(await self._plan_dependent(obj), gcplan.Keep):
            return
        # about to act: decide on the object as it is now, not as the cache last saw it
        md = meta(obj)
        try:
            fresh = await self.client.get(info, md["name"], md.get("namespace"))
        except ApiException as e:
            if e.status == 404:
                return
            raise
        if uid(fresh) != uid(obj):
            return
        action = await self._plan_dependent(fresh)
        if isinstance(action, gcplan.RemoveOwnerReferences):
            await self._edit(info, fresh, drop_owner_uids=set(action.uids))
        elif isinstance(action, gcplan.DeleteDependent):
            await self._delete(info, fresh, action.policy)

    async def _delete(self, info: ResourceInfo, obj: Body, policy: str) -> None:
        md = meta(obj)
        try:
            await self.client.delete(info, md["name"], md.get("namespace"), uid=md.get("uid"),
                                     propagation_policy=policy)
        except ApiException as e:
            if e.status in (404, 409):
                return  # gone already, or replaced by a new object of the same name
            raise
        log.info("garbagecollector: deleted %s %s (owners gone; propagation %s)", info.kind, key_of(obj), policy)

    async def _edit(self, info: ResourceInfo, obj: Body, *, drop_owner_uids: set[str] | None = None,
                    drop_finalizer: str | None = None) -> None:
        """Remove owner references or a finalizer, by a merge patch conditional on resourceVersion."""
        md = meta(obj)
        ns, name = md.get("namespace"), md["name"]
        current = obj
        for _ in range(5):
            cm = meta(current)
            if cm.get("uid") != md.get("uid"):
                return
            # a merge patch: null removes a field
            patch_md: dict[str, Any] = {"resourceVersion": cm.get("resourceVersion")}
            if drop_owner_uids:
                refs = owner_references(current)
                kept = [r for r in refs if str(r.get("uid")) not in drop_owner_uids]
                if len(kept) != len(refs):
                    patch_md["ownerReferences"] = kept or None
            if drop_finalizer:
                fins = cm.get("finalizers") or []
                if drop_finalizer in fins:
                    patch_md["finalizers"] = [f for f in fins if f != drop_finalizer] or None
            if len(patch_md) == 1:
                return
            try:
                await self.client.patch(info, name, {"metadata": patch_md}, ns)
                return
            except ApiException as e:
                if e.status == 404:
                    return
                if e.status != 409:
                    raise
            try:
                current = await self.client.get(info, name, ns)
            except ApiException as e:
                if e.status == 404:
                    return
                raise
        raise ApiException(409, "Conflict", f"{info.plural} {name}: too many concurrent writes")
