"""An operator written with kopf (a mainstream Python operator framework), run in the test process
against shoal: CRD in, status out, its finalizer added and removed, an owned ConfigMap that the garbage
collector deletes with its Widget."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import kopf
import kubernetes
import pytest

from tests.operators.conftest import eventually
from tests.server_fixture import RunningServer

Obj = dict[str, Any]


class KopfOperator:
    """The Widget operator, on its own registry and event loop (a thread), watching one namespace."""

    def __init__(self, group: str, namespace: str, core: kubernetes.client.CoreV1Api) -> None:
        self.group, self.namespace, self.core = group, namespace, core
        self.finalizer = f"{group}/cleanup"
        self.cleaned: list[str] = []
        self.registry = kopf.OperatorRegistry()
        self.stop_flag = threading.Event()
        self.ready_flag = threading.Event()
        self._register()
        self.thread = threading.Thread(target=self._run, name="kopf-operator", daemon=True)

    def _register(self) -> None:
        reg, group = self.registry, self.group

        @kopf.on.startup(registry=reg)
        def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
            settings.persistence.finalizer = self.finalizer
            settings.watching.server_timeout = 30
            settings.posting.level = 100  # no k8s Events for every log line: the test reads status instead

        @kopf.on.login(registry=reg)
        def login(**kwargs: Any) -> Any:
            return kopf.login_with_kubeconfig(**kwargs)

        @kopf.on.create(group, "v1", "widgets", registry=reg)
        def created(body: Any, spec: Any, name: str, namespace: str, meta: Any, patch: Any, **_: Any) -> None:
            cm: Obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config"},
                       "data": {"message": spec["message"]}}
            kopf.adopt(cm, owner=body)
            self.core.create_namespaced_config_map(namespace, cm)
            patch.status["configMap"] = f"{name}-config"
            patch.status["observedGeneration"] = meta["generation"]

        @kopf.on.update(group, "v1", "widgets", field="spec", registry=reg)
        def updated(spec: Any, name: str, namespace: str, meta: Any, patch: Any, **_: Any) -> None:
            self.core.patch_namespaced_config_map(f"{name}-config", namespace, {"data": {"message": spec["message"]}})
            patch.status["observedGeneration"] = meta["generation"]

        @kopf.on.delete(group, "v1", "widgets", registry=reg)
        def deleted(name: str, **_: Any) -> None:
            self.cleaned.append(name)

    def _run(self) -> None:
        asyncio.run(kopf.operator(registry=self.registry, standalone=True, namespaces=[self.namespace],
                                  stop_flag=self.stop_flag, ready_flag=self.ready_flag))

    def __enter__(self) -> KopfOperator:
        self.thread.start()
        assert self.ready_flag.wait(30), "kopf did not get ready"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag.set()
        self.thread.join(30)


@pytest.fixture
def api(server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[kubernetes.client.ApiClient]:
    monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig))
    client = kubernetes.config.new_client_from_config(config_file=str(server.kubeconfig))
    yield client
    client.close()


def test_kopf_operator_reconciles_widgets(server: RunningServer, api: kubernetes.client.ApiClient, group: str,
                                          ns: str) -> None:
    core = kubernetes.client.CoreV1Api(api)
    crs = kubernetes.client.CustomObjectsApi(api)
    with KopfOperator(group, ns, core) as op:
        crs.create_namespaced_custom_object(group, "v1", ns, "widgets", {
            "apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"message": "hi"}})

        def reconciled(generation: int) -> Obj | None:
            w = crs.get_namespaced_custom_object(group, "v1", ns, "widgets", "w1")
            st = w.get("status") or {}
            return w if st.get("observedGeneration") == generation else None

        w = eventually(lambda: reconciled(1))
        assert op.finalizer in w["metadata"]["finalizers"]
        assert w["status"]["configMap"] == "w1-config"
        cm = core.read_namespaced_config_map("w1-config", ns)
        assert cm.data == {"message": "hi"}
        owner = cm.metadata.owner_references[0]
        assert (owner.kind, owner.name, owner.uid, owner.controller) == ("Widget", "w1", w["metadata"]["uid"], True)

        crs.patch_namespaced_custom_object(group, "v1", ns, "widgets", "w1", {"spec": {"message": "bye"}})
        eventually(lambda: reconciled(2))
        assert core.read_namespaced_config_map("w1-config", ns).data == {"message": "bye"}

        crs.delete_namespaced_custom_object(group, "v1", ns, "widgets", "w1")

        def gone() -> bool:
            try:
                crs.get_namespaced_custom_object(group, "v1", ns, "widgets", "w1")
            except kubernetes.client.ApiException as e:
                return e.status == 404
            return False

        eventually(gone)
        assert op.cleaned == ["w1"]

    def cm_gone() -> bool:
        try:
            core.read_namespaced_config_map("w1-config", ns)
        except kubernetes.client.ApiException as e:
            return e.status == 404
        return False

    eventually(cm_gone)  # the garbage collector, following the new kind, deleted what the Widget owned
