"""An operator written against the official client's dynamic client (``kubernetes.dynamic``): it finds
the Widget kind by discovery, watches it, and reconciles each event level-triggered: its finalizer,
an owned ConfigMap, ``status`` through the status subresource, cleanup on deletion. The garbage
collector deletes the ConfigMap with its Widget."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

from tests.operators.conftest import eventually
from tests.server_fixture import RunningServer

Obj = dict[str, Any]
MERGE = "application/merge-patch+json"


class DynamicOperator:
    """Watch Widgets in one namespace and reconcile each one the watch reports."""

    def __init__(self, dyn: DynamicClient, group: str, namespace: str) -> None:
        self.dyn, self.namespace = dyn, namespace
        self.widgets = dyn.resources.get(api_version=f"{group}/v1", kind="Widget")
        self.configmaps = dyn.resources.get(api_version="v1", kind="ConfigMap")
        self.finalizer = f"{group}/dynamic-cleanup"
        self.cleaned: list[str] = []
        self.errors: list[BaseException] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="dynamic-operator", daemon=True)

    def _run(self) -> None:
        rv = None
        while not self.stopping.is_set():
            try:
                for ev in self.widgets.watch(namespace=self.namespace, resource_version=rv, timeout=2):
                    obj = ev["raw_object"]
                    rv = obj["metadata"]["resourceVersion"]
                    if ev["type"] != "DELETED":
                        self.reconcile(obj["metadata"]["name"])
            except ConflictError:
                continue  # an older version was reconciled: the next event brings the new one
            except Exception as e:  # the test reports what went wrong rather than hanging
                self.errors.append(e)
                return

    def reconcile(self, name: str) -> None:
        try:
            w = self.widgets.get(name=name, namespace=self.namespace).to_dict()
        except NotFoundError:
            return
        md = w["metadata"]
        fins = md.get("finalizers") or []
        if md.get("deletionTimestamp"):
            if self.finalizer in fins:
                self.cleaned.append(name)
                self.widgets.patch(name=name, namespace=self.namespace, content_type=MERGE, body={
                    "metadata": {"finalizers": [f for f in fins if f != self.finalizer],
                                 "resourceVersion": md["resourceVersion"]}})
            return
        if self.finalizer not in fins:
            self.widgets.patch(name=name, namespace=self.namespace, content_type=MERGE, body={
                "metadata": {"finalizers": [*fins, self.finalizer], "resourceVersion": md["resourceVersion"]}})
            return  # the write comes back as an event
        cm_name = f"{name}-config"
        data = {"message": w["spec"]["message"]}
        try:
            cm = self.configmaps.get(name=cm_name, namespace=self.namespace).to_dict()
            if cm.get("data") != data:
                self.configmaps.patch(name=cm_name, namespace=self.namespace, content_type=MERGE, body={"data": data})
        except NotFoundError:
            self.configmaps.create(namespace=self.namespace, body={
                "apiVersion": "v1", "kind": "ConfigMap", "data": data,
                "metadata": {"name": cm_name, "ownerReferences": [{
                    "apiVersion": w["apiVersion"], "kind": "Widget", "name": name, "uid": md["uid"],
                    "controller": True, "blockOwnerDeletion": True}]}})
        status = {"configMap": cm_name, "observedGeneration": md["generation"]}
        if (w.get("status") or {}) != status:
            self.widgets.status.patch(name=name, namespace=self.namespace, content_type=MERGE,
                                      body={"status": status})

    def __enter__(self) -> DynamicOperator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(10)


@pytest.fixture
def dyn(server: RunningServer, tmp_path: Path) -> Iterator[DynamicClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(server.kubeconfig))
    yield DynamicClient(client, cache_file=str(tmp_path / "discovery.json"))
    client.close()


def test_dynamic_client_operator_reconciles_widgets(dyn: DynamicClient, group: str, ns: str) -> None:
    with DynamicOperator(dyn, group, ns) as op:
        widgets, cms = op.widgets, op.configmaps
        widgets.create(namespace=ns, body={"apiVersion": f"{group}/v1", "kind": "Widget",
                                           "metadata": {"name": "w1"}, "spec": {"message": "hi"}})

        def reconciled(generation: int) -> Obj | None:
            w = widgets.get(name="w1", namespace=ns).to_dict()
            return w if (w.get("status") or {}).get("observedGeneration") == generation else None

        w = eventually(lambda: reconciled(1))
        assert not op.errors, op.errors
        assert op.finalizer in w["metadata"]["finalizers"]
        assert w["status"]["configMap"] == "w1-config"
        cm = cms.get(name="w1-config", namespace=ns).to_dict()
        assert cm["data"] == {"message": "hi"}
        assert cm["metadata"]["ownerReferences"][0]["uid"] == w["metadata"]["uid"]

        widgets.patch(name="w1", namespace=ns, content_type=MERGE, body={"spec": {"message": "bye"}})
        eventually(lambda: reconciled(2))
        assert cms.get(name="w1-config", namespace=ns).to_dict()["data"] == {"message": "bye"}

        widgets.delete(name="w1", namespace=ns)

        def gone(resource: Any, name: str) -> bool:
            try:
                resource.get(name=name, namespace=ns)
            except NotFoundError:
                return True
            return False

        eventually(lambda: gone(widgets, "w1"))
        assert op.cleaned == ["w1"]
        assert not op.errors, op.errors
    eventually(lambda: gone(cms, "w1-config"))  # the garbage collector followed the new kind
