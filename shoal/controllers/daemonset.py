"""The DaemonSet controller: one pod on every eligible node (Swarm's "global service").

A pass for one DaemonSet: adopt matching orphan pods (and release owned pods
that no longer match the selector), group its pods by node, then ``manage``
(create on eligible nodes without a pod, delete failed, excess and misplaced
pods and pods of nodes that are gone) and ``rolling_update`` (replace pods of
an older template within ``maxUnavailable``, or surge with ``maxSurge``), and
write the status ``kubectl rollout status ds`` reads. Node changes (joining,
leaving, labels, taints) re-run every DaemonSet.

Daemon pods are created with ``spec.nodeName`` set: they bypass the scheduler,
as Kubernetes' DaemonSets did before 1.12 and Swarm's global services do, so a
daemon starts on a new node even with no scheduler running and is never left
pending behind ordinary pods. They carry upstream's default tolerations
(not-ready, unreachable, pressure, unschedulable) and the
``controller-revision-hash`` label of their template (shoal serves no
ControllerRevisions; the hash is computed from the template itself). A failed
daemon pod is deleted and recreated after a per-node back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Mapping, Sequence

from shoal.api import selectors
from shoal.api.views import (
    Body,
    OwnerReference,
    controller_ref,
    controller_uid,
    is_ready,
    is_terminating,
    labels,
    meta,
    node_name,
    owner_reference,
    owner_references,
    spec,
    status,
    uid,
)
from shoal.api.views import key as key_of
from shoal.client import ApiException, Informer
from shoal.controllers import daemonplan as plan
from shoal.controllers.base import Context, Controller, Expectations
from shoal.controllers.ownership import pod_from_template

log = logging.getLogger(__name__)


def _ds_key_of_pod(pod: Body) -> list[str]:
    ref = controller_ref(pod)
    if ref is None or ref.get("kind") != "DaemonSet":
        return []
    return [f"{meta(pod).get('namespace')}/{ref.get('name')}"]


def _selector(ds: Body) -> selectors.Selector | None:
    sel = spec(ds).get("selector")
    if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        return None  # validation refuses it; never adopt every pod of a namespace
    try:
        return selectors.from_label_selector(sel)
    except selectors.SelectorError:
        return None


class DaemonSetController(Controller):
    name = "daemonset"
    workers = 4

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.expectations = Expectations()
        self.backoff_base = float(ctx.options.get("daemonset_backoff_seconds", 1.0))
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}  # (ds, node) -> (count, last)
        self._bg = self._event_tasks  # its Events, which stop() and events_written() wait for

    def setup(self) -> None:
        f = self.ctx.factory
        self.daemonsets: Informer = f.informer("daemonsets")
        self.pods: Informer = f.informer("pods")
        self.nodes: Informer = f.informer("nodes")
        self.pods.add_index("daemonset:owner", _ds_key_of_pod)
        self.daemonsets.add_handler(on_add=lambda o: self.queue.add(key_of(o)),
                                    on_update=lambda _o, n: self.queue.add(key_of(n)))
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.nodes.add_handler(on_add=lambda _n: self._all(), on_update=self._node_updated,
                               on_delete=lambda _n: self._all())

    def _all(self) -> None:
        for ds in self.daemonsets.list():
            self.queue.add(key_of(ds))

    def _node_updated(self, old: Body, new: Body) -> None:
        if (meta(old).get("labels") != meta(new).get("labels") or old.get("spec") != new.get("spec")):
            self._all()

    def _pod_added(self, pod: Body) -> None:
        keys = _ds_key_of_pod(pod)
        for k in keys:
            self.expectations.observed_add(k)
            self.queue.add(k)
        if not keys and controller_ref(pod) is None:
            self._orphan(pod)

    def _pod_updated(self, old: Body, new: Body) -> None:
        for k in _ds_key_of_pod(new):
            if is_terminating(new) and not is_terminating(old):
                self.expectations.observed_del(k)
            self.queue.add(k)
        for k in set(_ds_key_of_pod(old)) - set(_ds_key_of_pod(new)):
            self.queue.add(k)
        if controller_ref(new) is None and meta(old).get("labels") != meta(new).get("labels"):
            self._orphan(new)

    def _pod_deleted(self, pod: Body) -> None:
        for k in _ds_key_of_pod(pod):
            if not is_terminating(pod):
                self.expectations.observed_del(k)
            self.queue.add(k)

    def _orphan(self, pod: Body) -> None:
        """An orphan pod matching a DaemonSet's selector: let that DaemonSet adopt it."""
        pod_labels = labels(pod)
        for ds in self.daemonsets.list(meta(pod).get("namespace")):
            sel = _selector(ds)
            if sel is not None and sel.matches(pod_labels):
                self.queue.add(key_of(ds))

    def _event(self, ds: Body, type_: str, reason: str, message: str) -> None:
        ref = {**ds, "apiVersion": "apps/v1", "kind": "DaemonSet"}
        task = asyncio.get_running_loop().create_task(self.events.event(ref, type_, reason, message))
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # ---- reconcile -------------------------------------------------------------------------
    async def reconcile(self, key: Hashable) -> None:
        k = str(key)
        ds = self.daemonsets.get(k)
        if ds is None:
            self.expectations.forget(k)
            return
        sel = _selector(ds)
        if sel is None or is_terminating(ds):
            return
        pods = await self._claim(ds, sel)
        nodes = self.nodes.list()
        by_node: dict[str, list[Body]] = {}
        for p in pods:
            by_node.setdefault(node_name(p), []).append(p)
        tmpl = spec(ds).get("template") or {}
        new_hash = plan.template_hash(tmpl)
        rolling = (spec(ds).get("updateStrategy") or {}).get("rollingUpdate") or {}
        surge = plan.scaled(rolling.get("maxSurge"), len(nodes), round_up=True) > 0
        if self.expectations.satisfied(k):
            now = self.clock()
            m = plan.manage(ds, nodes, by_node, new_hash=new_hash, surge=surge)
            r = plan.rolling_update(ds, nodes, by_node, new_hash=new_hash, now=now)
            create = [n for n in dict.fromkeys(m.create_on + r.create_on) if self._may_create(k, n)]
            delete = list({uid(p): p for p in m.delete + r.delete}.values())
            for n in m.failed_nodes:
                self._note_failure(k, n)
                self._event(ds, "Warning", "FailedDaemonPod", f"Found failed daemon pod on node {n}, will try to kill it")
            await self._sync_nodes(k, ds, create, delete, new_hash)
            if [n for n in dict.fromkeys(m.create_on + r.create_on) if n not in create]:
                self.queue.add_after(k, self.backoff_base)
        await self._write_status(ds, nodes, by_node, new_hash)

    async def _claim(self, ds: Body, sel: selectors.Selector) -> list[Body]:
        """Owned pods that still match, after adopting matching orphans and releasing non-matching ones."""
        md = meta(ds)
        owned = [p for p in self.pods.by_index("daemonset:owner", key_of(ds))
                 if controller_uid(p) == md.get("uid")]
        out: list[Body] = []
        for p in owned:
            if sel.matches(labels(p)):
                out.append(p)
            elif not is_terminating(p):
                await self._patch_refs(p, [r for r in owner_references(p) if r.get("uid") != md.get("uid")])
        for p in self.pods.list(md.get("namespace")):
            if controller_ref(p) is not None or is_terminating(p) or not sel.matches(labels(p)):
                continue
            ref = owner_reference(ds, api_version="apps/v1", kind="DaemonSet")
            adopted = await self._patch_refs(p, [*owner_references(p), ref])
            if adopted is not None:
                out.append(adopted)
        return out

    async def _patch_refs(self, pod: Body, refs: list[OwnerReference]) -> Body | None:
        md = meta(pod)
        try:
            return await self.client.patch("pods", md["name"], {"metadata": {
                "ownerReferences": refs or None, "uid": md.get("uid"),
                "resourceVersion": md.get("resourceVersion")}}, md.get("namespace"))
        except ApiException as e:
            if e.status in (404, 409):
                return None
            raise

    def _may_create(self, k: str, node: str) -> bool:
        f = self._failures.get((k, node))
        if f is None:
            return True
        count, last = f
        delay = min(900.0, self.backoff_base * float(2 ** min(count - 1, 20)))
        return bool(self.monotonic() - last >= delay)

    def _note_failure(self, k: str, node: str) -> None:
        count, _ = self._failures.get((k, node), (0, 0.0))
        self._failures[(k, node)] = (count + 1, self.monotonic())

    async def _sync_nodes(self, k: str, ds: Body, create: list[str], delete: list[Body], new_hash: str) -> None:
        md = meta(ds)
        if not create and not delete:
            return
        self.expectations.expect(k, adds=len(create), dels=len(delete))
        tmpl = spec(ds).get("template") or {}
        gen = str(md.get("generation") or 1)

        async def make(node: str) -> None:
            pod = pod_from_template(tmpl, owner={**ds, "apiVersion": "apps/v1", "kind": "DaemonSet"},
                                    generate_name=f"{md['name']}-", namespace=md["namespace"])
            pod["metadata"]["labels"] = {**pod["metadata"].get("labels", {}), plan.HASH_LABEL: new_hash,
                                         plan.GENERATION_LABEL: gen}
            pod["spec"]["nodeName"] = node
            pod["spec"]["tolerations"] = plan.daemon_tolerations(pod["spec"])
            try:
                created = await self.client.create("pods", dict(pod), md["namespace"])
            except ApiException as e:
                self.expectations.observed_add(k)
                self._event(ds, "Warning", "FailedCreate", f"Error creating: {e.message}")
                if e.status == 403:
                    return  # the namespace is terminating
                raise
            self._event(ds, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

        async def remove(pod: Body) -> None:
            pm = meta(pod)
            try:
                await self.client.delete("pods", pm["name"], pm.get("namespace"), uid=pm.get("uid"))
            except ApiException as e:
                self.expectations.observed_del(k)
                if e.status in (404, 409):
                    return
                raise
            self._event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {pm['name']}")

        results = await asyncio.gather(*(make(n) for n in create), *(remove(p) for p in delete),
                                       return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    async def _write_status(self, ds: Body, nodes: Sequence[Body], by_node: Mapping[str, Sequence[Body]],
                            new_hash: str) -> None:
        md = meta(ds)
        now = self.clock()
        min_ready = int(spec(ds).get("minReadySeconds") or 0)
        desired = current = misscheduled = ready = available = updated = 0
        for node in nodes:
            pods = [p for p in by_node.get(str(meta(node).get("name")), []) if not is_terminating(p)]
            should_run = plan.placement(ds, node).should_run
            if should_run:
                desired += 1
                if pods:
                    current += 1
                    ready += any(is_ready(p) for p in pods)
                    available += any(plan.is_available(p, min_ready, now) for p in pods)
                    updated += any(plan.pod_hash(p) == new_hash for p in pods)
            elif pods:
                misscheduled += 1
        old = status(ds)
        new = {**old, "currentNumberScheduled": current, "numberMisscheduled": misscheduled,
                  "desiredNumberScheduled": desired, "numberReady": ready,
                  "observedGeneration": md.get("generation"), "updatedNumberScheduled": updated,
                  "numberAvailable": available, "numberUnavailable": max(0, desired - available)}
        if new == old:
            return
        body = {**ds, "status": new}
        try:
            await self.client.update_status("daemonsets", body)
        except ApiException as e:
            if e.status != 404:
                raise
        if min_ready and ready > available:
            self.queue.add_after(key_of(ds), float(min_ready))
