"""End to end through a real ``shoal server``: nodes and pods created over the API.

The test plays the node agent (it registers Node objects with capacity and a
Ready condition) and checks what users see: bindings, the Unschedulable
condition and its message, the FailedScheduling event, a pending pod placed
once a node that fits appears, preemption, and bad input refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.client import ApiClient, ApiException
from tests.eventually import eventually
from tests.scheduler.helpers import node, pod
from tests.server_fixture import RunningServer, start_server

GPU_TAINT = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[RunningServer]:
    s = start_server(tmp_path / "shoal")
    yield s
    s.stop()


@pytest.fixture
async def api(srv: RunningServer) -> AsyncIterator[ApiClient]:
    c = ApiClient.http(srv.url, token=srv.token, ca_file=srv.ca)
    yield c
    await c.close()


def _pod(name: str, **kw: Any) -> dict[str, Any]:
    p = pod(name, **kw)
    del p["metadata"]["uid"]
    return p


async def bound_to(api: ApiClient, name: str, ns: str = "default") -> str:
    async def check() -> str:
        return str((await api.get("pods", name, ns))["spec"].get("nodeName") or "")
    return str(await eventually(check))


async def unschedulable(api: ApiClient, name: str, ns: str = "default") -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        p = await api.get("pods", name, ns)
        for c in (p.get("status") or {}).get("conditions") or []:
            if c["type"] == "PodScheduled" and c["status"] == "False":
                return dict(c)
        return None
    return dict(await eventually(check))


async def events_for(api: ApiClient, name: str, reason: str, ns: str = "default") -> list[dict[str, Any]]:
    async def check() -> list[dict[str, Any]]:
        items = (await api.list("events", ns))["items"]
        return [e for e in items if e["involvedObject"].get("name") == name and e["reason"] == reason]
    return list(await eventually(check))


async def test_bind_unschedulable_message_event_and_retry_on_new_node(api: ApiClient) -> None:
    for i in range(3):
        await api.create("nodes", node(f"small-{i}", cpu="1"))
    for i in range(2):
        await api.create("nodes", node(f"gpu-{i}", cpu="8", taints=GPU_TAINT))
    await api.create("pods", _pod("fits", cpu="500m"))
    assert (await bound_to(api, "fits")).startswith("small-")
    got = await api.get("pods", "fits", "default")
    assert any(c["type"] == "PodScheduled" and c["status"] == "True" for c in got["status"]["conditions"])

    await api.create("pods", _pod("big", cpu="2"))
    cond = await unschedulable(api, "big")
    want = "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}."
    assert cond["reason"] == "Unschedulable" and cond["message"].startswith(want)
    ev = await events_for(api, "big", "FailedScheduling")
    assert ev[0]["type"] == "Warning" and ev[0]["message"].startswith(want)
    assert ev[0]["source"]["component"] == "default-scheduler"

    await api.create("nodes", node("large", cpu="4"))  # a node that fits: the pending pod is retried
    assert await bound_to(api, "big") == "large"
    await events_for(api, "big", "Scheduled")

    # cordoning every node but one steers new pods there
    for n in ("small-0", "small-1", "large"):
        await api.patch("nodes", n, {"spec": {"unschedulable": True}})
    await asyncio.sleep(0.3)
    await api.create("pods", _pod("steered", cpu="100m"))
    assert await bound_to(api, "steered") == "small-2"


async def test_other_scheduler_and_bad_input(api: ApiClient) -> None:
    await api.create("nodes", node("n1", labels={"topology.kubernetes.io/zone": "a"}))
    await api.create("pods", _pod("mine-not", schedulerName="someone-else"))
    await api.create("pods", _pod("nozone", topologySpreadConstraints=[{
        "maxSkew": 1, "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "x"}}}], labels={"app": "x"}))
    cond = await unschedulable(api, "nozone")
    assert cond["message"] == ("0/1 nodes are available: 1 node(s) didn't match pod topology spread "
                               "constraints (missing required label). preemption: 0/1 nodes are available: "
                               "1 Preemption is not helpful for scheduling.")
    p = await api.get("pods", "mine-not", "default")
    assert not p["spec"].get("nodeName") and not (p.get("status") or {}).get("conditions")
    # the API refuses what no scheduler could read
    with pytest.raises(ApiException) as e:
        await api.create("pods", _pod("neg", cpu="-1"))
    assert e.value.status == 422
    bad_op = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "a", "operator": "Near", "values": ["b"]}]}]}}}
    with pytest.raises(ApiException) as e:
        await api.create("pods", _pod("badop", affinity=bad_op))
    assert e.value.status == 422 and "operator" in e.value.message
    # and the scheduler still works afterwards
    await api.create("pods", _pod("after"))
    assert await bound_to(api, "after") == "n1"


async def test_preemption_evicts_lower_priority(api: ApiClient) -> None:
    """Priorities come from PriorityClass objects, as users give them (priority admission)."""
    await api.create("nodes", node("only", cpu="1"))
    await api.create("priorityclasses", {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                         "metadata": {"name": "important"}, "value": 1000})
    await api.create("pods", _pod("low", cpu="800m", terminationGracePeriodSeconds=0))
    assert await bound_to(api, "low") == "only"
    made = await api.create("pods", _pod("high", cpu="800m", priorityClassName="important"))
    assert made["spec"]["priority"] == 1000
    assert await bound_to(api, "high", ) == "only"
    with pytest.raises(ApiException) as e:
        await api.get("pods", "low", "default")
    assert e.value.not_found
    ev = await events_for(api, "high", "FailedScheduling")
    assert "preemption: evicting 1 lower-priority pod(s) on node only: default/low." in ev[0]["message"]
    await events_for(api, "low", "Preempted")
