"""Fixtures for controller tests: a real server without embedded controllers, and a fake kubelet.

``shoal server`` runs every registered controller by default; these tests run
the controllers under test in the test process instead (so they can be
inspected and given a clock), so this directory's ``server`` is started with
``SHOAL_CONTROLLERS=none``.

``FakeKubelet`` is the test's stand-in for a node agent (and, since the
subprocess has no agent, for the scheduler's binding too): it registers a Node,
binds the namespace's unscheduled pods to it, and reports them the way an
agent would through the status subresource: Running and Ready after
``ready_delay``, or, by the image name, crash-looping (``crash``), unable to
pull (``pullfail``), running but never Ready (``unready``) or stuck creating
its containers (``hang``). A terminating
pod is removed after ``stop_delay``, as an agent does once its containers
stopped. It never runs a container; everything else goes through the public
API like the real agent. Its times come from ``clock``/``monotonic``, so the
step-by-step harness (``harness.py``) drives it like a controller, on its fake
clock (``Harness.attach``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.client import ApiClient, ApiException, InformerFactory, WorkQueue, key_of, run_workers
from shoal.controllers.base import Clock, utcnow
from shoal.controllers.manager import ControllerManager
from tests.controllers.harness import Harness, harness
from tests.server_fixture import RunningServer, start_server

Obj = dict[str, Any]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    old = os.environ.get("SHOAL_CONTROLLERS")
    os.environ["SHOAL_CONTROLLERS"] = "none"
    try:
        srv = start_server(Path(tmp_path_factory.mktemp("shoal-controllers")))
    finally:
        if old is None:
            os.environ.pop("SHOAL_CONTROLLERS", None)
        else:
            os.environ["SHOAL_CONTROLLERS"] = old
    yield srv
    srv.stop()


def _sec(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fate_by_image(pod: Obj) -> str:
    images = " ".join(c.get("image", "") for c in (pod.get("spec") or {}).get("containers") or [])
    for fate in ("crash", "pullfail", "unready", "hang"):
        if fate in images:
            return fate
    return "ready"


class FakeKubelet:
    name = "fake-kubelet"

    def __init__(self, client: ApiClient, namespace: str, *, node: str | None = None, ready_delay: float = 0.05,
                 stop_delay: float = 0.1, fate: Callable[[Obj], str] = fate_by_image, clock: Clock = utcnow,
                 monotonic: Callable[[], float] = time.monotonic, factory: InformerFactory | None = None) -> None:
        self.client = client
        self.namespace = namespace
        self.node = node or f"fake-{uuid.uuid4().hex[:6]}"
        self.ready_delay = ready_delay
        self.stop_delay = stop_delay
        self.fate = fate
        self.clock = clock
        self.monotonic = monotonic
        self.factory = factory or InformerFactory(client)
        self.pods = self.factory.informer("pods", namespace=namespace)
        self.queue = WorkQueue(name="fake-kubelet")
        self._started: dict[str, float] = {}  # pod uid -> when its containers started (monotonic)
        self._wall: dict[str, float] = {}
        self._stopping: dict[str, float] = {}  # pod uid -> when it was first seen terminating (monotonic)
        self._task: asyncio.Task[None] | None = None
        self.paused = False

    def _now(self) -> str:
        return _sec(self.clock().timestamp())

    async def register(self) -> None:
        """Create its Node, Ready, and enqueue the namespace's pods as they change."""
        body = {"metadata": {"name": self.node, "labels": {"kubernetes.io/hostname": self.node}}, "spec": {}}
        node = await self.client.create("nodes", body)
        node["status"] = {
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "5000"},
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "5000"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "fake kubelet (test stand-in)", "lastHeartbeatTime": self._now(),
                            "lastTransitionTime": self._now()}],
        }
        await self.client.update_status("nodes", node)
        self.pods.add_handler(on_add=self._enqueue, on_update=lambda o, n: self._enqueue(n))

    async def start(self) -> None:
        await self.register()
        self.factory.start()
        await self.factory.wait_synced(10)
        self._task = asyncio.create_task(run_workers(self.queue, self._sync, 8))

    async def stop(self) -> None:
        await self.queue.shutdown()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.factory.stop()
        with contextlib.suppress(ApiException):
            await self.client.delete("nodes", self.node)

    def _enqueue(self, pod: Obj) -> None:
        self.queue.add(key_of(pod))

    def resync(self) -> None:
        for k in self.pods.keys():  # noqa: SIM118 - Informer.keys(), not a dict
            self.queue.add(k)

    async def events_written(self, timeout: float | None = None) -> None:
        """It records no Events (the harness asks every reconciler)."""

    async def reconcile(self, key: Hashable) -> None:
        await self._sync(key)

    async def _sync(self, key: Hashable) -> None:
        if self.paused:
            return
        pod = self.pods.get(str(key))
        if pod is None:
            return
        md, spec = pod["metadata"], pod.get("spec") or {}
        node = spec.get("nodeName")
        if not node:
            if not md.get("deletionTimestamp"):
                with contextlib.suppress(ApiException):
                    await self.client.bind(md["namespace"], md["name"], self.node, uid=md.get("uid"))
            return
        if node != self.node:
            return
        uid = md["uid"]
        if md.get("deletionTimestamp"):
            left = self.stop_delay - (self.monotonic() - self._stopping.setdefault(uid, self.monotonic()))
            if left > 0:  # its containers take a moment to stop
                self.queue.add_after(str(key), left)
                return
            with contextlib.suppress(ApiException):
                await self.client.delete("pods", md["name"], md["namespace"], grace_period_seconds=0, uid=uid)
            return
        if uid not in self._started:
            self._started[uid] = self.monotonic()
            self._wall[uid] = self.clock().timestamp()
        status = self.status_for(pod)
        if status is None:
            return
        cur = pod.get("status") or {}
        if all(cur.get(k) == v for k, v in status.items()):
            return
        with contextlib.suppress(ApiException):
            await self.client.patch("pods", md["name"], {"status": status}, md["namespace"], subresource="status")

    def status_for(self, pod: Obj) -> Obj | None:
        uid = pod["metadata"]["uid"]
        fate = self.fate(pod)
        started = _sec(self._wall[uid])
        containers = (pod.get("spec") or {}).get("containers") or []

        def cstatus(c: Obj, *, ready: bool, state: Obj, restarts: int = 0) -> Obj:
            return {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready,
                    "started": "running" in state, "restartCount": restarts, "state": state}

        base: Obj = {"hostIP": "10.0.0.1", "podIP": "10.1.0.1", "startTime": started}
        if fate == "hang":
            return {"phase": "Pending", "startTime": started, "containerStatuses": [
                cstatus(c, ready=False, state={"waiting": {"reason": "ContainerCreating"}}) for c in containers]}
        unready = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                   {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                    "lastTransitionTime": started}]
        if fate == "pullfail":
            return {**base, "phase": "Pending", "conditions": unready, "containerStatuses": [
                cstatus(c, ready=False, state={"waiting": {"reason": "ImagePullBackOff",
                                                           "message": "Back-off pulling image"}}) for c in containers]}
        if fate == "crash":
            return {**base, "phase": "Running", "conditions": unready, "containerStatuses": [
                cstatus(c, ready=False, restarts=3, state={"waiting": {"reason": "CrashLoopBackOff",
                                                                       "message": "back-off restarting"}})
                for c in containers]}
        running = {"running": {"startedAt": started}}
        elapsed = self.monotonic() - self._started[uid]
        if fate == "unready" or elapsed < self.ready_delay:
            if fate != "unready":
                self.queue.add_after(pod["metadata"]["namespace"] + "/" + pod["metadata"]["name"],
                                     self.ready_delay - elapsed + 0.01)
            return {**base, "phase": "Running", "conditions": unready,
                    "containerStatuses": [cstatus(c, ready=False, state=running) for c in containers]}
        now = self._now()
        return {**base, "phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
            {"type": "Initialized", "status": "True", "lastTransitionTime": started},
            {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "lastTransitionTime": now}],
            "containerStatuses": [cstatus(c, ready=True, state=running) for c in containers]}


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[ApiClient]:
    c = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    yield c
    await c.close()


