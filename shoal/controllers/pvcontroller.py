"""The PersistentVolume controller: binds claims to volumes, provisions ``shoal.io/local`` volumes,
reclaims released ones and starts expansions, by applying ``pvbinding``'s plans.

Keys are ``("claim", "ns/name")`` and ``("volume", name)``. Handlers map every change to
what it concerns: a claim's change to itself (and, on its deletion, to the volume it was
bound to), a volume's change to itself and to the claim its ``claimRef`` names, a class's
to the pending claims of that class, a node's arrival to the claims waiting for it. A
volume whose claim the cache does not hold is checked against the API before it is
released, so a cache that lags never frees a volume in use (upstream does the same).

Writes are applied in the plan's order; a write to an object the plan wrote before takes
that write's resourceVersion. A 409 means the cache was stale: plan again from fresh
objects. The local volume contract with the node agent (path, finalizer, expansion) is
in ``shoal.api.storage_contract`` and ``shoal.controllers.localprovision``.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

from shoal.api import views
from shoal.api.storage_contract import SELECTED_NODE
from shoal.api.views import Body
from shoal.api.volumematch import storage_class_of
from shoal.client import ApiException, Informer
from shoal.controllers.base import Controller, ensure_index
from shoal.controllers.pvbinding import Event, Plan, Write, sync_claim, sync_volume

log = logging.getLogger(__name__)

CLASS_INDEX = "storage-class"
NODE_INDEX = "selected-node"
CLAIM_INDEX = "claim-ref"


def _claim_class(claim: Body) -> list[str]:
    return [storage_class_of(claim)]


def _claim_node(claim: Body) -> list[str]:
    node = views.annotations(claim).get(SELECTED_NODE)
    return [node] if node and not views.volume_name(claim) else []


def _volume_claim(pv: Body) -> list[str]:
    ref = views.claim_ref(pv)
    return [f"{ref.get('namespace')}/{ref.get('name')}"] if ref is not None else []


class PersistentVolumeController(Controller):
    name = "persistentvolume"
    workers = 2

    def setup(self) -> None:
        f = self.ctx.factory
        self.claims = f.informer("persistentvolumeclaims")
        self.volumes = f.informer("persistentvolumes")
        self.classes = f.informer("storageclasses")
        self.nodes = f.informer("nodes")
        ensure_index(self.claims, CLASS_INDEX, _claim_class)
        ensure_index(self.claims, NODE_INDEX, _claim_node)
        ensure_index(self.volumes, CLAIM_INDEX, _volume_claim)
        self.claims.add_handler(on_add=self._claim, on_update=lambda old, new: self._claim(new),
                                on_delete=self._claim_deleted)
        self.volumes.add_handler(on_add=self._volume, on_update=self._volume_updated, on_delete=self._volume)
        self.classes.add_handler(on_add=self._class, on_update=lambda old, new: self._class(new))
        self.nodes.add_handler(on_add=self._node)

    # ---- event handlers ------------------------------------------------------------------
    def _claim(self, claim: Body) -> None:
        self.queue.add(("claim", views.key(claim)))

    def _claim_deleted(self, claim: Body) -> None:
        volume = views.volume_name(claim)
        if volume:
            self.queue.add(("volume", volume))
        for pv in self.volumes.by_index(CLAIM_INDEX, views.key(claim)):
            self.queue.add(("volume", views.name(pv)))

    def _volume(self, pv: Body) -> None:
        self.queue.add(("volume", views.name(pv)))
        for key in _volume_claim(pv):
            self.queue.add(("claim", key))

    def _volume_updated(self, old: Body, new: Body) -> None:
        for key in _volume_claim(old):
            self.queue.add(("claim", key))
        self._volume(new)
        if views.claim_ref(old) is not None and views.claim_ref(new) is None:
            self._pending_claims()  # a volume came free

    def _pending_claims(self) -> None:
        for claim in self.claims.list():
            if not views.volume_name(claim):
                self._claim(claim)

    def _class(self, sc: Body) -> None:
        for claim in self.claims.by_index(CLASS_INDEX, views.name(sc)):
            self._claim(claim)

    def _node(self, node: Body) -> None:
        for claim in self.claims.by_index(NODE_INDEX, views.name(node)):
            self._claim(claim)

    # ---- reconcile -------------------------------------------------------------------------
    async def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        what, name = key
        if what == "claim":
            claim = self.claims.get(name)
            if claim is None:
                return
            plan = sync_claim(claim, volumes=self._by_name(self.volumes), classes=self._by_name(self.classes),
                              nodes=self._by_name(self.nodes), now=self.clock())
            subject = claim
        else:
            pv = self.volumes.get(name)
            if pv is None:
                return
            plan = sync_volume(pv, claim=await self._claim_of(pv), now=self.clock())
            subject = pv
        try:
            await self._apply(plan, subject)
        except ApiException as e:
            if e.status == 409 and e.reason != "AlreadyExists":
                self.queue.add_after(key, 0.05)  # a stale cache: plan again from fresh objects
                return
            if e.status == 404:
                return
            raise
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    @staticmethod
    def _by_name(informer: Informer) -> dict[str, Body]:
        return {views.name(o): o for o in informer.list()}

    async def _claim_of(self, pv: Body) -> Body | None:
        """The claim ``pv``'s claimRef names: from the cache, or, if the cache has no such claim with
        the reference's uid, from the API (a lagging cache must not release a volume in use)."""
        ref = views.claim_ref(pv)
        if ref is None or not ref.get("uid"):
            return None
        ns, name = str(ref.get("namespace") or ""), str(ref.get("name") or "")
        cached = self.claims.get_by(ns, name)
        if cached is not None and views.uid(cached) == ref.get("uid"):
            return cached
        try:
            live: Body = await self.client.get("persistentvolumeclaims", name, ns)
            return live
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def _apply(self, plan: Plan, subject: Body) -> None:
        revisions: dict[tuple[str, str], str] = {}  # (resource, key) -> the rv our last write left
        for w in plan.writes:
            await self._write(w, revisions)
        for ev in plan.events:
            self._event(subject, ev)

    async def _write(self, w: Write, revisions: dict[tuple[str, str], str]) -> None:
        obj = w.obj
        ident = (w.resource, views.key(obj))
        if ident in revisions:
            obj = {**obj, "metadata": {**views.meta(obj), "resourceVersion": revisions[ident]}}
        if w.verb == "create":
            try:
                out = await self.client.create(w.resource, obj)
            except ApiException as e:
                if e.status == 409 and e.reason == "AlreadyExists":
                    return  # made on an earlier pass the cache has not shown yet
                raise
        elif w.verb == "update":
            out = await self.client.update(w.resource, obj)
        elif w.verb == "status":
            out = await self.client.update_status(w.resource, obj)
        else:
            await self.client.delete(w.resource, views.name(obj), views.namespace(obj) or None, uid=views.uid(obj) or None)
            log.info("persistentvolume: deleted %s %s (reclaim policy Delete)", w.resource, views.name(obj))
            return
        revisions[ident] = views.resource_version(out)

    def _event(self, subject: Body, ev: Event) -> None:
        kind = "PersistentVolumeClaim" if ev.on == "claim" else "PersistentVolume"
        self.emit(subject, ev.type, ev.reason, ev.message, kind=kind, api_version="v1")
