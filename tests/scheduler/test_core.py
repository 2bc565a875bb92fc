"""The pure core: messages, determinism, preemption, bad input, profiles from configuration."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.scheduler.config import ConfigError, SchedulerConfig, load_config_text, parse_config
from shoal.scheduler.core import Decision, Profile, build_profiles, schedule
from shoal.scheduler.framework import Code
from shoal.scheduler.podinfo import PodSpecError, pod_info, pod_info_or_error
from shoal.scheduler.worker import failure_message, fit_message
from tests.scheduler.helpers import cluster, node, pod

GPU = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]


def default() -> dict[str, Profile]:
    return build_profiles(SchedulerConfig())


def message(d: Decision) -> str:
    assert d.diagnosis is not None
    return failure_message(d.diagnosis)


def test_message_counts_first_failing_plugin_per_node() -> None:
    cs = cluster([node(f"s{i}", cpu="1") for i in range(3)] + [node(f"g{i}", cpu="8", taints=GPU) for i in range(2)])
    [d] = schedule(cs, [pod_info(pod("big", cpu="2"))], default())
    assert not d.scheduled and d.code == Code.UNSCHEDULABLE
    assert message(d).startswith(
        "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}.")
    # the taint is unresolvable, the cpu is not: preemption looks at the small nodes only (and finds no victims)
    assert "preemption:" in message(d)


def test_fit_message_format() -> None:
    assert fit_message(0, {}) == "0/0 nodes are available."
    assert fit_message(3, {"b": 1, "a": 1, "c": 2}) == "0/3 nodes are available: 2 c, 1 a, 1 b."


def test_no_nodes_and_unknown_profile() -> None:
    cs = cluster([])
    [d] = schedule(cs, [pod_info(pod("p"))], default())
    assert message(d) == "0/0 nodes are available."
    [d] = schedule(cs, [pod_info(pod("p", schedulerName="nope"))], default())
    assert d.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and "nope" in message(d)


def test_deterministic_for_the_same_state() -> None:
    def run() -> list[str | None]:
        cs = cluster([node(f"n{i}") for i in range(50)])
        pods = [pod_info(pod(f"p{i}", uid=f"u{i}")) for i in range(60)]
        return [d.node for d in schedule(cs, pods, default())]
    first = run()
    assert first == run()
    assert len(set(first)) > 10  # identical nodes: ties are broken differently per pod, so pods spread


def test_assume_makes_the_batch_see_its_own_placements() -> None:
    cs = cluster([node("a", cpu="1"), node("b", cpu="1")])
    ds = schedule(cs, [pod_info(pod(f"p{i}", cpu="600m")) for i in range(3)], default())
    assert sorted(d.node or "-" for d in ds) == ["-", "a", "b"]
    assert cs.assumed == {d.pod.uid for d in ds if d.scheduled}


def test_bin_packing_profile_from_config() -> None:
    cfg = load_config_text("""
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 100
profiles:
- schedulerName: packer
  plugins:
    score:
      disabled: [{name: NodeResourcesBalancedAllocation}]
  pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: MostAllocated}}
