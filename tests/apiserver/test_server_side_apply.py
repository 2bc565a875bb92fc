"""Server-side apply and managedFields through a real ``shoal server``, with the clients users have.

The real kubectl v1.32 (``apply --server-side``, conflicts and ``--force-conflicts``,
``--show-managed-fields``, ``diff --server-side``, the move from client-side apply),
the official ``kubernetes`` Python client (apply through ``patch_namespaced_*`` with
the apply-patch content type and ``field_manager``), and plain HTTPS for the answers
to bad requests, compared with upstream's words.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.server_fixture import RunningServer

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

APPLY = "application/apply-patch+yaml"


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def deployment(n: str, *, replicas: int = 2, image: str = "nginx:1.25", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": n, **meta},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": n}},
                 "template": {"metadata": {"labels": {"app": n}},
                              "spec": {"containers": [{"name": "web", "image": image,
                                                       "ports": [{"containerPort": 80}]}]}}},
    }


def kubectl_apply(server: RunningServer, doc: dict[str, Any], *args: str, check: bool = True) -> Any:
    return server.kubectl("apply", "--server-side", "-f", "-", *args, input=yaml.safe_dump(doc), check=check)


def get(server: RunningServer, kind: str, n: str) -> dict[str, Any]:
    p = server.kubectl("get", kind, n, "-o", "json", "--show-managed-fields")
    return json.loads(p.stdout)  # type: ignore[no-any-return]


def entries(o: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for e in o["metadata"].get("managedFields") or []:
        key = f"{e['manager']}/{e['operation']}" + (f"/{e['subresource']}" if e.get("subresource") else "")
        out[key] = e
    return out


def url(server: RunningServer, path: str) -> str:
    return server.url + path


# ---- kubectl ---------------------------------------------------------------------------------

def test_kubectl_apply_server_side_creates_then_changes(server: RunningServer) -> None:
    n = name("ssa")
    p = kubectl_apply(server, deployment(n))
    assert p.stdout.strip() == f"deployment.apps/{n} serverside-applied"
    o = get(server, "deployment", n)
    e = entries(o)["kubectl/Apply"]
    assert e["apiVersion"] == "apps/v1" and e["fieldsType"] == "FieldsV1" and e["time"]
    containers = e["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert containers == {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}, "f:ports": {
        'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}}
    kubectl_apply(server, deployment(n, replicas=3, image="nginx:1.26"))
    o = get(server, "deployment", n)
    assert o["spec"]["replicas"] == 3
    assert o["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert o["metadata"]["generation"] == 2


def test_show_managed_fields_prints_fields_v1_as_upstream(server: RunningServer) -> None:
    n = name("show")
    kubectl_apply(server, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "labels": {"a": "b"}},
                           "data": {"k": "v"}})
    shown = server.kubectl("get", "configmap", n, "-o", "yaml", "--show-managed-fields").stdout
    assert "    fieldsV1:\n      f:data:\n        f:k: {}\n      f:metadata:\n        f:labels:\n          f:a: {}\n" in shown
    assert "    manager: kubectl\n    operation: Apply\n" in shown
    hidden = server.kubectl("get", "configmap", n, "-o", "yaml").stdout
    assert "managedFields" not in hidden


def test_two_managers_conflict_with_upstreams_message_and_force_takes_over(server: RunningServer) -> None:
    n = name("conflict")
    kubectl_apply(server, deployment(n, replicas=2), "--field-manager=alice")
    p = kubectl_apply(server, deployment(n, replicas=5), "--field-manager=bob", check=False)
    assert p.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "alice": .spec.replicas' in p.stderr
    assert "--force-conflicts" in p.stderr  # kubectl recognised the 409 as an apply conflict
    assert get(server, "deployment", n)["spec"]["replicas"] == 2
    # the same value is no conflict: bob shares the field
    kubectl_apply(server, deployment(n, replicas=2), "--field-manager=bob")
    kubectl_apply(server, deployment(n, replicas=5), "--field-manager=bob", "--force-conflicts")
    o = get(server, "deployment", n)
    assert o["spec"]["replicas"] == 5
    e = entries(o)
    assert "f:replicas" in e["bob/Apply"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in e["alice/Apply"]["fieldsV1"]["f:spec"]


def test_an_update_takes_fields_from_an_applier_and_a_later_apply_conflicts(server: RunningServer) -> None:
    n = name("scaled")
    kubectl_apply(server, deployment(n, replicas=2))
    server.kubectl("scale", "deployment", n, "--replicas=4")
    o = get(server, "deployment", n)
    scale = [e for e in o["metadata"]["managedFields"] if e.get("subresource") == "scale"]
    assert scale and scale[0]["operation"] == "Update"
    assert scale[0]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    p = kubectl_apply(server, deployment(n, replicas=2), check=False)
    assert 'with subresource "scale" using apps/v1: .spec.replicas' in p.stderr


def test_fields_an_applier_drops_are_removed(server: RunningServer) -> None:
    n = name("prune")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}, "data": {"a": "1", "b": "2"}}
    kubectl_apply(server, cm)
    kubectl_apply(server, {**cm, "data": {"a": "1"}})
    assert get(server, "configmap", n)["data"] == {"a": "1"}


def test_kubectl_diff_server_side(server: RunningServer) -> None:
    n = name("diff")
    kubectl_apply(server, deployment(n, replicas=2))
    p = server.kubectl("diff", "--server-side", "-f", "-", input=yaml.safe_dump(deployment(n, replicas=6)), check=False)
    assert p.returncode == 1, p.stderr  # 1: differences found
    assert "-  replicas: 2" in p.stdout and "+  replicas: 6" in p.stdout
    assert get(server, "deployment", n)["spec"]["replicas"] == 2  # a dry run
    same = server.kubectl("diff", "--server-side", "-f", "-", input=yaml.safe_dump(deployment(n, replicas=2)),
                          check=False)
    assert same.returncode == 0, same.stdout + same.stderr


def test_kubectl_diff_client_side_on_an_applied_object(server: RunningServer) -> None:
    n = name("cdiff")
    kubectl_apply(server, deployment(n, replicas=2))
    p = server.kubectl("diff", "-f", "-", input=yaml.safe_dump(deployment(n, replicas=3)), check=False)
    assert p.returncode == 1, p.stderr
    assert "+  replicas: 3" in p.stdout


def test_service_ports_merge_by_port_and_protocol(server: RunningServer) -> None:
    n = name("svc")
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": n},
           "spec": {"selector": {"app": n}, "ports": [{"name": "http", "port": 80}]}}
    kubectl_apply(server, svc)
    kubectl_apply(server, {**svc, "spec": {**svc["spec"], "ports": [{"name": "http", "port": 80},
                                                                    {"name": "dns", "port": 53, "protocol": "UDP"}]}},
                  "--field-manager=dns")
    o = get(server, "service", n)
    assert [(p["port"], p["protocol"]) for p in o["spec"]["ports"]] == [(80, "TCP"), (53, "UDP")]
    assert 'k:{"port":53,"protocol":"UDP"}' in entries(o)["dns/Apply"]["fieldsV1"]["f:spec"]["f:ports"]
    # kubectl drops its port 80 while dns still applies it: the port stays, owned by dns
    kubectl_apply(server, {**svc, "spec": {"selector": {"app": n}, "ports": [{"name": "alt", "port": 8080}]}})
    o = get(server, "service", n)
    assert sorted(p["port"] for p in o["spec"]["ports"]) == [53, 80, 8080]
    assert o["spec"]["clusterIP"]  # allocated on the create, kept through every apply


def test_migrating_from_client_side_apply(server: RunningServer) -> None:
    n = name("csa")
    server.kubectl("apply", "-f", "-", input=yaml.safe_dump(deployment(n, replicas=2)))
    o = get(server, "deployment", n)
    assert "kubectl-client-side-apply/Update" in entries(o)
    # kubectl's own manager takes over what its last client-side apply set: no conflict
    p = kubectl_apply(server, deployment(n, replicas=4, image="nginx:1.26"))
    assert "serverside-applied" in p.stdout
    o = get(server, "deployment", n)
    assert o["spec"]["replicas"] == 4
    last = json.loads(o["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["replicas"] == 4  # kept in sync with what was applied
    owner = entries(o)["kubectl/Apply"]["fieldsV1"]["f:spec"]
    assert "f:replicas" in owner
    assert o["metadata"]["generation"] == 2  # one spec change: taking over fields changes nothing
    # another manager does conflict with what kubectl now owns
    p = kubectl_apply(server, deployment(n, replicas=1), "--field-manager=ci", check=False)
    assert 'Apply failed with 2 conflicts: conflicts with "kubectl":\n- .spec.replicas\n' \
           '- .spec.template.spec.containers[name="web"].image\n' in p.stderr


def test_create_and_edit_record_kubectls_managers(server: RunningServer) -> None:
    n = name("create")
    server.kubectl("create", "configmap", n, "--from-literal=a=1")
    o = get(server, "configmap", n)
    assert entries(o)["kubectl-create/Update"]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    server.kubectl("label", "configmap", n, "x=y")
    o = get(server, "configmap", n)
    assert entries(o)["kubectl-label/Update"]["fieldsV1"] == {"f:metadata": {"f:labels": {".": {}, "f:x": {}}}}


# ---- the official Python client -----------------------------------------------------------------

@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
    assert cfg.host == server.url
    with client.ApiClient(cfg) as c:
        yield c


def test_python_client_server_side_apply(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    n = name("py")
    d = apps.patch_namespaced_deployment(n, "default", deployment(n), field_manager="py-app",
                                         _content_type=APPLY)
    assert d.spec.replicas == 2
    assert [(m.manager, m.operation) for m in d.metadata.managed_fields] == [("py-app", "Apply")]
    d = apps.patch_namespaced_deployment(n, "default", deployment(n, replicas=4), field_manager="py-app",
                                         _content_type=APPLY)
    assert d.spec.replicas == 4
    with pytest.raises(ApiException) as e:
        apps.patch_namespaced_deployment(n, "default", deployment(n, replicas=1), field_manager="other",
                                         _content_type=APPLY)
    assert e.value.status == 409
    body = json.loads(e.value.body)
    assert body["reason"] == "Conflict"
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "py-app": .spec.replicas'
    assert body["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "py-app"',
                                          "field": ".spec.replicas"}]
    d = apps.patch_namespaced_deployment(n, "default", deployment(n, replicas=1), field_manager="other",
                                         force=True, _content_type=APPLY)
    assert d.spec.replicas == 1


def test_python_client_apply_to_status(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    n = name("pystatus")
    apps.patch_namespaced_deployment(n, "default", deployment(n), field_manager="owner", _content_type=APPLY)
    st = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": n},
          "status": {"observedGeneration": 1, "replicas": 2}}
    d = apps.patch_namespaced_deployment_status(n, "default", st, field_manager="ctrl", _content_type=APPLY)
    assert d.status.replicas == 2
    mine = [m for m in d.metadata.managed_fields if m.manager == "ctrl"]
    assert mine[0].subresource == "status" and mine[0].operation == "Apply"
    assert mine[0].fields_v1 == {"f:status": {"f:observedGeneration": {}, "f:replicas": {}}}


# ---- bad requests, answered as upstream ----------------------------------------------------------

@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[requests.Session]:
    s = server.session()
    yield s
    s.close()


def _cm(n: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n}, "data": {"a": "1"}, **extra}


def test_apply_without_field_manager_is_invalid(server: RunningServer, http: requests.Session) -> None:
    n = name("nofm")
    r = http.patch(url(server, f"/api/v1/namespaces/default/configmaps/{n}"), data=json.dumps(_cm(n)),
                   headers={"Content-Type": APPLY})
    assert r.status_code == 422
    body = r.json()
    assert body["message"] == 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    assert body["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value: is required for apply patch",
                                          "field": "fieldManager"}]


def test_force_is_only_for_apply(server: RunningServer, http: requests.Session) -> None:
    n = name("force")
    http.post(url(server, "/api/v1/namespaces/default/configmaps"), json=_cm(n)).raise_for_status()
    r = http.patch(url(server, f"/api/v1/namespaces/default/configmaps/{n}?force=true"), data=json.dumps({"data": {}}),
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422
    assert r.json()["message"] == 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch'


@pytest.mark.parametrize("body,message", [
    ({"metadata": {"managedFields": [{"manager": "x"}]}}, "metadata.managedFields must be nil"),
    ({"kind": "Secret"}, "invalid object type: /v1, Kind=Secret"),
    ({"apiVersion": "apps/v1"}, "invalid object type: apps/v1, Kind=ConfigMap"),
    ({"data": {"a": 1, "b": {"c": 1}}}, None),   # a map where a string belongs: refused, never stored
])
def test_apply_refuses_bad_configurations(server: RunningServer, http: requests.Session, body: dict[str, Any],
                                          message: str | None) -> None:
    n = name("bad")
    cfg = _cm(n)
    for k, v in body.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and k == "metadata" else v
    r = http.patch(url(server, f"/api/v1/namespaces/default/configmaps/{n}?fieldManager=t"), data=json.dumps(cfg),
                   headers={"Content-Type": APPLY})
    assert r.status_code == 400, r.text
    if message is not None:
        assert r.json()["message"] == message
    assert http.get(url(server, f"/api/v1/namespaces/default/configmaps/{n}")).status_code == 404


def test_typed_patch_errors_carry_upstreams_message(server: RunningServer, http: requests.Session) -> None:
    n = name("dup")
    d = deployment(n)
    d["spec"]["template"]["spec"]["containers"].append({"name": "web", "image": "x"})
    r = http.patch(url(server, f"/apis/apps/v1/namespaces/default/deployments/{n}?fieldManager=t"),
                   data=json.dumps(d), headers={"Content-Type": APPLY})
    assert r.status_code == 400
    assert r.json()["message"] == (
        f"failed to create typed patch object (default/{n}; apps/v1, Kind=Deployment): "
        '.spec.template.spec.containers: duplicate entries for key [name="web"]')


def test_apply_dry_run_creates_nothing(server: RunningServer, http: requests.Session) -> None:
    n = name("dry")
    r = http.patch(url(server, f"/api/v1/namespaces/default/configmaps/{n}?fieldManager=t&dryRun=All"),
                   data=yaml.safe_dump(_cm(n)), headers={"Content-Type": APPLY})
    assert r.status_code == 201
    assert r.json()["metadata"]["managedFields"][0]["manager"] == "t"
    assert http.get(url(server, f"/api/v1/namespaces/default/configmaps/{n}")).status_code == 404


def test_writers_are_named_by_field_manager_or_user_agent_and_a_put_can_reset(
        server: RunningServer, http: requests.Session) -> None:
    n = name("ua")
    base = url(server, "/api/v1/namespaces/default/configmaps")
    r = http.post(base, json=_cm(n), headers={"User-Agent": "my-operator/1.2 (linux)"})
    assert [e["manager"] for e in r.json()["metadata"]["managedFields"]] == ["my-operator"]
    cur = r.json()
    cur["data"]["b"] = "2"
    r = http.put(f"{base}/{n}?fieldManager=editor", json=cur)
    assert sorted(e["manager"] for e in r.json()["metadata"]["managedFields"]) == ["editor", "my-operator"]
    cur = r.json()
    cur["metadata"]["managedFields"] = []
    r = http.put(f"{base}/{n}", json=cur)
    assert "managedFields" not in r.json()["metadata"]
    r = http.post(base, json=_cm(name("long")), params={"fieldManager": "x" * 129})
    assert r.status_code == 422
    assert r.json()["message"] == ('CreateOptions.meta.k8s.io "" is invalid: fieldManager: '
                                   "Too long: may not be more than 128 bytes")
