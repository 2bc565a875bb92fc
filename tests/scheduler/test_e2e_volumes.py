"""Scheduling with volumes end to end, through a real ``shoal server`` (simulated nodes: Node objects).

The first two tests run the server without the controller manager and play
the PV controller and the local provisioner themselves (create the PV,
complete the binding), so they check the scheduler's half of the contract
exactly: a pod goes where its bound volume is, a claim waiting for its first
consumer gets ``volume.kubernetes.io/selected-node`` of the node chosen, and
the pod is bound only once its claims are, with a bounded wait and a retry.
The last one runs the controllers too: the whole loop, nobody's part played.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.api.storage_contract import BIND_COMPLETED, SELECTED_NODE
from shoal.client import ApiClient
from tests.scheduler.helpers import node
from tests.scheduler.test_e2e import _pod, bound_to, events_for, eventually, unschedulable
from tests.scheduler.test_e2e import api as api  # the fixture, over this module's ``srv``
from tests.scheduler.volume_helpers import claim, pv, uses
from tests.server_fixture import RunningServer, start_server

BIND_TIMEOUT = 3
CONFIG = f"""apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- pluginConfig:
  - name: VolumeBinding
    args: {{bindTimeoutSeconds: {BIND_TIMEOUT}}}
"""


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[RunningServer]:
    cfg = tmp_path / "scheduler.yaml"
    cfg.write_text(CONFIG)
    s = start_server(tmp_path / "shoal", args=["--scheduler-config", str(cfg), "--disable-controller-manager"])
    yield s
    s.stop()


def _claim(name: str, **kw: Any) -> dict[str, Any]:
    c = claim(name, **kw)
    for k in ("uid", "resourceVersion"):
        del c["metadata"][k]
    del c["status"]
    return c


def _pv(name: str, **kw: Any) -> dict[str, Any]:
    v = pv(name, uid="", **kw)
    del v["metadata"]["resourceVersion"]
    del v["status"]
    return v


async def _bind_claim(api: ApiClient, name: str, node_name: str) -> None:
    """What the local provisioner and the PV controller do once the node is chosen."""
    c = await api.get("persistentvolumeclaims", name, "default")
    vol = _pv(f"pvc-{c['metadata']['uid']}", cls="local", node=node_name, claim_ref=("default", name))
    await api.create("persistentvolumes", vol)
    await api.patch("persistentvolumeclaims", name, {
        "metadata": {"annotations": {BIND_COMPLETED: "yes"}}, "spec": {"volumeName": vol["metadata"]["name"]}},
        "default")


async def _selected(api: ApiClient, name: str) -> str:
    async def check() -> str:
        c = await api.get("persistentvolumeclaims", name, "default")
        return str((c["metadata"].get("annotations") or {}).get(SELECTED_NODE) or "")
    return str(await eventually(check))


async def _node_of(api: ApiClient, name: str) -> str:
    return str((await api.get("pods", name, "default"))["spec"].get("nodeName") or "")


async def test_pods_follow_their_volumes(api: ApiClient) -> None:
    for n in ("node-a", "node-b", "node-c"):
        await api.create("nodes", node(n))

    # a claim bound to a volume pinned to node-b: the pod goes there
    await api.create("persistentvolumes", _pv("pv-b", cls="", node="node-b", claim_ref=("default", "data")))
    await api.create("persistentvolumeclaims", _claim("data", cls="", volume="pv-b", bound=True))
    await api.create("pods", _pod("db", **uses("data")))
    assert await bound_to(api, "db") == "node-b"

    # a volume pinned to a node that is not there: upstream's message; the node appears, the pod follows
    await api.create("persistentvolumes", _pv("pv-x", cls="", node="node-x", claim_ref=("default", "far")))
    await api.create("persistentvolumeclaims", _claim("far", cls="", volume="pv-x", bound=True))
    await api.create("pods", _pod("stuck", **uses("far")))
    cond = await unschedulable(api, "stuck")
    assert cond["message"].startswith("0/3 nodes are available: 3 node(s) had volume node affinity conflict."), cond
    await api.create("nodes", node("node-x"))
    assert await bound_to(api, "stuck") == "node-x"

    # no such claim: refused before any node is looked at; the claim appears, the pod is tried again
    await api.create("pods", _pod("web", **uses("scratch")))
    cond = await unschedulable(api, "web")
    assert cond["message"] == '0/4 nodes are available: persistentvolumeclaim "scratch" not found.', cond
    await api.create("persistentvolumeclaims", _claim("scratch", cls=None))  # the default class: local
    # WaitForFirstConsumer: the scheduler picks the node, writes it on the claim, and waits for the binding
    chosen = await _selected(api, "scratch")
    assert chosen in ("node-a", "node-b", "node-c", "node-x")
    await asyncio.sleep(0.5)
    assert await _node_of(api, "web") == ""  # not bound while its claim is not
    await _bind_claim(api, "scratch", chosen)
    assert await bound_to(api, "web") == chosen


async def test_prebind_times_out_and_retries_on_the_same_node(api: ApiClient) -> None:
    for n in ("node-a", "node-b"):
        await api.create("nodes", node(n))
    await api.create("persistentvolumeclaims", _claim("slow", cls=None))
    await api.create("pods", _pod("slow", **uses("slow")))
    chosen = await _selected(api, "slow")
    # nobody provisions: after bindTimeoutSeconds the placement is undone and the pod says why
    want = 'running PreBind plugin "VolumeBinding": binding volumes: timed out waiting for the condition'
    ev = await events_for(api, "slow", "FailedScheduling")
    assert ev[0]["message"] == want, ev
    cond = (await api.get("pods", "slow", "default"))["status"]["conditions"]
    assert any(c["type"] == "PodScheduled" and c["status"] == "False" and c["message"] == want for c in cond)
    assert await _node_of(api, "slow") == ""
    # the retry goes to the node written on the claim; once the claim is bound, the pod is
    await _bind_claim(api, "slow", chosen)
    assert await bound_to(api, "slow") == chosen


async def test_full_loop_with_the_local_provisioner(tmp_path: Path) -> None:
    """With the controllers (the PV controller and the local provisioner): nobody plays their part."""
    srv = start_server(tmp_path / "full")
    c = ApiClient.http(srv.url, token=srv.token, ca_file=srv.ca)
    try:
        for n in ("node-a", "node-b"):
            await c.create("nodes", node(n))
        await c.create("persistentvolumeclaims", _claim("data", cls=None))
        await c.create("pods", _pod("db", **uses("data")))
        chosen = await bound_to(c, "db")
        got = await c.get("persistentvolumeclaims", "data", "default")
        assert got["metadata"]["annotations"][SELECTED_NODE] == chosen
        assert got["spec"]["volumeName"] == f"pvc-{got['metadata']['uid']}"
        vol = await c.get("persistentvolumes", got["spec"]["volumeName"])
        terms = vol["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        assert terms[0]["matchExpressions"][0]["values"] == [chosen]
    finally:
        await c.close()
        srv.stop()
