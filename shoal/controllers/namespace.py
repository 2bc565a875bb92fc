"""Namespace deletion: remove everything in a terminating namespace, then let it go.

A namespace is created with ``spec.finalizers: ["kubernetes"]``. Deleting it
only marks it ``Terminating`` (the API server refuses new content from then
on); this controller deletes every namespaced kind's objects in it (a
deletecollection per kind, background propagation, so the garbage collector
and the objects' own finalizers run as usual), and once a list of every kind
comes back empty it removes ``kubernetes`` through the ``finalize``
subresource, after which the API server removes the namespace. Until then the
namespace's status says what is left (``NamespaceContentRemaining``,
``NamespaceFinalizersRemaining``), as upstream's does, and the controller
checks again shortly: pods on nodes stop gracefully, finalizers take time.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Hashable
from typing import Any

from shoal.api import kinds
from shoal.client import ApiException, object_path
from shoal.controllers.base import Context, Controller
from shoal.controllers.podutil import fmt_time, is_terminating, meta

log = logging.getLogger(__name__)

Obj = dict[str, Any]
FINALIZER = "kubernetes"


class NamespaceController(Controller):
    name = "namespace"
    workers = 4

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.recheck = float(ctx.options.get("namespace_recheck_seconds", 1.0))
        self.kinds = [r for r in kinds.RESOURCES if r.namespaced and "deletecollection" in r.verbs]

    def setup(self) -> None:
        self.namespaces = self.ctx.factory.informer("namespaces")
        self.namespaces.add_handler(on_add=self._seen, on_update=lambda _o, n: self._seen(n))

    def _seen(self, ns: Obj) -> None:
        if is_terminating(ns):
            self.queue.add(meta(ns)["name"])

    async def reconcile(self, key: Hashable) -> None:
        name = str(key)
        ns = self.namespaces.get(name)
        if ns is None or not is_terminating(ns):
            return
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for info in self.kinds:
            lst = await self.client.list(info, name)
            items = lst.get("items") or []
            if not items:
                continue
            if any(not is_terminating(o) for o in items):
                await self.client.request("DELETE", object_path(info, name),
                                          body={"kind": "DeleteOptions", "apiVersion": "v1",
                                                "propagationPolicy": "Background"})
                items = (await self.client.list(info, name)).get("items") or []
            if items:
                remaining[f"{info.plural}.{info.group}" if info.group else info.plural] = len(items)
                for o in items:
                    for f in meta(o).get("finalizers") or []:
                        finalizers[f] = finalizers.get(f, 0) + 1
        if remaining:
            await self._report(ns, remaining, finalizers)
            self.queue.add_after(name, self.recheck)
            return
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                "spec": {"finalizers": [f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != FINALIZER]}}
        try:
            await self.client.request("PUT", object_path(self.namespaces.info, None, name, "finalize"), body=body)
        except ApiException as e:
            if e.status != 404:
                raise
        log.info("namespace: %s is empty; finalized", name)

    async def _report(self, ns: Obj, remaining: dict[str, int], finalizers: dict[str, int]) -> None:
        what = ", ".join(f"{k} has {n} resource instances" for k, n in sorted(remaining.items()))
        conds = [{"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
                  "message": f"Some resources are remaining: {what}"}]
        if finalizers:
            fins = ", ".join(f"{f} in {n} resource instances" for f, n in sorted(finalizers.items()))
            conds.append({"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
                          "message": f"Some content in the namespace has finalizers remaining: {fins}"})
        old = {c.get("type"): c for c in (ns.get("status") or {}).get("conditions") or []}
        if all(old.get(c["type"], {}).get("message") == c["message"] for c in conds) and len(old) == len(conds):
            return
        stamp = fmt_time(self.clock())
        for c in conds:
            prev = old.get(c["type"])
            c["lastTransitionTime"] = prev.get("lastTransitionTime", stamp) if prev else stamp
        body = copy.deepcopy(ns)
        body.setdefault("status", {})["conditions"] = conds
        try:
            await self.client.update_status("namespaces", body)
        except ApiException as e:
            if e.status not in (404, 409):
                raise
