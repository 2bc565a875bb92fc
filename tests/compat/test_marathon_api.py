"""Marathon's REST API end to end: a real ``shoal server`` and a ``shoal agent`` of simulated nodes, plain HTTP.

What a Marathon user's scripts do (curl-like requests with a token), and what
kubectl then shows; bad input gets Marathon's bodies (422, 404, 409) and
writes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer, simulated_agent, start_server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = Path(tmp_path_factory.mktemp("marathon"))
    srv = start_server(root / "server")
    try:
        with simulated_agent(srv, root, 2):
            yield srv
    finally:
        srv.stop()


@pytest.fixture
def m(cluster: RunningServer) -> Callable[..., requests.Response]:
    s = cluster.session()

    def call(method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return s.request(method, cluster.url + "/marathon" + path, json=body, timeout=30, **kw)

    return call


def until(fn: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def app_of(m: Callable[..., requests.Response], app_id: str) -> dict[str, Any]:
    r = m("GET", f"/v2/apps{app_id}")
    assert r.status_code == 200, r.text
    return r.json()["app"]  # type: ignore[no-any-return]


def running(m: Callable[..., requests.Response], app_id: str, n: int) -> dict[str, Any] | None:
    a = app_of(m, app_id)
    return a if a["tasksRunning"] == n and not a["deployments"] else None


def healthy(m: Callable[..., requests.Response], app_id: str, n: int) -> dict[str, Any] | None:
    a = app_of(m, app_id)
    return a if a["tasksHealthy"] == n and a["tasksRunning"] == n and not a["deployments"] else None


APP = {"id": "/shop/web", "cmd": "sleep 1000", "instances": 2, "cpus": 0.1, "mem": 32,
       "portDefinitions": [{"port": 0, "name": "http"}], "labels": {"tier": "front"},
       "healthChecks": [{"protocol": "HTTP", "intervalSeconds": 1, "portIndex": 0}]}


def test_create_get_scale_and_kubectl_view(m: Callable[..., requests.Response], cluster: RunningServer) -> None:
    r = m("POST", "/v2/apps", APP)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["id"] == "/shop/web" and created["deployments"] and created["version"]
    assert r.headers["Location"].endswith("/v2/apps/shop/web")
    assert (created["backoffFactor"], created["killSelection"]) == (1.15, "YOUNGEST_FIRST")
    a = until(lambda: healthy(m, "/shop/web", 2))
    assert len(a["tasks"]) == 2 and a["tasks"][0]["state"] == "TASK_RUNNING"
    assert a["tasks"][0]["healthCheckResults"][0]["alive"] is True
    assert m("POST", "/v2/apps", APP).status_code == 409  # exists
    d = json.loads(cluster.kubectl("get", "deploy", "web-shop", "-n", "marathon", "-o", "json").stdout)
    assert d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "marathon"
    svc = json.loads(cluster.kubectl("get", "svc", "web-shop", "-n", "marathon", "-o", "json").stdout)
    assert svc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "marathon"
    # PUT of instances (Marathon's default partial update), then kubectl scale: both visible
    r = m("PUT", "/v2/apps/shop/web", {"instances": 3})
    assert r.status_code == 200 and r.json()["deploymentId"], r.text
    until(lambda: healthy(m, "/shop/web", 3))
    cluster.kubectl("scale", "deploy/web-shop", "-n", "marathon", "--replicas=1")
    a = until(lambda: healthy(m, "/shop/web", 1))
    assert a["instances"] == 1 and a["versionInfo"]["lastConfigChangeAt"] == created["version"]
    # listing with filters and embed
    listed = m("GET", "/v2/apps", params={"label": "tier==front", "embed": "apps.tasks"}).json()["apps"]
    assert [x["id"] for x in listed] == ["/shop/web"] and "tasks" in listed[0]
    assert m("GET", "/v2/apps", params={"label": "tier==back"}).json()["apps"] == []
    versions = m("GET", "/v2/apps/shop/web/versions").json()["versions"]
    assert len(versions) >= 2 and m("GET", f"/v2/apps/shop/web/versions/{versions[-1]}").json()["instances"] == 2


def test_bad_input_gets_marathons_answers_and_writes_nothing(m: Callable[..., requests.Response],
                                                             cluster: RunningServer) -> None:
    r = m("POST", "/v2/apps", {"id": "/bad", "cmd": "x", "instances": -1, "gpus": 2})
    assert r.status_code == 422
    body = r.json()
    assert body["message"] == "Object is not valid"
    assert {d["path"] for d in body["details"]} == {"/instances", "/gpus"}
    r = m("POST", "/v2/apps", {"id": "/bad", "cmd": "x", "constraints": [["hostname", "LIKE", "n[0-9]+"]]})
    assert r.status_code == 422 and r.json()["details"][0]["path"] == "/constraints(0)"
    assert m("GET", "/v2/apps/bad").json() == {"message": "App '/bad' does not exist"}
    assert m("GET", "/v2/apps/bad").status_code == 404
    assert m("PUT", "/v2/apps/bad", {"instances": "x"}).status_code == 422
    assert m("GET", "/v2/apps/bad").status_code == 404
    assert m("POST", "/v2/apps", data=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400
    got = cluster.kubectl("get", "deploy", "-n", "marathon", "-o", "name", check=False).stdout
    assert "bad" not in got
    assert m("GET", "/v2/groups/nowhere").status_code == 404
    assert m("DELETE", "/v2/deployments/nope").status_code == 404


def test_locked_app_answers_409_unless_force(m: Callable[..., requests.Response], cluster: RunningServer) -> None:
    """A rolling update that cannot finish (its new task has no node) locks the app; a crashing app does not."""
    stuck = {"id": "/stuck", "cmd": "sleep 1000", "instances": 1, "cpus": 0.01, "mem": 8}
    assert m("POST", "/v2/apps", stuck).status_code == 201
    until(lambda: running(m, "/stuck", 1))
    r = m("PUT", "/v2/apps/stuck", {"constraints": [["hostname", "CLUSTER", "no-such-node"]]})
    assert r.status_code == 200, r.text
    until(lambda: app_of(m, "/stuck")["deployments"])
    r = m("PUT", "/v2/apps/stuck", {"instances": 2})
    assert r.status_code == 409, r.text
    assert "locked" in r.json()["message"] and r.json()["deployments"][0]["id"]
    deps = m("GET", "/v2/deployments").json()
    assert any(d["affectedApps"] == ["/stuck"] for d in deps)
    queue = m("GET", "/v2/queue").json()["queue"]
    assert any(q["app"]["id"] == "/stuck" and q["count"] >= 1 for q in queue)
    assert m("PUT", "/v2/apps/stuck?force=true", {"instances": 2}).status_code == 200
    assert app_of(m, "/stuck")["instances"] == 2
    # deleting the deployment rolls back to the version before it (still the unplaceable one: still locked)
    dep = app_of(m, "/stuck")["deployments"][0]["id"]
    r = m("DELETE", f"/v2/deployments/{dep}")
    assert r.status_code == 200, r.text
    assert app_of(m, "/stuck")["instances"] == 1
    assert m("DELETE", "/v2/apps/stuck").status_code == 409
    # force: the rollout stops where it is (paused, no rollback) and the app is no longer locked
    dep = app_of(m, "/stuck")["deployments"][0]["id"]
    assert m("DELETE", f"/v2/deployments/{dep}?force=true").status_code == 202
    a = app_of(m, "/stuck")
    assert a["deployments"] == [] and a["instances"] == 1 and a["tasksRunning"] == 1
    assert not [d for d in m("GET", "/v2/deployments").json() if d["affectedApps"] == ["/stuck"]]
    d = json.loads(cluster.kubectl("get", "deploy", "stuck", "-n", "marathon", "-o", "json").stdout)
    assert d["spec"]["paused"] is True
    # the next write is a new deployment: the rollout runs again, to a placeable version this time
    r = m("PUT", "/v2/apps/stuck", {"constraints": []})
    assert r.status_code == 200, r.text
    d = json.loads(cluster.kubectl("get", "deploy", "stuck", "-n", "marathon", "-o", "json").stdout)
    assert not d["spec"].get("paused")
    until(lambda: running(m, "/stuck", 1))
    # tasks that never become healthy do not lock an app whose tasks are all of its version
    labels = {"app.kubernetes.io/managed-by": "marathon", "marathon.shoal.io/app": "sick"}
    sick = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "sick", "namespace": "marathon", "labels": labels},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"marathon.shoal.io/app": "sick"}},
                     "template": {"metadata": {"labels": labels,
                                               "annotations": {"sim.shoal.io/readiness-probe": "failure"}},
                                  "spec": {"containers": [{"name": "main", "image": "busybox", "readinessProbe": {
                                      "exec": {"command": ["true"]}, "periodSeconds": 1}}]}}}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(sick))
    a = until(lambda: (a := app_of(m, "/sick"))["tasksRunning"] == 2 and a)
    assert a["deployments"] == [] and a["tasksHealthy"] == 0
    assert m("DELETE", "/v2/apps/sick").status_code == 200  # not locked: no force needed
    assert m("DELETE", "/v2/apps/stuck?force=true").status_code == 200
    until(lambda: m("GET", "/v2/apps/stuck").status_code == 404 == m("GET", "/v2/apps/sick").status_code)


def test_rbac_refusal_is_marathons_403(m: Callable[..., requests.Response], cluster: RunningServer) -> None:
    """A user RBAC lets read Marathon's namespace but not write it: reads work, writes get Marathon's 403."""
    cluster.kubectl("create", "namespace", "marathon", check=False)
    cluster.kubectl("create", "serviceaccount", "viewer", "-n", "marathon")
    cluster.kubectl("create", "rolebinding", "viewer", "-n", "marathon", "--clusterrole=view",
                    "--serviceaccount=marathon:viewer")
    token = cluster.kubectl("create", "token", "viewer", "-n", "marathon").stdout.strip()
    h = {"Authorization": f"Bearer {token}"}
    url = cluster.url + "/marathon/v2/apps"
    r = requests.get(url, headers=h, verify=cluster.ca, timeout=10)
    assert r.status_code == 200 and "apps" in r.json(), r.text
    r = requests.post(url, headers=h, verify=cluster.ca, timeout=10,
                      json={"id": "/denied", "cmd": "sleep 1", "cpus": 0.01, "mem": 8})
    assert r.status_code == 403, r.text
    assert r.json()["message"].startswith("Not Authorized to perform this action!")
    assert "viewer" in r.json()["message"]
    assert m("GET", "/v2/apps/denied").status_code == 404  # nothing was written


def test_tasks_kill_with_scale_and_restart(m: Callable[..., requests.Response]) -> None:
    app = {"id": "/jobs/worker", "cmd": "sleep 1000", "instances": 3, "cpus": 0.01, "mem": 8}
    assert m("POST", "/v2/apps", app).status_code == 201
    until(lambda: (a := app_of(m, "/jobs/worker"))["tasksRunning"] == 3 and not a["deployments"])
    tasks = m("GET", "/v2/apps/jobs/worker/tasks").json()["tasks"]
    assert len(tasks) == 3 and all(t["id"].startswith("jobs_worker.") for t in tasks)
    assert len([t for t in m("GET", "/v2/tasks").json()["tasks"] if t["appId"] == "/jobs/worker"]) == 3
    r = m("POST", "/v2/tasks/delete?scale=true", {"ids": [tasks[0]["id"]]})
    assert r.status_code == 200 and "deploymentId" in r.json(), r.text
    a = until(lambda: (a := app_of(m, "/jobs/worker"))["tasksRunning"] == 2 and not a["deployments"] and a)
    assert a["instances"] == 2 and tasks[0]["id"] not in {t["id"] for t in a["tasks"]}
    r = m("DELETE", f"/v2/apps/jobs/worker/tasks/{a['tasks'][0]['id']}")  # kill without scale: replaced
    assert r.status_code == 200 and r.json()["task"]["id"] == a["tasks"][0]["id"]
    until(lambda: (b := app_of(m, "/jobs/worker"))["tasksRunning"] == 2 and
          a["tasks"][0]["id"] not in {t["id"] for t in b["tasks"]})
    r = m("POST", "/v2/apps/jobs/worker/restart?force=true")
    assert r.status_code == 200 and r.json()["deploymentId"]
    assert m("DELETE", "/v2/apps/jobs/worker?force=true").status_code == 200


def test_groups_nested_with_dependencies_scale_by_and_delete(m: Callable[..., requests.Response],
                                                             cluster: RunningServer) -> None:
    group = {"id": "/stack", "apps": [{"id": "db", "cmd": "sleep 1000", "cpus": 0.01, "mem": 8}],
             "groups": [{"id": "front", "apps": [{"id": "web", "cmd": "sleep 1000", "instances": 2, "cpus": 0.01,
                                                  "mem": 8, "dependencies": ["/stack/db"]}]}]}
    r = m("POST", "/v2/groups", group)
    assert r.status_code == 201, r.text
    assert m("POST", "/v2/groups", group).status_code == 409
    g = m("GET", "/v2/groups/stack").json()
    assert [a["id"] for a in g["apps"]] == ["/stack/db"]
    assert g["groups"][0]["id"] == "/stack/front" and g["groups"][0]["apps"][0]["id"] == "/stack/front/web"
    until(lambda: app_of(m, "/stack/front/web")["tasksRunning"] == 2)
    assert app_of(m, "/stack/db")["tasksRunning"] == 1
    until(lambda: not m("GET", "/v2/deployments").json())
    # the hold-back lives in the store, not in the process that took the request: a workload held back
    # as a server that then stopped would have left it is started by the server's release loop
    cluster.kubectl("scale", "deploy/web-front-stack", "-n", "marathon", "--replicas=0")
    cluster.kubectl("annotate", "deploy/web-front-stack", "-n", "marathon",
                    "marathon.shoal.io/target-instances=2", 'marathon.shoal.io/waiting-for=["/stack/db"]')
    until(lambda: app_of(m, "/stack/front/web")["tasksRunning"] == 2 and not app_of(m, "/stack/front/web")[
        "deployments"])
    ann = json.loads(cluster.kubectl("get", "deploy", "web-front-stack", "-n", "marathon", "-o", "json").stdout)[
        "metadata"]["annotations"]
    assert "marathon.shoal.io/target-instances" not in ann and "marathon.shoal.io/waiting-for" not in ann
    r = m("PUT", "/v2/groups/stack", {"scaleBy": 2})
    assert r.status_code == 200, r.text
    assert app_of(m, "/stack/front/web")["instances"] == 4 and app_of(m, "/stack/db")["instances"] == 2
    assert m("DELETE", "/v2/groups/stack?force=true").status_code == 200
    until(lambda: m("GET", "/v2/groups/stack").status_code == 404)


def test_auth_dcos_token_and_refusals(m: Callable[..., requests.Response], cluster: RunningServer) -> None:
    url = cluster.url + "/marathon"
    assert requests.get(url + "/ping", verify=cluster.ca, timeout=10).text == "pong"
    r = requests.get(url + "/v2/apps", verify=cluster.ca, timeout=10)
    assert r.status_code == 401 and "message" in r.json()
    r = requests.get(url + "/v2/apps", verify=cluster.ca, timeout=10, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    r = requests.get(url + "/v2/info", verify=cluster.ca, timeout=10,
                     headers={"Authorization": f"token={cluster.token}"})
    assert r.status_code == 200 and r.json()["name"] == "marathon"
    assert m("GET", "/v2/leader").json()["leader"]


def test_event_stream(m: Callable[..., requests.Response], cluster: RunningServer) -> None:
    got: list[str] = []
    s = cluster.session()

    def read() -> None:
        with s.get(cluster.url + "/marathon/v2/events", stream=True, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith(b"event: "):
                    got.append(line[7:].decode())
                    if "deployment_success" in got and "health_status_changed_event" in got:
                        return

    t = threading.Thread(target=read, daemon=True)
    t.start()
    until(lambda: "event_stream_attached" in got)
    app = {"id": "/evented", "cmd": "sleep 1000", "cpus": 0.01, "mem": 8, "portDefinitions": [{"port": 0}],
           "healthChecks": [{"protocol": "TCP", "intervalSeconds": 1}]}
    assert m("POST", "/v2/apps", app).status_code == 201
    t.join(30)
    assert {"deployment_info", "status_update_event", "health_status_changed_event",
            "deployment_success"} <= set(got), got
    m("DELETE", "/v2/apps/evented?force=true")


def test_shoal_apply_recognises_marathon_files(m: Callable[..., requests.Response], cluster: RunningServer,
                                               tmp_path: Path) -> None:
    from shoal.formats.detect import kind_of

    assert kind_of({"id": "/a", "cmd": "x"}) == "marathon-app"
    assert kind_of({"id": "/g", "apps": []}) == "marathon-group"
    assert kind_of({"apiVersion": "v1", "kind": "ConfigMap"}) == "kubernetes"
    assert kind_of({"family": "web"}) is None
    app = tmp_path / "app.json"
    app.write_text(json.dumps({"id": "/cli/one", "cmd": "sleep 1000", "cpus": 0.01, "mem": 8}))
    group = tmp_path / "group.json"
    group.write_text(json.dumps({"id": "/cli/g", "apps": [
        {"id": "a", "cmd": "sleep 1000", "cpus": 0.01, "mem": 8},
        {"id": "b", "cmd": "sleep 1000", "cpus": 0.01, "mem": 8, "dependencies": ["a"]}]}))

    def shoal_apply(path: Path) -> str:
        p = subprocess.run([sys.executable, "-m", "shoal", "apply", "-f", str(path), "--kubeconfig",
                            str(cluster.kubeconfig)], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout

    assert "marathon app /cli/one created" in shoal_apply(app)
    assert "marathon group /cli/g configured" in shoal_apply(group)
    assert app_of(m, "/cli/one")["instances"] == 1
    assert app_of(m, "/cli/g/b")["instances"] == 1 and app_of(m, "/cli/g/a")["tasksRunning"] == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "/cli/bad", "cmd": "x", "instances": -2}))
    p = subprocess.run([sys.executable, "-m", "shoal", "apply", "-f", str(bad), "--kubeconfig",
                        str(cluster.kubeconfig)], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "/instances" in p.stderr
    assert m("DELETE", "/v2/groups/cli?force=true").status_code == 200
