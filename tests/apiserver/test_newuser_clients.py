"""What a new user's clients ran into, each tried again with the client that found it.

* kubectl: ``kubectl get deploy -o yaml > all.yaml && kubectl apply -f all.yaml`` validates the ``kind: List``
  against ``/openapi/v2``, which kubectl asks for only as gnostic protobuf;
* the official Python client asks for ``/version/``, ``/api/``, ``/apis/`` and ``/apis/<group>/<version>/``
  with a trailing slash;
* clients that compare error bodies read a Status's fields in upstream's order (``details`` before ``code``;
  ``name, group, kind`` in the details; ``reason, message, field`` in a cause).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from kubernetes import client, config

from shoal.api.openapi import v2proto
from shoal.api.protobuf import iter_fields
from tests.server_fixture import RunningServer


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[client.ApiClient]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
    assert cfg.host == server.url
    with client.ApiClient(cfg) as c:
        yield c


@pytest.fixture
def ns(server: RunningServer) -> str:
    name = f"nu-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    return name


# --- OpenAPI v2 -------------------------------------------------------------------------------------------


def test_kubectl_applies_what_it_got(server: RunningServer, ns: str, tmp_path: Path) -> None:
    server.kubectl("-n", ns, "create", "deployment", "web", "--image=nginx", "--replicas=2")
    server.kubectl("-n", ns, "create", "configmap", "conf", "--from-literal=a=1")
    dump = server.kubectl("-n", ns, "get", "deploy,cm", "-o", "yaml").stdout
    assert "kind: List" in dump
    path = tmp_path / "all.yaml"
    path.write_text(dump.replace("replicas: 2", "replicas: 3"))
    # strict client-side validation of the List's items against /openapi/v2 (the default), then the patches
    p = server.kubectl("-n", ns, "apply", "-f", str(path), check=False)
    assert p.returncode == 0, p.stderr
    assert "deployment.apps/web configured" in p.stdout
    assert server.kubectl("-n", ns, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "3"
    # the same validation refuses a field no schema has
    bad = tmp_path / "bad.yaml"
    bad.write_text(dump.replace("  replicas: 2", "  replicas: 2\n    replicaz: 9"))
    p = server.kubectl("-n", ns, "apply", "-f", str(bad), check=False)
    assert p.returncode != 0
    assert 'unknown field "replicaz" in io.k8s.api.apps.v1.DeploymentSpec' in p.stderr


def test_kubectl_explains_from_v2(server: RunningServer) -> None:
    out = server.kubectl("explain", "poddisruptionbudget.spec.maxUnavailable", "--output=plaintext-openapiv2").stdout
    assert "KIND:     PodDisruptionBudget" in out
    assert "VERSION:  policy/v1" in out


def test_v2_document(server: RunningServer) -> None:
    s = server.session()
    doc = s.get(server.url + "/openapi/v2").json()
    assert doc["swagger"] == "2.0"
    dep = doc["definitions"]["io.k8s.api.apps.v1.Deployment"]
    assert dep["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert dep["properties"]["metadata"]["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert doc["definitions"]["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["type"] == "string"
    # a body every group version shares carries every group version's tag
    tags = doc["definitions"]["io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"]["x-kubernetes-group-version-kind"]
    assert {"group": "policy", "kind": "DeleteOptions", "version": "v1"} in tags
    assert {"group": "", "kind": "DeleteOptions", "version": "v1"} in tags
    post = doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["post"]
    assert post["parameters"][0]["in"] == "body"
    assert post["responses"]["201"]["schema"]["$ref"] == "#/definitions/io.k8s.api.core.v1.Pod"
    r = s.get(server.url + "/openapi/v2", headers={"Accept": v2proto.ACCEPT_TYPES[0]})
    assert r.headers["Content-Type"] == v2proto.CONTENT_TYPE
    fields = {n: v for n, _w, v in iter_fields(memoryview(r.content)) if n in (1, 2)}
    assert bytes(fields[1]) == b"2.0"  # Document.swagger


# --- trailing slashes ----------------------------------------------------------------------------------------


def test_the_python_clients_discovery_paths(api: client.ApiClient) -> None:
    assert client.VersionApi(api).get_code().major == "1"  # GET /version/
    assert client.CoreApi(api).get_api_versions().versions == ["v1"]  # GET /api/
    groups = {g.name for g in client.ApisApi(api).get_api_versions().groups}  # GET /apis/
    assert {"apps", "policy", "events.k8s.io", "certificates.k8s.io"} <= groups
    assert client.PolicyV1Api(api).get_api_resources().group_version == "policy/v1"  # GET /apis/policy/v1/
    assert client.AppsApi(api).get_api_group().name == "apps"  # GET /apis/apps/


@pytest.mark.parametrize("path", ["/version/", "/api/", "/api/v1/", "/apis/", "/apis/apps/", "/apis/apps/v1/",
                                  "/openapi/v3/", "/openapi/v2/", "/healthz/", "/api/v1/namespaces/",
                                  "/apis/apps/v1/namespaces/default/deployments/"])
def test_every_path_with_a_trailing_slash(server: RunningServer, path: str) -> None:
    s = server.session()
    with_slash, without = s.get(server.url + path), s.get(server.url + path.rstrip("/"))
    assert with_slash.status_code == without.status_code == 200
    assert with_slash.headers["Content-Type"] == without.headers["Content-Type"]


# --- Status bodies ------------------------------------------------------------------------------------------


def test_error_bodies_read_as_upstreams(api: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api)
    with pytest.raises(client.ApiException) as e:
        core.read_namespaced_config_map("nope", ns)
    assert e.value.body == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
                            b'"configmaps \\"nope\\" not found","reason":"NotFound","details":{"name":"nope",'
                            b'"kind":"configmaps"},"code":404}').decode()
    apps = client.AppsV1Api(api)
    with pytest.raises(client.ApiException) as e:
        apps.read_namespaced_deployment("nope", ns)
    assert '"details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}' in e.value.body
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="Bad_Name"))
    with pytest.raises(client.ApiException) as e:
        core.create_namespaced_config_map(ns, cm)
    assert e.value.status == 422
    assert ('"details":{"name":"Bad_Name","kind":"ConfigMap","causes":[{"reason":"FieldValueInvalid","message":'
            '"Invalid value: \\"Bad_Name\\": ') in e.value.body
    assert e.value.body.endswith('"field":"metadata.name"}]},"code":422}')


def test_a_delete_status_reads_as_upstreams(server: RunningServer, ns: str) -> None:
    s = server.session()
    url = f"{server.url}/api/v1/namespaces/{ns}/configmaps"
    assert s.post(url, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}).status_code == 201
    r = s.delete(f"{url}/c")
    assert r.content.startswith(b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",'
                                b'"details":{"name":"c","kind":"configmaps","uid":')


def test_v2_is_not_served_when_asked_for_something_else(server: RunningServer) -> None:
    r = requests.get(server.url + "/openapi/v2", verify=server.ca,
                     headers={"Authorization": f"Bearer {server.token}", "Accept": "application/json"})
    assert r.headers["Content-Type"].startswith("application/json")
