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
from shoal.api.views import Body, labels, meta, name, owner_reference, spec
from shoal.api.views import key as key_of
from shoal.client import ApiException, split_key
from shoal.controllers.base import Controller
from shoal.network import endpoints as eprules

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

    def _svc(self, obj: Body) -> None:
        self.queue.add(key_of(obj))

    def _pod(self, pod: Body) -> None:
        self._pod_update(None, pod)

    def _pod_update(self, old: Body | None, new: Body) -> None:
        ns = meta(new).get("namespace")
        pod_labels = [labels(o) for o in (old, new) if o is not None]
        for svc in self.services.list(ns):
            sel = spec(svc).get("selector")
            if not sel:
                continue
            s = selectors.from_set(sel)
            if any(s.matches(lbl) for lbl in pod_labels):
                self.queue.add(key_of(svc))

    def _pods_for(self, svc: Body) -> list[dict[str, Any]]:
        sel = selectors.from_set(spec(svc).get("selector") or {})
        return [p for p in self.pods.list(meta(svc).get("namespace")) if sel.matches(labels(p))]

    async def reconcile(self, key: Hashable) -> None:
        ns, svc_name = split_key(str(key))
        svc = self.services.get(str(key))
        if svc is None or not spec(svc).get("selector"):
            if svc is None:
                await self._delete_owned(ns, svc_name)
            return
        pods = self._pods_for(svc)
        await self._sync_endpoints(svc, pods)
        await self._sync_slice(svc, pods)

    async def _delete_owned(self, ns: str | None, svc_name: str) -> None:
        ep = self.endpoints.get_by(ns, svc_name)
        if ep is not None and labels(ep).get(MANAGED_BY) == CONTROLLER_NAME:
            await self._quiet_delete("endpoints", svc_name, ns)
        for s in self.slices.list(ns):
            if labels(s).get(SERVICE_NAME) == svc_name:
                await self._quiet_delete("endpointslices", name(s), ns)

    async def _quiet_delete(self, res: str, obj_name: str, ns: str | None) -> None:
        try:
            await self.client.delete(res, obj_name, ns)
        except ApiException as e:
            if e.status != 404:
                raise

    def _labels(self, svc: Body) -> dict[str, str]:
        return {**labels(svc), MANAGED_BY: CONTROLLER_NAME}

    async def _sync_endpoints(self, svc: Body, pods: list[dict[str, Any]]) -> None:
        md = meta(svc)
        ns, name = md.get("namespace"), md["name"]
        subsets = eprules.endpoints_subsets(svc, pods)
        cur = self.endpoints.get_by(ns, name)
        want_labels = self._labels(svc)
        if cur is None:
            body = {"metadata": {"name": name, "namespace": ns, "labels": want_labels}, "subsets": subsets}
            try:
                await self.client.create("endpoints", body, ns)
            except ApiException as e:
                if e.status != 409:
                    raise
                self.queue.add_after(f"{ns}/{name}", 0.05)
            return
        if (cur.get("subsets") or []) == subsets and labels(cur) == want_labels:
            return
        new = {"metadata": {**meta(cur), "labels": want_labels}, "subsets": subsets}
        await self.client.update("endpoints", new)

    async def _sync_slice(self, svc: Body, pods: list[dict[str, Any]]) -> None:
        md = meta(svc)
        ns = md.get("namespace")
        slice_name = eprules.slice_name(svc)
        eps, ports = eprules.endpoint_slice_body(svc, pods)
        want_labels = {SERVICE_NAME: md["name"], MANAGED_BY: CONTROLLER_NAME}
        owner = owner_reference(svc, api_version="v1", kind="Service")
        cur = self.slices.get_by(ns, slice_name)
        body: dict[str, Any] = {
            "metadata": {"name": slice_name, "namespace": ns, "labels": want_labels, "ownerReferences": [owner]},
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
        body["metadata"] = {**meta(cur), "labels": want_labels, "ownerReferences": [owner]}
        await self.client.update("endpointslices", body)
