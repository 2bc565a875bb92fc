"""The API server's CRD controller: serve what CRDs define, establish them, clean up after them.

Upstream's apiextensions-apiserver runs a naming controller, an establishing
controller and a finalizer for CRDs inside the API server; shoal does the same
in one small loop, because the registry of served kinds lives in the server
process (every server of a cluster runs it and serves the same kinds: each
follows the CRDs through its own watch cache).

For every CRD, on each change of it (a watch-cache listener enqueues its name):

* alive: its served versions are compiled (``shoal.api.crd.custom_kinds``,
  only when the spec changed) and installed (a storage ``Resource`` per
  version, one watch cache for the kind), unless another kind already uses
  its names; then its status says so: ``NamesAccepted`` and ``Established``
  (or ``NamesAccepted=False`` with the conflict), ``acceptedNames``. The kinds
  are installed *before* ``Established`` is written, so a client that waited
  for the condition finds the kind in discovery;
* being deleted: ``Terminating`` is set, new objects are refused, every object
  of the kind is deleted (their own finalizers run as usual, so this waits for
  them, checking again every ``recheck`` seconds), then the cleanup finalizer
  comes off and the CRD goes;
* gone: its kinds are no longer served.

The pure part is ``plan_status`` (conditions from what was decided); the rest
carries it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from shoal.api.crd.kind import CLEANUP_FINALIZER, CustomKind, custom_kinds
from shoal.api.served import ServedKinds
from shoal.apiserver import errors, rawobj
from shoal.apiserver.clock import Clock, fmt_time, utcnow
from shoal.apiserver.resource import Resource
from shoal.apiserver.watchcache import Event
from shoal.store.base import Store

log = logging.getLogger(__name__)

Install = Callable[[str, list[CustomKind]], Awaitable[None]]
Uninstall = Callable[[str], Awaitable[None]]


def _condition(ctype: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {"type": ctype, "status": status, "reason": reason, "message": message}


def plan_status(crd: dict[str, Any], *, conflicts: list[str], terminating: bool, now: str) -> dict[str, Any]:
    """The CRD's status after this pass: conditions (transition times kept when unchanged), names."""
    spec = crd.get("spec") or {}
    old = crd.get("status") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    names.setdefault("singular", str(names.get("kind", "")).lower())
    wanted: list[dict[str, str]] = []
    if conflicts:
        reason = "PluralConflict" if any(str(names.get("plural")) in c for c in conflicts) else "KindConflict"
        wanted.append(_condition("NamesAccepted", "False", reason, "; ".join(conflicts)))
        wanted.append(_condition("Established", "False", "NotAccepted", "not all names are accepted"))
    else:
        wanted.append(_condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"))
        wanted.append(_condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"))
    if terminating:
        wanted.append(_condition("Terminating", "True", "InstanceDeletionInProgress",
                                 "CustomResource deletion is in progress"))
    before = {c.get("type"): c for c in old.get("conditions") or [] if isinstance(c, dict)}
    conditions = []
    for c in wanted:
        prev = before.get(c["type"])
        since = prev.get("lastTransitionTime") if prev and prev.get("status") == c["status"] else None
        conditions.append({**c, "lastTransitionTime": since or now})
    status = dict(old)
    status["conditions"] = conditions
    status["acceptedNames"] = names if not conflicts else (old.get("acceptedNames") or {"plural": "", "kind": ""})
    return status


class CrdController:
    """Serves, establishes and cleans up the kinds of the CRDs in the store."""

    def __init__(self, *, store: Store, crds: Resource, served: ServedKinds, install: Install,
                 uninstall: Uninstall, resources_of: Callable[[str], list[Resource]], clock: Clock = utcnow,
                 recheck: float = 1.0) -> None:
        self.store = store
        self.crds = crds
        self.served = served
        self.install = install
        self.uninstall = uninstall
        self.resources_of = resources_of
        self.clock = clock
        self.recheck = recheck
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._specs: dict[str, bytes] = {}  # the spec each CRD's installed kinds were compiled from
        self._task: asyncio.Task[None] | None = None

    # ---- wiring ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Install every stored CRD's kinds (before the server says it is ready), then follow changes."""
        kvs, _, _ = await self.store.list(self.crds.info.storage_prefix)
        for kv in kvs:
            try:
                await self.reconcile(rawobj.decode(kv.value)["metadata"]["name"])
            except Exception:
                log.exception("crd controller: %s", kv.key)
        self._task = asyncio.create_task(self._run(), name="crd-controller")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def observe(self, ev: Event | None) -> None:
        """A watch-cache listener of the CRDs' cache: enqueue the changed CRD (all, after a reset)."""
        if ev is None:
            for name in list(self._specs):
                self.enqueue(name)
            return
        self.enqueue(ev.key.rpartition("/")[2])

    def enqueue(self, name: str) -> None:
        if name not in self._queued:
            self._queued.add(name)
            self.queue.put_nowait(name)

    async def _run(self) -> None:
        while True:
            name = await self.queue.get()
            self._queued.discard(name)
            try:
                await self.reconcile(name)
            except asyncio.CancelledError:
                raise
            except errors.ApiError as e:
                if e.code != 409:
                    log.warning("crd controller: %s: %s", name, e.message)
                asyncio.get_running_loop().call_later(self.recheck / 4, self.enqueue, name)
            except Exception:
                log.exception("crd controller: %s", name)
                asyncio.get_running_loop().call_later(self.recheck, self.enqueue, name)

    # ---- reconcile ------------------------------------------------------------------------------
    async def reconcile(self, name: str) -> None:
        kv = await self.store.get(self.crds.info.key(None, name))
        if kv is None:
            self._specs.pop(name, None)
            await self.uninstall(name)
            return
        crd = rawobj.decode_rv(kv.value, kv.mod_revision)
        terminating = bool(crd["metadata"].get("deletionTimestamp"))
        spec_bytes = msgspec.json.encode(crd.get("spec"))
        conflicts: list[str] = []
        if self._specs.get(name) != spec_bytes:
            kinds = custom_kinds(crd)
            conflicts = self.served.conflicts(name, [k.info for k in kinds])
            if conflicts:
                self._specs.pop(name, None)
                await self.uninstall(name)
            else:
                await self.install(name, kinds)
                self._specs[name] = spec_bytes
        if terminating:
            for res in self.resources_of(name):
                custom = getattr(res.strategy, "custom", None)
                if isinstance(custom, CustomKind):
                    custom.terminating = True
        await self._write_status(crd, plan_status(crd, conflicts=conflicts, terminating=terminating,
                                                  now=fmt_time(self.clock())))
        if terminating:
            await self._cleanup(name, crd)

    async def _write_status(self, crd: dict[str, Any], status: dict[str, Any]) -> None:
        if status == crd.get("status"):
            return
        body = {**crd, "status": status}
        await self.crds.update(None, crd["metadata"]["name"], body, subresource="status", field_validation="Ignore")

    async def _cleanup(self, name: str, crd: dict[str, Any]) -> None:
        """Delete every object of the kind; once none is left, take the cleanup finalizer off."""
        resources = self.resources_of(name)
        left = await self._delete_all(resources[0]) if resources else 0
        if left:
            asyncio.get_running_loop().call_later(self.recheck, self.enqueue, name)
            return
        fins = [f for f in crd["metadata"].get("finalizers") or [] if f != CLEANUP_FINALIZER]
        if len(fins) == len(crd["metadata"].get("finalizers") or []):
            return
        meta = {**crd["metadata"], "finalizers": fins}
        try:
            await self.crds.update(None, name, {**crd, "metadata": meta}, field_validation="Ignore")
        except errors.ApiError as e:
            if e.code != 404:
                raise
        log.info("crd controller: deleted every object of %s", name)

    async def _delete_all(self, res: Resource) -> int:
        """Delete the objects of one kind; the number still there (held by finalizers) afterwards."""
        kvs, _, _ = await self.store.list(res.info.storage_prefix)
        left = 0
        for kv in kvs:
            obj = rawobj.decode(kv.value)
            md = obj.get("metadata") or {}
            if md.get("deletionTimestamp"):
                left += 1
                continue
            try:
                r = await res.delete(md.get("namespace") if res.info.namespaced else None, md.get("name", ""),
                                     propagation="Background")
            except errors.ApiError as e:
                if e.code in (404, 409):
                    continue
                raise
            if not r.deleted:
                left += 1
        return left
