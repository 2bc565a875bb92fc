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
from shoal.api.crd.kind import is_established, primary_info
from shoal.api.registry import ResourceInfo
from shoal.api.views import Body, conditions, format_time, is_terminating, name, spec
from shoal.api.views import finalizers as finalizers_of
from shoal.client import ApiException, object_path
from shoal.controllers.base import Context, Controller

log = logging.getLogger(__name__)

FINALIZER = "kubernetes"


class NamespaceController(Controller):
    name = "namespace"
    workers = 4

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.recheck = float(ctx.options.get("namespace_recheck_seconds", 1.0))
        # a view of another kind's objects (events.k8s.io Events) holds nothing of its own
        self.kinds = [r for r in kinds.RESOURCES
                      if r.namespaced and "deletecollection" in r.verbs and "view_of" not in r.extra]

    def setup(self) -> None:
        # custom kinds are namespace content too: the CRDs say which are served now
        self.crds = self.ctx.factory.informer("customresourcedefinitions")
        self.namespaces = self.ctx.factory.informer("namespaces")
        self.namespaces.add_handler(on_add=self._seen, on_update=lambda _o, n: self._seen(n))

    def _custom_kinds(self) -> list[ResourceInfo]:
        out = []
        for crd in self.crds.list():
            info = primary_info(crd) if is_established(crd) else None
            if info is not None and info.namespaced:
                out.append(info)
        return out

    def _seen(self, ns: Body) -> None:
        if is_terminating(ns):
            self.queue.add(name(ns))

    async def reconcile(self, key: Hashable) -> None:
        ns_name = str(key)
        ns = self.namespaces.get(ns_name)
        if ns is None or not is_terminating(ns):
            return
        if FINALIZER not in (spec(ns).get("finalizers") or []):
            return
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for info in self.kinds + self._custom_kinds():
            try:
                lst = await self.client.list(info, ns_name)
            except ApiException as e:
                if e.status == 404 and info not in self.kinds:
                    continue  # a custom kind whose CRD just went (its objects went with it)
                raise
            items = lst.get("items") or []
            if not items:
                continue
            if any(not is_terminating(o) for o in items):
                await self.client.request("DELETE", object_path(info, ns_name),
                                          body={"kind": "DeleteOptions", "apiVersion": "v1",
                                                "propagationPolicy": "Background"})
                items = (await self.client.list(info, ns_name)).get("items") or []
            if items:
                remaining[f"{info.plural}.{info.group}" if info.group else info.plural] = len(items)
                for o in items:
                    for f in finalizers_of(o):
                        finalizers[f] = finalizers.get(f, 0) + 1
        if remaining:
            await self._report(ns, remaining, finalizers)
            self.queue.add_after(ns_name, self.recheck)
            return
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns_name},
                "spec": {"finalizers": [f for f in spec(ns).get("finalizers") or [] if f != FINALIZER]}}
        try:
            await self.client.request("PUT", object_path(self.namespaces.info, None, ns_name, "finalize"), body=body)
        except ApiException as e:
            if e.status != 404:
                raise
        log.info("namespace: %s is empty; finalized", ns_name)

    async def _report(self, ns: Body, remaining: dict[str, int], finalizers: dict[str, int]) -> None:
        what = ", ".join(f"{k} has {n} resource instances" for k, n in sorted(remaining.items()))
        conds: list[dict[str, Any]] = [{"type": "NamespaceContentRemaining", "status": "True", "reason": "SomeResourcesRemain",
                  "message": f"Some resources are remaining: {what}"}]
        if finalizers:
            fins = ", ".join(f"{f} in {n} resource instances" for f, n in sorted(finalizers.items()))
            conds.append({"type": "NamespaceFinalizersRemaining", "status": "True", "reason": "SomeFinalizersRemain",
                          "message": f"Some content in the namespace has finalizers remaining: {fins}"})
        old: dict[str | None, Any] = {c.get("type"): c for c in conditions(ns)}
        if all(old.get(c["type"], {}).get("message") == c["message"] for c in conds) and len(old) == len(conds):
            return
        stamp = format_time(self.clock())
        for c in conds:
            prev = old.get(c["type"])
            c["lastTransitionTime"] = prev.get("lastTransitionTime", stamp) if prev else stamp
        body = copy.deepcopy(dict(ns))
        body.setdefault("status", {})["conditions"] = conds
        try:
            await self.client.update_status("namespaces", body)
        except ApiException as e:
            if e.status not in (404, 409):
                raise
