"""API semantics over real HTTPS against a real ``shoal server`` (SQLite store).

Each test uses its own namespace, so the session's server is shared safely.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer, obj

CM = "/api/v1/namespaces/{ns}/configmaps"
PODS = "/api/v1/namespaces/{ns}/pods"
DEPLOY = "/apis/apps/v1/namespaces/{ns}/deployments"


ROOT_CA = "kube-root-ca.crt"  # the server publishes the cluster CA in every namespace, as upstream


def _own(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ConfigMaps a test made (without the namespace's kube-root-ca.crt)."""
    return [i for i in items if i["metadata"]["name"] != ROOT_CA]


@pytest.fixture
def ns(server: RunningServer) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    s = server.session()
    r = s.post(server.url + "/api/v1/namespaces", json=obj("Namespace", name))
    assert r.status_code == 201, r.text
    yield name


@pytest.fixture
def http(server: RunningServer) -> requests.Session:
    return server.session()


def url(server: RunningServer, path: str, ns: str) -> str:
    return server.url + path.format(ns=ns)


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return obj("Pod", name, spec={"containers": [{"name": "c", "image": "busybox:1"}], **spec})


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    return obj("Deployment", name, spec={
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}})


# ---- create / get / update ----------------------------------------------------------------

def test_create_sets_server_fields(server: RunningServer, http: requests.Session, ns: str) -> None:
    r = http.post(url(server, DEPLOY, ns), json=deployment("web"))
    assert r.status_code == 201, r.text
    d = r.json()
    md = d["metadata"]
    assert md["namespace"] == ns and len(md["uid"]) == 36
    assert md["generation"] == 1 and int(md["resourceVersion"]) > 0
    assert md["creationTimestamp"].endswith("Z")
    # defaults as upstream
    assert d["spec"]["strategy"]["type"] == "RollingUpdate"
    assert d["spec"]["revisionHistoryLimit"] == 10
    assert d["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    got = http.get(url(server, DEPLOY, ns) + "/web").json()
    assert got["metadata"]["resourceVersion"] == md["resourceVersion"]


def test_create_twice_is_409_already_exists(server: RunningServer, http: requests.Session, ns: str) -> None:
    assert http.post(url(server, CM, ns), json=obj("ConfigMap", "a")).status_code == 201
    r = http.post(url(server, CM, ns), json=obj("ConfigMap", "a"))
    assert r.status_code == 409 and r.json()["reason"] == "AlreadyExists"


def test_generate_name(server: RunningServer, http: requests.Session, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
    names = {http.post(url(server, CM, ns), json=body).json()["metadata"]["name"] for _ in range(3)}
    assert len(names) == 3 and all(n.startswith("gen-") and len(n) == 9 for n in names)


def test_stale_resource_version_is_409(server: RunningServer, http: requests.Session, ns: str) -> None:
    created = http.post(url(server, CM, ns), json=obj("ConfigMap", "c", data={"k": "1"})).json()
    first = dict(created, data={"k": "2"})
    r1 = http.put(url(server, CM, ns) + "/c", json=first)
    assert r1.status_code == 200
    assert int(r1.json()["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    stale = dict(created, data={"k": "3"})
    r2 = http.put(url(server, CM, ns) + "/c", json=stale)
    assert r2.status_code == 409 and r2.json()["reason"] == "Conflict"
    assert http.get(url(server, CM, ns) + "/c").json()["data"] == {"k": "2"}


def test_generation_moves_on_spec_changes_only(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, DEPLOY, ns), json=deployment("g"))
    u = url(server, DEPLOY, ns) + "/g"
    mp = {"Content-Type": "application/merge-patch+json"}
    d = http.patch(u, data=json.dumps({"metadata": {"labels": {"x": "y"}}}), headers=mp).json()
    assert d["metadata"]["generation"] == 1
    d = http.patch(u, data=json.dumps({"spec": {"replicas": 3}}), headers=mp).json()
    assert d["metadata"]["generation"] == 2


def test_patch_errors_answer_with_their_own_status(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, CM, ns), json=obj("ConfigMap", "p", data={"a": "1"}))
    u = url(server, CM, ns) + "/p"
    jp = {"Content-Type": "application/json-patch+json"}
    failed = http.patch(u, data=json.dumps([{"op": "test", "path": "/data/a", "value": "2"}]), headers=jp)
    assert (failed.status_code, failed.json()["reason"]) == (422, "Invalid"), failed.text
    # a path that merely says "test" is a malformed patch like any other
    missing = http.patch(u, data=json.dumps([{"op": "remove", "path": "/data/test"}]), headers=jp)
    assert (missing.status_code, missing.json()["reason"]) == (400, "BadRequest"), missing.text
    http.post(url(server, DEPLOY, ns), json=deployment("sc"))
    scale = http.patch(url(server, DEPLOY, ns) + "/sc/scale", headers=jp,
                       data=json.dumps([{"op": "test", "path": "/spec/replicas", "value": 5}]))
    assert (scale.status_code, scale.json()["reason"]) == (422, "Invalid"), scale.text


def test_status_subresource_separates_spec_and_status(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, DEPLOY, ns), json=deployment("s"))
    u = url(server, DEPLOY, ns) + "/s"
    mp = {"Content-Type": "application/merge-patch+json"}
    # a status write through the main resource is ignored
    d = http.patch(u, data=json.dumps({"status": {"replicas": 7}}), headers=mp).json()
    assert "replicas" not in d.get("status", {})
    # through /status it lands, and a spec change there is ignored
    d = http.patch(u + "/status", data=json.dumps({"status": {"replicas": 7}, "spec": {"replicas": 9}}), headers=mp).json()
    assert d["status"]["replicas"] == 7 and d["spec"]["replicas"] == 1
    assert d["metadata"]["generation"] == 1


def test_scale_subresource(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, DEPLOY, ns), json=deployment("sc", 2))
    u = url(server, DEPLOY, ns) + "/sc/scale"
    s = http.get(u).json()
    assert s["kind"] == "Scale" and s["apiVersion"] == "autoscaling/v1"
    assert s["spec"]["replicas"] == 2 and s["status"]["selector"] == "app=sc"
    s = http.patch(u, data=json.dumps({"spec": {"replicas": 5}}),
                   headers={"Content-Type": "application/merge-patch+json"}).json()
    assert s["spec"]["replicas"] == 5
    assert http.get(url(server, DEPLOY, ns) + "/sc").json()["spec"]["replicas"] == 5
    bad = http.patch(u, data=json.dumps({"spec": {"replicas": -1}}),
                     headers={"Content-Type": "application/merge-patch+json"})
    assert bad.status_code == 422 and "spec.replicas" in bad.json()["message"]


