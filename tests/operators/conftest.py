"""Fixtures for the operator tests: a server with its controllers (the garbage collector deletes what
an operator's custom resources own), and the Widget CRD the operators reconcile.

Both operators do the same (written once with kopf, once with the official client's dynamic client):
for a Widget they add their finalizer, create a ConfigMap ``<name>-config`` owned by the Widget
(``ownerReferences``, so the garbage collector deletes it when the Widget goes), keep its data at the
Widget's ``spec.message``, and report ``status.configMap`` / ``status.observedGeneration``; on
deletion they do their cleanup and remove the finalizer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer, start_server

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
Obj = dict[str, Any]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # controllers on (the garbage collector), no scheduler: nothing here runs pods
    srv = start_server(Path(tmp_path_factory.mktemp("shoal-operators")), args=["--disable-scheduler"])
    yield srv
    srv.stop()


def widget_crd(group: str) -> Obj:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group, "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
            "versions": [{
                "name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["message"], "properties": {
                        "message": {"type": "string", "minLength": 1}}},
                    "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}},
            }],
        },
    }


@pytest.fixture
def http(server: RunningServer) -> requests.Session:
    return server.session()


@pytest.fixture
def ns(server: RunningServer, http: requests.Session) -> str:
    name = f"op-{uuid.uuid4().hex[:8]}"
    r = http.post(server.url + "/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                            "metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name


@pytest.fixture
def group(server: RunningServer, http: requests.Session) -> Iterator[str]:
    """A fresh API group with the Widget CRD established in it."""
    g = f"op{uuid.uuid4().hex[:8]}.example.com"
    r = http.post(server.url + CRDS, json=widget_crd(g))
    assert r.status_code == 201, r.text
    eventually(lambda: any(c["type"] == "Established" and c["status"] == "True" for c in (
        http.get(f"{server.url}{CRDS}/widgets.{g}").json().get("status") or {}).get("conditions") or []))
    yield g
    http.delete(f"{server.url}{CRDS}/widgets.{g}")


def eventually(check: Any, timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {check}")
        time.sleep(interval)
