"""The official ``kubernetes`` Python client against a real ``shoal server``.

The client is generated from upstream's OpenAPI and deserializes every answer
into typed models, so these tests catch shapes that kubectl tolerates but
typed clients do not (list metadata, Scale, Status bodies on errors, watch
event framing), as well as the API semantics a program relies on: optimistic
concurrency, 422 causes and list paging.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config, watch

from tests.server_fixture import RunningServer


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
    assert cfg.host == server.url  # only ever the loopback server
    with client.ApiClient(cfg) as c:
        yield c


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


def configmap(name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


def pod(name: str, image: str | None = "nginx:1.25") -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main", image=image)]),
    )


def deployment(name: str, replicas: int) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="nginx:1.25")]),
            ),
        ),
    )


def body(e: client.ApiException) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(e.body)
    return parsed


# ---- ConfigMap ---------------------------------------------------------------------------


def test_configmap_crud(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, configmap("cfg", {"a": "1"}))
    assert created.metadata.name == "cfg" and created.metadata.namespace == ns
    assert created.metadata.uid and created.metadata.creation_timestamp is not None
    assert created.data == {"a": "1"}

    read = core.read_namespaced_config_map("cfg", ns)
    assert read.metadata.uid == created.metadata.uid
    assert read.metadata.resource_version == created.metadata.resource_version

    listed = core.list_namespaced_config_map(ns)
    assert [c.metadata.name for c in listed.items] == ["cfg", "kube-root-ca.crt"]  # the namespace's CA, as upstream
    assert int(listed.metadata.resource_version) >= int(created.metadata.resource_version)

    patched = core.patch_namespaced_config_map("cfg", ns, {"data": {"b": "2"}, "metadata": {"labels": {"x": "y"}}})
    assert patched.data == {"a": "1", "b": "2"}
    assert patched.metadata.labels == {"x": "y"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)

    patched.data = {"only": "this"}
    replaced = core.replace_namespaced_config_map("cfg", ns, patched)
    assert replaced.data == {"only": "this"}
    assert replaced.metadata.labels == {"x": "y"}
    assert core.read_namespaced_config_map("cfg", ns).data == {"only": "this"}

    core.delete_namespaced_config_map("cfg", ns)
    with pytest.raises(client.ApiException) as ei:
        core.read_namespaced_config_map("cfg", ns)
    assert ei.value.status == 404
    assert body(ei.value)["reason"] == "NotFound"
    assert [c.metadata.name for c in core.list_namespaced_config_map(ns).items] == ["kube-root-ca.crt"]


def test_create_twice_is_409_already_exists(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, configmap("dup"))
    with pytest.raises(client.ApiException) as ei:
        core.create_namespaced_config_map(ns, configmap("dup"))
    assert ei.value.status == 409
    assert body(ei.value)["reason"] == "AlreadyExists"
    assert body(ei.value)["details"]["name"] == "dup"


# ---- Pod -------------------------------------------------------------------------------


def test_pod_crud(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_pod(ns, pod("web"))
    assert created.status.phase == "Pending"
    assert created.spec.restart_policy == "Always"  # server-side defaults
    assert created.spec.containers[0].image_pull_policy == "IfNotPresent"

    read = core.read_namespaced_pod("web", ns)
    assert read.spec.containers[0].image == "nginx:1.25"
    assert [p.metadata.name for p in core.list_namespaced_pod(ns, label_selector="app=web").items] == ["web"]
    assert core.list_namespaced_pod(ns, label_selector="app=other").items == []

    patched = core.patch_namespaced_pod("web", ns, {"metadata": {"labels": {"tier": "front"}}})
    assert patched.metadata.labels == {"app": "web", "tier": "front"}
    # strategic merge by container name: the image changes, the container stays
    patched = core.patch_namespaced_pod(
        "web", ns, {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}})
    assert [(c.name, c.image) for c in patched.spec.containers] == [("main", "nginx:1.26")]

    patched.metadata.annotations = {"note": "replaced"}
    replaced = core.replace_namespaced_pod("web", ns, patched)
    assert replaced.metadata.annotations == {"note": "replaced"}

    core.delete_namespaced_pod("web", ns)
    with pytest.raises(client.ApiException) as ei:
        core.read_namespaced_pod("web", ns)
    assert ei.value.status == 404


def test_pod_invalid_is_422_with_field(core: client.CoreV1Api, ns: str) -> None:
    with pytest.raises(client.ApiException) as ei:
        core.create_namespaced_pod(ns, pod("no-image", image=None))
    e = ei.value
    assert e.status == 422
    st = body(e)
    assert st["kind"] == "Status" and st["status"] == "Failure" and st["reason"] == "Invalid"
    assert "spec.containers[0].image" in st["message"]
    causes = st["details"]["causes"]
    assert {"reason": "FieldValueRequired", "field": "spec.containers[0].image"}.items() <= causes[0].items()
    assert st["details"]["kind"] == "Pod" and st["details"]["name"] == "no-image"
    assert core.list_namespaced_pod(ns).items == []


def test_bad_name_is_422(core: client.CoreV1Api, ns: str) -> None:
    with pytest.raises(client.ApiException) as ei:
        core.create_namespaced_config_map(ns, configmap("Bad_Name"))
    assert ei.value.status == 422
    causes = body(ei.value)["details"]["causes"]
    assert [c["field"] for c in causes] == ["metadata.name"]


def test_generate_name_dry_run_and_cluster_wide_list(core: client.CoreV1Api, ns: str) -> None:
    made = core.create_namespaced_pod(ns, client.V1Pod(
        metadata=client.V1ObjectMeta(generate_name="gen-", labels={"e2e": ns}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="nginx")])))
    assert made.metadata.name.startswith("gen-") and len(made.metadata.name) == len("gen-") + 5
    dry = core.create_namespaced_pod(ns, pod("dry"), dry_run="All")
    assert dry.metadata.name == "dry" and dry.spec.dns_policy == "ClusterFirst"
    with pytest.raises(client.ApiException) as ei:
        core.read_namespaced_pod("dry", ns)
    assert ei.value.status == 404
    everywhere = core.list_pod_for_all_namespaces(label_selector=f"e2e={ns}")
    assert [(p.metadata.namespace, p.metadata.name) for p in everywhere.items] == [(ns, made.metadata.name)]
    namespace = core.read_namespace(ns)
    assert namespace.status.phase == "Active"
    assert namespace.metadata.labels["kubernetes.io/metadata.name"] == ns
    with pytest.raises(client.ApiException) as ei:
        core.create_namespaced_config_map(f"{ns}-missing", configmap("x"))
    assert ei.value.status == 404  # the namespace does not exist


# ---- optimistic concurrency ------------------------------------------------------------------


def test_stale_resource_version_replace_is_409(core: client.CoreV1Api, ns: str) -> None:
    first = core.create_namespaced_config_map(ns, configmap("cc", {"v": "1"}))
    core.patch_namespaced_config_map("cc", ns, {"data": {"v": "2"}})  # someone else writes
    first.data = {"v": "mine"}
    with pytest.raises(client.ApiException) as ei:
        core.replace_namespaced_config_map("cc", ns, first)
    assert ei.value.status == 409
    st = body(ei.value)
    assert st["reason"] == "Conflict"
    assert "the object has been modified" in st["message"]
    assert core.read_namespaced_config_map("cc", ns).data == {"v": "2"}  # the stale write changed nothing
    # re-read, change, write: succeeds
    fresh = core.read_namespaced_config_map("cc", ns)
    fresh.data = {"v": "mine"}
    assert core.replace_namespaced_config_map("cc", ns, fresh).data == {"v": "mine"}


def test_patch_with_stale_resource_version_is_409(core: client.CoreV1Api, ns: str) -> None:
    first = core.create_namespaced_config_map(ns, configmap("pc", {"v": "1"}))
    core.patch_namespaced_config_map("pc", ns, {"data": {"v": "2"}})
    with pytest.raises(client.ApiException) as ei:
        core.patch_namespaced_config_map(
            "pc", ns, {"metadata": {"resourceVersion": first.metadata.resource_version}, "data": {"v": "3"}})
    assert ei.value.status == 409


# ---- Deployments and the scale subresource -----------------------------------------------------


def test_deployment_scale_subresource(apps: client.AppsV1Api, ns: str) -> None:
    created = apps.create_namespaced_deployment(ns, deployment("api", 2))
    assert created.spec.replicas == 2
    assert created.spec.strategy.type == "RollingUpdate"

    scale = apps.read_namespaced_deployment_scale("api", ns)
    assert scale.kind == "Scale" and scale.api_version == "autoscaling/v1"
    assert scale.spec.replicas == 2
    assert scale.status.selector == "app=api"

    scaled = apps.patch_namespaced_deployment_scale("api", ns, {"spec": {"replicas": 5}})
    assert scaled.spec.replicas == 5
    assert apps.read_namespaced_deployment_scale("api", ns).spec.replicas == 5
    after = apps.read_namespaced_deployment("api", ns)
    assert after.spec.replicas == 5
    assert after.metadata.generation == created.metadata.generation + 1

    with pytest.raises(client.ApiException) as ei:
        apps.patch_namespaced_deployment_scale("api", ns, {"spec": {"replicas": -1}})
    assert ei.value.status == 422
    assert "spec.replicas" in body(ei.value)["message"]
    assert apps.read_namespaced_deployment("api", ns).spec.replicas == 5

    replaced = apps.replace_namespaced_deployment_scale(
        "api", ns, client.V1Scale(metadata=client.V1ObjectMeta(name="api", namespace=ns),
                                  spec=client.V1ScaleSpec(replicas=1)))
    assert replaced.spec.replicas == 1

    with pytest.raises(client.ApiException) as ei:
        apps.read_namespaced_deployment_scale("ghost", ns)
    assert ei.value.status == 404


# ---- watch -----------------------------------------------------------------------------------


def test_watch_configmaps_sees_added_modified_deleted(core: client.CoreV1Api, ns: str) -> None:
    start_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            time.sleep(0.2)
            core.create_namespaced_config_map(ns, configmap("watched", {"step": "1"}))
            core.patch_namespaced_config_map("watched", ns, {"data": {"step": "2"}})
            core.delete_namespaced_config_map("watched", ns)
        except BaseException as e:  # surfaced in the main thread
            errors.append(e)

    t = threading.Thread(target=writer)
    t.start()
    events: list[tuple[str, str, dict[str, str] | None, str]] = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=start_rv, timeout_seconds=10):
        o = ev["object"]
        assert isinstance(o, client.V1ConfigMap)  # decoded into the typed model
        if o.metadata.name == "kube-root-ca.crt":  # published into the new namespace meanwhile, as upstream
            continue
        events.append((ev["type"], o.metadata.name, o.data, o.metadata.resource_version))
        if ev["type"] == "DELETED":
            w.stop()
    t.join(5)
    assert not errors, errors
    assert [(typ, name, data) for typ, name, data, _ in events] == [
        ("ADDED", "watched", {"step": "1"}),
        ("MODIFIED", "watched", {"step": "2"}),
        ("DELETED", "watched", {"step": "2"}),
    ]
    revs = [int(rv) for *_, rv in events]
    assert revs == sorted(revs) and len(set(revs)) == 3
    assert revs[0] > int(start_rv)
    assert w.resource_version == str(revs[-1])


def test_watch_with_label_selector_follows_objects_in_and_out(core: client.CoreV1Api, ns: str) -> None:
    """An object entering the selector is ADDED, leaving it is DELETED (as upstream's watch cache)."""
    start_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, configmap("ignored", labels={"w": "no"}))
    core.create_namespaced_config_map(ns, configmap("mover", labels={"w": "no"}))
    core.patch_namespaced_config_map("mover", ns, {"metadata": {"labels": {"w": "yes"}}})
    core.patch_namespaced_config_map("mover", ns, {"data": {"a": "1"}})
    core.patch_namespaced_config_map("mover", ns, {"metadata": {"labels": {"w": "no"}}})
    core.patch_namespaced_config_map("ignored", ns, {"data": {"b": "2"}})
    core.delete_namespaced_config_map("mover", ns)
    w = watch.Watch()
    seen = []
    for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=start_rv,
                       label_selector="w=yes", timeout_seconds=5):
        o = ev["object"]
        seen.append((ev["type"], o.metadata.name, o.metadata.labels["w"], o.data))
        if ev["type"] == "DELETED":
            w.stop()
    assert seen == [
        ("ADDED", "mover", "yes", None),
        ("MODIFIED", "mover", "yes", {"a": "1"}),
        ("DELETED", "mover", "no", {"a": "1"}),  # the object as it left the selector
    ]


