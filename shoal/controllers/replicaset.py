"""The ReplicaSet controller: keep ``spec.replicas`` pods matching the selector.

``reconcile`` claims pods (adopts orphans the selector matches, releases owned
pods it no longer matches), compares the active ones with ``spec.replicas``,
creates the missing ones in slow-start batches (1, 2, 4, ... so a template the
API rejects costs one failed request, not 500) or deletes the surplus in
``podstate.deletion_order`` (cheapest first), and writes the full status. The
decisions are pure (``plan_replicas``, ``replica_set_status``); the class
around them does the I/O. Expectations hold the next decision until the pod
cache has seen this one's creates and deletes, so a slow watch never doubles
a scale-up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from shoal.api.selectors import Selector, SelectorError, from_label_selector
from shoal.api.views import (
    Body,
    Condition,
    ObjectMeta,
    OwnerReference,
    conditions,
    controller_ref,
    controller_uid,
    format_time,
    is_active,
    is_ready,
    is_terminating,
    labels,
    meta,
    namespace,
    owner_reference,
    spec,
    status,
    uid,
)
from shoal.api.views import (
    key as key_of,
)
from shoal.client import ApiException
from shoal.controllers import ownership, podstate
from shoal.controllers.base import Controller, Expectations

log = logging.getLogger(__name__)

BURST = 500  # upstream's burstReplicas: most pods created or deleted in one pass
# Pod events of one ReplicaSet within this many seconds share one pass: 1,000 pods becoming
# Ready cost a few dozen passes over the pods instead of a thousand (expectations are
# still lowered at once, in the handlers).
POD_BATCH = 0.05
API_VERSION = "apps/v1"
KIND = "ReplicaSet"


def spec_replicas(obj: Body) -> int:
    r = spec(obj).get("replicas")
    return 1 if r is None else int(r)


def min_ready_seconds(rs: Body) -> int:
    return int(spec(rs).get("minReadySeconds") or 0)


@dataclass(frozen=True, slots=True)
class ReplicaPlan:
    create: int
    delete: list[Body]


def plan_replicas(rs: Body, pods: Sequence[Body], *, related: Sequence[Body] = (), burst: int = BURST) -> ReplicaPlan:
    """How many pods to create, or which to delete, given the RS's active pods."""
    diff = len(pods) - spec_replicas(rs)
    if diff < 0:
        return ReplicaPlan(create=min(-diff, burst), delete=[])
    if diff > 0:
        n = min(diff, burst)
        return ReplicaPlan(create=0, delete=podstate.deletion_order(pods, related)[:n])
    return ReplicaPlan(create=0, delete=[])


def slow_start_batches(n: int, initial: int = 1) -> list[int]:
    """Batch sizes 1, 2, 4, ... summing to ``n``."""
    out, size = [], initial
    while n > 0:
        b = min(size, n)
        out.append(b)
        n -= b
        size *= 2
    return out


def pod_from_template(rs: Body, ref: OwnerReference) -> dict[str, Any]:
    """The body of a new pod of ``rs`` (shared by every create of one pass: the API server copies it)."""
    tmpl = spec(rs).get("template") or {}
    tmd = tmpl.get("metadata") or {}
    md: ObjectMeta = {"generateName": f"{meta(rs)['name']}-", "namespace": namespace(rs), "ownerReferences": [ref]}
    if tmd.get("labels"):
        md["labels"] = dict(tmd["labels"])
    if tmd.get("annotations"):
        md["annotations"] = dict(tmd["annotations"])
    if tmd.get("finalizers"):
        md["finalizers"] = list(tmd["finalizers"])
    return {"metadata": md, "spec": tmpl.get("spec") or {}}


def _set_condition(conds: list[Condition], cond: Condition) -> list[Condition]:
    return [*(c for c in conds if c.get("type") != cond.get("type")), cond]


def replica_set_status(rs: Body, pods: Sequence[Body], now: dt.datetime, *,
                       failure: tuple[str, str] | None = None) -> dict[str, Any]:
    """The status upstream writes: counts over the RS's active pods, and ReplicaFailure."""
    template_labels = labels(spec(rs).get("template") or {})
    mrs = min_ready_seconds(rs)
    fully = ready = available = 0
    for p in pods:
        plabels = labels(p)
        if all(plabels.get(k) == v for k, v in template_labels.items()):
            fully += 1
        if is_ready(p):
            ready += 1
            if podstate.is_available(p, mrs, now):
                available += 1
    conds = conditions(rs)
    has_failure = any(c.get("type") == "ReplicaFailure" for c in conds)
    if failure is not None and not has_failure:
        conds = _set_condition(conds, {"type": "ReplicaFailure", "status": "True",
                                       "lastTransitionTime": format_time(now),
                                       "reason": failure[0], "message": failure[1]})
    elif failure is None and has_failure:
        conds = [c for c in conds if c.get("type") != "ReplicaFailure"]
    st: dict[str, Any] = {"replicas": len(pods)}
    for k, v in (("fullyLabeledReplicas", fully), ("readyReplicas", ready), ("availableReplicas", available),
                 ("observedGeneration", int(meta(rs).get("generation") or 0))):
        if v:
            st[k] = v
    if conds:
        st["conditions"] = conds
    return st


