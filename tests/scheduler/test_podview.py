"""scheduling_view: the scheduler's pod informer keeps only what scheduling reads, and reads the same.

The view is the scheduler informer's transform (``worker.Scheduler``), so every pod the
scheduler parses went through it: parsing the view must give what parsing the whole pod
gives, for good pods and for bad ones alike.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.client.api import ApiClient
from shoal.client.informer import InformerFactory
from shoal.scheduler import podinfo
from shoal.scheduler.podinfo import PodInfo, pod_info_or_error, scheduling_view
from shoal.scheduler.worker import Scheduler

ZONE = "topology.kubernetes.io/zone"
quantities = st.sampled_from(["100m", "1", "250m", "2Gi", "512Mi", "0", "-1", "abc", 3, None])


def container(draw: st.DrawFn, name: str, *, init: bool) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "registry.example/app:1", "command": ["run"],
                         "env": [{"name": "A", "value": "1"}],
                         "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
                         "volumeMounts": [{"name": "v", "mountPath": "/v"}]}
    reqs = {k: v for k, v in (("cpu", draw(quantities)), ("memory", draw(quantities)),
                              ("example.com/gpu", draw(st.sampled_from([None, "1"])))) if v is not None}
    if reqs or draw(st.booleans()):
        c["resources"] = {"requests": reqs, "limits": {"cpu": "2"}}
    if draw(st.booleans()):
        c["ports"] = [{"containerPort": 80, "hostPort": draw(st.sampled_from([0, 80, 70000])), "protocol": "TCP"}]
    if init and draw(st.booleans()):
        c["restartPolicy"] = "Always"  # a sidecar: its requests count for the whole life of the pod
    return c


@st.composite
def pods(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [container(draw, f"c{i}", init=False) for i in range(draw(st.integers(0, 2)))],
        "volumes": [{"name": "v", "emptyDir": {}}],
        "ephemeralContainers": [{"name": "debug", "image": "busybox"}],
    }
    if draw(st.booleans()):
        spec["initContainers"] = [container(draw, f"i{i}", init=True) for i in range(draw(st.integers(1, 2)))]
    if draw(st.booleans()):
        spec["overhead"] = {"cpu": draw(quantities)}
    if draw(st.booleans()):
        spec["tolerations"] = [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    if draw(st.booleans()):
        spec["nodeSelector"] = {"disk": "ssd"}
    if draw(st.booleans()):
        op = draw(st.sampled_from(["In", "NotIn", "Exists", "Gt", "Bogus"]))
        spec["affinity"] = {
            "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "disk", "operator": op, "values": [] if op == "Exists" else ["1"]}]}]}},
            "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "a"}}}]}}
    if draw(st.booleans()):
        spec["topologySpreadConstraints"] = [{"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule",
                                              "labelSelector": {"matchLabels": {"app": "a"}}}]
    for key, values in (("priority", [0, 5, "high"]), ("schedulerName", ["default-scheduler", "other"]),
                        ("nodeName", ["", "n1"]), ("preemptionPolicy", ["Never", "PreemptLowerPriority"])):
        if draw(st.booleans()):
            spec[key] = draw(st.sampled_from(values))
    md: dict[str, Any] = {"name": "p", "namespace": "ns", "uid": "u-1", "resourceVersion": "7",
                          "labels": {"app": "a"}, "annotations": {"note": "x" * 100}}
    if draw(st.booleans()):
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-rs",
                                  "controller": draw(st.booleans())}]
    if draw(st.booleans()):
        md["deletionTimestamp"] = "2026-12-02T00:00:00Z"
    status = {"phase": draw(st.sampled_from(["Pending", "Running", "Succeeded"])),
              "conditions": [{"type": "PodScheduled", "status": "False", "message": "0/3 nodes"}],
              "containerStatuses": [{"name": "c0", "ready": False, "state": {"waiting": {}}}]}
    if draw(st.booleans()):
        status["nominatedNodeName"] = "n2"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}


def parsed(p: dict[str, Any]) -> PodInfo:
    return dataclasses.replace(pod_info_or_error(p), raw={})


@settings(max_examples=300, deadline=None)
@given(pods())
def test_the_view_parses_as_the_whole_pod(p: dict[str, Any]) -> None:
    view = scheduling_view(p)
    assert repr(parsed(view)) == repr(parsed(p))  # every field (raw aside), errors included
    # and it is smaller: what no plugin reads is gone
    assert "annotations" not in view["metadata"] and "containerStatuses" not in view["status"]
    assert "ephemeralContainers" not in view["spec"]
    assert all(set(c) <= {"name", "resources", "ports", "restartPolicy"} for c in view["spec"]["containers"])
    # what events and status updates name the pod by is kept
    for k in ("name", "namespace", "uid", "resourceVersion"):
        assert view["metadata"][k] == p["metadata"][k]
    assert (view["apiVersion"], view["kind"]) == ("v1", "Pod")
    assert view["status"]["conditions"] == p["status"]["conditions"]


def test_bad_shapes_are_kept_so_the_same_reason_is_given() -> None:
    for spec in ({"containers": {"name": "c"}}, {"containers": ["c"]}, "not a spec",
                 {"containers": [{"name": "c", "resources": {"requests": ["1"]}}]},
                 {"containers": [{"name": "c", "resources": {"requests": {"cpu": "-1"}}}]}):
        p = {"metadata": {"name": "bad", "namespace": "ns", "uid": "u"}, "spec": spec, "status": "odd"}
        whole, view = pod_info_or_error(p), pod_info_or_error(scheduling_view(p))
        assert whole.error and view.error == whole.error, (spec, whole.error, view.error)
    assert scheduling_view({"metadata": None})["metadata"] is None


def test_the_scheduler_trims_only_the_informers_it_owns() -> None:
    client = ApiClient.http("http://127.0.0.1:1")  # not contacted: only the informers are set up
    assert Scheduler(client).pods.transform is scheduling_view
    shared = InformerFactory(client)
    whole = shared.informer("pods")
    sched = Scheduler(client, informers=shared)
    assert sched.pods is whole and whole.transform is None  # controllers sharing it need whole pods
    assert shared.informer("pods", transform=scheduling_view) is not whole


@settings(max_examples=200, deadline=None)
@given(pods())
def test_remembered_spec_parts_are_what_parsing_gives(p: dict[str, Any]) -> None:
    # pod_info keeps the spec-derived half per (namespace, labels, spec): asked three times, through
    # the memo, it must equal the rules' own answer (or the same error)
    md, spec = p["metadata"], p["spec"]
    try:
        want: Any = podinfo._spec_parts(spec, md["namespace"], md["labels"])
    except podinfo.PodSpecError as e:
        want = e
    for _ in range(3):
        if isinstance(want, Exception):
            with pytest.raises(podinfo.PodSpecError, match=re.escape(str(want))):
                podinfo._spec_parts_memo(spec, md["namespace"], md["labels"])
        else:
            assert repr(podinfo._spec_parts_memo(spec, md["namespace"], md["labels"])) == repr(want)


def test_spec_memo_is_bounded_and_keyed_by_labels_too() -> None:
    podinfo._spec_memo.clear()
    spread = {"containers": [{"name": "c"}], "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule", "matchLabelKeys": ["app"],
         "labelSelector": {"matchLabels": {}}}]}
    a = podinfo._spec_parts_memo(spread, "ns", {"app": "a"})
    b = podinfo._spec_parts_memo(spread, "ns", {"app": "b"})  # matchLabelKeys: the labels change the selector
    assert repr(a) != repr(b)
    for i in range(podinfo.SPEC_MEMO + 10):
        podinfo._spec_parts_memo({"containers": [{"name": f"c{i}"}]}, "ns", {})
    assert len(podinfo._spec_memo) == podinfo.SPEC_MEMO
