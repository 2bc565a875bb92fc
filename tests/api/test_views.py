"""The typed views read wire dicts the way every component must: absent and malformed fields read as absent."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shoal.api import views as v

POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-1", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                 "labels": {"app": "web"}, "annotations": {"a": "b"}, "finalizers": ["f"],
                 "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "rs1"},
                                     {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web2", "uid": "rs2",
                                      "controller": True}]},
    "spec": {"nodeName": "n1", "restartPolicy": "OnFailure"},
    "status": {"phase": "Running", "podIP": "10.42.0.5",
               "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-02T03:04:05Z"}],
               "initContainerStatuses": [{"name": "i", "restartCount": 1, "state": {"terminated": {"exitCode": 0}}}],
               "containerStatuses": [{"name": "a", "restartCount": 2, "state": {"running": {}}},
                                     {"name": "b", "restartCount": 3, "state": {"waiting": {"reason": "X"}}}]},
}


def test_metadata_accessors() -> None:
    assert (v.name(POD), v.namespace(POD), v.uid(POD), v.resource_version(POD)) == ("web-1", "default", "u1", "7")
    assert v.key(POD) == "default/web-1"
    assert v.key({"metadata": {"name": "n1"}}) == "n1"
    assert v.labels(POD) == {"app": "web"} and v.annotations(POD) == {"a": "b"} and v.finalizers(POD) == ["f"]


def test_controller_reference_is_the_one_marked_controller() -> None:
    ref = v.controller_ref(POD)
    assert ref is not None and ref["name"] == "web2"
    assert v.controller_uid(POD) == "rs2"
    assert v.is_controlled_by(POD, {"metadata": {"uid": "rs2"}})
    assert not v.is_controlled_by(POD, {"metadata": {"uid": "rs1"}})
    assert not v.is_controlled_by({"metadata": {"ownerReferences": [{"controller": True}]}}, {"metadata": {}})
    assert v.owner_reference({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "x", "uid": "u"}}) == {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": "u", "controller": True,
        "blockOwnerDeletion": True}


def test_pod_facts() -> None:
    assert v.phase(POD) == "Running" and v.is_active(POD) and not v.is_terminal(POD)
    assert v.is_ready(POD) and v.node_name(POD) == "n1" and v.pod_ip(POD) == "10.42.0.5"
    assert v.restart_policy(POD) == "OnFailure"
    assert v.restart_count(POD) == 6 and v.max_restarts(POD) == 3
    assert [v.container_state(c) for c in v.container_statuses(POD)] == ["running", "waiting"]
    assert v.container_state(v.container_statuses(POD, init=True)[0]) == "terminated"


@pytest.mark.parametrize("status,expected", [
    ({}, "Pending"), ({"phase": ""}, "Pending"), ({"phase": "Bogus"}, "Pending"),
    ({"phase": "Failed"}, "Failed"), ({"phase": "Unknown"}, "Unknown"),
])
def test_phase_defaults_to_pending(status: dict[str, Any], expected: str) -> None:
    assert v.phase({"status": status}) == expected


def test_terminal_and_terminating_pods_are_not_active() -> None:
    assert not v.is_active({"status": {"phase": "Succeeded"}})
    gone = {"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}, "status": {"phase": "Running"}}
    assert v.is_terminating(gone) and not v.is_active(gone)


@pytest.mark.parametrize("bad", [
    {"metadata": "x", "spec": [], "status": 3},
    {"metadata": {"labels": ["a"], "ownerReferences": "x", "finalizers": {}}, "status": {"conditions": "x"}},
    {"metadata": {"ownerReferences": ["x", 1]}, "status": {"conditions": [1, "a"], "containerStatuses": [None]}},
])
def test_malformed_fields_read_as_absent(bad: dict[str, Any]) -> None:
    assert v.name(bad) == "" and v.labels(bad) == {} and v.controller_ref(bad) is None
    assert v.conditions(bad) == [] and not v.is_ready(bad) and v.phase(bad) == "Pending"
    assert v.container_statuses(bad) == [] and v.restart_count(bad) == 0 and v.node_name(bad) == ""
    assert v.finalizers(bad) == []
    assert v.taints(bad) == [] and not v.is_unschedulable(bad)
    assert v.namespace(bad) == "" and v.uid(bad) == "" and v.pod_ip(bad) == ""


def test_strings_of_the_wrong_type_read_as_absent() -> None:
    odd = {"metadata": {"name": 7, "namespace": ["x"], "uid": 1.5}, "spec": {"nodeName": 3, "clusterIP": 4},
           "status": {"podIP": {"a": 1}, "addresses": [{"type": "InternalIP", "address": 10}]}}
    assert (v.name(odd), v.namespace(odd), v.uid(odd), v.key(odd)) == ("", "", "", "")
    assert (v.node_name(odd), v.pod_ip(odd), v.cluster_ip(odd), v.node_address(odd)) == ("", "", "", "")


def test_nodes() -> None:
    node = {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}, "junk"], "unschedulable": True},
            "status": {"addresses": [{"type": "Hostname", "address": "h"}, {"type": "InternalIP", "address": "10.0.0.1"}]}}
    assert v.taints(node) == [{"key": "k", "effect": "NoSchedule"}]
    assert v.is_unschedulable(node) and v.node_address(node) == "10.0.0.1" and v.node_address(node, "Hostname") == "h"
    assert v.node_address({}) == ""


@pytest.mark.parametrize("text,expected", [
    ("2026-01-02T03:04:05Z", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    ("2026-01-02T03:04:05.250000Z", dt.datetime(2026, 1, 2, 3, 4, 5, 250000, tzinfo=dt.UTC)),
    ("2026-01-02T04:04:05+01:00", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    ("2026-01-02T03:04:05", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    (" 2026-01-02T03:04:05z\n", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
    ("yesterday", None), ("", None), ("  ", None), (None, None), (12, None), ("2026-13-01T00:00:00Z", None),
])
def test_parse_time(text: object, expected: dt.datetime | None) -> None:
    assert v.parse_time(text) == expected


def test_parse_time_answers_in_utc() -> None:
    t = v.parse_time("2026-01-02T04:04:05+01:00")
    assert t is not None and t.tzinfo is dt.UTC and t.hour == 3


def test_format_time_round_trips() -> None:
    t = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.UTC)
    assert v.format_time(t) == "2026-01-02T03:04:05Z"
    assert v.format_micro(t) == "2026-01-02T03:04:05.123456Z"
    assert v.parse_time(v.format_micro(t)) == t
    local = t.astimezone(dt.timezone(dt.timedelta(hours=5)))
    assert v.format_time(local) == "2026-01-02T03:04:05Z"


def test_container_specs_and_waiting_reason() -> None:
    pod = {"spec": {"containers": [{"name": "a"}, "junk", {"name": "b"}], "initContainers": [{"name": "i"}]}}
    assert [c["name"] for c in v.containers(pod)] == ["a", "b"]
    assert [c["name"] for c in v.containers(pod, init=True)] == ["i"]
    assert v.containers({"spec": {"containers": "bad"}}) == []
    assert v.waiting_reason({"state": {"waiting": {"reason": "CrashLoopBackOff"}}}) == "CrashLoopBackOff"
    assert v.waiting_reason({"state": {"running": {}}}) == ""
    assert v.waiting_reason({"state": {"waiting": "bad"}}) == ""  # type: ignore[typeddict-item]
