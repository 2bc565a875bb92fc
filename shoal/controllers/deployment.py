"""The Deployment controller: applies ``rollout.plan_rollout`` step by step.

Handlers map every change to the Deployment it concerns: its own events, its
ReplicaSets' (by controller reference; an orphan to every Deployment whose
selector matches it), and its pods' (a deleted pod unblocks a Recreate; a pod
change can fail a rollout that auto-rolls back). ``reconcile`` claims the
ReplicaSets, plans, and writes: the new ReplicaSet (a name already taken by a
different template bumps ``status.collisionCount`` so the next hash differs),
ReplicaSet updates guarded by their resourceVersion (a stale cache means a 409
and a fresh plan, never a lost write), history pruning, status, then the
revision annotation. A rollback is written like ``kubectl rollout undo``
writes one, then explained in an Event and the Progressing condition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable

from shoal.api.selectors import SelectorError, from_label_selector
from shoal.api.views import (
    Body,
    controller_ref,
    controller_uid,
    is_terminating,
    labels,
    meta,
    name,
    namespace,
    owner_reference,
    spec,
    status,
    uid,
)
from shoal.api.views import (
    key as key_of,
)
from shoal.client import ApiException, Informer
from shoal.controllers import autorollback, ownership, progress
from shoal.controllers.base import Controller
from shoal.controllers.hashing import equal_ignore_hash
from shoal.controllers.history import ReplicaSet, template
from shoal.controllers.rollout import Plan, plan_rollout

log = logging.getLogger(__name__)

API_VERSION = "apps/v1"
KIND = "Deployment"


class DeploymentController(Controller):
    name = "deployment"
    workers = 4

    def setup(self) -> None:
        self.d_informer = self.ctx.factory.informer("deployments")
        self.rs_informer = self.ctx.factory.informer("replicasets")
        self.pod_informer = self.ctx.factory.informer("pods")
        ownership.add_ownership_indexes(self.rs_informer)
        ownership.add_ownership_indexes(self.pod_informer)
        self.d_informer.add_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                                    on_delete=self._enqueue)
        self.rs_informer.add_handler(on_add=self._rs_changed, on_update=self._rs_updated,
                                     on_delete=self._rs_changed)
        self.pod_informer.add_handler(on_update=self._pod_updated, on_delete=self._pod_deleted)

    # ---- event handlers ------------------------------------------------------------------
    def _enqueue(self, d: Body) -> None:
        self.queue.add(key_of(d))

    def _owner(self, obj: Body, kind: str, informer: Informer) -> Body | None:
        ref = controller_ref(obj)
        if ref is None or ref.get("kind") != kind:
            return None
        owner = informer.get_by(meta(obj).get("namespace"), str(ref.get("name")))
        if owner is None or meta(owner).get("uid") != ref.get("uid"):
            return None
        return owner

    def _matching(self, rs: Body) -> list[Body]:
        rs_labels = labels(rs)
        out: list[Body] = []
        for d in self.d_informer.list(meta(rs).get("namespace")):
            try:
                if from_label_selector(spec(d).get("selector")).matches(rs_labels):
                    out.append(d)
            except SelectorError:
                continue
        return out

    def _rs_changed(self, rs: Body) -> None:
        d = self._owner(rs, KIND, self.d_informer)
        if d is not None:
            self._enqueue(d)
        elif controller_ref(rs) is None and not is_terminating(rs):
            for m in self._matching(rs):
                self._enqueue(m)

    def _rs_updated(self, old: Body, new: Body) -> None:
        if controller_ref(old) != controller_ref(new):
            self._rs_changed(old)
        if meta(old).get("labels") != meta(new).get("labels") or controller_ref(new) is not None:
            self._rs_changed(new)

    def _deployment_of_pod(self, pod: Body) -> Body | None:
        rs = self._owner(pod, "ReplicaSet", self.rs_informer)
        return self._owner(rs, KIND, self.d_informer) if rs is not None else None

    def _pod_updated(self, old: Body, new: Body) -> None:
        d = self._deployment_of_pod(new)
        if d is not None and autorollback.enabled(d):
            self._enqueue(d)

    def _pod_deleted(self, pod: Body) -> None:
        d = self._deployment_of_pod(pod)
        if d is not None:
            strategy = (spec(d).get("strategy") or {}).get("type")
            if strategy == "Recreate" or autorollback.enabled(d):
                self._enqueue(d)

    # ---- reconcile -------------------------------------------------------------------------
    async def reconcile(self, key: Hashable) -> None:
        d = self.d_informer.get(str(key))
        if d is None:
            return
        rss = await self._claim(d)
        pods = {uid(rs): self.pod_informer.by_index(ownership.CONTROLLER_INDEX, uid(rs)) for rs in rss}
        plan = plan_rollout(d, rss, pods, self.clock())
        try:
            await self._apply(d, plan)
        except ApiException as e:
            if e.status == 409 and e.reason != "AlreadyExists":
                self.queue.add_after(key, 0.02)  # a stale cache: plan again from fresh objects
                return
            if e.status == 404:
                return
            raise
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)

    async def _claim(self, d: Body) -> list[Body]:
        try:
            selector = from_label_selector(spec(d).get("selector"))
        except SelectorError:
            return list(self.rs_informer.by_index(ownership.CONTROLLER_INDEX, str(meta(d).get("uid"))))
        claims = ownership.plan_claims(d, selector, ownership.owned_and_orphans(self.rs_informer, d))
        d_uid = uid(d)
        if claims.adopt and await self._can_adopt(d):
            ref = owner_reference(d, api_version=API_VERSION, kind=KIND)
            adopted = await asyncio.gather(*(ownership.adopt(self.client, "replicasets", rs, ref)
                                             for rs in claims.adopt), return_exceptions=True)
            failed = [r for r in adopted if isinstance(r, BaseException)]
            if failed:
                raise failed[0]
            claims.owned += [rs for rs in adopted if isinstance(rs, dict)]
        if claims.release:
            await asyncio.gather(*(ownership.release(self.client, "replicasets", rs, d_uid) for rs in claims.release))
        return claims.owned

    async def _can_adopt(self, d: Body) -> bool:
        md = meta(d)
        try:
            fresh = await self.client.get("deployments", md["name"], md.get("namespace"))
        except ApiException:
            return False
        return uid(fresh) == uid(d) and not is_terminating(fresh)

    def _event(self, d: Body, type_: str, reason: str, message: str) -> None:
        self.emit(d, type_, reason, message, kind=KIND, api_version=API_VERSION)

    async def _apply(self, d: Body, plan: Plan) -> None:
        md = meta(d)
        ns = md.get("namespace")
        if plan.rollback is not None and plan.rolled_back is not None:
            await self._rollback(d, plan)
            return
        if plan.create is not None and not await self._create_rs(d, plan.create):
            return
        if plan.updates:
            await asyncio.gather(*(self.client.update("replicasets", dict(rs)) for rs in plan.updates))
        for rs in plan.deletes:
            try:
                await self.client.delete("replicasets", name(rs), ns, uid=meta(rs).get("uid"))
            except ApiException as e:
                if e.status not in (404, 409):
                    raise
        for type_, reason, message in plan.events:
            self._event(d, type_, reason, message)
        if plan.status is not None:
            await self.client.update_status("deployments", {**d, "status": plan.status})
        if plan.annotations:
            await self.client.patch("deployments", md["name"], {"metadata": {"annotations": plan.annotations}}, ns)

    async def _create_rs(self, d: Body, rs: ReplicaSet) -> bool:
        """Create the new ReplicaSet; on a name collision with another template, bump collisionCount."""
        ns = namespace(d)
        try:
            await self.client.create("replicasets", dict(rs), ns)
            return True
        except ApiException as e:
            if e.status != 409 or e.reason != "AlreadyExists":
                raise
        try:
            existing = await self.client.get("replicasets", name(rs), ns)
        except ApiException as e:
            if e.status == 404:
                self.queue.add_after(key_of(d), 0.02)
                return False
            raise
        if controller_uid(existing) == meta(d).get("uid") and equal_ignore_hash(template(existing), template(d)):
            self.queue.add_after(key_of(d), 0.02)  # ours: the cache was behind
            return False
        st = dict(status(d))
        st["collisionCount"] = int(st.get("collisionCount") or 0) + 1
        self._event(d, "Warning", "HashCollision",
                    f"replica set {name(rs)} exists with another template; trying the next hash")
        await self.client.update_status("deployments", {**d, "status": st})
        return False

    async def _rollback(self, d: Body, plan: Plan) -> None:
        assert plan.rollback is not None and plan.rolled_back is not None
        updated = await self.client.update("deployments", plan.rolled_back)
        for type_, reason, message in plan.events:
            self._event(d, type_, reason, message)
        log.info("deployment %s: %s", key_of(d), plan.events[0][2] if plan.events else "rolled back")
        st = dict(status(updated))
        now = self.clock()
        if progress.has_progress_deadline(updated):
            progress.set_condition(st, progress.new_condition(
                progress.PROGRESSING, "True", "DeploymentRollback",
                f"Rolled back to revision {plan.rollback.revision}: {plan.rollback.reason}", now))
            try:
                await self.client.update_status("deployments", {**updated, "status": st})
            except ApiException as e:
                if e.status not in (404, 409):
                    raise
