"""Each served resource's strategy: the one registry, and the per-kind rules as table tests (no I/O).

The server-level behaviour (priority admission, Service allocation, deletion) is
tested through HTTP in test_priority, test_service_allocation and
test_api_semantics; here each rule is checked on its own.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shoal.api import kinds
from shoal.apiserver import strategies
from shoal.apiserver.strategies.base import DefaultStrategy, ResetStatusStrategy
from shoal.apiserver.strategies.namespace import NamespaceStrategy
from shoal.apiserver.strategies.pod import PodStrategy
from shoal.apiserver.strategies.priorityclass import PriorityClassStrategy
from shoal.apiserver.strategies.service import ServiceStrategy
from shoal.apiserver.strategies.storage import (
    PersistentVolumeClaimStrategy,
    PersistentVolumeStrategy,
)
from shoal.apiserver.strategies.workloads import JobStrategy, ReplicaSetStrategy
from shoal.apiserver.tables import printer_for

ALLOCATOR: Any = object()
CLASSES: Any = object()
STORAGE_CLASSES: Any = object()
SHARED = strategies.Shared(service_allocator=ALLOCATOR, priority_classes=CLASSES, storage_classes=STORAGE_CLASSES,
                            pod_cidrs=ALLOCATOR)
# a view of another kind's objects (events.k8s.io Events) is served by that kind's resource
BY_KIND = {info.kind: strategies.for_resource(info, SHARED) for info in kinds.RESOURCES
           if "view_of" not in info.extra}


def test_every_served_resource_has_its_strategy() -> None:
    want = {"Pod": PodStrategy, "Service": ServiceStrategy, "Namespace": NamespaceStrategy, "Job": JobStrategy,
            "ReplicaSet": ReplicaSetStrategy, "Deployment": ResetStatusStrategy, "DaemonSet": ResetStatusStrategy,
            "CronJob": ResetStatusStrategy, "PriorityClass": PriorityClassStrategy, "ConfigMap": DefaultStrategy,
            "PersistentVolumeClaim": PersistentVolumeClaimStrategy, "PersistentVolume": PersistentVolumeStrategy,
            "StorageClass": DefaultStrategy}
    for kind, cls in want.items():
        assert type(BY_KIND[kind]) is cls, kind
    for info in kinds.RESOURCES:
        if "view_of" in info.extra:
            continue
        st = BY_KIND[info.kind]
        assert st.info is info
        assert st.printer is printer_for(info.kind)
    assert BY_KIND["Service"].allocator is ALLOCATOR
    assert sorted(k for k, st in BY_KIND.items() if st.allocator is not None) == ["Node", "Service"]  # pod CIDRs, IPs and ports
    assert sorted(k for k, st in BY_KIND.items() if st.returns_deleted_object) == ["Pod", "Service"]


@pytest.mark.parametrize(("kind", "field", "supported"), [
    ("Pod", "spec.nodeName", True), ("Pod", "status.phase", True), ("Pod", "spec.priority", False),
    ("Node", "spec.unschedulable", True), ("Event", "involvedObject.name", True), ("Secret", "type", True),
    ("Namespace", "status.phase", True), ("ReplicaSet", "status.replicas", True), ("Job", "status.successful", True),
    ("ConfigMap", "data", False), ("Deployment", "status.replicas", False),
])
def test_field_labels(kind: str, field: str, supported: bool) -> None:
    assert (field in BY_KIND[kind].field_labels) is supported


def new(kind: str, **rest: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": "x", "uid": "u-1"}, **rest}


@pytest.mark.parametrize(("kind", "status_after"), [
    ("Pod", {"phase": "Pending"}),
    ("Namespace", {"phase": "Active"}),
    ("Service", {"loadBalancer": {}}),
    ("Deployment", None),
    ("DaemonSet", None),
    ("CronJob", None),
    ("Node", {"made": "up"}),  # a node's status is its agent's to set, from the first write
    ("ConfigMap", {"made": "up"}),
    ("PersistentVolumeClaim", {"phase": "Pending"}),
])
def test_create_resets_what_a_create_may_not_set(kind: str, status_after: dict[str, Any] | None) -> None:
    o = new(kind, spec={"a": 1}, status={"made": "up"})
    BY_KIND[kind].prepare_create(o)
    assert o.get("status") == status_after
    assert o["metadata"].get("generation") == (1 if BY_KIND[kind].info.has_spec else None)


def test_a_new_job_selects_its_pods_by_its_uid() -> None:
    job = new("Job", apiVersion="batch/v1", status={"active": 3}, spec={
        "template": {"spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "Never"}}})
    BY_KIND["Job"].prepare_create(job)
    assert "status" not in job
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "u-1"}}
    assert job["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/controller-uid"] == "u-1"


def test_update_keeps_server_fields_and_status_and_bumps_generation_on_spec_changes() -> None:
    st = BY_KIND["Deployment"]
    old = new("Deployment", spec={"replicas": 1}, status={"replicas": 1})
    old["metadata"].update(generation=4, creationTimestamp="t0")
    body = new("Deployment", spec={"replicas": 1}, status={"replicas": 9})
    body["metadata"].update(uid="forged", generation=99)
    st.prepare_update(body, old)
    assert body["metadata"] == {"name": "x", "uid": "u-1", "generation": 4, "creationTimestamp": "t0"}
    assert body["status"] == {"replicas": 1}
    body["spec"]["replicas"] = 2
    st.prepare_update(body, old)
    assert body["metadata"]["generation"] == 5


def test_status_update_takes_only_the_status() -> None:
    old = new("Deployment", spec={"replicas": 1}, status={"replicas": 1})
    out = BY_KIND["Deployment"].prepare_status_update(new("Deployment", spec={"replicas": 7}, status={"r": 2}), old)
    assert out == {**old, "status": {"r": 2}} and old["status"] == {"replicas": 1}


def test_a_service_leaving_nodeport_drops_what_only_nodeports_use() -> None:
    old = new("Service", spec={"type": "NodePort", "externalTrafficPolicy": "Local",
                               "ports": [{"port": 80, "nodePort": 30080}, {"port": 81, "nodePort": 30081}]})
    body = copy.deepcopy(old)
    body["spec"]["type"] = "ClusterIP"
    body["spec"]["ports"][1]["nodePort"] = 30999  # the client changed this one: kept, so validation refuses it
    BY_KIND["Service"].prepare_update(body, old)
    assert "externalTrafficPolicy" not in body["spec"]
    assert body["spec"]["ports"] == [{"port": 80}, {"port": 81, "nodePort": 30999}]


@pytest.mark.parametrize(("spec", "phase", "requested", "want"), [
    ({}, None, None, 0),  # never bound
    ({"nodeName": "n"}, "Running", None, 30),
    ({"nodeName": "n", "terminationGracePeriodSeconds": 3}, "Running", None, 3),
    ({"nodeName": "n"}, "Running", 7, 7),
    ({"nodeName": "n"}, "Running", -1, 0),
    ({"nodeName": "n"}, "Succeeded", 7, 0),
])
def test_pod_grace(spec: dict[str, Any], phase: str | None, requested: int | None, want: int) -> None:
    assert BY_KIND["Pod"].graceful_seconds({"spec": spec, "status": {"phase": phase}}, requested) == want
    assert BY_KIND["ConfigMap"].graceful_seconds({"spec": spec}, requested) == 0


def test_only_a_namespace_is_held_by_its_spec() -> None:
    held = {"spec": {"finalizers": ["kubernetes"]}}
    assert BY_KIND["Namespace"].held_by_spec(held) and not BY_KIND["Namespace"].held_by_spec({"spec": {}})
    assert not BY_KIND["ConfigMap"].held_by_spec(held)
    assert BY_KIND["Namespace"].terminating_phase == "Terminating" and BY_KIND["Pod"].terminating_phase is None
