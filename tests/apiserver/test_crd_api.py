"""CustomResourceDefinitions through a real ``shoal server``: a CRD is established and its kind is served
at once (discovery, OpenAPI v3, kubectl), custom resources behave as built-in objects (verbs,
selectors, watch, patches, finalizers, subresources, tables, versions), and bad input is refused
with upstream's 422s."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer

Obj = dict[str, Any]
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
TABLE = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture(scope="module")
def http(server: RunningServer) -> requests.Session:
    return server.session()


@pytest.fixture
def ns(server: RunningServer, http: requests.Session) -> str:
    name = f"crd-{uuid.uuid4().hex[:8]}"
    r = http.post(server.url + "/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                            "metadata": {"name": name}})
    assert r.status_code == 201, r.text
    return name


SPEC: Obj = {
    "type": "object",
    "required": ["size"],
    "x-kubernetes-validations": [
        {"rule": "self.replicas <= self.maxReplicas", "message": "replicas must not exceed maxReplicas"},
        {"rule": "self.size == oldSelf.size", "message": "size is immutable"},
    ],
    "properties": {
        "replicas": {"type": "integer", "minimum": 0, "default": 1},
        "maxReplicas": {"type": "integer", "default": 10},
        "size": {"type": "string", "enum": ["small", "large"]},
        "color": {"type": "string", "pattern": "^[a-z]+$"},
        "selector": {"type": "string"},
    },
}


def crd_body(group: str, *, plural: str = "widgets", kind: str = "Widget", scope: str = "Namespaced",
             versions: list[Obj] | None = None, short: list[str] | None = None,
             categories: list[str] | None = None) -> Obj:
    version: Obj = {
        "name": "v1", "served": True, "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object", "properties": {
            "spec": SPEC, "status": {"type": "object", "properties": {"replicas": {"type": "integer"},
                                                                      "phase": {"type": "string"}}}}}},
        "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                 "statusReplicasPath": ".status.replicas",
                                                 "labelSelectorPath": ".spec.selector"}},
        "additionalPrinterColumns": [
            {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
            {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
            {"name": "Phase", "type": "string", "jsonPath": ".status.phase", "priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    }
    names: Obj = {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"}
    if short:
        names["shortNames"] = short
    if categories:
        names["categories"] = categories
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": scope, "names": names, "versions": versions or [version]}}


def established(http: requests.Session, server: RunningServer, name: str, timeout: float = 5.0) -> Obj:
    deadline = time.monotonic() + timeout
    while True:
        crd = http.get(f"{server.url}{CRDS}/{name}").json()
        conds = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
        if conds.get("Established") == "True":
            return crd
        assert time.monotonic() < deadline, crd
        time.sleep(0.05)


@pytest.fixture
def group() -> str:
    return f"g{uuid.uuid4().hex[:8]}.example.com"


@pytest.fixture
def widgets(server: RunningServer, http: requests.Session, group: str) -> Iterator[str]:
    """An established Widget CRD in a fresh group; the collection URL prefix (before the namespace)."""
    r = http.post(server.url + CRDS, json=crd_body(group, short=[f"w{group[1:6]}"], categories=["all"]))
    assert r.status_code == 201, r.text
    established(http, server, f"widgets.{group}")
    yield f"{server.url}/apis/{group}/v1"
    http.delete(f"{server.url}{CRDS}/widgets.{group}")


def widget(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": "small", **spec}}


def post(http: requests.Session, base: str, ns: str, body: Obj, **params: str) -> requests.Response:
    body = {**body, "apiVersion": base.split("/apis/", 1)[1]}
    return http.post(f"{base}/namespaces/{ns}/widgets", json=body, params=params)


# ---- the CRD itself ------------------------------------------------------------------------------


def test_a_crd_is_established_and_served_at_once(server: RunningServer, http: requests.Session, group: str) -> None:
    t0 = time.monotonic()
    r = http.post(server.url + CRDS, json=crd_body(group, short=["wdg"], categories=["all"]))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["status"]["storedVersions"] == ["v1"]
    assert "customresourcecleanup.apiextensions.k8s.io" in created["metadata"]["finalizers"]
    crd = established(http, server, f"widgets.{group}")
    assert time.monotonic() - t0 < 1.0
    conds = {c["type"]: c for c in crd["status"]["conditions"]}
    assert conds["NamesAccepted"]["status"] == "True" and conds["NamesAccepted"]["reason"] == "NoConflicts"
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    rl = http.get(f"{server.url}/apis/{group}/v1").json()
    main = next(x for x in rl["resources"] if x["name"] == "widgets")
    assert main["kind"] == "Widget" and main["namespaced"] is True
    assert main["shortNames"] == ["wdg"] and main["categories"] == ["all"]
    assert {x["name"] for x in rl["resources"]} == {"widgets", "widgets/status", "widgets/scale"}
    groups = {g["name"]: g for g in http.get(server.url + "/apis").json()["groups"]}
    assert groups[group]["preferredVersion"]["version"] == "v1"
    index = http.get(server.url + "/openapi/v3").json()["paths"]
    doc = http.get(server.url + index[f"apis/{group}/v1"]["serverRelativeURL"]).json()
    schema = doc["components"]["schemas"][f"{'.'.join(reversed(group.split('.')))}.v1.Widget"]
    assert schema["x-kubernetes-group-version-kind"] == [{"group": group, "kind": "Widget", "version": "v1"}]
    assert schema["properties"]["spec"]["properties"]["size"]["enum"] == ["small", "large"]
    patch_op = doc["paths"][f"/apis/{group}/v1/namespaces/{{namespace}}/widgets/{{name}}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch_op["parameters"]]
    http.delete(f"{server.url}{CRDS}/widgets.{group}")


def test_kubectl_knows_the_kind_right_after_established(server: RunningServer, group: str, ns: str) -> None:
    manifest = json.dumps(crd_body(group, plural="gizmos", kind="Gizmo", short=["gz"]))
    server.kubectl("get", "pods", "-n", ns)  # kubectl caches discovery before the CRD exists
    server.kubectl("apply", "-f", "-", input=manifest)
    server.kubectl("wait", "--for", "condition=established", f"crd/gizmos.{group}", "--timeout=10s")
    out = server.kubectl("get", "gizmos", "-n", ns).stderr
    assert "No resources found" in out
    server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(
        {"apiVersion": f"{group}/v1", "kind": "Gizmo", "metadata": {"name": "g1"}, "spec": {"size": "large"}}))
    server.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(  # again: kubectl patches (a merge patch)
        {"apiVersion": f"{group}/v1", "kind": "Gizmo", "metadata": {"name": "g1", "labels": {"a": "b"}},
         "spec": {"size": "large"}}))
    table = server.kubectl("get", "gz", "-n", ns).stdout
    assert table.split("\n")[0].split() == ["NAME", "SIZE", "REPLICAS", "AGE"]
    assert table.split("\n")[1].split()[:3] == ["g1", "large", "1"]
    wide = server.kubectl("get", "gizmos", "-n", ns, "-o", "wide").stdout
    assert "PHASE" in wide.split("\n")[0]
    explained = server.kubectl("explain", "gizmos.spec.size").stdout
    assert "FIELD: size <string>" in explained and "large" in explained
    server.kubectl("scale", "-n", ns, "gizmo/g1", "--replicas=3")
    assert server.kubectl("get", "gizmo", "g1", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout == "3"
    server.kubectl("delete", "crd", f"gizmos.{group}", "--wait=true", "--timeout=20s")


def test_get_all_includes_kinds_in_the_all_category(server: RunningServer, http: requests.Session,
                                                    widgets: str, ns: str) -> None:
    assert post(http, widgets, ns, widget("in-all")).status_code == 201
    # a fresh discovery cache: kubectl expands categories from its cache without asking again
    out = server.kubectl("get", "all", "-n", ns, "--cache-dir", str(server.data_dir / f"cache-{ns}")).stdout
    assert "/in-all" in out


# ---- custom resources: verbs, selectors, patches ------------------------------------------------


def test_create_defaults_and_prunes(http: requests.Session, widgets: str, ns: str) -> None:
    r = post(http, widgets, ns, widget("a", extra="dropped"), fieldValidation="Ignore")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["spec"] == {"size": "small", "replicas": 1, "maxReplicas": 10}
    assert body["metadata"]["generation"] == 1 and body["metadata"]["uid"]
    r = post(http, widgets, ns, widget("b", extra=1), fieldValidation="Strict")
    assert r.status_code == 400 and 'unknown field "spec.extra"' in r.json()["message"]
    r = post(http, widgets, ns, widget("c", extra=1), fieldValidation="Warn")
    assert r.status_code == 201 and r'unknown field \"spec.extra\"' in r.headers.get("Warning", "")
    assert http.get(f"{widgets}/namespaces/{ns}/widgets/a").json()["spec"]["replicas"] == 1


def test_list_with_label_and_field_selectors(http: requests.Session, widgets: str, ns: str) -> None:
    for name, tier in (("x1", "web"), ("x2", "db"), ("x3", "web")):
        body = widget(name)
        body["metadata"]["labels"] = {"tier": tier}
        assert post(http, widgets, ns, body).status_code == 201
    coll = f"{widgets}/namespaces/{ns}/widgets"
    lst = http.get(coll, params={"labelSelector": "tier=web"}).json()
    assert lst["kind"] == "WidgetList" and sorted(i["metadata"]["name"] for i in lst["items"]) == ["x1", "x3"]
    lst = http.get(coll, params={"fieldSelector": "metadata.name=x2"}).json()
    assert [i["metadata"]["name"] for i in lst["items"]] == ["x2"]
    every = http.get(f"{widgets}/widgets", params={"fieldSelector": f"metadata.namespace={ns}"}).json()
    assert len(every["items"]) == 3
    assert http.get(coll, params={"fieldSelector": "spec.size=small"}).status_code == 400
    r = http.delete(coll, params={"labelSelector": "tier=web"})
    assert r.status_code == 200
    assert [i["metadata"]["name"] for i in http.get(coll).json()["items"]] == ["x2"]


def test_update_and_patches(http: requests.Session, widgets: str, ns: str) -> None:
    assert post(http, widgets, ns, widget("p")).status_code == 201
    url = f"{widgets}/namespaces/{ns}/widgets/p"
    r = http.patch(url, data=json.dumps({"spec": {"color": "red"}}), headers=MERGE)
    assert r.status_code == 200 and r.json()["spec"]["color"] == "red" and r.json()["metadata"]["generation"] == 2
    r = http.patch(url, data=json.dumps([{"op": "replace", "path": "/spec/replicas", "value": 4}]),
                   headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 4
    r = http.patch(url, data=json.dumps({"spec": {"color": "blue"}}),
                   headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    cur = http.get(url).json()
    cur["spec"]["color"] = "green"
    r = http.put(url, json=cur)
    assert r.status_code == 200 and r.json()["spec"]["color"] == "green"
    r = http.put(url, json=cur)  # the old resourceVersion
    assert r.status_code == 409
    r = http.patch(url, data=json.dumps({"metadata": {"labels": {"a": "b"}}}), headers=MERGE)
    assert r.json()["metadata"]["generation"] == 4  # metadata alone does not move it
    r = http.delete(url)
    assert r.status_code == 200 and r.json()["kind"] == "Widget"
    assert http.get(url).status_code == 404


def test_status_and_scale_subresources(http: requests.Session, widgets: str, ns: str) -> None:
    body = widget("s", selector="app=s")
    body["status"] = {"phase": "set-on-create"}
    created = post(http, widgets, ns, body).json()
    assert "status" not in created
    url = f"{widgets}/namespaces/{ns}/widgets/s"
    r = http.patch(url + "/status", data=json.dumps({"spec": {"replicas": 9}, "status": {"replicas": 2,
                                                                                           "phase": "Ready"}}),
                   headers=MERGE)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == {"replicas": 2, "phase": "Ready"} and r.json()["spec"]["replicas"] == 1
    r = http.patch(url, data=json.dumps({"status": {"phase": "ignored"}, "spec": {"replicas": 2}}), headers=MERGE)
    assert r.json()["status"]["phase"] == "Ready" and r.json()["spec"]["replicas"] == 2
    scale = http.get(url + "/scale").json()
    assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 2}
    assert scale["status"] == {"replicas": 2, "selector": "app=s"}
    r = http.put(url + "/scale", json={**scale, "spec": {"replicas": 5}})
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 5
    assert http.get(url).json()["spec"]["replicas"] == 5


def test_finalizers_hold_a_custom_resource(http: requests.Session, widgets: str, ns: str) -> None:
    body = widget("f")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    assert post(http, widgets, ns, body).status_code == 201
    url = f"{widgets}/namespaces/{ns}/widgets/f"
    r = http.delete(url)
    assert r.status_code == 200 and r.json()["metadata"]["deletionTimestamp"]
    assert http.get(url).status_code == 200
    r = http.patch(url, data=json.dumps({"metadata": {"finalizers": None}}), headers=MERGE)
    assert r.status_code == 200
    assert http.get(url).status_code == 404


def test_watch_sees_every_change(server: RunningServer, http: requests.Session, widgets: str, ns: str) -> None:
    coll = f"{widgets}/namespaces/{ns}/widgets"
    rv = http.get(coll).json()["metadata"]["resourceVersion"]
    events: list[tuple[str, str]] = []
    done = threading.Event()

    def follow() -> None:
        with server.session().get(coll, params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "10"},
                                  stream=True, timeout=15) as resp:
            for line in resp.iter_lines():
                if line:
                    ev = json.loads(line)
                    events.append((ev["type"], ev["object"]["spec"].get("color", "")))
                    if ev["type"] == "DELETED":
                        break
        done.set()

    t = threading.Thread(target=follow, daemon=True)
    t.start()
    time.sleep(0.3)
    post(http, widgets, ns, widget("w", color="a"))
    http.patch(f"{coll}/w", data=json.dumps({"spec": {"color": "b"}}), headers=MERGE)
    http.delete(f"{coll}/w")
    assert done.wait(10)
    assert events == [("ADDED", "a"), ("MODIFIED", "b"), ("DELETED", "b")]


def test_cluster_scoped_custom_resources(server: RunningServer, http: requests.Session, group: str) -> None:
    assert http.post(server.url + CRDS, json=crd_body(group, plural="clusters", kind="Cluster",
                                                       scope="Cluster")).status_code == 201
    established(http, server, f"clusters.{group}")
    url = f"{server.url}/apis/{group}/v1/clusters"
    r = http.post(url, json={"apiVersion": f"{group}/v1", "kind": "Cluster", "metadata": {"name": "c1"},
                             "spec": {"size": "large"}})
    assert r.status_code == 201 and "namespace" not in r.json()["metadata"]
    assert http.get(f"{server.url}/apis/{group}/v1/namespaces/default/clusters").status_code == 404
    http.delete(f"{server.url}{CRDS}/clusters.{group}")


# ---- versions ---------------------------------------------------------------------------------------


def test_two_versions_with_none_conversion(server: RunningServer, http: requests.Session, group: str,
                                           ns: str) -> None:
    schema = {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}
    versions = [{"name": "v1beta1", "served": True, "storage": False, "schema": schema},
                {"name": "v1", "served": True, "storage": True, "schema": schema}]
    assert http.post(server.url + CRDS, json=crd_body(group, versions=versions)).status_code == 201
    established(http, server, f"widgets.{group}")
    beta = f"{server.url}/apis/{group}/v1beta1/namespaces/{ns}/widgets"
    ga = f"{server.url}/apis/{group}/v1/namespaces/{ns}/widgets"
    r = http.post(beta, json={"apiVersion": f"{group}/v1beta1", "kind": "Widget", "metadata": {"name": "m"},
                              "spec": {"a": 1}})
    assert r.status_code == 201 and r.json()["apiVersion"] == f"{group}/v1beta1"
    assert http.get(f"{ga}/m").json()["apiVersion"] == f"{group}/v1"
    assert [i["apiVersion"] for i in http.get(beta).json()["items"]] == [f"{group}/v1beta1"]
    r = http.patch(f"{beta}/m", data=json.dumps({"spec": {"a": 2}}), headers=MERGE)
    assert r.status_code == 200 and r.json()["apiVersion"] == f"{group}/v1beta1"
    groups = {g["name"]: g for g in http.get(server.url + "/apis").json()["groups"]}
    assert [v["version"] for v in groups[group]["versions"]] == ["v1", "v1beta1"]
    # a new storage version is recorded in storedVersions
    crd = http.get(f"{server.url}{CRDS}/widgets.{group}").json()
    crd["spec"]["versions"][0]["storage"], crd["spec"]["versions"][1]["storage"] = True, False
    r = http.put(f"{server.url}{CRDS}/widgets.{group}", json=crd)
    assert r.status_code == 200, r.text
    assert r.json()["status"]["storedVersions"] == ["v1", "v1beta1"]
    http.delete(f"{server.url}{CRDS}/widgets.{group}")


# ---- bad input ----------------------------------------------------------------------------------


def test_a_resource_violating_its_schema_lists_every_violation(http: requests.Session, widgets: str,
                                                               ns: str) -> None:
    r = post(http, widgets, ns, widget("bad", replicas="string", size="huge", color="Red1"))
    assert r.status_code == 422, r.text
    st = r.json()
    assert st["reason"] == "Invalid" and st["details"]["kind"] == "Widget"
    fields = {c["field"]: c["message"] for c in st["details"]["causes"]}
    assert fields["spec.replicas"] == ('Invalid value: "string": spec.replicas in body must be of type integer: '
                                       '"string"')
    assert fields["spec.size"] == 'Unsupported value: "huge": supported values: "small", "large"'
    assert fields["spec.color"] == "Invalid value: \"Red1\": spec.color in body should match '^[a-z]+$'"
    assert st["message"].startswith(f'Widget.{widgets.split("/apis/")[1].split("/")[0]} "bad" is invalid: [')
    r = post(http, widgets, ns, {**widget("nosize"), "spec": {}})
    assert r.json()["details"]["causes"] == [{"reason": "FieldValueRequired", "message": "Required value",
                                              "field": "spec.size"}]
    r = post(http, widgets, ns, widget("rule", replicas=20, maxReplicas=5))
    assert r.status_code == 422
    assert r.json()["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec", "message":
                                              'Invalid value: "object": replicas must not exceed maxReplicas'}]
    r = post(http, widgets, ns, {**widget("Bad_Name")})
    assert r.status_code == 422 and r.json()["details"]["causes"][0]["field"] == "metadata.name"


def test_transition_rules_check_updates(http: requests.Session, widgets: str, ns: str) -> None:
    assert post(http, widgets, ns, widget("t")).status_code == 201
    url = f"{widgets}/namespaces/{ns}/widgets/t"
    r = http.patch(url, data=json.dumps({"spec": {"size": "large"}}), headers=MERGE)
    assert r.status_code == 422 and "size is immutable" in r.json()["message"]
    assert http.patch(url, data=json.dumps({"spec": {"replicas": 2}}), headers=MERGE).status_code == 200


def test_a_non_structural_crd_is_refused_with_upstreams_reasons(server: RunningServer, http: requests.Session,
                                                                 group: str) -> None:
    body = crd_body(group)
    body["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = {"type": "object", "properties": {
        "spec": {"properties": {"list": {"type": "array"}, "x": {"type": "string", "anyOf": [{"type": "string"}]}}}}}
    r = http.post(server.url + CRDS, json=body)
    assert r.status_code == 422, r.text
    p = "spec.versions[0].schema.openAPIV3Schema"
    causes = {(c["field"], c["message"]) for c in r.json()["details"]["causes"]}
    assert causes >= {
        (f"{p}.properties[spec].type", "Required value: must not be empty for specified object fields"),
        (f"{p}.properties[spec].properties[list].items", "Required value: must be specified"),
        (f"{p}.properties[spec].properties[x].anyOf[0].type", "Forbidden: must be empty to be structural"),
    }
    assert r.json()["details"]["kind"] == "CustomResourceDefinition"


@pytest.mark.parametrize(("change", "field"), [
    (lambda b: b["metadata"].update(name="wrong.example.com"), "metadata.name"),
    (lambda b: b["spec"]["names"].update(plural="Widgets!"), "spec.names.plural"),
    (lambda b: b["spec"]["names"].update(kind="wid get"), "spec.names.kind"),
    (lambda b: b["spec"]["names"].pop("listKind"), "spec.names.listKind"),
    (lambda b: b["spec"].update(scope="Everywhere"), "spec.scope"),
    (lambda b: b["spec"]["versions"][0].update(storage=False), "spec.versions"),
    (lambda b: b["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "x-kubernetes-validations"].append({"rule": "self.replicas >"}),
     "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[2].rule"),
])
def test_invalid_crds_name_the_field(server: RunningServer, http: requests.Session, group: str, change: Any,
                                     field: str) -> None:
    body = json.loads(json.dumps(crd_body(group)))
    change(body)
    r = http.post(server.url + CRDS, json=body)
    assert r.status_code == 422, r.text
    assert field in [c["field"] for c in r.json()["details"]["causes"]]


def test_names_taken_by_another_crd_are_not_accepted(server: RunningServer, http: requests.Session,
                                                     widgets: str, group: str) -> None:
    # a second CRD in the group whose kind, Widget, the first already serves
    second = crd_body(group, plural="things", kind="Widget")
    assert http.post(server.url + CRDS, json=second).status_code == 201
    deadline = time.monotonic() + 5
    while True:
        conds = {c["type"]: c for c in http.get(f"{server.url}{CRDS}/things.{group}").json()["status"].get(
            "conditions") or []}
        if "NamesAccepted" in conds:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert conds["NamesAccepted"]["status"] == "False" and '"Widget" is already in use' in conds[
        "NamesAccepted"]["message"]
    assert conds["Established"]["status"] == "False"
    assert http.get(f"{server.url}/apis/{group}/v1/things").status_code == 404
    http.delete(f"{server.url}{CRDS}/things.{group}")


# ---- deletion ---------------------------------------------------------------------------------


def test_deleting_a_crd_deletes_its_objects(server: RunningServer, http: requests.Session, group: str,
                                            ns: str) -> None:
    assert http.post(server.url + CRDS, json=crd_body(group)).status_code == 201
    established(http, server, f"widgets.{group}")
    base = f"{server.url}/apis/{group}/v1"
    held = widget("held")
    held["metadata"]["finalizers"] = ["example.com/hold"]
    assert post(http, base, ns, held).status_code == 201
    assert post(http, base, ns, widget("plain")).status_code == 201
    r = http.delete(f"{server.url}{CRDS}/widgets.{group}")
    assert r.status_code == 200
    deadline = time.monotonic() + 5
    while http.get(f"{base}/namespaces/{ns}/widgets/plain").status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    crd = http.get(f"{server.url}{CRDS}/widgets.{group}").json()
    conds = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conds["Terminating"] == "True"
    r = post(http, base, ns, widget("late"))
    assert r.status_code == 405 and "terminating" in r.json()["message"]
    r = http.patch(f"{base}/namespaces/{ns}/widgets/held", data=json.dumps({"metadata": {"finalizers": None}}),
                   headers=MERGE)
    assert r.status_code == 200
    deadline = time.monotonic() + 5
    while http.get(f"{server.url}{CRDS}/widgets.{group}").status_code != 404:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert http.get(f"{base}/namespaces/{ns}/widgets").status_code == 404
    assert group not in {g["name"] for g in http.get(server.url + "/apis").json()["groups"]}


# ---- aggregated discovery ------------------------------------------------------------------------

KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


def test_aggregated_discovery_lists_custom_kinds(server: RunningServer, http: requests.Session,
                                                 widgets: str) -> None:
    group = widgets.split("/apis/")[1].split("/")[0]
    r = http.get(server.url + "/apis", headers={"Accept": KUBECTL_ACCEPT})
    assert r.headers["Content-Type"] == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    doc = r.json()
    assert doc["kind"] == "APIGroupDiscoveryList" and doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    groups = {g["metadata"]["name"]: g for g in doc["items"]}
    plain = [g["name"] for g in http.get(server.url + "/apis").json()["groups"]]
    assert list(groups)[0] == plain[0] == "apiregistration.k8s.io"  # built-in groups first, as the plain list
    res = groups[group]["versions"][0]["resources"][0]
    assert res["resource"] == "widgets" and res["scope"] == "Namespaced"
    assert res["responseKind"] == {"group": group, "version": "v1", "kind": "Widget"}
    assert {s["subresource"]: s["responseKind"]["kind"] for s in res["subresources"]} == {
        "status": "Widget", "scale": "Scale"}
    core = http.get(server.url + "/api", headers={"Accept": KUBECTL_ACCEPT}).json()
    assert [i["metadata"] for i in core["items"]] == [{}]
    pods = next(x for x in core["items"][0]["versions"][0]["resources"] if x["resource"] == "pods")
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    # a client asking for plain JSON gets the plain documents
    assert http.get(server.url + "/apis").json()["kind"] == "APIGroupList"
    assert http.get(server.url + "/api").json()["kind"] == "APIVersions"


def test_custom_kinds_are_served_again_right_after_a_restart(tmp_path: Any) -> None:
    from tests.server_fixture import start_server

    srv = start_server(tmp_path / "s", args=["--disable-scheduler", "--disable-controller-manager"])
    try:
        http = srv.session()
        group = "restart.example.com"
        assert http.post(srv.url + CRDS, json=crd_body(group)).status_code == 201
        established(http, srv, f"widgets.{group}")
        assert http.post(srv.url + "/api/v1/namespaces", json={"metadata": {"name": "r"}}).status_code == 201
        assert post(http, f"{srv.url}/apis/{group}/v1", "r", widget("kept")).status_code == 201
        srv.stop()
        srv = start_server(tmp_path / "s", port=srv.port,
                           args=["--disable-scheduler", "--disable-controller-manager"])
        http = srv.session()
        # ready means the stored CRDs' kinds are served: no wait
        r = http.get(f"{srv.url}/apis/{group}/v1/namespaces/r/widgets/kept")
        assert r.status_code == 200 and r.json()["spec"]["size"] == "small"
        assert post(http, f"{srv.url}/apis/{group}/v1", "r", widget("bad", size="huge")).status_code == 422
    finally:
        srv.stop()


def test_server_side_apply_on_a_custom_resource(server: RunningServer, http: requests.Session, group: str,
                                                ns: str) -> None:
    """kubectl apply --server-side merges a custom resource by its structural schema: a second manager
    owning spec.color conflicts, force takes it over, and a field the applier drops is removed."""
    server.kubectl("apply", "-f", "-", input=json.dumps(crd_body(group, plural="gadgets", kind="Gadget")))
    server.kubectl("wait", "--for", "condition=established", f"crd/gadgets.{group}", "--timeout=10s")
    first = {"apiVersion": f"{group}/v1", "kind": "Gadget",
             "metadata": {"name": "a", "labels": {"team": "x"}},
             "spec": {"size": "small", "color": "red", "replicas": 2}}
    server.kubectl("apply", "--server-side", "--field-manager=alice", "-n", ns, "-f", "-", input=json.dumps(first))
    got = json.loads(server.kubectl("get", "gadget", "a", "-n", ns, "-o", "json", "--show-managed-fields").stdout)
    managers = {m["manager"]: m for m in got["metadata"]["managedFields"]}
    assert managers["alice"]["operation"] == "Apply"
    assert "f:color" in managers["alice"]["fieldsV1"]["f:spec"]
    assert "f:team" in managers["alice"]["fieldsV1"]["f:metadata"]["f:labels"]

    rival = {**first, "metadata": {"name": "a"}, "spec": {"size": "small", "color": "blue"}}
    refused = server.kubectl("apply", "--server-side", "--field-manager=bob", "-n", ns, "-f", "-",
                             input=json.dumps(rival), check=False)
    assert refused.returncode != 0
    assert 'conflict with "alice"' in refused.stderr and ".spec.color" in refused.stderr, refused.stderr
    server.kubectl("apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-n", ns, "-f", "-",
                   input=json.dumps(rival))
    got = http.get(f"{server.url}/apis/{group}/v1/namespaces/{ns}/gadgets/a").json()
    assert got["spec"]["color"] == "blue" and got["spec"]["replicas"] == 2

    # alice stops applying replicas and the label: both go, as nobody else owns them
    again = {**first, "metadata": {"name": "a"}, "spec": {"size": "small", "color": "blue"}}
    server.kubectl("apply", "--server-side", "--field-manager=alice", "-n", ns, "-f", "-", input=json.dumps(again))
    got = http.get(f"{server.url}/apis/{group}/v1/namespaces/{ns}/gadgets/a").json()
    assert "team" not in (got["metadata"].get("labels") or {})
    assert got["spec"].get("replicas") == 1  # removed, then defaulted again by the schema
    server.kubectl("delete", "crd", f"gadgets.{group}", "--wait=true", "--timeout=20s")


def test_server_side_apply_merges_lists_by_the_schemas_list_type(server: RunningServer, http: requests.Session,
                                                                 group: str, ns: str) -> None:
    """Two managers each apply one item of an ``x-kubernetes-list-type: map`` list: both items stay,
    each owned by its manager (an atomic list would conflict)."""
    body = crd_body(group, plural="routers", kind="Router")
    schema = body["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"] = {"type": "object", "properties": {"routes": {
        "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
        "items": {"type": "object", "required": ["name"],
                  "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}}}
    body["spec"]["versions"][0]["subresources"] = {"status": {}}
    body["spec"]["versions"][0]["additionalPrinterColumns"] = []
    server.kubectl("apply", "-f", "-", input=json.dumps(body))
    server.kubectl("wait", "--for", "condition=established", f"crd/routers.{group}", "--timeout=10s")

    def apply(manager: str, route: Obj) -> None:
        obj = {"apiVersion": f"{group}/v1", "kind": "Router", "metadata": {"name": "r"}, "spec": {"routes": [route]}}
        server.kubectl("apply", "--server-side", f"--field-manager={manager}", "-n", ns, "-f", "-",
                       input=json.dumps(obj))

    apply("alice", {"name": "web", "port": 80})
    apply("bob", {"name": "api", "port": 8080})
    got = http.get(f"{server.url}/apis/{group}/v1/namespaces/{ns}/routers/r").json()
    assert sorted((r["name"], r["port"]) for r in got["spec"]["routes"]) == [("api", 8080), ("web", 80)]
    owned = {m["manager"]: m["fieldsV1"] for m in got["metadata"]["managedFields"]}
    assert 'k:{"name":"web"}' in owned["alice"]["f:spec"]["f:routes"]
    assert 'k:{"name":"api"}' in owned["bob"]["f:spec"]["f:routes"]
    server.kubectl("delete", "crd", f"routers.{group}", "--wait=true", "--timeout=20s")
