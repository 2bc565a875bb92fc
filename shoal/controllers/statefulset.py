"""The StatefulSet controller: executes ``statefulplan.plan_statefulset`` pass by pass.

Handlers only map a change to the set it concerns: the set's own events, its
pods' and its ControllerRevisions' (by controller reference; an orphan pod or
revision to every set of its namespace whose selector matches it), and its
claims' (by the selector labels every claim made from a template carries).
``reconcile`` adopts matching orphans (a pod only if its name is one of the
set's, ``<set>-<ordinal>``) and releases what no longer matches, plans, and
writes the plan's actions stage by stage: revisions, then claims, then pods
(so a pod never exists before its claims), identity and claim-owner fixes,
deletions, status, and last the history pruning. The writes of one stage run
concurrently (a ``Parallel`` set creates all its pods at once); an error stops
the pass and the queue retries it with back-off.

Every object the controller creates has a fixed name, so it needs no
expectations: a pass planned from a stale cache at worst creates something
that exists (409, ignored) or deletes with a uid precondition that no longer
holds (409, ignored). A revision name taken by something else bumps
``status.collisionCount``, and the next pass picks another name.

Events are upstream's: ``SuccessfulCreate``/``FailedCreate`` and
``SuccessfulDelete``/``FailedDelete``, "create Pod db-0 in StatefulSet db
successful", "create Claim data-db-0 Pod db-0 in StatefulSet db success".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from shoal.api.selectors import Selector, SelectorError, from_label_selector
from shoal.api.views import (
    Body,
    controller_ref,
    is_terminating,
    labels,
    name,
    namespace,
    owner_reference,
    spec,
    status,
    uid,
)
from shoal.api.views import key as key_of
from shoal.client import ApiException, Informer
from shoal.controllers import ownership
from shoal.controllers import revisions as history
from shoal.controllers.base import Controller, ensure_index
from shoal.controllers.statefulplan import (
    Action,
    CreateClaim,
    CreatePod,
    CreateRevision,
    DeletePod,
    DeleteRevision,
    FixPodIdentity,
    RenumberRevision,
    SetClaimOwners,
    StatefulPlan,
    ordinal_of,
    plan_statefulset,
)

log = logging.getLogger(__name__)

API_VERSION = "apps/v1"
KIND = "StatefulSet"
POD_BATCH = 0.02  # pod events of one set within this many seconds share one pass
CLAIM_INDEX = "statefulset:claims"  # claims by namespace

# The order the stages of a plan are written in; the actions of one stage run concurrently.
STAGES: tuple[tuple[type, ...], ...] = (
    (CreateRevision, RenumberRevision),
    (CreateClaim,),
    (CreatePod, FixPodIdentity, SetClaimOwners),
    (DeletePod,),
)


def _selector(sts: Body) -> Selector | None:
    sel = spec(sts).get("selector")
    if not isinstance(sel, dict) or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        return None  # validation refuses it; never adopt every pod of a namespace
    try:
        return from_label_selector(sel)
    except SelectorError:
        return None


def _by_namespace(obj: Body) -> list[str]:
    return [namespace(obj)]


class StatefulSetController(Controller):
    name = "statefulset"
    workers = 4

    def setup(self) -> None:
        f = self.ctx.factory
        self.sets: Informer = f.informer("statefulsets")
        self.pods: Informer = f.informer("pods")
        self.claims: Informer = f.informer("persistentvolumeclaims")
        self.revisions: Informer = f.informer("controllerrevisions")
        ownership.add_ownership_indexes(self.pods)
        ownership.add_ownership_indexes(self.revisions)
        ensure_index(self.claims, CLAIM_INDEX, _by_namespace)
        self.sets.add_handler(on_add=self._enqueue, on_update=lambda _o, n: self._enqueue(n),
                              on_delete=self._enqueue)
        self.pods.add_handler(on_add=self._owned_changed, on_update=self._owned_updated,
                              on_delete=self._owned_changed)
        self.revisions.add_handler(on_add=self._owned_changed, on_update=self._owned_updated,
                                   on_delete=self._owned_changed)
        self.claims.add_handler(on_add=self._claim_changed, on_update=lambda _o, n: self._claim_changed(n),
                                on_delete=self._claim_changed)

    # ---- event handlers ------------------------------------------------------------------
    def _enqueue(self, sts: Body) -> None:
        self.queue.add(key_of(sts))

    def _owned_changed(self, obj: Body) -> None:
        ref = controller_ref(obj)
        if ref is not None:
            if ref.get("kind") == KIND:
                self.queue.add_after(f"{namespace(obj)}/{ref.get('name')}", POD_BATCH)
            return
        if not is_terminating(obj):
            self._matching(obj)

    def _owned_updated(self, old: Body, new: Body) -> None:
        if controller_ref(old) != controller_ref(new) or labels(old) != labels(new):
            self._owned_changed(old)
        self._owned_changed(new)

    def _claim_changed(self, claim: Body) -> None:
        self._matching(claim)

    def _matching(self, obj: Body) -> None:
        """Enqueue every set of the object's namespace whose selector matches its labels."""
        lbls = labels(obj)
        for sts in self.sets.list(namespace(obj)):
            sel = _selector(sts)
            if sel is not None and sel.matches(lbls):
                self.queue.add_after(key_of(sts), POD_BATCH)

    def _event(self, sts: Body, type_: str, reason: str, message: str) -> None:
        self.emit(sts, type_, reason, message, kind=KIND, api_version=API_VERSION)

    # ---- reconcile -------------------------------------------------------------------------
    async def reconcile(self, key: Hashable) -> None:
        sts = self.sets.get(str(key))
        if sts is None:
            return
        sel = _selector(sts)
        if sel is None:
            return
        pods = await self._claim("pods", self.pods, sts, sel, member=True)
        revisions = await self._claim("controllerrevisions", self.revisions, sts, sel, member=False)
        claims = self.claims.by_index(CLAIM_INDEX, namespace(sts)) if spec(sts).get("volumeClaimTemplates") else []
        plan = plan_statefulset(sts, pods, claims, revisions, self.clock())
        try:
            await self._apply(sts, plan)
        except ApiException as e:
            if e.status == 404:
                return
            if e.status == 409 and e.reason != "AlreadyExists":
                self.queue.add_after(key, 0.02)  # a stale cache: plan again from fresh objects
                return
            raise
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    async def _claim(self, resource: str, informer: Informer, sts: Body, sel: Selector, *,
                     member: bool) -> list[Body]:
        """What the set controls, after adopting matching orphans and releasing what stopped matching."""
        candidates = ownership.owned_and_orphans(informer, sts)
        if member:  # only pods named as the set's replicas are its pods (upstream's isMemberOf)
            candidates = [o for o in candidates if (ordinal_of(name(o)) or ("", 0))[0] == name(sts)]
        claims = ownership.plan_claims(sts, sel, candidates)
        if claims.adopt and not is_terminating(sts):
            ref = owner_reference(sts, api_version=API_VERSION, kind=KIND)
            adopted = await asyncio.gather(*(ownership.adopt(self.client, resource, o, ref) for o in claims.adopt),
                                           return_exceptions=True)
            failed = [r for r in adopted if isinstance(r, BaseException)]
            if failed:
                raise failed[0]
            claims.owned += [o for o in adopted if isinstance(o, dict)]
        if claims.release:
            await asyncio.gather(*(ownership.release(self.client, resource, o, uid(sts)) for o in claims.release))
        return list(claims.owned)

    async def _apply(self, sts: Body, plan: StatefulPlan) -> None:
        for stage in STAGES:
            actions = [a for a in plan.actions if isinstance(a, stage)]
            if actions:
                await self._run(sts, actions)
        if plan.status is not None:
            body = {**sts, "status": plan.status}
            await self.client.update_status("statefulsets", body)
        deletes = [a for a in plan.actions if isinstance(a, DeleteRevision)]
        if deletes:
            await self._run(sts, deletes)

    async def _run(self, sts: Body, actions: Sequence[Action]) -> None:
        results = await asyncio.gather(*(self._do(sts, a) for a in actions), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _do(self, sts: Body, action: Action) -> None:
        handlers: dict[type, Callable[[Body, Any], Awaitable[None]]] = {
            CreateRevision: self._create_revision, RenumberRevision: self._renumber_revision,
            CreateClaim: self._create_claim, CreatePod: self._create_pod, DeletePod: self._delete_pod,
            FixPodIdentity: self._fix_identity, SetClaimOwners: self._set_claim_owners,
            DeleteRevision: self._delete_revision,
        }
        await handlers[type(action)](sts, action)

    # ---- the writes --------------------------------------------------------------------------
    async def _create_revision(self, sts: Body, a: CreateRevision) -> None:
        ns = namespace(sts)
        try:
            await self.client.create("controllerrevisions", a.revision, ns)
            return
        except ApiException as e:
            if e.status != 409 or e.reason != "AlreadyExists":
                raise
        existing = await self.client.get("controllerrevisions", name(a.revision), ns)
        if history.is_owned_by(existing, sts) and history.equal(existing, a.revision):
            return  # ours: the cache was behind
        st = dict(status(sts))
        st["collisionCount"] = int(st.get("collisionCount") or 0) + 1
        await self.client.update_status("statefulsets", {**sts, "status": st})
        raise ApiException(409, "Conflict", f"controller revision {name(a.revision)} exists with other data")

    async def _renumber_revision(self, sts: Body, a: RenumberRevision) -> None:
        await self.client.patch("controllerrevisions", a.name, {"revision": a.revision}, namespace(sts))

    async def _create_claim(self, sts: Body, a: CreateClaim) -> None:
        claim = name(a.claim)
        try:
            await self.client.create("persistentvolumeclaims", a.claim, namespace(sts))
        except ApiException as e:
            if e.status == 409 and e.reason == "AlreadyExists":
                return
            self._event(sts, "Warning", "FailedCreate",
                        f"create Claim {claim} for Pod {a.pod} in StatefulSet {name(sts)} failed error: {e.message}")
            raise
        self._event(sts, "Normal", "SuccessfulCreate",
                    f"create Claim {claim} Pod {a.pod} in StatefulSet {name(sts)} success")

    async def _create_pod(self, sts: Body, a: CreatePod) -> None:
        pod = name(a.pod)
        try:
            await self.client.create("pods", a.pod, namespace(sts))
        except ApiException as e:
            if e.status == 409 and e.reason == "AlreadyExists":
                return
            self._event(sts, "Warning", "FailedCreate",
                        f"create Pod {pod} in StatefulSet {name(sts)} failed error: {e.message}")
            raise
        self._event(sts, "Normal", "SuccessfulCreate", f"create Pod {pod} in StatefulSet {name(sts)} successful")

    async def _delete_pod(self, sts: Body, a: DeletePod) -> None:
        try:
            await self.client.delete("pods", a.name, namespace(sts), uid=a.uid)
        except ApiException as e:
            if e.status in (404, 409):
                return  # gone already, or a new pod of that name
            self._event(sts, "Warning", "FailedDelete",
                        f"delete Pod {a.name} in StatefulSet {name(sts)} failed error: {e.message}")
            raise
        self._event(sts, "Normal", "SuccessfulDelete", f"delete Pod {a.name} in StatefulSet {name(sts)} successful")

    async def _fix_identity(self, sts: Body, a: FixPodIdentity) -> None:
        await self.client.patch("pods", a.name, {"metadata": {"labels": a.labels, "uid": a.uid}}, namespace(sts))

    async def _set_claim_owners(self, sts: Body, a: SetClaimOwners) -> None:
        patch = {"metadata": {"ownerReferences": list(a.owner_references) or None, "uid": a.uid,
                              "resourceVersion": a.resource_version}}
        try:
            await self.client.patch("persistentvolumeclaims", a.name, patch, namespace(sts))
        except ApiException as e:
            if e.status != 404:
                raise

    async def _delete_revision(self, sts: Body, a: DeleteRevision) -> None:
        try:
            await self.client.delete("controllerrevisions", a.name, namespace(sts), uid=a.uid)
        except ApiException as e:
            if e.status not in (404, 409):
                raise

