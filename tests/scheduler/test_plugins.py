"""Table-driven tests, one table per plugin: which nodes pass, and why the others do not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shoal.scheduler.framework import CycleState
from shoal.scheduler.plugins.interpodaffinity import InterPodAffinity
from shoal.scheduler.plugins.nodeaffinity import NodeAffinity
from shoal.scheduler.plugins.nodename import NodeName
from shoal.scheduler.plugins.nodeports import NodePorts
from shoal.scheduler.plugins.noderesources import (
    ArgsError,
    NodeResourcesBalancedAllocation,
    NodeResourcesFit,
)
from shoal.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from shoal.scheduler.plugins.podtopologyspread import PodTopologySpread
from shoal.scheduler.plugins.tainttoleration import TaintToleration
from shoal.scheduler.podinfo import pod_info
from tests.scheduler.helpers import cluster, node, passing, pod

ZONE = "topology.kubernetes.io/zone"


def reasons(plugin: Any, p: dict[str, Any], cs: Any) -> dict[str, list[str]]:
    res = plugin.filter(CycleState(), pod_info(p), cs)
    if res is None:
        return {}
    return {r.text: [cs.names[i] for i in np.flatnonzero(r.failed)] for r in res.reasons if r.failed.any()}


# ---- NodeUnschedulable -----------------------------------------------------------------------
UNSCHED_TOLERATION = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]


@pytest.mark.parametrize(("tolerations", "want"), [
    (None, ["a"]),
    (UNSCHED_TOLERATION, ["a", "b"]),
    ([{"operator": "Exists"}], ["a", "b"]),
    ([{"key": "other", "operator": "Exists"}], ["a"]),
])
def test_node_unschedulable(tolerations: Any, want: list[str]) -> None:
    cs = cluster([node("a"), node("b", unschedulable=True)])
    p = pod("p", tolerations=tolerations) if tolerations else pod("p")
    assert passing(NodeUnschedulable(), p, cs) == want


def test_node_unschedulable_reason() -> None:
    cs = cluster([node("a", unschedulable=True)])
    assert reasons(NodeUnschedulable(), pod("p"), cs) == {"node(s) were unschedulable": ["a"]}


# ---- NodeName ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "want"), [(None, ["a", "b"]), ("b", ["b"]), ("zz", [])])
def test_node_name(name: str | None, want: list[str]) -> None:
    cs = cluster([node("a"), node("b")])
    p = pod("p", nodeName=name) if name else pod("p")
    assert passing(NodeName(), p, cs) == want


# ---- NodeResourcesFit -----------------------------------------------------------------------------
@pytest.mark.parametrize(("cpu", "memory", "extra", "want", "why"), [
    ("500m", None, None, ["big", "small"], {}),
    ("1500m", None, None, ["big"], {"Insufficient cpu": ["small"]}),
    ("1", "3Gi", None, ["big"], {"Insufficient memory": ["small"]}),
    ("8", "16Gi", None, [], {"Insufficient cpu": ["big", "small"], "Insufficient memory": ["big", "small"]}),
    ("0", None, {"example.com/gpu": "1"}, ["big"], {"Insufficient example.com/gpu": ["small"]}),
    ("0", None, {"example.com/fpga": "1"}, [], {"Insufficient example.com/fpga": ["big", "small"]}),
])
def test_node_resources_fit(cpu: str, memory: str | None, extra: dict[str, str] | None, want: list[str],
                            why: dict[str, list[str]]) -> None:
    cs = cluster([node("small", cpu="2", memory="4Gi"), node("big", cpu="4", memory="8Gi",
                                                          extra={"example.com/gpu": "2"})],
                 placed=[(pod("x", cpu="1", memory="2Gi"), "small")])
    p = pod("p", cpu=cpu, memory=memory)
    if extra:
        p["spec"]["containers"][0]["resources"]["requests"].update(extra)
    assert passing(NodeResourcesFit(), p, cs) == want
    assert reasons(NodeResourcesFit(), p, cs) == why


def test_too_many_pods_and_init_containers() -> None:
    cs = cluster([node("a", pods=1), node("b", cpu="1")], placed=[(pod("x"), "a")])
    assert reasons(NodeResourcesFit(), pod("p"), cs) == {"Too many pods": ["a"]}
    # an init container needing more than the app containers sets the pod's request
    p = pod("p", cpu="100m", initContainers=[{"name": "i", "image": "x", "resources": {"requests": {"cpu": "2"}}}])
    assert pod_info(p).requests["cpu"] == 2000
    assert passing(NodeResourcesFit(), p, cs) == []
    # overhead adds
    assert pod_info(pod("q", cpu="100m", overhead={"cpu": "50m"})).requests["cpu"] == 150


@pytest.mark.parametrize(("strategy", "winner"), [("LeastAllocated", "empty"), ("MostAllocated", "busy")])
def test_scoring_strategies(strategy: str, winner: str) -> None:
    cs = cluster([node("empty"), node("busy")], placed=[(pod("x", cpu="3", memory="6Gi"), "busy")])
    plugin = NodeResourcesFit({"scoringStrategy": {"type": strategy}})
    scores = plugin.score(CycleState(), pod_info(pod("p", cpu="100m", memory="100Mi")), cs, np.arange(2))
    assert scores is not None
    assert cs.names[int(np.argmax(scores))] == winner
    assert ((scores >= 0) & (scores <= 100)).all()


def test_balanced_allocation_prefers_even_use() -> None:
    cs = cluster([node("even"), node("skewed")],
                 placed=[(pod("x", cpu="2", memory="4Gi"), "even"), (pod("y", cpu="3", memory="100Mi"), "skewed")])
    s = NodeResourcesBalancedAllocation().score(CycleState(), pod_info(pod("p")), cs, np.arange(2))
    assert s is not None and s[0] > s[1]


@pytest.mark.parametrize("args", [{"scoringStrategy": {"type": "Random"}},
                                  {"scoringStrategy": {"resources": [{"name": "cpu", "weight": 0}]}}])
def test_bad_fit_args(args: dict[str, Any]) -> None:
    with pytest.raises(ArgsError):
        NodeResourcesFit(args)


# ---- NodePorts ------------------------------------------------------------------------------------
def _port(port: int, ip: str | None = None, proto: str = "TCP") -> list[dict[str, Any]]:
    p: dict[str, Any] = {"containerPort": port, "hostPort": port, "protocol": proto}
    if ip:
        p["hostIP"] = ip
    return [p]


@pytest.mark.parametrize(("ports", "want"), [
    (_port(80), ["b"]),
    (_port(80, proto="UDP"), ["a", "b"]),
    (_port(8080), ["a", "b"]),
    (_port(443, "10.0.0.2"), ["a", "b"]),   # a holds 443 on 10.0.0.1 only
    (_port(443, "10.0.0.1"), ["b"]),
    (_port(443), ["b"]),                     # 0.0.0.0 conflicts with every address
])
def test_node_ports(ports: list[dict[str, Any]], want: list[str]) -> None:
    cs = cluster([node("a"), node("b")],
                 placed=[(pod("web", ports=_port(80)), "a"), (pod("tls", ports=_port(443, "10.0.0.1")), "a")])
    assert passing(NodePorts(), pod("p", ports=ports), cs) == want


# ---- TaintToleration ---------------------------------------------------------------------------------
GPU = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
SOFT = [{"key": "spot", "value": "yes", "effect": "PreferNoSchedule"}]


@pytest.mark.parametrize(("tolerations", "want"), [
    (None, ["plain", "soft"]),
    ([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}], ["gpu", "plain", "soft"]),
    ([{"key": "dedicated", "operator": "Exists"}], ["gpu", "plain", "soft"]),
    ([{"key": "dedicated", "value": "cpu", "effect": "NoSchedule"}], ["plain", "soft"]),
    ([{"key": "dedicated", "value": "gpu", "effect": "NoExecute"}], ["plain", "soft"]),
    ([{"operator": "Exists"}], ["gpu", "plain", "soft"]),
])
def test_taint_toleration(tolerations: Any, want: list[str]) -> None:
    cs = cluster([node("gpu", taints=GPU), node("plain"), node("soft", taints=SOFT)])
    p = pod("p", tolerations=tolerations) if tolerations else pod("p")
    assert passing(TaintToleration(), p, cs) == want


def test_taint_reason_and_prefer_no_schedule_score() -> None:
    cs = cluster([node("gpu", taints=GPU), node("plain"), node("soft", taints=SOFT)])
    assert reasons(TaintToleration(), pod("p"), cs) == {"node(s) had untolerated taint {dedicated: gpu}": ["gpu"]}
    plugin = TaintToleration()
    raw = plugin.score(CycleState(), pod_info(pod("p")), cs, np.array([1, 2]))
    assert raw is not None
    norm = plugin.normalize(CycleState(), pod_info(pod("p")), raw)
    assert list(norm) == [100.0, 0.0]


# ---- NodeAffinity ---------------------------------------------------------------------------------
def _req(*exprs: dict[str, Any], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    term: dict[str, Any] = {"matchExpressions": list(exprs)}
    if fields:
        term["matchFields"] = fields
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


@pytest.mark.parametrize(("spec", "want"), [
    ({"nodeSelector": {"disk": "ssd"}}, ["a"]),
    ({"nodeSelector": {"disk": "ssd", "gen": "2"}}, []),
    ({"affinity": _req({"key": "disk", "operator": "In", "values": ["ssd", "hdd"]})}, ["a", "b"]),
    ({"affinity": _req({"key": "disk", "operator": "NotIn", "values": ["ssd"]})}, ["b", "c"]),
    ({"affinity": _req({"key": "disk", "operator": "Exists"})}, ["a", "b"]),
    ({"affinity": _req({"key": "disk", "operator": "DoesNotExist"})}, ["c"]),
    ({"affinity": _req({"key": "gen", "operator": "Gt", "values": ["2"]})}, ["b"]),
    ({"affinity": _req({"key": "gen", "operator": "Lt", "values": ["3"]})}, ["a"]),
    ({"affinity": _req(fields=[{"key": "metadata.name", "operator": "In", "values": ["c"]}])}, ["c"]),
    ({"affinity": _req({"key": "disk", "operator": "Exists"},
                       fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["a"]}])}, ["b"]),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]},
                              {"matchExpressions": [{"key": "gen", "operator": "In", "values": ["3"]}]}]}}}},
     ["a", "b"]),
])
def test_node_affinity(spec: dict[str, Any], want: list[str]) -> None:
    cs = cluster([node("a", labels={"disk": "ssd", "gen": "1"}), node("b", labels={"disk": "hdd", "gen": "3"}),
                  node("c", labels={"gen": "x"})])
    assert passing(NodeAffinity(), pod("p", **spec), cs) == want


def test_node_affinity_preferred_score_and_reason() -> None:
    cs = cluster([node("a", labels={"disk": "ssd"}), node("b")])
    pref = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}}]}}
    plugin = NodeAffinity()
    info = pod_info(pod("p", affinity=pref))
    raw = plugin.score(CycleState(), info, cs, np.arange(2))
    assert raw is not None and list(plugin.normalize(CycleState(), info, raw)) == [100.0, 0.0]
    assert reasons(plugin, pod("p", nodeSelector={"disk": "nvme"}), cs) == {
        "node(s) didn't match Pod's node affinity/selector": ["a", "b"]}


def test_node_selector_held_by_every_node_and_then_not() -> None:
    """A selector every node satisfies needs no mask; a relabelled node is seen at the next refresh."""
    linux = {"kubernetes.io/os": "linux"}
    cs = cluster([node("a", labels=linux), node("b", labels=linux)])
    p = pod("p", nodeSelector=linux)
    assert NodeAffinity().filter(CycleState(), pod_info(p), cs) is None
    cs.set_node(node("b", labels={"kubernetes.io/os": "windows"}))
    cs.refresh()
    assert passing(NodeAffinity(), p, cs) == ["a"]
    mask, everywhere = cs.node_selector_mask(linux)
    assert not everywhere and not mask.flags.writeable  # shared between decisions, so read-only


# ---- InterPodAffinity -----------------------------------------------------------------------------
def _terms(kind: str, labels: dict[str, str], key: str = "kubernetes.io/hostname") -> dict[str, Any]:
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": key, "labelSelector": {"matchLabels": labels}}]}}


def _zoned() -> list[dict[str, Any]]:
    return [node("a1", labels={ZONE: "a"}), node("a2", labels={ZONE: "a"}), node("b1", labels={ZONE: "b"}),
            node("nz")]


@pytest.mark.parametrize(("affinity", "want"), [
    (_terms("podAffinity", {"app": "db"}), ["a1"]),
    (_terms("podAffinity", {"app": "db"}, ZONE), ["a1", "a2"]),
    (_terms("podAntiAffinity", {"app": "db"}), ["a2", "b1", "nz"]),
    (_terms("podAntiAffinity", {"app": "db"}, ZONE), ["b1", "nz"]),
    (_terms("podAffinity", {"app": "nothing"}), []),
])
def test_inter_pod_affinity(affinity: dict[str, Any], want: list[str]) -> None:
    cs = cluster(_zoned(), placed=[(pod("db", labels={"app": "db"}), "a1")])
    assert passing(InterPodAffinity(), pod("p", affinity=affinity), cs) == want


def test_first_pod_of_a_group_may_land_and_namespaces_count() -> None:
    cs = cluster(_zoned())
    # matches its own affinity term and nothing else matches: allowed where the key exists
    p = pod("p", labels={"app": "web"}, affinity=_terms("podAffinity", {"app": "web"}, ZONE))
    assert passing(InterPodAffinity(), p, cs) == ["a1", "a2", "b1"]
    # pods in another namespace do not count for a term without namespaces
    cs = cluster(_zoned(), placed=[(pod("db", ns="other", labels={"app": "db"}), "a1")])
    assert passing(InterPodAffinity(), pod("p", affinity=_terms("podAntiAffinity", {"app": "db"})), cs) == \
        ["a1", "a2", "b1", "nz"]


def test_existing_pods_anti_affinity_is_symmetric() -> None:
    loner = pod("loner", labels={"app": "loner"}, affinity=_terms("podAntiAffinity", {"app": "web"}, ZONE))
    cs = cluster(_zoned(), placed=[(loner, "a1")])
    assert reasons(InterPodAffinity(), pod("p", labels={"app": "web"}), cs) == {
        "node(s) didn't satisfy existing pods anti-affinity rules": ["a1", "a2"]}
    assert passing(InterPodAffinity(), pod("p", labels={"app": "other"}), cs) == ["a1", "a2", "b1", "nz"]


def test_preferred_pod_affinity_score() -> None:
    cs = cluster(_zoned(), placed=[(pod("db", labels={"app": "db"}), "b1")])
    pref = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "podAffinityTerm": {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "db"}}}}]}}
    plugin = InterPodAffinity()
    info = pod_info(pod("p", affinity=pref))
    raw = plugin.score(CycleState(), info, cs, np.arange(4))
    assert raw is not None
    assert list(plugin.normalize(CycleState(), info, raw)) == [0.0, 0.0, 100.0, 0.0]


# ---- PodTopologySpread ------------------------------------------------------------------------------
def _spread(key: str, skew: int = 1, when: str = "DoNotSchedule", **extra: Any) -> list[dict[str, Any]]:
    return [{"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
             "labelSelector": {"matchLabels": {"app": "web"}}, **extra}]


WEB = {"app": "web"}


@pytest.mark.parametrize(("constraints", "placed", "want"), [
    (_spread(ZONE), ["a1"], ["b1"]),                      # zone a has 1, b has 0: only b keeps skew <= 1
    (_spread(ZONE), ["a1", "b1"], ["a1", "a2", "b1"]),    # even: anywhere with a zone
    (_spread(ZONE, 2), ["a1"], ["a1", "a2", "b1"]),
    (_spread("kubernetes.io/hostname"), ["a1"], ["a2", "b1", "nz"]),
    (_spread(ZONE, minDomains=3), ["a1", "b1"], []),     # fewer domains than minDomains: min is 0
    (_spread("rack"), [], []),                            # nobody has the label
])
def test_pod_topology_spread(constraints: list[dict[str, Any]], placed: list[str], want: list[str]) -> None:
    cs = cluster(_zoned(), placed=[(pod(f"w{i}", labels=WEB), n) for i, n in enumerate(placed)])
    p = pod("p", labels=WEB, topologySpreadConstraints=constraints)
    assert passing(PodTopologySpread(), p, cs) == want


def test_spread_reasons_and_node_affinity_policy() -> None:
    cs = cluster(_zoned(), placed=[(pod("w", labels=WEB), "a1")])
    p = pod("p", labels=WEB, topologySpreadConstraints=_spread(ZONE))
    assert reasons(PodTopologySpread(), p, cs) == {
        "node(s) didn't match pod topology spread constraints (missing required label)": ["nz"],
        "node(s) didn't match pod topology spread constraints": ["a1", "a2"]}
    # zone b is excluded by the node selector: only zone a is a domain, so a is fine
    p = pod("p", labels=WEB, topologySpreadConstraints=_spread(ZONE), nodeSelector={ZONE: "a"})
    assert passing(PodTopologySpread(), p, cs) == ["a1", "a2", "b1"]


def test_spread_soft_scores_and_system_defaults() -> None:
    cs = cluster(_zoned(), placed=[(pod("w", labels=WEB), "a1")])
    plugin = PodTopologySpread()
    soft = pod_info(pod("p", labels=WEB, topologySpreadConstraints=_spread(ZONE, when="ScheduleAnyway")))
    s = plugin.score(CycleState(), soft, cs, np.arange(4))
    assert s is not None and s[2] > s[0] and s[3] == 0.0
    owned = pod("o", labels=WEB)
    owned["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs",
                                             "uid": "u", "controller": True}]
    assert [c.topology_key for c in plugin.constraints(pod_info(owned))] == ["kubernetes.io/hostname", ZONE]
    assert plugin.constraints(pod_info(pod("bare", labels=WEB))) == ()
    rack = PodTopologySpread({"defaultingType": "List", "defaultConstraints": [
        {"maxSkew": 1, "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule"}]})
    assert [c.topology_key for c in rack.constraints(pod_info(owned))] == ["rack"]
    with pytest.raises(ValueError):
        PodTopologySpread({"defaultingType": "Sometimes"})
