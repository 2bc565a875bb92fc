"""The DaemonSet controller, driven step by step (``harness.py``); the fake cluster plays the nodes.

Every DaemonSet here selects nodes by a label unique to the test (a habit from
when these tests shared one server; harmless on a harness of their own).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from shoal.client import ApiException
from shoal.controllers import daemonplan as plan
from shoal.controllers.daemonset import DaemonSetController
from tests.controllers.fake_kubelet import FakeCluster
from tests.controllers.harness import Harness

Obj = dict[str, Any]


class Env:
    def __init__(self, h: Harness, ns: str, kubelet: FakeCluster, tag: str) -> None:
        self.h, self.client, self.ns, self.kubelet, self.tag = h, h.client, ns, kubelet, tag

    def node(self, name: str) -> str:
        return f"{self.tag}-{name}"

    async def add_node(self, name: str, *, role: str = "worker", **kw: Any) -> None:
        await self.kubelet.add_node(self.node(name), labels={"test": self.tag, "role": role}, **kw)

    def ds(self, name: str, *, image: str = "agent:v1", tolerations: list[Obj] | None = None,
           **spec: Any) -> Obj:
        pod_spec: Obj = {"nodeSelector": {"test": self.tag, "role": "worker"},
                         "containers": [{"name": "agent", "image": image}]}
        if tolerations:
            pod_spec["tolerations"] = tolerations
        return {"metadata": {"name": name}, "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}, **spec}}

    async def pods(self) -> list[Obj]:
        return [p for p in (await self.client.list("pods", self.ns))["items"]
                if not p["metadata"].get("deletionTimestamp")]

    async def placed(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in await self.pods():
            n = p["spec"]["nodeName"].removeprefix(f"{self.tag}-")
            out[n] = out.get(n, 0) + 1
        return out

    async def status(self, name: str) -> Obj:
        return (await self.client.get("daemonsets", name, self.ns)).get("status") or {}


@pytest.fixture
async def env(h: Harness) -> Env:
    tag = f"ds{uuid.uuid4().hex[:6]}"
    ns = await h.namespace(f"ds-{tag}")
    await h.start(DaemonSetController, options={"daemonset_backoff_seconds": 0.1})
    return Env(h, ns, await h.fake_cluster(nodes=(), namespaces={ns}), tag)


async def test_one_pod_per_eligible_node(env: Env) -> None:
    await env.add_node("a")
    await env.add_node("gpu", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    await env.add_node("db", role="db")
    await env.add_node("cordoned", unschedulable=True)
    await env.client.create("daemonsets", env.ds("agent"), env.ns)
    await env.h.until(lambda: _eq(env.placed(), {"a": 1, "cordoned": 1}))

    async def counted() -> bool:
        st = await env.status("agent")
        return (st.get("desiredNumberScheduled"), st.get("currentNumberScheduled"), st.get("numberReady"),
                st.get("numberAvailable"), st.get("updatedNumberScheduled"), st.get("numberMisscheduled"),
                st.get("observedGeneration")) == (2, 2, 2, 2, 2, 0, 1)
    await env.h.until(counted)
    pod = (await env.pods())[0]
    keys = {(t.get("key"), t.get("effect")) for t in pod["spec"]["tolerations"]}
    assert ("node.kubernetes.io/unreachable", "NoExecute") in keys
    assert ("node.kubernetes.io/unschedulable", "NoSchedule") in keys
    assert pod["metadata"]["labels"][plan.HASH_LABEL] and pod["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet"
    # a toleration of the taint opens the gpu node too
    await env.client.create("daemonsets", env.ds("gpuagent", tolerations=[
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]), env.ns)

    async def gpu_too() -> bool:
        pods = [p for p in await env.pods() if p["metadata"]["labels"]["app"] == "gpuagent"]
        return sorted(p["spec"]["nodeName"] for p in pods) == sorted(env.node(n) for n in ("a", "cordoned", "gpu"))
    await env.h.until(gpu_too)


async def _eq(aw: Any, want: Any) -> bool:
    return bool(await aw == want)


async def test_follows_nodes_joining_leaving_and_relabelled(env: Env) -> None:
    await env.add_node("a")
    await env.client.create("daemonsets", env.ds("agent"), env.ns)
    await env.h.until(lambda: _eq(env.placed(), {"a": 1}))
    await env.add_node("b")
    await env.h.until(lambda: _eq(env.placed(), {"a": 1, "b": 1}))
    await env.kubelet.remove_node(env.node("b"))
    await env.h.until(lambda: _eq(env.placed(), {"a": 1}))
    await env.client.patch("nodes", env.node("a"), {"metadata": {"labels": {"role": "db"}}})
    await env.h.until(lambda: _eq(env.placed(), {}))
    await env.h.until(lambda: _eq(_st(env, "agent", "desiredNumberScheduled"), 0))


async def _st(env: Env, name: str, field: str) -> Any:
    return (await env.status(name)).get(field)


async def test_noexecute_evicts_but_noschedule_does_not(env: Env) -> None:
    await env.add_node("a")
    await env.add_node("b")
    await env.client.create("daemonsets", env.ds("agent"), env.ns)
    await env.h.until(lambda: _eq(env.placed(), {"a": 1, "b": 1}))
    await env.client.patch("nodes", env.node("a"), {"spec": {"taints": [
        {"key": "maintenance", "effect": "NoSchedule"}]}})
    await env.client.patch("nodes", env.node("b"), {"spec": {"taints": [
        {"key": "maintenance", "effect": "NoExecute"}]}})
    await env.h.until(lambda: _eq(env.placed(), {"a": 1}))


async def test_failed_daemon_pod_is_replaced(env: Env) -> None:
    await env.add_node("a")
    env.kubelet.outcome = lambda p: "Failed" if p["metadata"]["labels"].get("fail") else "Running"
    body = env.ds("agent")
    await env.client.create("daemonsets", body, env.ns)
    first = (await env.h.until(env.pods))[0]["metadata"]["name"]
    # make the running pod fail
    pod = await env.client.get("pods", first, env.ns)
    pod["status"]["phase"] = "Failed"
    await env.client.update_status("pods", pod)

    async def replaced() -> bool:
        pods = await env.pods()
        return len(pods) == 1 and pods[0]["metadata"]["name"] != first and pods[0]["status"].get("phase") == "Running"
    await env.h.until(replaced)


async def test_adopts_a_matching_orphan(env: Env) -> None:
    await env.add_node("a")
    # a pod of the very template (as the server defaults it, seen by a dry run): adopted and kept
    dry = await env.client.create("daemonsets", env.ds("agent"), env.ns, dry_run=True)
    orphan = {"metadata": {"name": "stray", "labels": {
        "app": "agent", plan.HASH_LABEL: plan.template_hash(dry["spec"]["template"])}},
        "spec": {"nodeName": env.node("a"), "containers": [{"name": "agent", "image": "agent:v1"}]}}
    await env.client.create("pods", orphan, env.ns)
    # creationTimestamps have whole seconds. If the controller's pod informer has not delivered the
    # orphan yet when the DaemonSet arrives, it makes a pod of its own and then keeps the oldest of the
    # two, as upstream does (ties go by name, "agent-..." < "stray"): let the orphan be strictly older
    await env.h.advance(1)
    await env.client.create("daemonsets", env.ds("agent"), env.ns)

    async def adopted() -> bool:
        pods = await env.pods()
        return [p["metadata"]["name"] for p in pods] == ["stray"] and \
            (pods[0]["metadata"].get("ownerReferences") or [{}])[0].get("kind") == "DaemonSet"
    await env.h.until(adopted)


def _watch_availability(env: Env, nodes: list[str]) -> list[int]:
    """Record, at every pod event the watch delivers, how many nodes have no ready daemon pod."""
    seen: list[int] = []

    def check(*_a: Any) -> None:
        ready = {p["spec"].get("nodeName") for p in env.kubelet.pods.list(env.ns)
                 if not p["metadata"].get("deletionTimestamp")
                 and any(c.get("type") == "Ready" and c.get("status") == "True"
                         for c in (p.get("status") or {}).get("conditions") or [])}
        seen.append(sum(1 for n in nodes if env.node(n) not in ready))
    env.kubelet.pods.add_handler(on_add=check, on_update=check, on_delete=check)
    return seen


async def _all_updated(env: Env, image: str, n: int) -> bool:
    pods = await env.pods()
    st = await env.status("agent")
    return (len(pods) == n and all(p["spec"]["containers"][0]["image"] == image for p in pods)
            and st.get("updatedNumberScheduled") == n and st.get("numberAvailable") == n)


async def test_rolling_update_within_max_unavailable(env: Env) -> None:
    nodes = ["a", "b", "c", "d"]
    for n in nodes:
        await env.add_node(n)
    await env.client.create("daemonsets", env.ds("agent", updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}), env.ns)
    await env.h.until(lambda: _all_updated(env, "agent:v1", 4))
    seen = _watch_availability(env, nodes)
    await env.client.patch("daemonsets", "agent", {"spec": {"template": {"spec": {"containers": [
        {"name": "agent", "image": "agent:v2"}]}}}}, env.ns)
    await env.h.until(lambda: _all_updated(env, "agent:v2", 4))
    assert seen and max(seen) == 1  # one node at a time, never two


async def test_rolling_update_with_surge_keeps_every_node_served(env: Env) -> None:
    nodes = ["a", "b", "c"]
    for n in nodes:
        await env.add_node(n)
    await env.client.create("daemonsets", env.ds("agent", updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}), env.ns)
    await env.h.until(lambda: _all_updated(env, "agent:v1", 3))
    seen = _watch_availability(env, nodes)
    await env.client.patch("daemonsets", "agent", {"spec": {"template": {"spec": {"containers": [
        {"name": "agent", "image": "agent:v2"}]}}}}, env.ns)
    await env.h.until(lambda: _all_updated(env, "agent:v2", 3))
    assert seen and max(seen) == 0  # the new pod is ready before the old one goes


async def test_on_delete_strategy_waits_for_the_user(env: Env) -> None:
    await env.add_node("a")
    await env.client.create("daemonsets", env.ds("agent", updateStrategy={"type": "OnDelete"}), env.ns)
    await env.h.until(lambda: _all_updated(env, "agent:v1", 1))
    await env.client.patch("daemonsets", "agent", {"spec": {"template": {"spec": {"containers": [
        {"name": "agent", "image": "agent:v2"}]}}}}, env.ns)
    await env.h.until(lambda: _eq(_st(env, "agent", "updatedNumberScheduled"), 0))
    old = (await env.pods())[0]
    assert old["spec"]["containers"][0]["image"] == "agent:v1"
    await env.client.delete("pods", old["metadata"]["name"], env.ns)
    await env.h.until(lambda: _all_updated(env, "agent:v2", 1))


async def test_invalid_daemonsets_are_refused(env: Env) -> None:
    bad = env.ds("bad")
    bad["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    with pytest.raises(ApiException) as e:
        await env.client.create("daemonsets", bad, env.ns)
    assert e.value.status == 422 and "selector" in e.value.message
    bad = env.ds("bad2", updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}})
    with pytest.raises(ApiException) as e:
        await env.client.create("daemonsets", bad, env.ns)
    assert e.value.status == 422 and "maxUnavailable" in e.value.message


# ---- pure placement ---------------------------------------------------------------------------


def _node(name: str, labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": taints or []}}


def _ds(pod_spec: Obj) -> Obj:
    return {"spec": {"template": {"spec": pod_spec}}}


def test_placement_by_affinity_selector_and_taints() -> None:
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                              {"key": "cores", "operator": "Gt", "values": ["8"]}]},
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]}]}}}
    ds = _ds({"affinity": affinity})
    assert plan.placement(ds, _node("n1", {"zone": "a", "cores": "16"})).should_run
    assert not plan.placement(ds, _node("n2", {"zone": "a", "cores": "4"})).should_run
    assert not plan.placement(ds, _node("n3", {"zone": "c", "cores": "16"})).should_run
    assert plan.placement(ds, _node("special")).should_run
    assert not plan.placement(_ds({"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{}]}}}}), _node("x")).should_run
    tainted = _node("t", taints=[{"key": "k", "effect": "NoSchedule"}])
    p = plan.placement(_ds({}), tainted)
    assert (p.should_run, p.may_stay) == (False, True)
    p = plan.placement(_ds({}), _node("t", taints=[{"key": "k", "effect": "NoExecute"}]))
    assert (p.should_run, p.may_stay) == (False, False)
    p = plan.placement(_ds({}), _node("t", taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]))
    assert p.should_run  # daemons tolerate a lost node


def _pod(node: str, h: str, *, ready: bool = True, created: str = "2024-01-01T00:00:00Z", name: str = "") -> Obj:
    conds = [{"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": created}]
    return {"metadata": {"name": name or f"{node}-{h}", "uid": name or f"{node}-{h}", "creationTimestamp": created,
                         "labels": {plan.HASH_LABEL: h}},
            "spec": {"nodeName": node}, "status": {"phase": "Running", "conditions": conds}}


def test_rolling_update_plan_budget() -> None:
    nodes = [_node(n) for n in "abcd"]
    ds = {"spec": {"template": {"spec": {}}, "updateStrategy": {"rollingUpdate": {"maxUnavailable": "50%"}}}}
    by_node = {n: [_pod(n, "old")] for n in "abcd"}
    now = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    r = plan.rolling_update(ds, nodes, by_node, new_hash="new", now=now)
    assert len(r.delete) == 2
    by_node["a"] = [_pod("a", "new", ready=False)]
    by_node["b"] = [_pod("b", "old", ready=False)]  # unavailable already: replaced regardless of the budget
    r = plan.rolling_update(ds, nodes, by_node, new_hash="new", now=now)
    assert {p["spec"]["nodeName"] for p in r.delete} == {"b", "c"}
    m = plan.manage(ds, nodes, {"a": [_pod("a", "new", name="x1"), _pod("a", "new", name="x2",
                                                                        created="2024-01-01T00:00:01Z")]},
                    new_hash="new", surge=False)
    assert [p["metadata"]["name"] for p in m.delete] == ["x2"] and sorted(m.create_on) == ["b", "c", "d"]
