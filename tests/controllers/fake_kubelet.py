"""A stand-in for node agents and the scheduler, for controller tests against a real server.

Until shoal's agent and scheduler can run in these tests, ``FakeCluster`` plays
the nodes: it registers Node objects, renews their Leases in
``kube-node-lease`` (as agents do, with RFC 3339 microsecond times), binds
unscheduled pods to a live node that fits their nodeSelector and tolerates its
NoSchedule taints, reports bound pods Running and Ready (or finishes them as
``outcome`` says) through the status subresource, and removes pods that are
terminating on a live node (what an agent does once it stopped them). A
"killed" node stops all of that, as a dead machine would; a revived one
resumes. Everything goes through the public API with the same client the
controllers use.

``running_controllers`` starts controller classes in the test process with a
shared informer factory, the way the controller manager does.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

from shoal.client import ApiClient, ApiException, InformerFactory
from shoal.controllers.base import Clock, Context, Controller, utcnow

Obj = dict[str, Any]
Outcome = Callable[[Obj], str]  # pod -> "Running" | "Succeeded" | "Failed" | "Pending"


def _micro(clock: Clock) -> str:
    return clock().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _secs(clock: Clock) -> str:
    return clock().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def always_running(_pod: Obj) -> str:
    return "Running"


class FakeCluster:
    def __init__(self, client: ApiClient, *, lease_interval: float = 0.5, outcome: Outcome = always_running,
                 schedule: bool = True, namespaces: set[str] | None = None, clock: Clock = utcnow) -> None:
        self.client = client
        self.clock = clock  # the times it writes (a harness's fake clock)
        self.paused = False  # act on no pod (a test writes their status itself)
        self.namespaces = namespaces  # only pods of these (None: all)
        self.lease_interval = lease_interval
        self.outcome = outcome
        self.schedule = schedule
        self.nodes: dict[str, Obj] = {}
        self.dead: set[str] = set()
        self.factory = InformerFactory(client)
        self.pods = self.factory.informer("pods")
        self._tasks: list[asyncio.Task[None]] = []
        self._busy: set[str] = set()
        self._rr = itertools.count()
        self.bindings: list[tuple[str, str]] = []  # (pod key, node)

    async def add_node(self, name: str, *, labels: dict[str, str] | None = None,
                       taints: list[Obj] | None = None, unschedulable: bool = False) -> Obj:
        body: Obj = {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
                     "spec": {}}
        if taints:
            body["spec"]["taints"] = taints
        if unschedulable:
            body["spec"]["unschedulable"] = True
        node = await self.client.create("nodes", body)
        node["status"] = {
            "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "lastHeartbeatTime": self._sec(), "lastTransitionTime": self._sec()},
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "fake kubelet is ready",
                 "lastHeartbeatTime": self._sec(), "lastTransitionTime": self._sec()},
            ],
        }
        node = await self.client.update_status("nodes", node)
        self.nodes[name] = node
        await self._renew(name)
        return node

    async def remove_node(self, name: str) -> None:
        self.nodes.pop(name, None)
        with contextlib.suppress(ApiException):
            await self.client.delete("nodes", name)
        with contextlib.suppress(ApiException):
            await self.client.delete("leases", name, "kube-node-lease")

    def kill(self, name: str) -> None:
        self.dead.add(name)

    def revive(self, name: str) -> None:
        self.dead.discard(name)

    def live(self) -> list[str]:
        return [n for n in self.nodes if n not in self.dead]

    # ---- leases ------------------------------------------------------------------------------
    async def _renew(self, name: str) -> None:
        body = {"metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": _micro(self.clock)}}
        try:
            await self.client.patch("leases", name, {"spec": body["spec"]}, "kube-node-lease")
        except ApiException as e:
            if e.status != 404:
                raise
            await self.client.create("leases", body, "kube-node-lease")

    async def _lease_loop(self) -> None:
        while True:
            await self.renew_leases()
            await asyncio.sleep(self.lease_interval)

    # ---- pods --------------------------------------------------------------------------------
    def _fits(self, pod: Obj, node: Obj) -> bool:
        spec = pod.get("spec") or {}
        labels = (node.get("metadata") or {}).get("labels") or {}
        if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
            return False
        tols = spec.get("tolerations") or []
        for t in (node.get("spec") or {}).get("taints") or []:
            if t.get("effect") not in ("NoSchedule", "NoExecute"):
                continue
            if not any((not x.get("key") or x.get("key") == t.get("key"))
                       and (not x.get("effect") or x.get("effect") == t.get("effect")) for x in tols):
                return False
        return True

    def _sec(self) -> str:
        return _secs(self.clock)

    async def _handle(self, pod: Obj) -> bool:
        """One pod's next step, as an agent (and a scheduler) would take it; whether it wrote anything."""
        md = pod["metadata"]
        ns, name = md["namespace"], md["name"]
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if not node:
            if not self.schedule or md.get("deletionTimestamp"):
                return False
            live = []
            for n in self.live():
                with contextlib.suppress(ApiException):
                    live.append(await self.client.get("nodes", n))
            fit = [n for n in live if self._fits(pod, n) and not (n.get("spec") or {}).get("unschedulable")]
            if fit:
                target = fit[next(self._rr) % len(fit)]["metadata"]["name"]
                with contextlib.suppress(ApiException):
                    await self.client.bind(ns, name, target)
                    self.bindings.append((f"{ns}/{name}", target))
                return True
            return False
        if node not in self.nodes or node in self.dead:
            return False
        if md.get("deletionTimestamp"):
            with contextlib.suppress(ApiException):
                await self.client.delete("pods", name, ns, grace_period_seconds=0, uid=md.get("uid"))
            return True
        if phase in ("Succeeded", "Failed"):
            return False
        want = self.outcome(pod)
        if want == phase or want == "Pending":
            return False
        body = dict(pod)
        containers = spec.get("containers") or []
        status: Obj = {"phase": want, "hostIP": "10.0.0.1", "podIP": "10.1.0.1", "startTime": self._sec()}
        if want == "Running":
            status["conditions"] = [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": self._sec()},
                {"type": "Initialized", "status": "True", "lastTransitionTime": self._sec()},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": self._sec()},
                {"type": "Ready", "status": "True", "lastTransitionTime": self._sec()},
            ]
            status["containerStatuses"] = [
                {"name": c["name"], "ready": True, "restartCount": 0, "image": c.get("image", ""), "imageID": "",
                 "started": True, "state": {"running": {"startedAt": self._sec()}}} for c in containers]
        else:
            code = 0 if want == "Succeeded" else 1
            status["conditions"] = [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": self._sec()},
                {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": self._sec()},
            ]
            status["containerStatuses"] = [
                {"name": c["name"], "ready": False, "restartCount": 0, "image": c.get("image", ""), "imageID": "",
                 "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                          "startedAt": self._sec(), "finishedAt": self._sec()}}} for c in containers]
        body["status"] = status
        with contextlib.suppress(ApiException):
            await self.client.update_status("pods", body)
        return True

    async def step(self) -> bool:
        """One pass over the pods in its cache; whether it wrote anything."""
        wrote = False
        if self.paused:
            return wrote
        for pod in self.pods.list():
            if self.namespaces is not None and pod["metadata"]["namespace"] not in self.namespaces:
                continue
            k = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
            if k in self._busy:
                continue
            self._busy.add(k)
            try:
                wrote = await self._handle(pod) or wrote
            finally:
                self._busy.discard(k)
        return wrote

    async def renew_leases(self) -> None:
        for name in self.live():
            with contextlib.suppress(ApiException):
                await self._renew(name)

    async def _pod_loop(self) -> None:
        while True:
            await self.step()
            await asyncio.sleep(0.05)

    async def start(self) -> None:
        self.factory.start()
        await self.factory.wait_synced(10)
        self._tasks = [asyncio.create_task(self._lease_loop()), asyncio.create_task(self._pod_loop())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.factory.stop()
        for name in list(self.nodes):
            await self.remove_node(name)


@contextlib.asynccontextmanager
async def running_controllers(client: ApiClient, *classes: type[Controller], clock: Clock = utcnow,
                              options: dict[str, Any] | None = None,
                              workers: bool = True) -> AsyncIterator[list[Controller]]:
    """Run controller classes in this process, as the controller manager would.

    ``workers=False`` starts only the informers: the test calls ``reconcile`` itself.
    """
    ctx = Context(client=client, factory=InformerFactory(client), clock=clock, options=options or {})
    ctls = [c(ctx) for c in classes]
    for c in ctls:
        c.setup()
    ctx.factory.start()
    await ctx.factory.wait_synced(30)
    tasks = [asyncio.create_task(c.run()) for c in ctls] if workers else []
    try:
        yield ctls
    finally:
        for c in ctls:
            await c.stop()
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await ctx.factory.stop()