def test_binding_sets_node_once(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, PODS, ns), json=pod("b"))
    # what a scheduler that failed once leaves: PodScheduled=False, beside another condition
    conds = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/0 nodes"},
             {"type": "example.com/Checked", "status": "True"}]
    r = http.patch(url(server, PODS, ns) + "/b/status", data=json.dumps({"status": {"conditions": conds}}),
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    before = r.json()
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "n1"}}
    r = http.post(url(server, PODS, ns) + "/b/binding", json=binding)
    assert r.status_code == 201, r.text
    p = http.get(url(server, PODS, ns) + "/b").json()
    assert p["spec"]["nodeName"] == "n1"
    assert [(c["type"], c["status"]) for c in p["status"]["conditions"]] == \
        [("PodScheduled", "True"), ("example.com/Checked", "True")]
    # nothing else moved: the pod as before the binding but for the node, the condition and the version
    p["spec"].pop("nodeName")
    p["status"].pop("conditions")
    before["status"].pop("conditions")
    p["metadata"].pop("resourceVersion")
    before["metadata"].pop("resourceVersion")
    assert p == before
    again = http.post(url(server, PODS, ns) + "/b/binding", json=binding)
    assert again.status_code == 409


def test_bad_bindings_change_nothing(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, PODS, ns), json=pod("bb"))
    before = http.get(url(server, PODS, ns) + "/bb").json()
    for target, field in (({"name": "Not_A_Node"}, "target.name"), ({"name": "x" * 254}, "target.name"),
                          ({}, "target.name"), ({"name": 7}, "target.name")):
        r = http.post(url(server, PODS, ns) + "/bb/binding",
                      json={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bb"}, "target": target})
        assert r.status_code == 422, r.text
        assert r.json()["kind"] == "Status" and field in r.json()["message"]
    missing = http.post(url(server, PODS, ns) + "/nope/binding",
                        json={"apiVersion": "v1", "kind": "Binding", "target": {"name": "n1"}})
    assert missing.status_code == 404 and missing.json()["kind"] == "Status"
    after = http.get(url(server, PODS, ns) + "/bb").json()
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert not after["spec"].get("nodeName")


def test_pod_spec_is_immutable_except_image(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, PODS, ns), json=pod("im"))
    u = url(server, PODS, ns) + "/im"
    sp = {"Content-Type": "application/strategic-merge-patch+json"}
    ok = http.patch(u, data=json.dumps({"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}), headers=sp)
    assert ok.status_code == 200 and ok.json()["spec"]["containers"][0]["image"] == "busybox:2"
    bad = http.patch(u, data=json.dumps({"spec": {"restartPolicy": "Never"}}), headers=sp)
    assert bad.status_code == 422, bad.text
    assert http.get(u).json()["spec"]["restartPolicy"] == "Always"


# ---- delete --------------------------------------------------------------------------------

def test_finalizers_hold_deletion(server: RunningServer, http: requests.Session, ns: str) -> None:
    body = obj("ConfigMap", "f")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    http.post(url(server, CM, ns), json=body)
    u = url(server, CM, ns) + "/f"
    r = http.delete(u)
    assert r.status_code == 200
    held = http.get(u).json()
    assert held["metadata"]["deletionTimestamp"]
    # removing the finalizer lets it go
    r = http.patch(u, data=json.dumps({"metadata": {"finalizers": None}}),
                   headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert http.get(u).status_code == 404


def test_bound_pod_deletes_gracefully(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, PODS, ns), json=pod("gp", nodeName="n1", terminationGracePeriodSeconds=20))
    u = url(server, PODS, ns) + "/gp"
    p = http.delete(u).json()
    assert p["metadata"]["deletionGracePeriodSeconds"] == 20 and p["metadata"]["deletionTimestamp"]
    assert http.get(u).status_code == 200  # terminating, waiting for its node
    # the node agent confirms with a zero grace period
    assert http.delete(u, json={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}).status_code == 200
    assert http.get(u).status_code == 404


def test_unbound_pod_deletes_at_once(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, PODS, ns), json=pod("up"))
    assert http.delete(url(server, PODS, ns) + "/up").status_code == 200
    assert http.get(url(server, PODS, ns) + "/up").status_code == 404


def test_delete_precondition_uid(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, CM, ns), json=obj("ConfigMap", "pc"))
    r = http.delete(url(server, CM, ns) + "/pc", json={"preconditions": {"uid": "not-the-uid"}})
    assert r.status_code == 409
    assert http.get(url(server, CM, ns) + "/pc").status_code == 200


def test_deletecollection_with_label_selector(server: RunningServer, http: requests.Session, ns: str) -> None:
    for i in range(4):
        body = obj("ConfigMap", f"dc{i}")
        body["metadata"]["labels"] = {"grp": "a" if i < 3 else "b"}
        http.post(url(server, CM, ns), json=body)
    r = http.delete(url(server, CM, ns), params={"labelSelector": "grp=a"})
    assert r.status_code == 200 and len(r.json()["items"]) == 3
    left = [i["metadata"]["name"] for i in _own(http.get(url(server, CM, ns)).json()["items"])]
    assert left == ["dc3"]


# ---- list ------------------------------------------------------------------------------------

def test_list_selectors_and_pagination(server: RunningServer, http: requests.Session, ns: str) -> None:
    for i in range(25):
        body = obj("ConfigMap", f"p{i:02d}")
        body["metadata"]["labels"] = {"parity": "even" if i % 2 == 0 else "odd", "tier": "x" if i < 5 else "y"}
        http.post(url(server, CM, ns), json=body)
    u = url(server, CM, ns)
    lst = http.get(u).json()
    assert lst["kind"] == "ConfigMapList" and len(_own(lst["items"])) == 25
    assert http.get(u, params={"labelSelector": "parity=even"}).json()["items"].__len__() == 13
    assert len(http.get(u, params={"labelSelector": "parity!=even,tier in (x)"}).json()["items"]) == 2
    assert len(_own(http.get(u, params={"labelSelector": "!parity"}).json()["items"])) == 0
    assert len(http.get(u, params={"fieldSelector": "metadata.name=p03"}).json()["items"]) == 1
    # pages of 10 at one consistent revision
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 10}
    pages = 0
    while True:
        page = http.get(u, params=params).json()
        pages += 1
        seen += [i["metadata"]["name"] for i in _own(page["items"])]
        cont = page["metadata"].get("continue")
        if not cont:
            break
        params = {"limit": 10, "continue": cont}
    assert pages == 3 and seen == sorted(f"p{i:02d}" for i in range(25))
    # paging with a selector still fills pages
    page = http.get(u, params={"limit": 5, "labelSelector": "parity=odd"}).json()
    assert len(page["items"]) == 5 and page["metadata"]["continue"]


def test_list_across_namespaces(server: RunningServer, http: requests.Session, ns: str) -> None:
    http.post(url(server, CM, ns), json=obj("ConfigMap", "everywhere"))
    items = http.get(server.url + "/api/v1/configmaps", params={"fieldSelector": f"metadata.namespace={ns}"}).json()["items"]
    assert [i["metadata"]["name"] for i in _own(items)] == ["everywhere"]


# ---- dry run, field validation ---------------------------------------------------------------

def test_dry_run_changes_nothing(server: RunningServer, http: requests.Session, ns: str) -> None:
    r = http.post(url(server, CM, ns), params={"dryRun": "All"}, json=obj("ConfigMap", "dry"))
    assert r.status_code == 201 and r.json()["metadata"]["name"] == "dry"
    assert http.get(url(server, CM, ns) + "/dry").status_code == 404
    http.post(url(server, CM, ns), json=obj("ConfigMap", "dry2", data={"a": "1"}))
    r = http.delete(url(server, CM, ns) + "/dry2", params={"dryRun": "All"})
    assert r.status_code == 200
    assert http.get(url(server, CM, ns) + "/dry2").status_code == 200
    assert http.post(url(server, CM, ns), params={"dryRun": "Some"}, json=obj("ConfigMap", "x")).status_code == 400


def test_field_validation_modes(server: RunningServer, http: requests.Session, ns: str) -> None:
    body = obj("ConfigMap", "fv", data={"a": "1"})
    body["datta"] = {"typo": "x"}
    strict = http.post(url(server, CM, ns), params={"fieldValidation": "Strict"}, json=body)
    assert strict.status_code == 400 and 'unknown field "datta"' in strict.json()["message"]
    warn = http.post(url(server, CM, ns), params={"fieldValidation": "Warn"}, json=body)
    assert warn.status_code == 201 and "datta" in warn.headers.get("Warning", "")
    assert "datta" not in warn.json()
    body["metadata"]["name"] = "fv2"
    ignore = http.post(url(server, CM, ns), params={"fieldValidation": "Ignore"}, json=body)
    assert ignore.status_code == 201 and "Warning" not in ignore.headers
    deep = pod("deep")
    deep["spec"]["containers"][0]["imagee"] = "x"
    r = http.post(url(server, PODS, ns), params={"fieldValidation": "Strict"}, json=deep)
    assert r.status_code == 400 and "spec.containers[0].imagee" in r.json()["message"]


# ---- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("body", "field"),
    [
        (obj("ConfigMap", "Bad_Name"), "metadata.name"),
        (pod("noimg") | {"spec": {"containers": [{"name": "c"}]}}, "spec.containers[0].image"),
        (pod("cpu") | {"spec": {"containers": [{"name": "c", "image": "i",
                                               "resources": {"limits": {"cpu": "5x"}}}]}},
         "spec.containers[0].resources.limits[cpu]"),
        (pod("port") | {"spec": {"containers": [{"name": "c", "image": "i",
                                                "ports": [{"containerPort": 70000}]}]}},
         "spec.containers[0].ports[0].containerPort"),
        (pod("nocontainers") | {"spec": {"containers": []}}, "spec.containers"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "metadata.name"),
    ],
)
def test_invalid_objects_are_422_naming_the_field(
    server: RunningServer, http: requests.Session, ns: str, body: dict[str, Any], field: str
) -> None:
    path = PODS if body["kind"] == "Pod" else CM
    r = http.post(url(server, path, ns), json=body)
    assert r.status_code == 422, r.text
    st = r.json()
    assert st["kind"] == "Status" and st["reason"] == "Invalid"
    assert field in st["message"]
    assert any(c.get("field") == field for c in st["details"]["causes"])
    name = body["metadata"].get("name")
    if name:
        assert http.get(url(server, path, ns) + "/" + name).status_code == 404  # nothing written