# ---- paging ------------------------------------------------------------------------------------


def test_list_paging_with_limit_and_continue(core: client.CoreV1Api, ns: str) -> None:
    expected = [f"item-{i:02d}" for i in range(25)]
    for name in expected:
        core.create_namespaced_config_map(ns, configmap(name, {"n": name}, labels={"paged": "yes"}))
    core.create_namespaced_config_map(ns, configmap("zz-unlabeled"))

    pages: list[list[str]] = []
    revisions: set[str] = set()
    token: str | None = None
    while True:
        kw: dict[str, Any] = {"limit": 10, "label_selector": "paged=yes"}
        if token:
            kw["_continue"] = token
        page = core.list_namespaced_config_map(ns, **kw)
        pages.append([c.metadata.name for c in page.items])
        revisions.add(page.metadata.resource_version)
        token = page.metadata._continue
        if not token:
            break
        # a write between pages does not leak into the paged (consistent) list
        if len(pages) == 1:
            core.create_namespaced_config_map(ns, configmap("item-99", labels={"paged": "yes"}))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [n for p in pages for n in p] == expected
    assert len(revisions) == 1  # every page is served at the first page's revision

    everything = core.list_namespaced_config_map(ns, label_selector="paged=yes")
    assert len(everything.items) == 26 and everything.metadata._continue is None

    # all 28 configmaps (the namespace's kube-root-ca.crt too) fit: no continue token
    exact = core.list_namespaced_config_map(ns, limit=28)
    assert len(exact.items) == 28 and not exact.metadata._continue

    with pytest.raises(client.ApiException) as ei:
        core.list_namespaced_config_map(ns, limit=5, _continue="not-a-token")
    assert ei.value.status == 400


