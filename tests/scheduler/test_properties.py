"""Property tests: whatever the cluster and pods, no placement breaks a hard rule.

Hypothesis builds random clusters (capacities, labels, zones, taints, cordons)
and random pods (requests, host ports, tolerations, node selectors, required
anti-affinity over hostname or zone); the core schedules them all in one
batch, and every placement is then checked against the rules independently
of the plugins' own code.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal.scheduler.config import SchedulerConfig
from shoal.scheduler.core import build_profiles, schedule
from shoal.scheduler.podinfo import pod_info
from shoal.scheduler.snapshot import ClusterState
from tests.scheduler.helpers import cluster, node, pod

ZONE = "topology.kubernetes.io/zone"
PROFILES = build_profiles(SchedulerConfig())
TAINT = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


@st.composite
def nodes(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 8))):
        out.append(node(
            f"n{i}", cpu=str(draw(st.integers(0, 4))), memory=f"{draw(st.integers(0, 8))}Gi",
            pods=draw(st.integers(0, 6)),
            labels={ZONE: draw(st.sampled_from(["a", "b", "c"])), "disk": draw(st.sampled_from(["ssd", "hdd"]))},
            taints=[TAINT] if draw(st.booleans()) and draw(st.booleans()) else None,
            unschedulable=draw(st.integers(0, 5)) == 0))
    return out


@st.composite
def pods(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(1, 25))):
        spec: dict[str, Any] = {}
        app = draw(st.sampled_from(["x", "y", "z"]))
        if draw(st.booleans()):
            spec["ports"] = [{"containerPort": 80, "hostPort": draw(st.sampled_from([80, 81])), "protocol": "TCP"}]
        if draw(st.booleans()):
            spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        if draw(st.integers(0, 3)) == 0:
            spec["nodeSelector"] = {"disk": "ssd"}
        if draw(st.booleans()):
            spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                "topologyKey": draw(st.sampled_from(["kubernetes.io/hostname", ZONE])),
                "labelSelector": {"matchLabels": {"app": app}}}]}}
        out.append(pod(f"p{i}", uid=f"u{i}", cpu=f"{draw(st.integers(0, 2000))}m",
                       memory=f"{draw(st.integers(0, 3000))}Mi", labels={"app": app},
                       priority=draw(st.integers(0, 3)), **spec))
    return out


def _cpu(p: dict[str, Any]) -> int:
    return pod_info(p).requests.get("cpu", 0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nodes(), pods())
def test_no_placement_breaks_a_hard_rule(ns: list[dict[str, Any]], ps: list[dict[str, Any]]) -> None:
    cs = ClusterState()
    for n in ns:
        cs.set_node(n)
    decisions = schedule(cs, [pod_info(p) for p in ps], PROFILES)
    by_name = {n["metadata"]["name"]: n for n in ns}
    raw = {p["metadata"]["uid"]: p for p in ps}
    placed: dict[str, list[dict[str, Any]]] = {n: [] for n in by_name}
    for d in decisions:
        if d.node is not None:
            placed[d.node].append(raw[d.pod.uid])
    for name, on in placed.items():
        n = by_name[name]
        alloc = n["status"]["allocatable"]
        infos = [pod_info(p) for p in on]
        assert sum(i.requests.get("cpu", 0) for i in infos) <= int(alloc["cpu"]) * 1000
        assert sum(i.requests.get("memory", 0) for i in infos) <= int(alloc["memory"][:-2]) * 2**30
        assert len(on) <= int(alloc["pods"])
        ports = [hp for i in infos for hp in i.host_ports]
        assert len(ports) == len(set(ports)), "host port used twice on one node"
        if on:
            assert not n["spec"].get("unschedulable")
        for i in infos:
            if n["spec"].get("taints"):
                assert i.tolerations, "untolerated NoSchedule taint"
            if i.node_selector:
                assert n["metadata"]["labels"]["disk"] == "ssd"
    # required anti-affinity, checked both ways over every pair of placed pods
    where = [(d.pod, by_name[d.node]) for d in decisions if d.node is not None]
    for a, na in where:
        for b, nb in where:
            if a.uid == b.uid:
                continue
            for term in a.anti_affinity:
                same = na["metadata"]["labels"].get(term.topology_key) == nb["metadata"]["labels"].get(
                    term.topology_key)
                assert not (same and term.matches(b.namespace, b.labels)), \
                    f"{a.name} on {na['metadata']['name']} and {b.name} on {nb['metadata']['name']}"


@settings(max_examples=60, deadline=None)
@given(nodes(), pods())
def test_decisions_replay(ns: list[dict[str, Any]], ps: list[dict[str, Any]]) -> None:
    def run() -> list[str | None]:
        cs = ClusterState()
        for n in ns:
            cs.set_node(n)
        return [d.node for d in schedule(cs, [pod_info(p) for p in ps], PROFILES)]
    assert run() == run()


@given(
    labels=st.lists(st.fixed_dictionaries({"app": st.sampled_from(["a", "b", "c"]),
                                           "tier": st.sampled_from(["web", "db"])}), min_size=1, max_size=30),
    spots=st.lists(st.integers(0, 3), min_size=30, max_size=30),
    namespaces=st.lists(st.sampled_from(["default", "other"]), min_size=30, max_size=30),
    gone=st.sets(st.integers(0, 29), max_size=10),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_counts_of_matching_pods_agree_with_a_full_scan(labels: list[dict[str, str]], spots: list[int],
                                                        namespaces: list[str], gone: set[int]) -> None:
    """The per-label index of placed pods gives the same counts as reading every pod, as pods come and go."""
    from shoal.scheduler.podinfo import compile_selector

    cs: ClusterState = cluster([node(f"n{i}") for i in range(4)])
    uids = []
    for i, lab in enumerate(labels):
        p = pod_info(pod(f"p{i}", ns=namespaces[i], labels=lab, uid=f"u{i}"))
        cs.add_pod(p, f"n{spots[i]}")
        uids.append(p.uid)
    for i in gone:
        if i < len(uids):
            cs.remove_pod(uids[i])
    selectors = [{"matchLabels": {"app": "a"}}, {"matchLabels": {"app": "b", "tier": "db"}},
                 {"matchExpressions": [{"key": "app", "operator": "In", "values": ["c"]}]},
                 {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]},
                 {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}]
    for raw in selectors:
        sel = compile_selector(raw)
        for nss in (frozenset({"default"}), None):
            want = [0] * 4
            for node_name, p in cs.pods.values():
                if (nss is None or p.namespace in nss) and sel.matches(p.labels):
                    want[cs.index[node_name]] += 1
            assert list(cs.count_matching(nss, sel)) == want, (raw, nss)


@given(
    caps=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 8), st.integers(0, 4)), min_size=1, max_size=6),
    placed=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 3000), st.integers(0, 4000), st.booleans()),
                    max_size=30),
    gone=st.sets(st.integers(0, 29), max_size=15),
    want_cpu=st.integers(0, 5000),
)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_resource_rows_and_scores_agree_with_a_recount(caps: list[tuple[int, int, int]],
                                                       placed: list[tuple[int, int, int, bool]],
                                                       gone: set[int], want_cpu: int) -> None:
    """``free`` is allocatable minus requested, ``min_free`` never above the least free, the filter's
    shortcut answers as the full comparison would, and the default scores equal their formulas."""
    import numpy as np

    from shoal.scheduler.framework import CycleState
    from shoal.scheduler.plugins.noderesources import (
        NodeResourcesBalancedAllocation,
        NodeResourcesFit,
    )

    cs: ClusterState = cluster([node(f"n{i}", cpu=str(c), memory=f"{m}Gi", pods=p) for i, (c, m, p) in enumerate(caps)])
    uids = []
    for i, (spot, cpu, mem, zero) in enumerate(placed):
        p = pod_info(pod(f"p{i}", uid=f"u{i}", cpu="0" if zero else f"{cpu}m", memory=f"{mem}Mi"))
        cs.add_pod(p, f"n{spot % len(caps)}")
        uids.append(p.uid)
    for i in gone:
        if i < len(uids):
            cs.remove_pod(uids[i])
    assert (cs.free == cs.allocatable.T - cs.requested.T).all()
    for j in range(len(cs.resources)):
        assert cs.min_free[j] <= int(cs.free[j].min())
    me = pod_info(pod("me", uid="me", cpu=f"{want_cpu}m", memory="100Mi"))
    fit = NodeResourcesFit()
    res = fit.filter(CycleState(), me, cs)
    room = (cs.free[1] >= me.requests["memory"]) & (cs.free[2] >= 1)
    if want_cpu:  # a request of 0 is not checked (upstream: only what the pod asks for)
        room &= cs.free[0] >= want_cpu
    assert (res is None and bool(room.all())) or (res is not None and (res.ok == room).all())
    nodes_ = np.arange(cs.n)
    # the same formulas through the general path: weights 2 are not the default shape, same result
    general = {"scoringStrategy": {"resources": [{"name": "cpu", "weight": 2}, {"name": "memory", "weight": 2}]}}
    for zero_cpu in (False, True):
        q = pod_info(pod("q", uid="q", cpu="0" if zero_cpu else "250m", memory="300Mi"))
        fast = fit.score(CycleState(), q, cs, nodes_)
        slow = NodeResourcesFit(general).score(CycleState(), q, cs, nodes_)
        assert fast is not None and slow is not None and np.allclose(fast, slow)
        bal = NodeResourcesBalancedAllocation().score(CycleState(), q, cs, nodes_)
        frac = []
        for col, extra in ((0, q.nonzero_cpu), (1, q.nonzero_memory)):
            req = cs.load[col] + extra
            alloc = cs.allocatable[:, col].astype(float)
            frac.append(np.where(alloc > 0, np.minimum(req / np.where(alloc > 0, alloc, 1), 1), 1))
        assert bal is not None and np.allclose(bal, (1 - np.vstack(frac).std(axis=0)) * 100)
