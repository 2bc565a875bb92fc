"""The disruption controller: keeps every PodDisruptionBudget's status current.

Handlers map changes to budgets: a budget's own events, a pod's (to every
budget of its namespace that covers it, before or after the change), and a
workload's (its scale is a budget's expected count: every budget of its
namespace). ``reconcile`` reads the budget and its pods from the caches,
resolves each pod's controller to the scale it belongs to (a ReplicaSet's
pods count against their Deployment's replicas), and writes what
``disruptionplan.plan_budget`` computes through ``/status``. A 409 means the
eviction subresource spent the budget meanwhile: the queue plans again.
The eviction's ``disruptedPods`` notes expire after two minutes, so a budget
holding one is looked at again then.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence

from shoal.api import disruption
from shoal.api.views import Body, controller_ref, meta, namespace, spec, status, uid
from shoal.api.views import key as key_of
from shoal.client import ApiException, Informer
from shoal.controllers.base import Controller
from shoal.controllers.disruptionplan import Scale, plan_budget, status_changed

log = logging.getLogger(__name__)

KIND = "PodDisruptionBudget"
API_VERSION = "policy/v1"
# workloads whose spec.replicas is a scale a budget counts against (a ReplicaSet's owner may be a Deployment)
SCALED = ("replicasets", "deployments", "statefulsets", "replicationcontrollers")
_KIND_RESOURCE = {"ReplicaSet": "replicasets", "Deployment": "deployments", "StatefulSet": "statefulsets",
                  "ReplicationController": "replicationcontrollers"}


def _replicas(obj: Body) -> int:
    r = spec(obj).get("replicas")
    return 1 if r is None else int(r)


class DisruptionController(Controller):
    name = "disruption"
    workers = 2

    def setup(self) -> None:
        self.pdbs = self.ctx.factory.informer("poddisruptionbudgets")
        self.pods = self.ctx.factory.informer("pods")
        self.workloads: dict[str, Informer] = {r: self.ctx.factory.informer(r) for r in SCALED}
        self.pdbs.add_handler(on_add=self._enqueue, on_update=lambda old, new: self._enqueue(new),
                              on_delete=self._enqueue)
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated, on_delete=self._pod_changed)
        for inf in self.workloads.values():
            inf.add_handler(on_add=self._workload_changed, on_update=self._workload_updated,
                            on_delete=self._workload_changed)

    # ---- handlers: keys only ---------------------------------------------------------------
    def _enqueue(self, pdb: Body) -> None:
        self.queue.add(key_of(pdb))

    def _pod_changed(self, pod: Body) -> None:
        for pdb in disruption.budgets_for(pod, self.pdbs.list(namespace(pod))):
            self.queue.add(key_of(pdb))

    def _pod_updated(self, old: Body, new: Body) -> None:
        self._pod_changed(new)
        if meta(old).get("labels") != meta(new).get("labels"):
            self._pod_changed(old)

    def _workload_changed(self, obj: Body) -> None:
        for pdb in self.pdbs.list(namespace(obj)):
            self.queue.add(key_of(pdb))

    def _workload_updated(self, old: Body, new: Body) -> None:
        if spec(old).get("replicas") != spec(new).get("replicas"):
            self._workload_changed(new)

    # ---- reconcile ---------------------------------------------------------------------------
    def scale_of(self, pods: Sequence[Body]) -> dict[str, Scale]:
        """Each pod controller's uid -> the scale it counts in (upstream's finders, over the caches)."""
        out: dict[str, Scale] = {}
        for pod in pods:
            ref = controller_ref(pod)
            if ref is None or str(ref.get("uid")) in out:
                continue
            resource = _KIND_RESOURCE.get(str(ref.get("kind")))
            if resource is None:
                continue
            owner = self.workloads[resource].get_by(namespace(pod), str(ref.get("name")))
            if owner is None or uid(owner) != ref.get("uid"):
                continue
            scale = Scale(uid(owner), _replicas(owner))
            top = controller_ref(owner)
            if resource == "replicasets" and top is not None and top.get("kind") == "Deployment":
                dep = self.workloads["deployments"].get_by(namespace(owner), str(top.get("name")))
                if dep is None or uid(dep) != top.get("uid"):
                    continue
                scale = Scale(uid(dep), _replicas(dep))
            out[str(ref.get("uid"))] = scale
        return out

    async def reconcile(self, key: Hashable) -> None:
        pdb = self.pdbs.get(str(key))
        if pdb is None:
            return
        pods = [p for p in self.pods.list(namespace(pdb)) if disruption.covers(pdb, p)]
        plan = plan_budget(pdb, pods, self.scale_of(pods), self.clock())
        if plan.no_pods:
            self.emit(pdb, "Normal", "NoPods", "No matching pods found", kind=KIND, api_version=API_VERSION)
        if plan.error is not None:
            self.emit(pdb, "Warning", "CalculateExpectedPodCountFailed",
                      f"Failed to calculate the number of expected pods: {plan.error}",
                      kind=KIND, api_version=API_VERSION)
        if status_changed(status(pdb), plan.status):
            try:
                await self.client.update_status("poddisruptionbudgets", {**pdb, "status": plan.status})
            except ApiException as e:
                if e.status != 404:
                    raise
        if plan.recheck_after is not None:
            self.queue.add_after(key, plan.recheck_after + 0.05)