def next_availability(rs: Body, pods: Sequence[Body], now: dt.datetime) -> float | None:
    """Seconds until the next ready pod passes minReadySeconds (to look again then)."""
    mrs = min_ready_seconds(rs)
    if mrs <= 0:
        return None
    waits = []
    for p in pods:
        at = podstate.available_at(p, mrs)
        if at is not None and at > now:
            waits.append((at - now).total_seconds())
    return min(waits) + 0.05 if waits else None


def _meta_differs(old: Body, new: Body) -> bool:
    a, b = meta(old), meta(new)
    return any(a.get(k) != b.get(k) for k in ("labels", "ownerReferences", "deletionTimestamp", "generation"))


class ReplicaSetController(Controller):
    """Runs ReplicaSets; ``replication.ReplicationControllerController`` runs RCs with it, changing only
    the resource, the kind and how a selector is read (the four attributes below)."""

    name = "replicaset"
    workers = 8
    resource = "replicasets"
    kind = KIND
    api_version = API_VERSION

    def selector_of(self, obj: Body) -> Selector:
        """The object's pod selector (raises SelectorError when it is malformed)."""
        return from_label_selector(spec(obj).get("selector"))

    def setup(self) -> None:
        self.expectations = Expectations()
        self.rs_informer = self.ctx.factory.informer(self.resource)
        self.pod_informer = self.ctx.factory.informer("pods")
        ownership.add_ownership_indexes(self.pod_informer)
        self.rs_informer.add_handler(on_add=lambda rs: self.queue.add(key_of(rs)), on_update=self._rs_updated,
                                     on_delete=self._rs_deleted)
        self.pod_informer.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                      on_delete=self._pod_deleted)

    # ---- event handlers: compute keys, nothing else ---------------------------------------
    def _rs_updated(self, old: Body, new: Body) -> None:
        """Anything but a change of status alone (which this controller wrote) needs a pass."""
        if old.get("spec") != new.get("spec") or _meta_differs(old, new):
            self.queue.add(key_of(new))

    def _pod_changed(self, key: str) -> None:
        self.queue.add_after(key, POD_BATCH)

    def _rs_deleted(self, rs: Body) -> None:
        self.expectations.forget(key_of(rs))
        self.queue.add(key_of(rs))

    def _owner_key(self, pod: Body) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != self.kind:
            return None
        rs = self.rs_informer.get_by(meta(pod).get("namespace"), str(ref.get("name")))
        if rs is None or meta(rs).get("uid") != ref.get("uid"):
            return None
        return key_of(rs)

    def _matching(self, pod: Body) -> list[str]:
        pod_labels = labels(pod)
        out = []
        for rs in self.rs_informer.list(meta(pod).get("namespace")):
            try:
                if self.selector_of(rs).matches(pod_labels):
                    out.append(key_of(rs))
            except SelectorError:
                continue
        return out

    def _pod_added(self, pod: Body) -> None:
        if is_terminating(pod):
            self._pod_deleted(pod)
            return
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.observed_add(key)
            self._pod_changed(key)
        elif controller_ref(pod) is None:
            for k in self._matching(pod):
                self.queue.add(k)

    def _pod_updated(self, old: Body, new: Body) -> None:
        if is_terminating(new) and not is_terminating(old):
            key = self._owner_key(new)
            if key is not None:
                self.expectations.deletion_observed(key, key_of(new))
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref != new_ref and old_ref is not None:
            old_key = self._owner_key(old)
            if old_key is not None:
                self._pod_changed(old_key)
        key = self._owner_key(new)
        if key is not None:
            self._pod_changed(key)
        elif new_ref is None and (old_ref is not None or
                                  meta(old).get("labels") != meta(new).get("labels")):
            for k in self._matching(new):
                self.queue.add(k)

    def _pod_deleted(self, pod: Body) -> None:
        key = self._owner_key(pod)
        if key is not None:
            self.expectations.deletion_observed(key, key_of(pod))
            self._pod_changed(key)

    # ---- reconcile -----------------------------------------------------------------------
    async def reconcile(self, key: Hashable) -> None:
        rs = self.rs_informer.get(str(key))
        if rs is None:
            self.expectations.forget(key)
            return
        try:
            selector = self.selector_of(rs)
        except SelectorError as e:
            self.emit(rs, "Warning", "InvalidSelector", str(e), kind=self.kind, api_version=self.api_version)
            return
        needs_sync = self.expectations.satisfied(key)
        pods = await self._claim(rs, selector)
        failure: tuple[str, str] | None = None
        error: Exception | None = None
        if needs_sync and not is_terminating(rs):
            try:
                await self._manage(str(key), rs, pods)
            except ApiException as e:
                error = e
                failure = ("FailedCreate" if spec_replicas(rs) > len(pods) else "FailedDelete", e.message)
        now = self.clock()
        new_status = replica_set_status(rs, pods, now, failure=failure)
        if new_status != status(rs):
            try:
                await self.client.update_status(self.resource, {**rs, "status": new_status})
            except ApiException as e:
                if e.status != 404:
                    raise
        if error is not None:
            raise error
        wait = next_availability(rs, pods, now)
        if wait is not None:
            self.queue.add_after(key, wait)

    async def _claim(self, rs: Body, selector: Selector) -> list[Body]:
        candidates = [p for p in ownership.owned_and_orphans(self.pod_informer, rs) if is_active(p)]
        claims = ownership.plan_claims(rs, selector, candidates)
        rs_uid = uid(rs)
        if claims.adopt and await self._can_adopt(rs):
            ref = owner_reference(rs, api_version=self.api_version, kind=self.kind)
            adopted = await asyncio.gather(*(ownership.adopt(self.client, "pods", p, ref) for p in claims.adopt),
                                           return_exceptions=True)
            failed = [r for r in adopted if isinstance(r, BaseException)]
            if failed:
                raise failed[0]
            claims.owned += [p for p in adopted if isinstance(p, dict)]
        if claims.release:
            await asyncio.gather(*(ownership.release(self.client, "pods", p, rs_uid) for p in claims.release))
        return claims.owned

    async def _can_adopt(self, rs: Body) -> bool:
        """Re-read the RS: never adopt for one that is being deleted or was replaced."""
        md = meta(rs)
        try:
            fresh = await self.client.get(self.resource, md["name"], md.get("namespace"))
        except ApiException:
            return False
        return uid(fresh) == uid(rs) and not is_terminating(fresh)

    async def _manage(self, key: str, rs: Body, pods: list[Body]) -> None:
        plan = plan_replicas(rs, pods, related=self._related(rs))
        if plan.create:
            await self._create(key, rs, plan.create)
        elif plan.delete:
            await self._delete(key, rs, plan.delete)

    def _related(self, rs: Body) -> list[Body]:
        """Pods of sibling ReplicaSets (same controller), for the doubled-up ranking."""
        owner = controller_uid(rs)
        if owner is None:
            return []
        rs_uid = meta(rs).get("uid")
        out: list[Body] = []
        for sib in self.rs_informer.list(meta(rs).get("namespace")):
            if controller_uid(sib) == owner and meta(sib).get("uid") != rs_uid:
                out += self.pod_informer.by_index(ownership.CONTROLLER_INDEX, str(meta(sib).get("uid")))
        return out

    async def _create(self, key: str, rs: Body, n: int) -> None:
        ref = owner_reference(rs, api_version=self.api_version, kind=self.kind)
        body = pod_from_template(rs, ref)
        ns = meta(rs).get("namespace")
        self.expectations.expect(key, adds=n)
        done = 0
        for batch in slow_start_batches(n):
            results = await asyncio.gather(*(self.client.create("pods", body, ns) for _ in range(batch)),
                                           return_exceptions=True)
            errors = [r for r in results if isinstance(r, BaseException)]
            for r in results:
                if not isinstance(r, BaseException):
                    self.emit(rs, "Normal", "SuccessfulCreate", f"Created pod: {r['metadata']['name']}",
                              kind=self.kind, api_version=self.api_version)
            done += batch
            if errors:
                self.expectations.lower_adds(key, len(errors) + (n - done))
                err = errors[0]
                msg = err.message if isinstance(err, ApiException) else repr(err)
                self.emit(rs, "Warning", "FailedCreate", f"Error creating: {msg}", kind=self.kind, api_version=self.api_version)
                if isinstance(err, ApiException):
                    raise err
                raise ApiException(0, "InternalError", msg)

    async def _delete(self, key: str, rs: Body, pods: list[Body]) -> None:
        keys = [key_of(p) for p in pods]
        self.expectations.expect_deletions(key, keys)

        async def one(p: Body) -> None:
            md = meta(p)
            try:
                await self.client.delete("pods", md["name"], md.get("namespace"), uid=md.get("uid"))
            except ApiException as e:
                if e.status not in (404, 409):  # gone or replaced: the delete is as good as seen
                    self.expectations.lower_deletes(key, [key_of(p)])
                    self.emit(rs, "Warning", "FailedDelete", f"Error deleting: {e.message}",
                              kind=self.kind, api_version=self.api_version)
                    raise
                self.expectations.deletion_observed(key, key_of(p))
                return
            self.emit(rs, "Normal", "SuccessfulDelete", f"Deleted pod: {md['name']}", kind=self.kind,
                      api_version=self.api_version)

        results = await asyncio.gather(*(one(p) for p in pods), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r


__all__ = ["ReplicaPlan", "ReplicaSetController", "next_availability", "plan_replicas",
           "pod_from_template", "replica_set_status", "slow_start_batches"]
