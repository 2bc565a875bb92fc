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