def test_bad_label_selector_in_deployment_is_422(server: RunningServer, http: requests.Session, ns: str) -> None:
    d = deployment("sel")
    d["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "Near", "values": ["x"]}]}
    r = http.post(url(server, DEPLOY, ns), json=d)
    assert r.status_code == 422 and "spec.selector.matchExpressions[0].operator" in r.json()["message"]


def test_malformed_bodies_are_400(server: RunningServer, http: requests.Session, ns: str) -> None:
    u = url(server, CM, ns)
    r = http.post(u, data=b'{"apiVersion": "v1", "kind": ', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["kind"] == "Status"
    r = http.post(u, data=b"kind: [unclosed", headers={"Content-Type": "application/yaml"})
    assert r.status_code == 400
    r = http.post(u, data=b"[1, 2]", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = http.post(u, json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})
    assert r.status_code == 400
    r = http.post(u, json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": 1}})
    assert r.status_code == 400 and "data" in r.json()["message"]
    r = http.patch(u + "/nope", data=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_yaml_body_is_accepted(server: RunningServer, http: requests.Session, ns: str) -> None:
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n"
    r = http.post(url(server, CM, ns), data=doc.encode(), headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201 and r.json()["data"] == {"a": "b"}


def test_oversized_body_is_413(server: RunningServer, http: requests.Session, ns: str) -> None:
    big = obj("ConfigMap", "big", data={"a": "x" * (3 * 1024 * 1024 + 10)})
    r = http.post(url(server, CM, ns), json=big)
    assert r.status_code == 413 and r.json()["reason"] == "RequestEntityTooLarge"
    assert http.get(url(server, CM, ns) + "/big").status_code == 404


def test_unknown_resource_and_missing_object_are_404(server: RunningServer, http: requests.Session, ns: str) -> None:
    assert http.get(server.url + f"/api/v1/namespaces/{ns}/widgets").status_code == 404
    assert http.get(server.url + "/apis/nope.example.com/v1/things").status_code == 404
    r = http.get(url(server, CM, ns) + "/missing")
    assert r.status_code == 404 and r.json()["reason"] == "NotFound" and '"missing"' in r.json()["message"]


def test_create_in_missing_namespace_is_404(server: RunningServer, http: requests.Session) -> None:
    r = http.post(server.url + "/api/v1/namespaces/does-not-exist/configmaps", json=obj("ConfigMap", "x"))
    assert r.status_code == 404 and "does-not-exist" in r.json()["message"]


def test_authentication(server: RunningServer) -> None:
    anon = requests.Session()
    anon.trust_env = False
    anon.verify = server.ca
    assert anon.get(server.url + "/api/v1/namespaces").status_code == 401
    r = anon.get(server.url + "/api/v1/namespaces", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"
    for public in ("/livez", "/readyz", "/version"):
        assert anon.get(server.url + public).status_code == 200
    # the join token authenticates, as a bootstrap credential: it may join, not read the cluster
    node = anon.get(server.url + "/api/v1/nodes",
                    headers={"Authorization": "Bearer " + (server.data_dir / "node-token").read_text().strip()})
    assert node.status_code == 403 and 'User "system:bootstrap:node-token"' in node.json()["message"]


def test_secret_files_are_private(server: RunningServer) -> None:
    for name in ("admin-token", "node-token", "ca.key", "server.key", "admin.kubeconfig"):
        assert (server.data_dir / name).stat().st_mode & 0o077 == 0, name


# ---- watch ---------------------------------------------------------------------------------------

class WatchReader:
    """Reads a watch stream in a thread, collecting decoded events."""

    def __init__(self, http: requests.Session, u: str, params: dict[str, Any]) -> None:
        self.events: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.resp = http.get(u, params={"watch": "1", **params}, stream=True, timeout=30)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for line in self.resp.iter_lines():
                if line:
                    with self.cond:
                        self.events.append(json.loads(line))
                        self.cond.notify_all()
        except (requests.RequestException, ValueError, AttributeError):
            pass

    def wait_for(self, pred: Any, timeout: float = 10) -> list[dict[str, Any]]:
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.events), timeout=timeout), self.events
            return list(self.events)

    def close(self) -> None:
        # shut the socket down so the reading thread wakes at once
        conn = getattr(self.resp.raw, "connection", None)
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.resp.close()
        self.thread.join(5)


def _names(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in events]


def test_watch_from_resource_version(server: RunningServer, http: requests.Session, ns: str) -> None:
    u = url(server, CM, ns)
    rv = http.post(u, json=obj("ConfigMap", "w1")).json()["metadata"]["resourceVersion"]
    http.post(u, json=obj("ConfigMap", "w2"))
    w = WatchReader(http, u, {"resourceVersion": rv})
    try:
        http.patch(u + "/w1", data=json.dumps({"data": {"a": "b"}}), headers={"Content-Type": "application/merge-patch+json"})
        http.delete(u + "/w2")
        ev = w.wait_for(lambda es: len(es) >= 3)
        assert _names(ev[:3]) == [("ADDED", "w2"), ("MODIFIED", "w1"), ("DELETED", "w2")]
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in ev[:3]]
        assert rvs == sorted(rvs) and rvs[0] > int(rv)
    finally:
        w.close()


def test_watch_without_rv_starts_with_current_state(server: RunningServer, http: requests.Session, ns: str) -> None:
    u = url(server, CM, ns)
    http.post(u, json=obj("ConfigMap", "s1"))
    w = WatchReader(http, u, {})
    try:
        w.wait_for(lambda es: ("ADDED", "s1") in _names(es))
        http.post(u, json=obj("ConfigMap", "s2"))
        w.wait_for(lambda es: ("ADDED", "s2") in _names(es))
    finally:
        w.close()


def test_watch_label_selector_transitions(server: RunningServer, http: requests.Session, ns: str) -> None:
    u = url(server, CM, ns)
    rv = http.post(u, json=obj("ConfigMap", "lt")).json()["metadata"]["resourceVersion"]
    w = WatchReader(http, u, {"resourceVersion": rv, "labelSelector": "app=x"})
    mp = {"Content-Type": "application/merge-patch+json"}
    try:
        http.patch(u + "/lt", data=json.dumps({"metadata": {"labels": {"app": "x"}}}), headers=mp)
        http.patch(u + "/lt", data=json.dumps({"metadata": {"labels": {"app": "y"}}}), headers=mp)
        ev = w.wait_for(lambda es: len(es) >= 2)
        assert _names(ev[:2]) == [("ADDED", "lt"), ("DELETED", "lt")]
    finally:
        w.close()


def test_watch_send_initial_events_ends_with_bookmark(server: RunningServer, http: requests.Session, ns: str) -> None:
    u = url(server, CM, ns)
    for n in ("i1", "i2"):
        http.post(u, json=obj("ConfigMap", n))
    w = WatchReader(http, u, {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                              "allowWatchBookmarks": "true"})
    try:
        ev = w.wait_for(lambda es: any(e["type"] == "BOOKMARK" for e in es))
        ev = [e for e in ev if e["object"]["metadata"].get("name") != ROOT_CA]
        assert _names(ev[:2]) == [("ADDED", "i1"), ("ADDED", "i2")]
        bm = ev[2]
        assert bm["type"] == "BOOKMARK"
        assert bm["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"] == "true"
        assert int(bm["object"]["metadata"]["resourceVersion"]) >= int(ev[1]["object"]["metadata"]["resourceVersion"])
    finally:
        w.close()
    bad = http.get(u, params={"watch": "1", "sendInitialEvents": "true"}, timeout=10)
    assert bad.status_code == 422


def test_watch_timeout_seconds_ends_stream(server: RunningServer, http: requests.Session, ns: str) -> None:
    r = http.get(url(server, CM, ns), params={"watch": "1", "timeoutSeconds": "1", "resourceVersion": "0"}, timeout=10)
    assert r.status_code == 200


def test_delete_answers_status_or_object_as_upstream(server: RunningServer, http: requests.Session, ns: str) -> None:
    uid = http.post(url(server, CM, ns), json=obj("ConfigMap", "gone")).json()["metadata"]["uid"]
    st = http.delete(url(server, CM, ns) + "/gone").json()
    assert st["kind"] == "Status" and st["status"] == "Success"
    assert st["details"]["name"] == "gone" and st["details"]["uid"] == uid
    http.post(url(server, PODS, ns), json=pod("gonepod"))
    p = http.delete(url(server, PODS, ns) + "/gonepod").json()
    assert p["kind"] == "Pod" and p["metadata"]["name"] == "gonepod"


def test_job_gets_selector_and_template_labels(server: RunningServer, http: requests.Session, ns: str) -> None:
    job = obj("Job", "j", spec={"template": {"spec": {"restartPolicy": "Never",
                                                     "containers": [{"name": "c", "image": "busybox:1"}]}}})
    job["apiVersion"] = "batch/v1"
    r = http.post(server.url + f"/apis/batch/v1/namespaces/{ns}/jobs", json=job)
    assert r.status_code == 201, r.text
    j = r.json()
    uid = j["metadata"]["uid"]
    assert j["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    labels = j["spec"]["template"]["metadata"]["labels"]
    assert labels["batch.kubernetes.io/controller-uid"] == uid and labels["batch.kubernetes.io/job-name"] == "j"


def test_huge_limit_is_served(server: RunningServer, http: requests.Session, ns: str) -> None:
    """Found by the fuzzer: a limit of 2**63-1 overflowed SQLite (500)."""
    http.post(url(server, CM, ns), json=obj("ConfigMap", "one"))
    r = http.get(url(server, CM, ns), params={"limit": str(2**63 - 1)})
    assert r.status_code == 200 and [i["metadata"]["name"] for i in _own(r.json()["items"])] == ["one"]
    assert not r.json()["metadata"].get("continue")
    w = http.get(url(server, CM, ns), params={"watch": "1", "sendInitialEvents": "true", "limit": str(2**63 - 1),
                                             "timeoutSeconds": "1"}, timeout=10)
    assert w.status_code < 500
