"""A pod's start order (``shoal.io/start-after``) kept by a real agent (simulated runtime) against a real server.

``web`` waits for ``db`` to be HEALTHY (its readiness probe, which first runs 3 s
after db starts), ``side`` for db to START, ``free`` for nothing: the order shows
in the containers' ``state.running.startedAt`` (whole seconds). A dependency
that exits for good before it is healthy keeps its dependent from ever starting,
with a ``DependencyFailed`` event and waiting reason; an annotation that does not
parse is ignored with one ``InvalidAnnotation`` event.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from shoal.agent.agent import Agent, AgentOptions
from shoal.api import views
from shoal.client import ApiClient
from tests.server_fixture import RunningServer

Obj = dict[str, Any]
READY_AFTER = 3  # db's readiness probe first runs this many seconds after db starts


@pytest.fixture
async def agent(server: RunningServer) -> AsyncIterator[tuple[Agent, ApiClient]]:
    client = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    a = Agent(client, AgentOptions(
        node_name=f"startafter-{uuid.uuid4().hex[:6]}", runtime="simulated", address="127.0.0.1", tunnel=False,
        backoff_base=0.2, backoff_max=1.0, lease_interval=1.0, sweep_interval=3600, resync_interval=3600))
    await a.start()
    try:
        yield a, client
    finally:
        await a.stop()
        await client.close()


def statuses(pod: Obj) -> dict[str, Obj]:
    return {s["name"]: s for s in (pod.get("status") or {}).get("containerStatuses") or []}


def started_at(pod: Obj, name: str) -> float:
    t = views.parse_time(statuses(pod)[name]["state"]["running"]["startedAt"])
    assert t is not None
    return t.timestamp()


async def watch_pod(client: ApiClient, name: str, pred: Callable[[Obj], bool], what: str,
                    seen: list[Obj] | None = None, timeout: float = 20) -> Obj:
    deadline = time.monotonic() + timeout
    pod: Obj = {}
    while time.monotonic() < deadline:
        pod = await client.get("pods", name, "default")
        if seen is not None:
            seen.append(pod)
        if pred(pod):
            return pod
        await asyncio.sleep(0.1)
    raise AssertionError(f"pod {name}: timed out waiting for {what}: {pod.get('status')}")


def a_pod(node: str, name: str, annotations: dict[str, str], policy: str = "Always") -> Obj:
    probe = {"exec": {"command": ["pg_isready"]}, "initialDelaySeconds": READY_AFTER, "periodSeconds": 1}
    return {"metadata": {"name": name, "annotations": annotations},
            "spec": {"nodeName": node, "restartPolicy": policy, "containers": [
                {"name": "db", "image": "postgres:16", "readinessProbe": probe},
                {"name": "web", "image": "web:1"}, {"name": "side", "image": "side:1"},
                {"name": "free", "image": "free:1"}]}}


async def events_of(client: ApiClient, name: str) -> list[Obj]:
    return list((await client.list("events", "default", field_selector=f"involvedObject.name={name}"))["items"])


async def test_web_starts_only_once_db_is_ready(agent: tuple[Agent, ApiClient]) -> None:
    a, client = agent
    name = f"order-{uuid.uuid4().hex[:6]}"
    await client.create("pods", a_pod(a.node_names[0], name, {"shoal.io/start-after": "web=db:HEALTHY,side=db:START"}),
                        "default")
    seen: list[Obj] = []
    pod = await watch_pod(client, name, lambda p: "running" in statuses(p).get("web", {}).get("state", {}),
                          "web running", seen)
    db, web, side, free = (started_at(pod, n) for n in ("db", "web", "side", "free"))
    assert web - db >= READY_AFTER, (db, web)  # not before db's first readiness check
    assert 0 <= side - db <= 1 and 0 <= free - db <= 1, (db, side, free)  # START: at once after db
    assert statuses(pod)["db"]["ready"] is True
    waiting = [statuses(p)["web"]["state"]["waiting"] for p in seen
               if "waiting" in statuses(p).get("web", {}).get("state", {})]
    assert {"reason": "WaitingForDependency", "message": "waiting for container db to be healthy"} in waiting
    await client.delete("pods", name, "default", grace_period_seconds=0)


async def test_a_dependency_that_fails_keeps_its_dependent_from_starting(agent: tuple[Agent, ApiClient]) -> None:
    a, client = agent
    name = f"deadb-{uuid.uuid4().hex[:6]}"
    # every container exits with code 1 a second after it starts, before db's readiness probe runs
    await client.create("pods", a_pod(a.node_names[0], name, {
        "shoal.io/start-after": "web=db:HEALTHY,side=db:START", "sim.shoal.io/complete-after": "1",
        "sim.shoal.io/exit-code": "1"}, policy="Never"), "default")
    pod = await watch_pod(client, name, lambda p: statuses(p).get("web", {}).get("state", {}).get(
        "waiting", {}).get("reason") == "DependencyFailed", "web DependencyFailed")
    msg = statuses(pod)["web"]["state"]["waiting"]["message"]
    assert msg == "container db exited with code 1 before it was healthy and will not be restarted, so web will not start"
    assert "containerID" in statuses(pod)["side"]  # START was met: side started
    await asyncio.sleep(1.5)  # a few more passes: web still never started, one event said why
    pod = await client.get("pods", name, "default")
    assert "containerID" not in statuses(pod)["web"]
    failed = [e for e in await events_of(client, name) if e["reason"] == "DependencyFailed"]
    assert len(failed) == 1 and failed[0]["message"] == msg and failed[0]["count"] == 1, failed
    await client.delete("pods", name, "default", grace_period_seconds=0)


async def test_an_invalid_annotation_is_ignored_with_one_event(agent: tuple[Agent, ApiClient]) -> None:
    a, client = agent
    name = f"badorder-{uuid.uuid4().hex[:6]}"
    await client.create("pods", a_pod(a.node_names[0], name, {"shoal.io/start-after": "web=db:SOMETIME"}),
                        "default")
    pod = await watch_pod(client, name, lambda p: all("running" in s.get("state", {})
                                                      for s in statuses(p).values()) and len(statuses(p)) == 4,
                          "every container running")
    assert started_at(pod, "web") - started_at(pod, "db") <= 1  # not held
    await asyncio.sleep(1)
    bad = [e for e in await events_of(client, name) if e["reason"] == "InvalidAnnotation"]
    assert len(bad) == 1 and "must be START or HEALTHY" in bad[0]["message"] and bad[0]["count"] == 1, bad
    await client.delete("pods", name, "default", grace_period_seconds=0)
