"""The pvc-protection and pv-protection controllers: storage in use is not removed under its users.

The API server adds ``kubernetes.io/pvc-protection`` to every claim and
``kubernetes.io/pv-protection`` to every volume when they are created; a deleted
one therefore stays, Terminating, until its finalizer goes. These controllers
remove it only when that is safe, as upstream's:

* a claim's, once no pod uses it: a pod uses a claim when it is scheduled to a node,
  has not finished (Succeeded or Failed), and names the claim in a
  ``persistentVolumeClaim`` volume (or owns it as a generic ephemeral volume,
  ``<pod>-<volume>``). An unscheduled pod does not hold it: the node's agent
  refuses to start a pod whose claim is being deleted;
* a volume's, once it is not Bound.

Both add their finalizer to a live object that lacks it (written before the
admission existed, or removed by hand), as upstream. The decisions are the pure
``claim_in_use``, ``claim_finalizer_change`` and ``volume_finalizer_change``;
the two controllers only read caches and patch.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Literal

from shoal.api import views
from shoal.api.storage_contract import PV_PROTECTION, PVC_PROTECTION
from shoal.api.views import Body
from shoal.client import ApiException
from shoal.controllers.base import Controller, ensure_index

Change = Literal["add", "remove"] | None
CLAIMS_INDEX = "claims-used"


def claims_of_pod(pod: Body) -> list[str]:
    """The claims (``ns/name``) a pod's volumes name."""
    ns = views.namespace(pod)
    out: list[str] = []
    for vol in views.spec(pod).get("volumes") or []:
        if not isinstance(vol, Mapping):
            continue
        src = vol.get("persistentVolumeClaim")
        if isinstance(src, Mapping) and src.get("claimName"):
            out.append(f"{ns}/{src['claimName']}")
        elif isinstance(vol.get("ephemeral"), Mapping) and vol.get("name"):
            out.append(f"{ns}/{views.name(pod)}-{vol['name']}")
    return out


def pod_holds_claims(pod: Body) -> bool:
    """Whether the pod's claims are in use: it is scheduled and has not finished."""
    return bool(views.node_name(pod)) and not views.is_terminal(pod)


def claim_in_use(claim: Body, pods: Iterable[Body]) -> bool:
    key = views.key(claim)
    return any(pod_holds_claims(p) and key in claims_of_pod(p) for p in pods)


def claim_finalizer_change(claim: Body, pods: Iterable[Body]) -> Change:
    has = PVC_PROTECTION in views.finalizers(claim)
    if not views.is_terminating(claim):
        return None if has else "add"
    return "remove" if has and not claim_in_use(claim, pods) else None


def volume_finalizer_change(pv: Body) -> Change:
    has = PV_PROTECTION in views.finalizers(pv)
    if not views.is_terminating(pv):
        return None if has else "add"
    return "remove" if has and views.storage_phase(pv) != "Bound" else None


def _with_finalizer(obj: Body, finalizer: str, change: Change) -> list[str]:
    fins = [f for f in views.finalizers(obj) if f != finalizer]
    return [*fins, finalizer] if change == "add" else fins


async def _patch_finalizers(ctl: Controller, resource: str, obj: Body, finalizer: str, change: Change) -> None:
    body = {"metadata": {"finalizers": _with_finalizer(obj, finalizer, change),
                         "resourceVersion": views.resource_version(obj)}}
    try:
        await ctl.client.patch(resource, views.name(obj), body, views.namespace(obj) or None)
    except ApiException as e:
        if e.status == 409:
            ctl.queue.add_after(views.key(obj), 0.05)  # changed meanwhile: decide again
            return
        if e.status != 404:
            raise


class PVCProtectionController(Controller):
    name = "pvc-protection"
    workers = 2

    def setup(self) -> None:
        self.claims = self.ctx.factory.informer("persistentvolumeclaims")
        self.pods = self.ctx.factory.informer("pods")
        ensure_index(self.pods, CLAIMS_INDEX, claims_of_pod)
        self.claims.add_handler(on_add=self._claim, on_update=lambda old, new: self._claim(new))
        self.pods.add_handler(on_update=self._pod_updated, on_delete=self._pod)

    def _claim(self, claim: Body) -> None:
        if claim_finalizer_change(claim, ()) is not None or views.is_terminating(claim):
            self.queue.add(views.key(claim))

    def _pod(self, pod: Body) -> None:
        for key in claims_of_pod(pod):
            self.queue.add(key)

    def _pod_updated(self, old: Body, new: Body) -> None:
        if pod_holds_claims(old) != pod_holds_claims(new):
            self._pod(new)

    async def reconcile(self, key: Hashable) -> None:
        claim = self.claims.get(str(key))
        if claim is None:
            return
        pods = self.pods.by_index(CLAIMS_INDEX, views.key(claim))
        change = claim_finalizer_change(claim, pods)
        if change == "remove":
            # the pod cache may lag: a pod created a moment ago must still hold the claim (upstream asks the API)
            live = await self.client.list("pods", views.namespace(claim))
            change = claim_finalizer_change(claim, live.get("items") or [])
        if change is not None:
            await _patch_finalizers(self, "persistentvolumeclaims", claim, PVC_PROTECTION, change)


class PVProtectionController(Controller):
    name = "pv-protection"
    workers = 2

    def setup(self) -> None:
        self.volumes = self.ctx.factory.informer("persistentvolumes")
        self.volumes.add_handler(on_add=self._volume, on_update=lambda old, new: self._volume(new))

    def _volume(self, pv: Body) -> None:
        if volume_finalizer_change(pv) is not None:
            self.queue.add(views.key(pv))

    async def reconcile(self, key: Hashable) -> None:
        pv = self.volumes.get(str(key))
        if pv is None:
            return
        change = volume_finalizer_change(pv)
        if change is not None:
            await _patch_finalizers(self, "persistentvolumes", pv, PV_PROTECTION, change)
