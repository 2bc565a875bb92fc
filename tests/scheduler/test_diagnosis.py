"""Why a pod was not placed, as data: the core's ``Diagnosis`` per case, and the one message made of it."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.scheduler.config import SchedulerConfig
from shoal.scheduler.core import build_profiles, schedule
from shoal.scheduler.framework import Code, Diagnosis, Rejection
from shoal.scheduler.podinfo import pod_info_or_error
from shoal.scheduler.worker import failure_message
from tests.scheduler.helpers import cluster, node, pod

GPU = [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]
TAINT = "node(s) had untolerated taint {dedicated: gpu}"
SELECTOR = "node(s) didn't match Pod's node affinity/selector"
PORTS = "node(s) didn't have free ports for the requested pod ports"
ANTI = "node(s) didn't match pod anti-affinity rules"
SPREAD_SKEW = "node(s) didn't match pod topology spread constraints"
SPREAD_MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"
PORT = [{"containerPort": 80, "hostPort": 8080}]
ANTI_WEB = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
    {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}]}}
SPREAD = [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
           "labelSelector": {"matchLabels": {"app": "web"}}}]

Case = tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]], dict[str, Any]]

# name: (nodes, pods placed on them, the pod) -> (filtered, unresolvable, code)
CASES: dict[str, tuple[Case, dict[str, dict[str, int]], int, Code]] = {
    "cpu here, a taint there": (
        ([node(f"s{i}", cpu="1") for i in range(3)] + [node(f"g{i}", cpu="8", taints=GPU) for i in range(2)], [],
         pod("p", cpu="2")),
        {"TaintToleration": {TAINT: 2}, "NodeResourcesFit": {"Insufficient cpu": 3}}, 2, Code.UNSCHEDULABLE),
    "one node short of cpu and memory counts under both reasons": (
        ([node("a", cpu="1", memory="1Gi")], [], pod("p", cpu="2", memory="2Gi")),
        {"NodeResourcesFit": {"Insufficient cpu": 1, "Insufficient memory": 1}}, 0, Code.UNSCHEDULABLE),
    "no pod slot left": (
        ([node("a", pods=1)], [(pod("x"), "a")], pod("p")),
        {"NodeResourcesFit": {"Too many pods": 1}}, 0, Code.UNSCHEDULABLE),
    "cordoned": (
        ([node("a", unschedulable=True), node("b", unschedulable=True)], [], pod("p")),
        {"NodeUnschedulable": {"node(s) were unschedulable": 2}}, 2, Code.UNSCHEDULABLE_AND_UNRESOLVABLE),
    "node selector": (
        ([node("a"), node("b", labels={"disk": "hdd"})], [], pod("p", nodeSelector={"disk": "ssd"})),
        {"NodeAffinity": {SELECTOR: 2}}, 2, Code.UNSCHEDULABLE_AND_UNRESOLVABLE),
    "a node charged to the first plugin that rejects it": (
        ([node("a", cpu="1", taints=GPU), node("b", cpu="1")], [], pod("p", cpu="2")),
        {"TaintToleration": {TAINT: 1}, "NodeResourcesFit": {"Insufficient cpu": 1}}, 1, Code.UNSCHEDULABLE),
    "host port taken": (
        ([node("a")], [(pod("x", ports=PORT), "a")], pod("p", ports=PORT)),
        {"NodePorts": {PORTS: 1}}, 0, Code.UNSCHEDULABLE),
    "anti-affinity": (
        ([node("a"), node("b")], [(pod("x", labels={"app": "web"}), "a"), (pod("y", labels={"app": "web"}), "b")],
         pod("p", labels={"app": "web"}, affinity=ANTI_WEB)),
        {"InterPodAffinity": {ANTI: 2}}, 0, Code.UNSCHEDULABLE),
    "topology spread: skew, and a node without the key": (
        ([node("a", labels={"zone": "1"}), node("b", labels={"zone": "2"}, unschedulable=True), node("c")],
         [(pod("x", labels={"app": "web"}), "a")],
         pod("p", labels={"app": "web"}, topologySpreadConstraints=SPREAD)),
        {"NodeUnschedulable": {"node(s) were unschedulable": 1},
         "PodTopologySpread": {SPREAD_SKEW: 1, SPREAD_MISSING: 1}}, 2, Code.UNSCHEDULABLE),
    "no nodes": (([], [], pod("p")), {}, 0, Code.UNSCHEDULABLE_AND_UNRESOLVABLE),
}


@pytest.mark.parametrize("name", list(CASES))
def test_diagnosis_counts_per_plugin_and_reason(name: str) -> None:
    (nodes, placed, p), filtered, unresolvable, code = CASES[name]
    [d] = schedule(cluster(nodes, placed), [pod_info_or_error(p)], build_profiles(SchedulerConfig()))
    assert not d.scheduled and d.code == code
    assert d.diagnosis is not None
    assert d.diagnosis.nodes_evaluated == len(nodes)
    assert {k: dict(v) for k, v in d.diagnosis.filtered.items()} == filtered
    assert d.diagnosis.unresolvable == unresolvable
    assert d.diagnosis.plugins == frozenset(filtered)
    assert d.diagnosis.pre_filter is None and not d.diagnosis.invalid_spec


def test_spread_key_missing_everywhere_is_unresolvable() -> None:
    [d] = schedule(cluster([node("a"), node("b")]),
                   [pod_info_or_error(pod("p", labels={"app": "web"}, topologySpreadConstraints=SPREAD))],
                   build_profiles(SchedulerConfig()))
    assert d.diagnosis is not None and d.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert d.diagnosis.filtered == {"PodTopologySpread": {SPREAD_MISSING: 2}} and d.diagnosis.unresolvable == 2


def test_preemption_outcome_invalid_spec_and_unknown_profile() -> None:
    profiles = build_profiles(SchedulerConfig())
    cs = cluster([node("a", cpu="1")], [(pod("low", cpu="1", priority=1), "a")])
    [d] = schedule(cs, [pod_info_or_error(pod("hi", cpu="1", priority=100))], profiles)
    assert d.diagnosis is not None and d.nominated is not None
    assert d.diagnosis.filtered == {"NodeResourcesFit": {"Insufficient cpu": 1}}
    assert d.diagnosis.post_filter == "preemption: evicting 1 lower-priority pod(s) on node a: default/low."

    bad = pod("p", topologySpreadConstraints=[{"maxSkew": 0, "topologyKey": "zone",
                                               "whenUnsatisfiable": "DoNotSchedule"}])
    [d] = schedule(cs, [pod_info_or_error(bad)], profiles)
    assert d.diagnosis is not None and d.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert "maxSkew" in d.diagnosis.invalid_spec and d.diagnosis.filtered == {} and d.diagnosis.unresolvable == 1

    [d] = schedule(cs, [pod_info_or_error(pod("p", schedulerName="nope"))], profiles)
    assert d.diagnosis == Diagnosis(0, unknown_profile="nope")


@pytest.mark.parametrize(("diagnosis", "message"), [
    (Diagnosis(5, {"NodeResourcesFit": {"Insufficient cpu": 3}, "TaintToleration": {TAINT: 2}}, 2,
               post_filter="preemption: 0/5 nodes are available: no lower-priority pods whose eviction would "
                           "make room."),
     "0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {dedicated: gpu}. "
     "preemption: 0/5 nodes are available: no lower-priority pods whose eviction would make room."),
    # equal counts by reason text; one text from two plugins is one entry of the histogram
    (Diagnosis(4, {"B": {"y": 1, "x": 1}, "A": {"x": 1, "z": 2}}), "0/4 nodes are available: 2 x, 2 z, 1 y."),
    (Diagnosis(3, {"NodeResourcesFit": {}}), "0/3 nodes are available."),
    (Diagnosis(0), "0/0 nodes are available."),
    (Diagnosis(2, pre_filter=Rejection("Quota", ("over quota", "try later"))),
     "0/2 nodes are available: over quota, try later."),  # upstream: each part ends with a period
    (Diagnosis(1, invalid_spec="maxSkew must be > 0", unresolvable=1),
     "0/1 nodes are available: invalid pod spec: maxSkew must be > 0"),
    (Diagnosis(0, unknown_profile="nope"), 'no scheduler profile named "nope"'),
])
def test_failure_message_is_upstreams(diagnosis: Diagnosis, message: str) -> None:
    assert failure_message(diagnosis) == message
