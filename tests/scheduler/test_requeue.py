"""Which cluster event wakes which unschedulable pod: each plugin's registered events, the naming
of a node's change, the queue's index, and the worker's informers end to end."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest

from shoal.client import ApiClient, ApiException
from shoal.scheduler.config import ProfileConfig, SchedulerConfig
from shoal.scheduler.core import build_profiles, schedule
from shoal.scheduler.events import node_events
from shoal.scheduler.framework import ClusterEvent
from shoal.scheduler.podinfo import pod_info, pod_info_or_error
from shoal.scheduler.queue import SchedulingQueue
from shoal.scheduler.snapshot import node_info
from shoal.scheduler.worker import Scheduler
from tests.scheduler.helpers import cluster, node, pod
from tests.server_fixture import RunningServer

E = ClusterEvent
GPU = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
PORT = [{"containerPort": 80, "hostPort": 8080}]
WEB = {"app": "web"}
ANTI_WEB = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
    {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": WEB}}]}}
SPREAD = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": WEB}}]
RESOURCES = E.NODE_ADD | E.NODE_ALLOCATABLE | E.POD_DELETE
NODE_SHAPE = E.NODE_ADD | E.NODE_TAINT
PODS = E.POD_ADD | E.POD_DELETE | E.POD_LABEL

# a pod no node takes, and the events that can wake it (the union over the plugins that rejected it)
WAKES: dict[str, tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]], dict[str, Any], ClusterEvent]] = {
    "NodeResourcesFit": ([node("a", cpu="1")], [], pod("p", cpu="2"), RESOURCES),
    "TaintToleration": ([node("a", taints=GPU)], [], pod("p"), NODE_SHAPE),
    "NodeUnschedulable": ([node("a", unschedulable=True)], [], pod("p"), NODE_SHAPE),
    "NodeAffinity": ([node("a")], [], pod("p", nodeSelector={"disk": "ssd"}), E.NODE_ADD | E.NODE_LABEL),
    "NodeName": ([node("a")], [], pod("p", nodeName="b"), E.NODE_ADD),
    "NodePorts": ([node("a")], [(pod("x", ports=PORT), "a")], pod("p", ports=PORT), E.NODE_ADD | E.POD_DELETE),
    "InterPodAffinity": ([node("a")], [(pod("x", labels=WEB), "a")], pod("p", labels=WEB, affinity=ANTI_WEB),
                         PODS | E.NODE_ADD | E.NODE_LABEL),
    "PodTopologySpread": ([node("a", labels={"zone": "1"}), node("b", labels={"zone": "2"}, cpu="1")],
                          [(pod("x", labels=WEB), "a"), (pod("x2", labels=WEB), "a"),
                           (pod("y", labels=WEB, cpu="1"), "b")],
                          pod("p", labels=WEB, topologySpreadConstraints=SPREAD),
                          PODS | E.NODE_ADD | E.NODE_DELETE | E.NODE_LABEL | E.NODE_TAINT | RESOURCES),
    "taint and cpu": ([node("a", taints=GPU), node("b", cpu="1")], [], pod("p", cpu="2"), NODE_SHAPE | RESOURCES),
    "no nodes at all": ([], [], pod("p"), E.ALL),
    "a spec it cannot read": ([node("a")], [], pod("p", cpu="lots"), E(0)),  # only a change to the pod helps
}


@pytest.mark.parametrize("case", list(WAKES))
def test_rejecting_plugins_decide_which_events_wake_the_pod(case: str) -> None:
    nodes, placed, p, wanted = WAKES[case]
    profiles = build_profiles(SchedulerConfig())
    [d] = schedule(cluster(nodes, placed), [pod_info_or_error(p)], profiles)
    assert d.diagnosis is not None
    wake_on = profiles["default-scheduler"].requeue_events(d.diagnosis)
    assert wake_on == wanted
    # and through the queue: each single event moves the pod back exactly when it is one of those
    for event in E:
        queue = SchedulingQueue(initial_backoff=0, clock=lambda: 0.0)
        queue.add(d.pod)
        assert queue.pop() is not None
        queue.failed(d.pod.uid, unschedulable=True, wake_on=wake_on)
        assert d.pod.uid in queue.unschedulable
        assert queue.move(event) == (1 if event & wanted else 0), event
        assert (d.pod.uid in queue.unschedulable) != bool(event & wanted)


A = node("a", cpu="2", labels={"zone": "1"})


@pytest.mark.parametrize(("old", "new", "events"), [
    (None, A, E.NODE_ADD),
    (A, node("a", cpu="2", labels={"zone": "2"}), E.NODE_LABEL),
    (A, node("a", cpu="4", labels={"zone": "1"}), E.NODE_ALLOCATABLE),
    (A, node("a", cpu="2", labels={"zone": "1"}, taints=GPU), E.NODE_TAINT),
    (A, node("a", cpu="2", labels={"zone": "1"}, unschedulable=True), E.NODE_TAINT),
    (A, node("a", cpu="4", labels={"zone": "1", "disk": "ssd"}), E.NODE_LABEL | E.NODE_ALLOCATABLE),
    (A, node("a", cpu="2", labels={"zone": "1"}, ready=False), E(0)),  # a condition: nothing a plugin reads
])
def test_node_events(old: dict[str, Any] | None, new: dict[str, Any], events: ClusterEvent) -> None:
    assert node_events(None if old is None else node_info(old), node_info(new)) == events


def test_queue_index_and_an_event_during_the_attempt() -> None:
    now = [0.0]
    queue = SchedulingQueue(initial_backoff=1, clock=lambda: now[0])
    cpu, picky = pod_info(pod("cpu", uid="cpu")), pod_info(pod("picky", uid="picky"))
    for info, wake_on in ((cpu, RESOURCES), (picky, E.NODE_ADD | E.NODE_LABEL)):
        queue.add(info)
        assert queue.pop() is not None
        queue.failed(info.uid, unschedulable=True, wake_on=wake_on)
    assert queue.move(E.NODE_TAINT | E.POD_ADD) == 0 and queue.unschedulable == {"cpu", "picky"}
    assert queue.move(E.NODE_LABEL) == 1 and queue.unschedulable == {"cpu"}
    queue.delete("cpu")
    assert queue.move(E.ALL) == 0  # a deleted pod is gone from every index
    # an event the pod waits for, while it is being decided: it backs off rather than waiting
    queue.add(cpu)
    assert queue.pop() is not None
    queue.move(E.NODE_LABEL)  # not one cpu waits for: it may wait
    queue.failed("cpu", unschedulable=True, wake_on=RESOURCES)
    assert "cpu" in queue.unschedulable
    queue.move_all()
    assert "cpu" not in queue.unschedulable and queue.pop() is None  # backing off
    now[0] += 5
    assert queue.pop() is not None
    queue.move(E.POD_DELETE)
    queue.failed("cpu", unschedulable=True, wake_on=RESOURCES)
    assert "cpu" not in queue.unschedulable and queue.backoff_count == 1


# ---- through the worker's informers, against a real API server -------------------------------------

PROFILE = "requeue-test"


async def _until(pred: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (got := pred()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
    return got


async def test_a_node_change_wakes_only_the_pods_it_can_help(server: RunningServer) -> None:
    """A label change on a node requeues the pod NodeAffinity turned away, not the one that lacked
    cpu; more allocatable on the node then requeues that one."""
    api = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    sched = Scheduler(api, config=SchedulerConfig(profiles=(ProfileConfig(PROFILE),)),
                      initial_backoff=0.05, max_backoff=0.1, record_scheduled_events=False)
    name, key = "requeue-node", "requeue-test/pool"
    try:
        await api.create("nodes", node(name, cpu="2"))
        await sched.start(sync_timeout=10)
        big = pod("big", cpu="200", schedulerName=PROFILE)  # more than any node of the session has
        picky = pod("picky", nodeSelector={key: "yes"}, schedulerName=PROFILE)
        for p in (big, picky):
            del p["metadata"]["uid"]
            await api.create("pods", p, "default")
        uids = {p["metadata"]["name"]: p["metadata"]["uid"] for p in (await api.list("pods", "default"))["items"]
                if p["metadata"]["name"] in ("big", "picky")}
        q = sched.queue
        await _until(lambda: set(uids.values()) <= q.unschedulable)
        assert q.pods[uids["big"]].attempts == 1 and q.pods[uids["picky"]].attempts == 1

        await api.patch("nodes", name, {"metadata": {"labels": {key: "yes"}}})
        await _until(lambda: (sched.nodes.get(name) or {})["metadata"]["labels"].get(key) == "yes")
        # the handlers ran when the informer took the change: picky is back in the queue, big is not
        assert uids["picky"] not in q.unschedulable
        assert uids["big"] in q.unschedulable and q.pods[uids["big"]].attempts == 1
        await _until(lambda: uids["picky"] not in q)  # bound
        assert (await api.get("pods", "picky", "default"))["spec"]["nodeName"] == name
        assert uids["big"] in q.unschedulable and q.pods[uids["big"]].attempts == 1

        status = {"capacity": {"cpu": "400", "memory": "8Gi", "pods": "110"},
                  "allocatable": {"cpu": "400", "memory": "8Gi", "pods": "110"}}
        await api.patch("nodes", name, {"status": status}, subresource="status")
        await _until(lambda: uids["big"] not in q)
        assert (await api.get("pods", "big", "default"))["spec"]["nodeName"] == name
    finally:
        await sched.stop()
        for n in ("big", "picky"):
            with contextlib.suppress(ApiException):
                await api.delete("pods", n, "default")
        with contextlib.suppress(ApiException):
            await api.delete("nodes", name)
        await api.close()
