"""The Endpoints and EndpointSlice controller: which pods back each Service.

For every Service with a selector, the pods it matches (from the shared pod
informer) are turned into one Endpoints object and one EndpointSlice by the
pure rules of ``shoal.network.endpoints``; both are written only when they
change. Services without a selector are left alone, so manual Endpoints work.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from shoal.api import selectors
from shoal.client import ApiException, key_of, split_key
from shoal.controllers.base import Controller
from shoal.network import endpoints as eprules

Obj = dict[str, Any]
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
SERVICE_NAME = "kubernetes.io/service-name"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"


class EndpointsController(Controller):
    name = "endpoints"
    workers = 4

    def setup(self) -> None:
        f = self.ctx.factory
        self.services = f.informer("services")
        self.pods = f.informer("pods")
        self.endpoints = f.informer("endpoints")
        self.slices = f.informer("endpointslices")
        self.services.add_handler(on_add=self._svc, on_update=lambda o, n: self._svc(n), on_delete=self._svc)
        self.pods.add_handler(on_add=self._pod, on_update=self._pod_update, on_delete=self._pod)
        self.endpoints.add_handler(on_delete=self._svc)

    def _svc(self, obj: Obj) -> None:
        self.queue.add(key_of(obj))

    def _pod(self, pod: Obj) -> None:
        self._pod_update(None, pod)

    def _pod_update(self, old: Obj | None, new: Obj) -> None:
        ns = (new.get("metadata") or {}).get("namespace")
        labels = [((o or {}).get("metadata") or {}).get("labels") or {} for o in (old, new) if o is not None]
        for svc in self.services.list(ns):
            sel = (svc.get("spec") or {}).get("selector")
            if not sel:
                continue
            s = selectors.from_set(sel)
            if any(s.matches(lbl) for lbl in labels):
                self.queue.add(key_of(svc))

    def _pods_for(self, svc: Obj) -> list[Obj]:
        ns = svc["metadata"].get("namespace")
        sel = selectors.from_set((svc.get("spec") or {}).get("selector") or {})
        return [p for p in self.pods.list(ns) if sel.matches((p.get("metadata") or {}).get("labels"))]

    async def reconcile(self, key: Hashable) -> None:
        ns, name = split_key(str(key))
        svc = self.services.get(str(key))
        if svc is None or not (svc.get("spec") or {}).get("selector"):
            if svc is None:
                await self._delete_owned(ns, name)
            return
        pods = self._pods_for(svc)
        await self._sync_endpoints(svc, pods)
        await self._sync_slice(svc, pods)

    async def _delete_owned(self, ns: str | None, name: str) -> None:
        ep = self.endpoints.get_by(ns, name)
        if ep is not None and ep["metadata"].get("labels", {}).get(MANAGED_BY) == CONTROLLER_NAME:
            await self._quiet_delete("endpoints", name, ns)
        for s in self.slices.list(ns):
            if (s["metadata"].get("labels") or {}).get(SERVICE_NAME) == name:
                await self._quiet_delete("endpointslices", s["metadata"]["name"], ns)

    async def _quiet_delete(self, res: str, name: str, ns: str | None) -> None:
        try:
            await self.client.delete(res, name, ns)
        except ApiException as e:
            if e.status != 404:
                raise

    def _labels(self, svc: Obj) -> dict[str, str]:
        return {**((svc["metadata"].get("labels")) or {}), MANAGED_BY: CONTROLLER_NAME}

    async def _sync_endpoints(self, svc: Obj, pods: list[Obj]) -> None:
        md = svc["metadata"]
        ns, name = md.get("namespace"), md["name"]
        subsets = eprules.endpoints_subsets(svc, pods)
        cur = self.endpoints.get_by(ns, name)
        labels = self._labels(svc)
        if cur is None:
            body = {"metadata": {"name": name, "namespace": ns, "labels": labels}, "subsets": subsets}
            try:
                await self.client.create("endpoints", body, ns)
            except ApiException as e:
                if e.status != 409:
                    raise
                self.queue.add_after(f"{ns}/{name}", 0.05)
            return
        if (cur.get("subsets") or []) == subsets and (cur["metadata"].get("labels") or {}) == labels:
            return
        new = {"metadata": {**cur["metadata"], "labels": labels}, "subsets": subsets}
        await self.client.update("endpoints", new)

    async def _sync_slice(self, svc: Obj, pods: list[Obj]) -> None:
        md = svc["metadata"]
        ns = md.get("namespace")
        name = eprules.slice_name(svc)
        eps, ports = eprules.endpoint_slice_body(svc, pods)
        labels = {SERVICE_NAME: md["name"], MANAGED_BY: CONTROLLER_NAME}
        owner = {"apiVersion": "v1", "kind": "Service", "name": md["name"], "uid": md.get("uid"),
                 "controller": True, "blockOwnerDeletion": True}
        cur = self.slices.get_by(ns, name)
        body = {"metadata": {"name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner]},
                "addressType": "IPv4", "endpoints": eps, "ports": ports}
        if cur is None:
            try:
                await self.client.create("endpointslices", body, ns)
            except ApiException as e:
                if e.status != 409:
                    raise
                self.queue.add_after(f"{ns}/{md['name']}", 0.05)
            return
        if (cur.get("endpoints") or []) == eps and (cur.get("ports") or []) == ports:
            return
        body["metadata"] = {**cur["metadata"], "labels": labels, "ownerReferences": [owner]}
        await self.client.update("endpointslices", body)
