"""The pure parts of the API server's CRD handling: the status a CRD gets (conditions, accepted names,
transition times kept), and which discovery format a client's Accept header asks for."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.apiserver.crd.controller import plan_status
from shoal.apiserver.discovery import aggregated_version

CRD: dict[str, Any] = {"metadata": {"name": "widgets.example.com"}, "spec": {
    "group": "example.com", "names": {"plural": "widgets", "kind": "Widget"}},
    "status": {"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": ["v1"]}}


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_a_crd_without_conflicts_is_established_with_its_names() -> None:
    st = plan_status(CRD, conflicts=[], terminating=False, now="T1")
    assert conditions(st) == {"NamesAccepted": ("True", "NoConflicts"),
                              "Established": ("True", "InitialNamesAccepted")}
    assert st["acceptedNames"] == {"plural": "widgets", "kind": "Widget", "listKind": "WidgetList",
                                   "singular": "widget"}
    assert st["storedVersions"] == ["v1"]
    assert {c["lastTransitionTime"] for c in st["conditions"]} == {"T1"}
    again = plan_status({**CRD, "status": st}, conflicts=[], terminating=True, now="T2")
    times = {c["type"]: c["lastTransitionTime"] for c in again["conditions"]}
    assert times == {"NamesAccepted": "T1", "Established": "T1", "Terminating": "T2"}
    assert conditions(again)["Terminating"] == ("True", "InstanceDeletionInProgress")


def test_a_name_conflict_is_reported_and_nothing_accepted() -> None:
    st = plan_status(CRD, conflicts=['"widgets" is already in use'], terminating=False, now="T")
    assert conditions(st) == {"NamesAccepted": ("False", "PluralConflict"), "Established": ("False", "NotAccepted")}
    assert st["acceptedNames"] == {"plural": "", "kind": ""}
    kind = plan_status(CRD, conflicts=['"Widget" is already in use'], terminating=False, now="T")
    assert conditions(kind)["NamesAccepted"] == ("False", "KindConflict")


@pytest.mark.parametrize(("accept", "version"), [
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json", "v2"),
    ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", "v2beta1"),
    ("application/json", None),
    ("", None),
    ("application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None),
    ("application/json;g=apidiscovery.k8s.io;v=v9;as=APIGroupDiscoveryList,application/json", None),
])
def test_discovery_format_follows_the_clients_preference(accept: str, version: str | None) -> None:
    assert aggregated_version(accept) == version
