"""``POST /shoal/v1/apply`` end to end: a real ``shoal server`` with simulated nodes, plain HTTP with a token.

Each format the web UI's deploy page accepts becomes the objects its own
system makes, answered as the list of objects written; each refusal is its
system's own (a Kubernetes 403 for a user RBAC stops, Marathon's 422 with its
details as causes, ECS's exception as the reason) as a ``Status``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from shoal.compat.apply import ApplyError, parse
from tests.agent.conftest import AgentProc
from tests.server_fixture import RunningServer, start_server

Post = Callable[..., requests.Response]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("applyapi"))
    srv = start_server(root / "server")
    agent = AgentProc(srv, "hollow", root / "agent", ["--runtime", "simulated", "--simulate-nodes", "1",
                                                      "--lease-interval", "0.5"],
                      {"SHOAL_AGENT_BACKOFF_SECONDS": "0.2"})
    agent.start()
    try:
        yield srv
    finally:
        agent.stop()
        srv.stop()


@pytest.fixture
def post(cluster: RunningServer) -> Post:
    def call(text: str, token: str | None = None, **query: str) -> requests.Response:
        h = {"Authorization": f"Bearer {token or cluster.token}", "Content-Type": "application/yaml"}
        return requests.post(cluster.url + "/shoal/v1/apply", data=text.encode(), params=query, headers=h,
                             verify=cluster.ca, timeout=60)

    return call


def get(cluster: RunningServer, path: str) -> requests.Response:
    return cluster.session().get(cluster.url + path, timeout=10)


def objects(r: requests.Response) -> set[tuple[str, str, str]]:
    assert r.status_code == 200, r.text
    return {(o["kind"], o["namespace"], o["name"]) for o in r.json()["objects"]}


def test_kubernetes_documents_are_server_side_applied(cluster: RunningServer, post: Post) -> None:
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: k8s-cm}\ndata: {a: '1'}\n---\n"
            "apiVersion: v1\nkind: Service\nmetadata: {name: k8s-svc, namespace: default}\n"
            "spec: {ports: [{port: 80}]}\n")
    r = post(text, namespace="kube-public", fieldManager="shoal-ui")
    assert objects(r) >= {("ConfigMap", "kube-public", "k8s-cm"), ("Service", "default", "k8s-svc")}
    assert r.json()["results"] == ["configmaps/k8s-cm applied", "services/k8s-svc applied"]
    cm = get(cluster, "/api/v1/namespaces/kube-public/configmaps/k8s-cm").json()
    assert [f["manager"] for f in cm["metadata"]["managedFields"]] == ["shoal-ui"]


def test_compose_file_is_a_stack(cluster: RunningServer, post: Post) -> None:
    text = "services:\n  web:\n    image: nginx:1\n    deploy: {replicas: 2}\n  cache:\n    image: redis:7\n"
    r = post(text, stack="shop")
    got = objects(r)
    assert {("Deployment", "shop", "web"), ("Deployment", "shop", "cache")} <= got, got
    assert "Creating service shop_web" in r.json()["messages"]
    d = get(cluster, "/apis/apps/v1/namespaces/shop/deployments/web").json()
    assert d["spec"]["replicas"] == 2
    assert d["metadata"]["labels"]["com.docker.stack.namespace"] == "shop"
    # deploying again updates the same services
    r = post(text.replace("replicas: 2", "replicas: 3"), stack="shop")
    assert ("Deployment", "shop", "web") in objects(r)
    assert "Updating service shop_web" in " ".join(r.json()["messages"])
    assert get(cluster, "/apis/apps/v1/namespaces/shop/deployments/web").json()["spec"]["replicas"] == 3


def test_compose_needs_a_stack_name(post: Post) -> None:
    r = post("services:\n  web:\n    image: nginx\n")
    assert r.status_code == 400 and r.json()["message"] == "a Compose file needs a stack name", r.text
    r = post("services:\n  web:\n    image: nginx\n", stack="Not_A_Name!")
    assert r.status_code == 400 and "invalid stack name" in r.json()["message"], r.text


def test_marathon_app_and_group(cluster: RunningServer, post: Post) -> None:
    r = post('{"id": "/prod/api", "cmd": "sleep 3600", "instances": 2, "cpus": 0.01, "mem": 16}')
    assert ("Deployment", "marathon", "api-prod") in objects(r), r.text
    assert r.json()["results"][0].startswith("marathon app /prod/api created (deployment ")
    assert get(cluster, "/apis/apps/v1/namespaces/marathon/deployments/api-prod").json()["spec"]["replicas"] == 2
    r = post('{"id": "/batch", "apps": [{"id": "worker", "cmd": "sleep 3600", "cpus": 0.01, "mem": 16}]}')
    assert ("Deployment", "marathon", "worker-batch") in objects(r), r.text


def test_invalid_marathon_app_is_marathons_422(cluster: RunningServer, post: Post) -> None:
    r = post('{"id": "/bad", "cmd": "sleep 1", "instances": -1}')
    assert r.status_code == 422, r.text
    st = r.json()
    assert st["kind"] == "Status" and st["reason"] == "Invalid" and st["code"] == 422
    assert st["message"].startswith("Object is not valid: /instances: ")
    assert st["details"]["causes"][0]["field"] == "/instances"
    assert st["details"]["origin"]["message"] == "Object is not valid"  # Marathon's own body, kept
    assert get(cluster, "/apis/apps/v1/namespaces/marathon/deployments/bad").status_code == 404


def test_ecs_task_and_service_definitions(cluster: RunningServer, post: Post) -> None:
    td = ('{"family": "shopfront", "containerDefinitions": [{"name": "web", "image": "nginx", "memory": 64,'
          ' "essential": true}]}')
    r = post(td)
    assert r.json()["results"] == ["task definition shopfront:1 registered"], r.text
    assert any(k == "ConfigMap" and ns == "shoal-ecs" for k, ns, _ in objects(r))
    assert post(td).json()["results"] == ["task definition shopfront:1 unchanged"]
    cluster.kubectl("create", "namespace", "ecs-shop", check=False)
    r = post('{"serviceName": "front", "taskDefinition": "shopfront", "desiredCount": 2}', namespace="ecs-shop")
    assert r.json()["results"] == ["service front created"], r.text
    assert ("Deployment", "ecs-shop", "front") in objects(r)
    r = post('{"serviceName": "front", "taskDefinition": "shopfront", "desiredCount": 1}', namespace="ecs-shop")
    assert r.json()["results"] == ["service front configured"], r.text
    assert get(cluster, "/apis/apps/v1/namespaces/ecs-shop/deployments/front").json()["spec"]["replicas"] == 1


def test_ecs_refusal_is_its_exception(post: Post) -> None:
    r = post('{"serviceName": "lost", "taskDefinition": "no-such-family", "desiredCount": 1}', namespace="default")
    assert r.status_code == 400, r.text
    st = r.json()
    assert st["reason"] in ("ClientException", "InvalidParameterException"), st
    assert st["message"].startswith(st["reason"] + ": ")
    assert st["details"]["origin"]["__type"] == st["reason"]


def test_rbac_refuses_what_the_caller_may_not_do(cluster: RunningServer, post: Post) -> None:
    cluster.kubectl("create", "namespace", "looker", check=False)
    cluster.kubectl("create", "serviceaccount", "viewer", "-n", "looker")
    cluster.kubectl("create", "rolebinding", "viewer", "-n", "looker", "--clusterrole=view",
                    "--serviceaccount=looker:viewer")
    token = cluster.kubectl("create", "token", "viewer", "-n", "looker").stdout.strip()
    r = post("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nope}\n", token=token, namespace="looker")
    assert r.status_code == 403, r.text
    assert r.json()["reason"] == "Forbidden" and "system:serviceaccount:looker:viewer" in r.json()["message"]
    r = post('{"id": "/denied", "cmd": "sleep 1", "cpus": 0.01, "mem": 8}', token=token)
    assert r.status_code == 403, r.text
    assert get(cluster, "/apis/apps/v1/namespaces/marathon/deployments/denied").status_code == 404
    assert get(cluster, "/api/v1/namespaces/looker/configmaps/nope").status_code == 404


def test_unauthenticated_and_unrecognised(cluster: RunningServer, post: Post) -> None:
    r = requests.post(cluster.url + "/shoal/v1/apply", data=b"{}", verify=cluster.ca, timeout=10)
    assert r.status_code == 401, r.text
    r = post('{"hello": "world"}')
    assert r.status_code == 400 and "not Kubernetes YAML, a Compose file" in r.json()["message"], r.text
    r = post("a: [1,\n")
    assert r.status_code == 400 and r.json()["message"].startswith("not JSON or YAML"), r.text


@pytest.mark.parametrize(("text", "message"), [
    ("", "no objects passed to apply"),
    ("services: {a: {image: x}}\n---\nservices: {b: {image: y}}\n", "a Compose file is one document; apply it on its own"),
    ('{"id": "/a"}', "document 1: not Kubernetes YAML"),
])
def test_parse_refusals(text: str, message: str) -> None:
    with pytest.raises(ApplyError) as e:
        parse(text)
    assert e.value.message.startswith(message) and e.value.code == 400
