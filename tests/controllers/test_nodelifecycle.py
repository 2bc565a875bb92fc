"""Node lifecycle, driven step by step on a fake clock (``harness.py``): lost nodes, evictions, the
disruption guard, returning nodes.

The fake cluster (tests/controllers/fake_kubelet.py) plays the nodes: it renews
their Leases every 0.5 s of the fake clock until "killed"; the controller's
census runs every ``node_monitor_period`` of it. The grace period is 2 s here
(6 s by default); times asserted are the fake clock's, so they are exact.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from shoal.client import ApiException
from shoal.controllers import nodehealth as nh
from shoal.controllers import taints as tl
from shoal.controllers.nodelifecycle import NodeLifecycleController
from shoal.controllers.replicaset import ReplicaSetController
from tests.controllers.fake_kubelet import FakeCluster
from tests.controllers.harness import Harness

Obj = dict[str, Any]
GRACE = 2.0
OPTS = {"node_monitor_grace_period": GRACE, "node_monitor_period": 0.2}


class Env:
    def __init__(self, h: Harness, ns: str, kubelet: FakeCluster, zone: str) -> None:
        self.h, self.client, self.ns, self.kubelet, self.zone = h, h.client, ns, kubelet, zone

    async def lifecycle(self, options: dict[str, Any] | None = None) -> NodeLifecycleController:
        """The controller, with its census every ``node_monitor_period`` of the fake clock (its own loop's job)."""
        ctl = await self.h.start(NodeLifecycleController, options=OPTS if options is None else options)
        self.h.every(ctl.period, lambda: ctl.census(self.h.clock()))
        return ctl

    async def nodes(self, *names: str) -> None:
        for n in names:
            await self.kubelet.add_node(n, labels={nh.ZONE_LABEL: self.zone})

    async def node(self, name: str) -> Obj:
        return await self.client.get("nodes", name)

    async def ready(self, name: str) -> str | None:
        for c in (await self.node(name)).get("status", {}).get("conditions") or []:
            if c["type"] == "Ready":
                return str(c["status"])
        return None

    async def taints(self, name: str) -> set[tuple[str, str]]:
        return {(t["key"], t["effect"]) for t in (await self.node(name)).get("spec", {}).get("taints") or []}

    async def pod(self, name: str, node: str, *, owner: Obj | None = None, tolerations: list[Obj] | None = None) -> Obj:
        md: Obj = {"name": name}
        if owner is not None:
            md["ownerReferences"] = [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                      "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                      "controller": True}]
        spec: Obj = {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}
        if tolerations:
            spec["tolerations"] = tolerations
        return await self.client.create("pods", {"metadata": md, "spec": spec}, self.ns)

    async def deleting(self, name: str) -> bool:
        try:
            return bool((await self.client.get("pods", name, self.ns))["metadata"].get("deletionTimestamp"))
        except ApiException as e:
            return e.status == 404

    async def owner(self, name: str = "owner") -> Obj:
        """A ReplicaSet with no pods of its own (replicas 0): only an owner for replicated pods."""
        return await self.client.create("replicasets", {"metadata": {"name": name}, "spec": {
            "replicas": 0, "selector": {"matchLabels": {"o": name}},
            "template": {"metadata": {"labels": {"o": name}},
                         "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}, self.ns)


@pytest.fixture
async def env(h: Harness) -> Env:
    tag = uuid.uuid4().hex[:6]
    ns = await h.namespace(f"nl-{tag}")
    kubelet = await h.fake_cluster(nodes=(), namespaces={ns})
    h.every(0.5, kubelet.renew_leases)
    return Env(h, ns, kubelet, zone=f"zone-{tag}")


def _n(env: Env, name: str) -> str:
    return f"{env.zone}-{name}"


async def test_lost_node_is_tainted_its_replicated_pods_evicted_and_it_returns(env: Env) -> None:
    a, b, c = _n(env, "a"), _n(env, "b"), _n(env, "c")
    await env.nodes(a, b, c)
    owner = await env.owner()
    await env.pod("replicated", a, owner=owner)
    await env.pod("bare", a)
    await env.pod("patient", a, owner=owner, tolerations=[
        {"key": tl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 2}])
    await env.pod("forever", a, owner=owner, tolerations=[
        {"key": tl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute"}])
    await env.pod("elsewhere", b, owner=owner)
    await env.lifecycle()
    await env.h.until(lambda: _all_running(env, 5))
    await env.h.run_for(GRACE + 0.5)
    assert await env.ready(a) == "True"  # renewing: nothing happens
    killed = env.h.clock.monotonic()
    env.kubelet.kill(a)
    await env.h.until(lambda: _is(env.ready(a), "Unknown"), horizon=GRACE + 3)
    await env.h.until(lambda: env.deleting("replicated"), horizon=3)
    evicted_after = env.h.clock.monotonic() - killed
    assert GRACE - 0.5 <= evicted_after <= GRACE + 2, evicted_after  # the last renewal was up to 0.5 s before
    assert {(tl.UNREACHABLE, "NoSchedule"), (tl.UNREACHABLE, "NoExecute")} <= await env.taints(a)
    node = await env.node(a)
    assert all(c["status"] == "Unknown" and c["reason"] == "NodeStatusUnknown"
               for c in node["status"]["conditions"])
    bare = await env.client.get("pods", "bare", env.ns)
    assert not bare["metadata"].get("deletionTimestamp")  # a bare pod keeps Kubernetes' 300 s
    assert any(c["type"] == "Ready" and c["status"] == "False" for c in bare["status"]["conditions"])
    assert not await env.deleting("patient")
    await env.h.until(lambda: env.deleting("patient"), horizon=4)  # after its 2 s toleration
    assert not await env.deleting("forever") and not await env.deleting("elsewhere")
    assert await env.ready(b) == "True" and not await env.taints(b)
    async def evicted_event() -> bool:  # events are recorded in the background
        events = (await env.client.list("events", env.ns))["items"]
        return any(e["reason"] == "TaintManagerEviction" and e["involvedObject"]["name"] == "replicated"
                   for e in events)

    assert await env.h.until(evicted_event)
    # the node comes back: Ready again, taints lifted, its stale (terminating) pods cleaned up by its agent
    env.kubelet.revive(a)
    await env.h.until(lambda: _is(env.ready(a), "True"), horizon=5)
    await env.h.until(lambda: _eq(env.taints(a), set()))
    await env.h.until(lambda: _gone(env, "replicated"))
    assert not await env.deleting("bare") and not await env.deleting("forever")


async def _all_running(env: Env, n: int) -> bool:
    pods = (await env.client.list("pods", env.ns))["items"]
    return sum(1 for p in pods if p.get("status", {}).get("phase") == "Running") == n


async def _is(aw: Any, want: Any) -> bool:
    return bool(await aw == want)


_eq = _is


async def _gone(env: Env, name: str) -> bool:
    try:
        await env.client.get("pods", name, env.ns)
    except ApiException as e:
        return e.status == 404
    return False


async def test_most_nodes_silent_at_once_evicts_nothing(env: Env) -> None:
    names = [_n(env, x) for x in "abcd"]
    await env.nodes(*names)
    owner = await env.owner()
    for i, n in enumerate(names):
        await env.pod(f"p{i}", n, owner=owner)
    await env.lifecycle()
    await env.h.until(lambda: _all_running(env, 4))
    for n in names[:3]:  # 3 of 4 (75% >= 55%, and more than 2): partial disruption in a small zone
        env.kubelet.kill(n)
    for n in names[:3]:
        await env.h.until(lambda n=n: _is(env.ready(n), "Unknown"), horizon=GRACE + 3)  # type: ignore[misc]
    await env.h.run_for(2.0)
    for i, n in enumerate(names[:3]):
        assert (tl.UNREACHABLE, "NoExecute") not in await env.taints(n)
        assert (tl.UNREACHABLE, "NoSchedule") in await env.taints(n)  # no new pods there, though
        assert not await env.deleting(f"p{i}")
    for n in names[:3]:
        env.kubelet.revive(n)
    for n in names[:3]:
        await env.h.until(lambda n=n: _is(env.ready(n), "True"), horizon=5)  # type: ignore[misc]
    for i in range(4):
        assert not await env.deleting(f"p{i}")


async def test_every_node_silent_means_the_controller_is_cut_off(env: Env) -> None:
    names = [_n(env, x) for x in "ab"]
    await env.nodes(*names)
    owner = await env.owner()
    await env.pod("p0", names[0], owner=owner)
    ctl = await env.lifecycle()
    await env.h.until(lambda: _all_running(env, 1))
    env.kubelet.kill(names[0])
    await env.h.until(lambda: env.deleting("p0"), horizon=GRACE + 3)  # one of two: normal eviction
    assert (tl.UNREACHABLE, "NoExecute") in await env.taints(names[0])
    env.kubelet.kill(names[1])  # now no node of the (only) zone is ready
    await env.h.until(lambda: _is(env.ready(names[1]), "Unknown"), horizon=GRACE + 3)
    # full disruption everywhere: the NoExecute taints are lifted, nothing more is evicted
    await env.h.until(lambda: _lacks(env, names[0], (tl.UNREACHABLE, "NoExecute")), horizon=3)
    assert (tl.UNREACHABLE, "NoExecute") not in await env.taints(names[1])
    assert ctl._all_full  # type: ignore[attr-defined]


async def _lacks(env: Env, node: str, taint: tuple[str, str]) -> bool:
    return taint not in await env.taints(node)


async def test_node_reporting_not_ready_is_tainted_not_ready(env: Env) -> None:
    a, b, c = _n(env, "a"), _n(env, "b"), _n(env, "c")
    await env.nodes(a, b, c)
    await env.lifecycle()
    node = await env.node(a)
    for cond in node["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond.update(status="False", reason="KubeletNotReady", message="container runtime is down")
    await env.client.update_status("nodes", node)
    await env.h.until(lambda: _has(env, a, {(tl.NOT_READY, "NoSchedule"), (tl.NOT_READY, "NoExecute")}))
    node = await env.node(a)
    for cond in node["status"]["conditions"]:
        if cond["type"] == "Ready":
            cond.update(status="True", reason="KubeletReady", message="")
    await env.client.update_status("nodes", node)
    await env.h.until(lambda: _eq(env.taints(a), set()))


async def _has(env: Env, node: str, want: set[tuple[str, str]]) -> bool:
    return want <= await env.taints(node)


async def test_lost_node_pods_are_recreated_elsewhere_by_their_replicaset(env: Env) -> None:
    """Node loss to recovery with the ReplicaSet controller and the default options (6 s grace).

    The issue's target is 10 s (Kubernetes: about 6 min by default). Here the node
    agent and scheduler are the fake cluster's and time is the harness's clock, so
    this measures the delays the control plane's design adds (the grace period, the
    census period, eviction, replacement, binding, reported Running), not CPU time.
    """
    a, b, c = _n(env, "a"), _n(env, "b"), _n(env, "c")
    await env.nodes(a, b, c)
    opts: dict[str, Any] = {}  # the defaults: --node-monitor-grace-period 6
    await env.lifecycle(opts)
    await env.h.start(ReplicaSetController, options=opts)
    await env.client.create("replicasets", {"metadata": {"name": "web"}, "spec": {
        "replicas": 6, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"schedulerName": "fake-kubelet", "containers": [{"name": "c", "image": "nginx"}]}}}},
        env.ns)
    await env.h.until(lambda: _all_running(env, 6))
    on_a = [p["metadata"]["name"] for p in (await env.client.list("pods", env.ns))["items"]
            if p["spec"]["nodeName"] == a]
    assert on_a  # the fake scheduler spreads round-robin
    killed = env.h.clock.monotonic()
    env.kubelet.kill(a)

    async def recovered() -> bool:
        pods = [p for p in (await env.client.list("pods", env.ns))["items"]
                if not p["metadata"].get("deletionTimestamp")]
        return len(pods) == 6 and all(p["spec"].get("nodeName") in (b, c) and
                                      p.get("status", {}).get("phase") == "Running" for p in pods)
    await env.h.until(recovered, horizon=15)
    took = env.h.clock.monotonic() - killed
    print(f"\nnode loss to recovery ({len(on_a)} pods, default grace 6 s): {took:.2f}s of cluster time")
    assert took <= 10


async def test_nodes_without_a_lease_are_not_monitored_but_noexecute_taints_still_evict(env: Env) -> None:
    name = _n(env, "byhand")
    await env.client.create("nodes", {"metadata": {"name": name, "labels": {nh.ZONE_LABEL: env.zone}}})
    await env.pod("resident", name)
    await env.lifecycle()
    await env.h.run_for(GRACE + 1)
    node = await env.node(name)
    assert not node.get("status", {}).get("conditions") and not node.get("spec", {}).get("taints")
    assert not await env.deleting("resident")
    await env.client.patch("nodes", name, {"spec": {"taints": [{"key": "drain", "effect": "NoExecute"}]}})
    await env.h.until(lambda: env.deleting("resident"), horizon=3)
    await env.client.delete("nodes", name)


# ---- pure decisions ---------------------------------------------------------------------------


def test_zone_states_and_rates() -> None:
    assert nh.zone_state(10, 0, threshold=0.55) == nh.NORMAL
    assert nh.zone_state(1, 2, threshold=0.55) == nh.NORMAL  # 2 or fewer never count as a disruption
    assert nh.zone_state(2, 3, threshold=0.55) == nh.PARTIAL
    assert nh.zone_state(0, 1, threshold=0.55) == nh.FULL
    p = nh.EvictionPolicy()
    assert nh.zone_rate(nh.NORMAL, 3, policy=p, all_full=False) == 1.0
    assert nh.zone_rate(nh.PARTIAL, 10, policy=p, all_full=False) == 0.0  # small zone: stop
    assert nh.zone_rate(nh.PARTIAL, 60, policy=p, all_full=False) == 0.01  # large zone: slow down
    assert nh.zone_rate(nh.FULL, 5, policy=p, all_full=False) == 1.0  # one dead zone among healthy ones
    assert nh.zone_rate(nh.FULL, 5, policy=p, all_full=True) == 0.0
    states = nh.zone_states([("z1", True), ("z1", False), ("z2", False)], threshold=0.55)
    assert states == {"z1": (nh.NORMAL, 2), "z2": (nh.FULL, 1)} and not nh.all_fully_disrupted(states)


def test_token_bucket() -> None:
    b = nh.TokenBucket(0.5, now=0.0)
    assert b.try_take(0.0) and not b.try_take(1.0) and b.try_take(2.0)
    b.set_rate(0.0, now=10.0)
    assert not b.try_take(100.0)


def test_eviction_times() -> None:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    added = "2024-01-01T00:00:00Z"
    taint = {"key": tl.UNREACHABLE, "effect": "NoExecute", "timeAdded": added}
    owned = {"metadata": {"ownerReferences": [{"controller": True, "uid": "x"}]}, "spec": {}}
    bare: Obj = {"metadata": {}, "spec": {}}
    assert tl.eviction_time(owned, [taint], now) == now
    assert tl.eviction_time(bare, [taint], now) == now + dt.timedelta(seconds=300)
    own_tol = {"metadata": {}, "spec": {"tolerations": [{"operator": "Exists", "effect": "NoExecute",
                                                         "tolerationSeconds": 30}]}}
    assert tl.eviction_time(own_tol, [taint], now) == now + dt.timedelta(seconds=30)
    other = {"key": "gpu-broken", "effect": "NoExecute", "timeAdded": added}
    assert tl.eviction_time(own_tol, [taint, other], now) == now + dt.timedelta(seconds=30)
    assert tl.eviction_time(bare, [other], now) == now  # untolerated: at once
    assert tl.eviction_time(bare, [{"key": "x", "effect": "NoSchedule"}], now) is None
    late = now + dt.timedelta(seconds=400)
    assert tl.eviction_time(bare, [taint], late) == late