def test_priority_classes_through_the_typed_client(api: client.ApiClient, core: client.CoreV1Api, ns: str) -> None:
    sched = client.SchedulingV1Api(api)
    name = f"pc-{ns}"
    try:
        made = sched.create_priority_class(client.V1PriorityClass(
            metadata=client.V1ObjectMeta(name=name), value=500, description="typed"))
        assert (made.value, made.preemption_policy, made.global_default) == (500, "PreemptLowerPriority", None)
        listed = {pc.metadata.name: pc.value for pc in sched.list_priority_class().items}
        assert listed[name] == 500 and listed["system-cluster-critical"] == 2_000_000_000
        p = pod("ranked")
        p.spec.priority_class_name = name
        got = core.create_namespaced_pod(ns, p)
        assert (got.spec.priority, got.spec.priority_class_name) == (500, name)
        claimed = pod("claimed")
        claimed.spec.priority = 7
        with pytest.raises(client.ApiException) as ei:
            core.create_namespaced_pod(ns, claimed)
        assert ei.value.status == 403
        st = body(ei.value)
        assert st["reason"] == "Forbidden" and "the integer value of priority (7)" in st["message"]
        with pytest.raises(client.ApiException) as ei:
            sched.patch_priority_class(name, {"value": 501})
        assert ei.value.status == 422 and body(ei.value)["details"]["causes"][0]["field"] == "value"
    finally:
        with contextlib.suppress(client.ApiException):
            sched.delete_priority_class(name)