@pytest.fixture
async def ns(client: ApiClient) -> AsyncIterator[str]:
    name = f"ctl-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    yield name
    for res in ("deployments", "replicasets", "pods"):
        with contextlib.suppress(ApiException):
            await client.request("DELETE", f"/apis/apps/v1/namespaces/{name}/{res}" if res != "pods"
                                 else f"/api/v1/namespaces/{name}/pods", params={"gracePeriodSeconds": "0"})


@pytest.fixture
async def kubelet(server: RunningServer, ns: str) -> AsyncIterator[FakeKubelet]:
    c = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    k = FakeKubelet(c, ns)
    await k.start()
    yield k
    await k.stop()
    await c.close()


ManagerFactory = Callable[..., Awaitable[ControllerManager]]


@pytest.fixture
async def controllers(server: RunningServer) -> AsyncIterator[ManagerFactory]:
    """Start a ControllerManager in this process: ``await controllers("replicaset", clock=...)``."""
    started: list[tuple[ControllerManager, ApiClient]] = []

    async def start(*names: str, **kw: Any) -> ControllerManager:
        c = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
        m = ControllerManager(c, enabled=list(names), **kw)
        await m.start()
        started.append((m, c))
        return m

    yield start
    for m, c in started:
        await m.stop()
        await c.close()


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    """The step-by-step harness (``tests/controllers/harness.py``): no server process, a fake clock."""
    async with harness(tmp_path) as h:
        yield h