""")
    profiles = build_profiles(cfg)
    assert set(profiles) == {"packer"}
    cs = cluster([node(f"n{i}") for i in range(5)])
    ds = schedule(cs, [pod_info(pod(f"p{i}", cpu="500m", schedulerName="packer")) for i in range(8)], profiles)
    assert len({d.node for d in ds}) == 1  # bin-packed onto one node


@pytest.mark.parametrize(("text", "needle"), [
    ("apiVersion: v9\n", "apiVersion"),
    ("kind: Pod\n", "kind"),
    ("profiles: [{plugins: {scoring: {}}}]\n", "unknown extension point"),
    ("profiles: [{plugins: {score: {enabled: [{name: Nope}]}}}]\n", "unknown plugin 'Nope'"),
    ("profiles: [{plugins: {filter: {enabled: [{name: NodeResourcesBalancedAllocation}]}}}]\n",
     "does not implement filter"),
    ("profiles: [{pluginConfig: [{name: NodeResourcesFit, args: {scoringStrategy: {type: X}}}]}]\n",
     "unsupported value"),
    ("profiles: [{}, {}]\n", "duplicate schedulerName"),
    ("profiles: [{plugins: {score: {enabled: [{name: NodeAffinity, weight: -1}]}}}]\n", "weight"),
    ("percentageOfNodesToScore: 500\n", "percentageOfNodesToScore"),
    ("profiles: {a: 1}\n", "profiles"),
    ("{{{\n", "YAML"),
])
def test_bad_config(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        build_profiles(load_config_text(text))
    assert needle in str(e.value)


def test_disable_everything_then_enable_one() -> None:
    cfg = parse_config({"profiles": [{"plugins": {"multiPoint": {"disabled": [{"name": "*"}],
                                                                 "enabled": [{"name": "NodeResourcesFit"}]}}}]})
    prof = build_profiles(cfg)["default-scheduler"]
    assert [p.name for p in prof.filter] == ["NodeResourcesFit"]
    assert [p.name for p, _, _ in prof.score] == ["NodeResourcesFit"] and not prof.post_filter


# ---- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "needle"), [
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "a", "operator": "Near", "values": ["b"]}]}]}}}}, '"Near" is not a valid'),
    ({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "zone", "labelSelector": {"matchExpressions": [{"key": "a", "operator": "Like"}]}}]}}},
     "invalid label selector"),
    ({"topologySpreadConstraints": [{"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}]},
     "maxSkew"),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["x"]}]}]}}}}, "integer"),
])
def test_bad_pod_spec_is_an_unresolvable_message_not_a_crash(spec: dict[str, Any], needle: str) -> None:
    p = pod("p", **spec)
    with pytest.raises(PodSpecError):
        pod_info(p)
    info = pod_info_or_error(p)
    [d] = schedule(cluster([node("a")]), [info], default())
    assert d.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE and needle in message(d)
    assert message(d).startswith("0/1 nodes are available: invalid pod spec:")


@pytest.mark.parametrize("cpu", ["-1", "lots", "1.5.5"])
def test_bad_quantity(cpu: str) -> None:
    info = pod_info_or_error(pod("p", cpu=cpu))
    assert "cpu request" in info.error


# ---- preemption ---------------------------------------------------------------------------------
def test_preemption_picks_lowest_priority_victims() -> None:
    cs = cluster([node("a", cpu="2"), node("b", cpu="2")],
                 placed=[(pod("a-low", cpu="1", priority=1), "a"), (pod("a-mid", cpu="1", priority=50), "a"),
                         (pod("b-mid", cpu="1", priority=50), "b"), (pod("b-mid2", cpu="1", priority=60), "b")])
    before = cs.requested.copy()
    [d] = schedule(cs, [pod_info(pod("hi", cpu="1", priority=100))], default())
    assert not d.scheduled and d.nominated is not None
    assert d.nominated.node == "a" and [v.name for v in d.nominated.pods] == ["a-low"]  # a-mid reprieved
    assert "preemption: evicting 1 lower-priority pod(s) on node a: default/a-low." in message(d)
    assert (cs.requested == before).all()  # the what-ifs left the state as it was


def test_no_preemption_for_never_policy_equal_priority_or_unresolvable() -> None:
    cs = cluster([node("a", cpu="1")], placed=[(pod("x", cpu="1", priority=10), "a")])
    [d] = schedule(cs, [pod_info(pod("p", cpu="1", priority=100, preemptionPolicy="Never"))], default())
    assert d.nominated is None and "preemptionPolicy=Never" in message(d)
    [d] = schedule(cs, [pod_info(pod("p", cpu="1", priority=10))], default())
    assert d.nominated is None
    [d] = schedule(cs, [pod_info(pod("p", cpu="1", priority=100, nodeSelector={"x": "y"}))], default())
    assert d.nominated is None and "Preemption is not helpful" in message(d)


def test_nominated_node_is_preferred() -> None:
    cs = cluster([node(f"n{i}") for i in range(10)])
    p = pod("p")
    p["status"] = {"nominatedNodeName": "n7"}
    [d] = schedule(cs, [pod_info(p)], default())
    assert d.node == "n7"


def test_node_changes_rebuild_and_pod_removal_frees() -> None:
    cs = cluster([node("a", cpu="1")])
    [d] = schedule(cs, [pod_info(pod("p", cpu="1", uid="u1"))], default())
    assert d.node == "a"
    [d] = schedule(cs, [pod_info(pod("q", cpu="1"))], default())
    assert not d.scheduled
    cs.remove_pod("u1")
    [d] = schedule(cs, [pod_info(pod("q", cpu="1"))], default())
    assert d.node == "a"
    assert cs.set_node(node("a", cpu="1")) is False  # nothing the scheduler reads changed
    assert cs.set_node(node("a", cpu="4")) is True
    [d] = schedule(cs, [pod_info(pod("r", cpu="2"))], default())
    assert d.node == "a"
