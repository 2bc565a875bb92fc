"""The real kubectl (v1.32) against a real ``shoal server``: what a user types, end to end.

Each test runs kubectl as a subprocess in a fresh namespace and checks both what
kubectl prints and the state it left, read back with ``kubectl get -o json``.
There is no scheduler, agent or controller yet, so pods stay Pending and
Deployments own nothing; conditions that a controller would set are written
through the status subresource, as a controller would.
"""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
import yaml

from tests.e2e.conftest import MANIFESTS, Kubectl, unique
from tests.server_fixture import RunningServer

DEPLOYMENT = str(MANIFESTS / "deployment.yaml")
DEPLOYMENT_V2 = str(MANIFESTS / "deployment-v2.yaml")
POD = str(MANIFESTS / "pod.yaml")
SERVICE = str(MANIFESTS / "service.yaml")
CONFIGMAP = str(MANIFESTS / "configmap.yaml")


# every namespace holds the cluster CA as upstream's do; lists of what a test made leave it aside
NOT_ROOT_CA = "--field-selector=metadata.name!=kube-root-ca.crt"

def header(out: str) -> list[str]:
    """The column titles of kubectl's first table line."""
    return re.split(r"\s{2,}", out.splitlines()[0].strip())


def rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[1:] if line.strip()]


def container_env(deploy: dict[str, object]) -> dict[str, str]:
    c = deploy["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    return {e["name"]: e.get("value", "") for e in c.get("env", [])}


# ---- discovery ---------------------------------------------------------------------------


def test_version_reports_client_and_server(kubectl_cluster: Kubectl) -> None:
    out = kubectl_cluster("version", "-o", "json").stdout
    v = json.loads(out)
    assert v["clientVersion"]["minor"].startswith("32")
    assert v["serverVersion"]["major"] == "1"
    assert v["serverVersion"]["gitVersion"].startswith("v1.")
    plain = kubectl_cluster("version").stdout
    assert "Server Version: v1." in plain


def test_api_resources_short_names_and_kinds(kubectl_cluster: Kubectl) -> None:
    out = kubectl_cluster("api-resources").stdout
    assert header(out) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    # the first row of each name (metrics.k8s.io serves "pods" and "nodes" too, listed after core)
    table: dict[str, list[str]] = {}
    for r in rows(out):
        table.setdefault(r[0], r)
    assert table["pods"][1:] == ["po", "v1", "true", "Pod"]
    assert table["deployments"][1:] == ["deploy", "apps/v1", "true", "Deployment"]
    assert table["services"][1:] == ["svc", "v1", "true", "Service"]
    assert table["configmaps"][1:] == ["cm", "v1", "true", "ConfigMap"]
    assert table["namespaces"][1:] == ["ns", "v1", "false", "Namespace"]
    namespaced = kubectl_cluster("api-resources", "--namespaced=false", "-o", "name").stdout.split()
    assert "namespaces" in namespaced and "nodes" in namespaced and "pods" not in namespaced


def test_short_names_resolve(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", CONFIGMAP)
    assert kubectl("get", "cm", "-o", "name", NOT_ROOT_CA).stdout.split() == ["configmap/settings"]
    kubectl("apply", "-f", DEPLOYMENT)
    assert kubectl("get", "deploy", "-o", "name").stdout.split() == ["deployment.apps/web"]
    kubectl("apply", "-f", SERVICE)
    assert kubectl("get", "svc", "-o", "name").stdout.split() == ["service/web"]
    kubectl("apply", "-f", POD)
    assert kubectl("get", "po", "-o", "name").stdout.split() == ["pod/solo"]


def test_get_all_lists_the_all_category(kubectl: Kubectl) -> None:
    for f in (DEPLOYMENT, SERVICE, POD, CONFIGMAP):
        kubectl("apply", "-f", f)
    out = kubectl("get", "all").stdout
    assert "pod/solo" in out
    assert "service/web" in out
    assert "deployment.apps/web" in out
    assert "configmap/" not in out  # configmaps are not in the "all" category
    names = kubectl("get", "all", "-o", "name").stdout.split()
    assert set(names) == {"pod/solo", "service/web", "deployment.apps/web"}


# ---- get -------------------------------------------------------------------------------


def test_get_pods_table_columns(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", POD)
    out = kubectl("get", "pods").stdout
    assert header(out) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    (row,) = rows(out)
    assert row[:4] == ["solo", "0/1", "Pending", "0"]
    assert re.fullmatch(r"\d+s", row[4])


def test_get_pods_wide(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", POD)
    out = kubectl("get", "pods", "-o", "wide").stdout
    assert header(out) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                           "NOMINATED NODE", "READINESS GATES"]
    assert rows(out)[0][0] == "solo"
    assert rows(out)[0][5:7] == ["<none>", "<none>"]


def test_get_deployments_table_columns(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    out = kubectl("get", "deployments").stdout
    assert header(out) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    (row,) = rows(out)
    assert row[:4] == ["web", "0/2", "0", "0"]
    wide = kubectl("get", "deploy", "-o", "wide").stdout
    assert header(wide)[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows(wide)[0][5:] == ["app", "nginx:1.25", "app=web"]


def test_get_nodes(kubectl_cluster: Kubectl, node_name: str) -> None:
    kubectl_cluster("apply", "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name, "labels": {"zone": "a"}}}))
    out = kubectl_cluster("get", "nodes", node_name).stdout
    assert header(out) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    row = rows(out)[0]
    assert row[0] == node_name
    assert row[1] == "Unknown"  # no Ready condition yet
    assert row[2] == "<none>"
    listed = kubectl_cluster("get", "nodes", "-l", "zone=a", "-o", "name").stdout.split()
    assert f"node/{node_name}" in listed


def test_get_output_formats(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", CONFIGMAP)
    as_yaml = yaml.safe_load(kubectl("get", "cm", "settings", "-o", "yaml").stdout)
    as_json = kubectl.json("get", "cm", "settings")
    assert as_yaml == as_json
    assert as_json["kind"] == "ConfigMap" and as_json["apiVersion"] == "v1"
    assert as_json["data"] == {"color": "blue", "size": "large"}
    assert as_json["metadata"]["namespace"] == kubectl.namespace
    assert as_json["metadata"]["uid"] and int(as_json["metadata"]["resourceVersion"]) > 0
    lst = kubectl.json("get", "cm")
    assert lst["kind"] == "List" and [i["metadata"]["name"] for i in lst["items"]] == ["kube-root-ca.crt", "settings"]
    assert kubectl("get", "cm", "-o", "name", NOT_ROOT_CA).stdout.split() == ["configmap/settings"]
    assert kubectl("get", "cm", "settings", "-o", "jsonpath={.data.color}").stdout == "blue"


def test_get_with_label_selector(kubectl: Kubectl) -> None:
    for name, tier in (("a", "front"), ("b", "back"), ("c", "front")):
        kubectl("run", name, "--image=nginx", f"--labels=tier={tier},app={name}")
    assert kubectl("get", "pods", "-l", "tier=front", "-o", "name").stdout.split() == ["pod/a", "pod/c"]
    assert kubectl("get", "pods", "-l", "tier!=front", "-o", "name").stdout.split() == ["pod/b"]
    assert kubectl("get", "pods", "-l", "app in (a,b)", "-o", "name").stdout.split() == ["pod/a", "pod/b"]
    p = kubectl("get", "pods", "-l", "tier=nothing")
    assert p.stdout == "" and "No resources found" in p.stderr
    bad = kubectl.fail("get", "pods", "-l", "tier==in=x")
    assert "BadRequest" in bad.stderr or "unable to parse" in bad.stderr or "invalid" in bad.stderr


def test_get_with_field_selector(kubectl: Kubectl) -> None:
    kubectl("run", "one", "--image=nginx")
    kubectl("run", "two", "--image=nginx")
    assert kubectl("get", "pods", "--field-selector", "metadata.name=two", "-o", "name").stdout.split() == ["pod/two"]
    assert kubectl("get", "pods", "--field-selector", "metadata.name!=two", "-o", "name").stdout.split() == ["pod/one"]
    pending = kubectl("get", "pods", "--field-selector", "status.phase=Pending", "-o", "name").stdout.split()
    assert pending == ["pod/one", "pod/two"]
    running = kubectl("get", "pods", "--field-selector", "status.phase=Running")
    assert running.stdout == ""
    bad = kubectl.fail("get", "pods", "--field-selector", "spec.image=nginx")
    assert "field label not supported: spec.image" in bad.stderr


def test_get_all_namespaces(server: RunningServer, kubectl: Kubectl, collections: list[str]) -> None:
    from tests.e2e.conftest import create_namespace, destroy_namespace

    other = unique("e2e-other")
    create_namespace(server, other)
    try:
        kubectl("apply", "-f", POD)
        Kubectl(server, other)("apply", "-f", POD)
        out = kubectl("get", "pods", "-A", "-l", "app=solo").stdout
        assert header(out) == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        found = {(r[0], r[1]) for r in rows(out)}
        assert {(kubectl.namespace, "solo"), (other, "solo")} <= found
        only_here = kubectl("get", "pods", "-o", "name").stdout.split()
        assert only_here == ["pod/solo"]
    finally:
        destroy_namespace(server, other, collections)


def test_get_watch_shows_changes(kubectl: Kubectl) -> None:
    kubectl("create", "-f", CONFIGMAP)
    w = kubectl.background("get", "configmaps", "-w", "--output-watch-events", "--request-timeout=20s")
    w.wait_for(lambda line: line.split()[:2] == ["ADDED", "settings"])
    kubectl("create", "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later"}, "data": {"k": "v"}}))
    added = w.wait_for(lambda line: "later" in line)
    assert added.split()[:3] == ["ADDED", "later", "1"]
    kubectl("patch", "cm", "settings", "--type=merge", "-p", '{"data":{"extra":"x"}}')
    modified = w.wait_for(lambda line: line.startswith("MODIFIED"))
    assert modified.split()[:3] == ["MODIFIED", "settings", "3"]
    kubectl("delete", "cm", "later")
    deleted = w.wait_for(lambda line: line.startswith("DELETED"))
    assert deleted.split()[:2] == ["DELETED", "later"]
    assert w.lines[0].split() == ["EVENT", "NAME", "DATA", "AGE"]
    assert sum(1 for line in w.lines if line.startswith("EVENT")) == 1  # header once


# ---- describe ----------------------------------------------------------------------------


def test_describe_deployment(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    out = kubectl("describe", "deployment", "web").stdout
    assert re.search(r"^Name:\s+web$", out, re.M)
    assert re.search(rf"^Namespace:\s+{kubectl.namespace}$", out, re.M)
    assert re.search(r"^Selector:\s+app=web$", out, re.M)
    assert re.search(r"^Replicas:\s+2 desired \| 0 updated \| 0 total \| 0 available \| 0 unavailable$", out, re.M)
    assert re.search(r"^StrategyType:\s+RollingUpdate$", out, re.M)
    assert re.search(r"^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$", out, re.M)
    assert re.search(r"Image:\s+nginx:1\.25", out)
    assert re.search(r"MODE:\s+production", out)
    assert re.search(r"Port:\s+80/TCP", out)


def test_describe_pod(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", POD)
    out = kubectl("describe", "pod", "solo").stdout
    assert re.search(r"^Name:\s+solo$", out, re.M)
    assert re.search(r"^Status:\s+Pending$", out, re.M)
    assert re.search(r"^Node:\s+<none>$", out, re.M)
    assert re.search(r"^Labels:\s+app=solo$", out, re.M)
    assert re.search(r"^\s+tier=backend$", out, re.M)
    assert re.search(r"^QoS Class:\s+Burstable$", out, re.M)
    assert re.search(r"^\s+main:$", out, re.M)
    assert re.search(r"Image:\s+busybox:1\.36", out)
    assert re.search(r"cpu:\s+100m", out) and re.search(r"memory:\s+64Mi", out)
    missing = kubectl.fail("describe", "pod", "ghost")
    assert 'pods "ghost" not found' in missing.stderr


# ---- create / apply / delete ---------------------------------------------------------------


def test_create_from_file(kubectl: Kubectl) -> None:
    out = kubectl("create", "-f", POD).stdout
    assert out.strip() == "pod/solo created"
    pod = kubectl.json("get", "pod", "solo")
    assert pod["spec"]["containers"][0]["image"] == "busybox:1.36"
    assert pod["spec"]["containers"][0]["command"] == ["sleep", "3600"]
    assert pod["spec"]["restartPolicy"] == "Always"  # defaulted by the server
    assert pod["status"]["phase"] == "Pending"
    again = kubectl.fail("create", "-f", POD)
    assert 'pods "solo" already exists' in again.stderr
    assert "AlreadyExists" in again.stderr


def test_apply_twice_then_change(kubectl: Kubectl) -> None:
    assert kubectl("apply", "-f", DEPLOYMENT).stdout.strip() == "deployment.apps/web created"
    first = kubectl.json("get", "deploy", "web")
    assert "kubectl.kubernetes.io/last-applied-configuration" in first["metadata"]["annotations"]
    assert container_env(first) == {"MODE": "production", "DEBUG": "false"}

    assert kubectl("apply", "-f", DEPLOYMENT).stdout.strip() == "deployment.apps/web unchanged"
    assert kubectl.json("get", "deploy", "web")["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    assert kubectl("apply", "-f", DEPLOYMENT_V2).stdout.strip() == "deployment.apps/web configured"
    second = kubectl.json("get", "deploy", "web")
    c = second["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "nginx:1.27"
    assert container_env(second) == {"MODE": "production"}  # DEBUG removed by the three-way merge
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1
    assert second["metadata"]["uid"] == first["metadata"]["uid"]


def test_apply_keeps_fields_set_by_others(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    kubectl("label", "deploy", "web", "owner=ops")
    kubectl("apply", "-f", DEPLOYMENT_V2)
    d = kubectl.json("get", "deploy", "web")
    assert d["metadata"]["labels"] == {"app": "web", "owner": "ops"}


def test_delete_by_name_label_and_all(kubectl: Kubectl) -> None:
    for name, app in (("a", "x"), ("b", "x"), ("c", "y"), ("d", "z")):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": app}}}
        kubectl("create", "-f", "-", input=json.dumps(cm))
    assert kubectl("delete", "cm", "a").stdout.strip() == 'configmap "a" deleted'
    assert kubectl.fail("get", "cm", "a").stderr.strip().endswith('configmaps "a" not found')
    out = kubectl("delete", "cm", "-l", "app in (x,y)").stdout
    assert set(out.split("\n")) - {""} == {'configmap "b" deleted', 'configmap "c" deleted'}
    assert kubectl("get", "cm", "-o", "name", NOT_ROOT_CA).stdout.split() == ["configmap/d"]
    kubectl("apply", "-f", POD)
    assert kubectl("delete", "pods", "--all").stdout.strip() == 'pod "solo" deleted'
    # --all takes the namespace's kube-root-ca.crt too (the server puts it back), as upstream's
    out = kubectl("delete", "cm", "--all").stdout
    assert set(out.split("\n")) - {""} == {'configmap "d" deleted', 'configmap "kube-root-ca.crt" deleted'}
    p = kubectl("get", "all,cm", NOT_ROOT_CA)
    assert p.stdout == "" and "No resources found" in p.stderr
    missing = kubectl.fail("delete", "cm", "ghost")
    assert 'configmaps "ghost" not found' in missing.stderr


def test_delete_bound_pod_is_graceful_then_forced(kubectl: Kubectl) -> None:
    bound = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bound"},
             "spec": {"nodeName": "nowhere", "containers": [{"name": "a", "image": "nginx"}]}}
    kubectl("create", "-f", "-", input=json.dumps(bound))
    kubectl("delete", "pod", "bound", "--wait=false")
    pod = kubectl.json("get", "pod", "bound")  # no agent confirms the stop: it stays, terminating
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 30
    assert pod["metadata"]["deletionTimestamp"]
    assert rows(kubectl("get", "pod", "bound").stdout)[0][2] == "Terminating"
    forced = kubectl("delete", "pod", "bound", "--grace-period=0", "--force")
    assert forced.stdout.strip() == 'pod "bound" force deleted'
    assert "NotFound" in kubectl.fail("get", "pod", "bound").stderr


def test_delete_with_manifest(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    assert kubectl("delete", "-f", DEPLOYMENT).stdout.strip() == 'deployment.apps "web" deleted'
    assert "NotFound" in kubectl.fail("get", "deploy", "web").stderr


def test_server_dry_run_changes_nothing(kubectl: Kubectl) -> None:
    out = kubectl("create", "-f", POD, "--dry-run=server", "-o", "json").stdout
    assert json.loads(out)["spec"]["restartPolicy"] == "Always"  # admitted and defaulted...
    assert kubectl("get", "pods").stdout == ""  # ...but not stored
    kubectl("apply", "-f", DEPLOYMENT)
    rv = kubectl.json("get", "deploy", "web")["metadata"]["resourceVersion"]
    out = kubectl("apply", "-f", DEPLOYMENT_V2, "--dry-run=server").stdout
    assert out.strip() == "deployment.apps/web configured (server dry run)"
    d = kubectl.json("get", "deploy", "web")
    assert d["metadata"]["resourceVersion"] == rv
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    refused = kubectl.fail("create", "-f", str(MANIFESTS / "invalid-no-image.yaml"), "--dry-run=server")
    assert "spec.containers[0].image: Required value" in refused.stderr


def test_diff(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    same = kubectl("diff", "-f", DEPLOYMENT)
    assert same.returncode == 0 and same.stdout == ""
    changed = kubectl("diff", "-f", DEPLOYMENT_V2, check=False)
    assert changed.returncode == 1, changed.stderr
    lines = changed.stdout.splitlines()
    removed = {line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---")}
    added = {line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++")}
    assert removed == {"image: nginx:1.25", "- name: DEBUG", 'value: "false"', "generation: 1"}
    assert added == {"image: nginx:1.27", "generation: 2"}
    assert kubectl.json("get", "deploy", "web")["metadata"]["generation"] == 1  # diff is a dry run


def test_logs_of_an_unscheduled_pod_is_refused(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", POD)
    p = kubectl.fail("logs", "solo")
    assert "pod solo does not have a host assigned" in p.stderr
    missing = kubectl.fail("logs", "ghost")
    assert 'pods "ghost" not found' in missing.stderr


# ---- metadata edits ------------------------------------------------------------------------


def test_label(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", POD)
    assert kubectl("label", "pod", "solo", "env=prod").stdout.strip() == "pod/solo labeled"
    assert kubectl.json("get", "pod", "solo")["metadata"]["labels"] == {"app": "solo", "tier": "backend", "env": "prod"}
    refused = kubectl.fail("label", "pod", "solo", "env=dev")
    assert "already has a value (prod)" in refused.stderr
    kubectl("label", "pod", "solo", "env=dev", "--overwrite")
    kubectl("label", "pod", "solo", "tier-")
    assert kubectl.json("get", "pod", "solo")["metadata"]["labels"] == {"app": "solo", "env": "dev"}
    bad = kubectl.fail("label", "pod", "solo", "bad key=x")
    assert "invalid" in bad.stderr.lower()
    client_bad = kubectl.fail("label", "pod", "solo", "ok=-not-valid-")
    assert "invalid label value" in client_bad.stderr
    server_bad = kubectl.fail("patch", "pod", "solo", "--type=merge", "-p", '{"metadata":{"labels":{"ok":"-not-valid-"}}}')
    assert "metadata.labels" in server_bad.stderr and "-not-valid-" in server_bad.stderr
    assert kubectl.json("get", "pod", "solo")["metadata"]["labels"] == {"app": "solo", "env": "dev"}


def test_annotate_and_remove(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", CONFIGMAP)
    assert kubectl("annotate", "cm", "settings", "note=hello world", "team=core").stdout.strip() == "configmap/settings annotated"
    ann = kubectl.json("get", "cm", "settings")["metadata"]["annotations"]
    assert ann["note"] == "hello world" and ann["team"] == "core"
    kubectl("annotate", "cm", "settings", "note-")
    ann = kubectl.json("get", "cm", "settings")["metadata"].get("annotations", {})
    assert "note" not in ann and ann["team"] == "core"


# ---- patch / edit / scale ----------------------------------------------------------------


def test_patch_strategic_merges_containers_by_name(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.26"},
        {"name": "sidecar", "image": "envoy:1.30"},
    ]}}}}
    assert kubectl("patch", "deploy", "web", "-p", json.dumps(patch)).stdout.strip() == "deployment.apps/web patched"
    cs = kubectl.json("get", "deploy", "web")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in cs] == [("app", "nginx:1.26"), ("sidecar", "envoy:1.30")]
    assert {e["name"] for e in cs[0]["env"]} == {"MODE", "DEBUG"}  # merged, not replaced
    delete_env = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "env": [{"name": "DEBUG", "$patch": "delete"}]}]}}}}
    kubectl("patch", "deploy", "web", "-p", json.dumps(delete_env))
    assert container_env(kubectl.json("get", "deploy", "web")) == {"MODE": "production"}
    same = kubectl("patch", "deploy", "web", "-p", json.dumps(patch))
    assert same.stdout.strip() == "deployment.apps/web patched (no change)"


def test_patch_merge_replaces_lists(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    kubectl("patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"minReadySeconds":5,"revisionHistoryLimit":null}}')
    d = kubectl.json("get", "deploy", "web")
    assert d["spec"]["minReadySeconds"] == 5
    assert d["spec"]["revisionHistoryLimit"] == 10  # null removes it, then defaulting puts it back
    merge = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "redis:7"}]}}}}
    kubectl("patch", "deploy", "web", "--type=merge", "-p", json.dumps(merge))
    cs = kubectl.json("get", "deploy", "web")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in cs] == [("only", "redis:7")]
    assert "env" not in cs[0]


def test_patch_json(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels/patched", "value": "yes"},
        {"op": "remove", "path": "/spec/template/spec/containers/0/env/1"},
    ]
    kubectl("patch", "deploy", "web", "--type=json", "-p", json.dumps(ops))
    d = kubectl.json("get", "deploy", "web")
    assert d["spec"]["replicas"] == 3
    assert d["metadata"]["labels"]["patched"] == "yes"
    assert container_env(d) == {"MODE": "production"}
    failed_test = kubectl.fail("patch", "deploy", "web", "--type=json", "-p",
                               '[{"op":"test","path":"/spec/replicas","value":99}]')
    assert "test" in failed_test.stderr
    bad_path = kubectl.fail("patch", "deploy", "web", "--type=json", "-p",
                            '[{"op":"remove","path":"/spec/nothing/here"}]')
    assert bad_path.returncode != 0
    assert kubectl.json("get", "deploy", "web")["spec"]["replicas"] == 3


def test_patch_invalid_result_is_refused(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    p = kubectl.fail("patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"replicas":-1}}')
    assert "spec.replicas" in p.stderr
    assert kubectl.json("get", "deploy", "web")["spec"]["replicas"] == 2


def test_edit_with_sed_as_editor(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    editor = "sed -i -e 's/image: nginx:1.25/image: nginx:1.99/' -e 's/replicas: 2/replicas: 6/'"
    out = kubectl("edit", "deploy", "web", env={"EDITOR": editor, "KUBE_EDITOR": editor}).stdout
    assert out.strip() == "deployment.apps/web edited"
    d = kubectl.json("get", "deploy", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.99"
    assert d["spec"]["replicas"] == 6
    noop = kubectl("edit", "deploy", "web", env={"EDITOR": "true", "KUBE_EDITOR": "true"})
    assert "Edit cancelled, no changes made." in noop.stderr


def test_scale(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    assert kubectl("scale", "deploy", "web", "--replicas=5").stdout.strip() == "deployment.apps/web scaled"
    assert kubectl.json("get", "deploy", "web")["spec"]["replicas"] == 5
    kubectl("scale", "deploy/web", "--replicas=0")
    assert kubectl.json("get", "deploy", "web")["spec"]["replicas"] == 0
    refused = kubectl.fail("scale", "deploy", "web", "--replicas=3", "--current-replicas=4")
    assert "expected" in refused.stderr.lower() or "precondition" in refused.stderr.lower()
    assert kubectl.json("get", "deploy", "web")["spec"]["replicas"] == 0
    missing = kubectl.fail("scale", "deploy", "ghost", "--replicas=1")
    assert "not found" in missing.stderr


def test_set_image_env_and_rollout_restart(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    assert kubectl("set", "image", "deploy/web", "app=nginx:2").stdout.strip() == "deployment.apps/web image updated"
    assert kubectl("set", "env", "deploy/web", "DEBUG-", "NEW=1").stdout.strip() == "deployment.apps/web env updated"
    assert kubectl("rollout", "restart", "deploy/web").stdout.strip() == "deployment.apps/web restarted"
    d = kubectl.json("get", "deploy", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"
    assert container_env(d) == {"MODE": "production", "NEW": "1"}
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    assert d["metadata"]["generation"] == 4


def test_replace(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    uid = kubectl.json("get", "deploy", "web")["metadata"]["uid"]
    assert kubectl("replace", "-f", DEPLOYMENT_V2).stdout.strip() == "deployment.apps/web replaced"
    d = kubectl.json("get", "deploy", "web")
    assert d["metadata"]["uid"] == uid
    assert container_env(d) == {"MODE": "production"}
    forced = kubectl("replace", "--force", "-f", DEPLOYMENT).stdout.splitlines()
    assert forced == ['deployment.apps "web" deleted', "deployment.apps/web replaced"]
    assert kubectl.json("get", "deploy", "web")["metadata"]["uid"] != uid
    assert "NotFound" in kubectl.fail("replace", "-f", POD).stderr


# ---- explain -------------------------------------------------------------------------------


def test_explain_pod_containers(kubectl_cluster: Kubectl) -> None:
    out = kubectl_cluster("explain", "pods.spec.containers").stdout
    assert re.search(r"^KIND:\s+Pod$", out, re.M)
    assert re.search(r"^VERSION:\s+v1$", out, re.M)
    assert "FIELD: containers <[]Container>" in out
    for f in ("image\t<string>", "env\t<[]EnvVar>", "name\t<string> -required-", "resources\t<ResourceRequirements>"):
        assert f in out, f
    missing = kubectl_cluster("explain", "pods.spec.nonsense", check=False)
    assert missing.returncode != 0 and "nonsense" in missing.stderr


def test_explain_deployment_strategy(kubectl_cluster: Kubectl) -> None:
    out = kubectl_cluster("explain", "deployment.spec.strategy").stdout
    assert re.search(r"^GROUP:\s+apps$", out, re.M)
    assert re.search(r"^KIND:\s+Deployment$", out, re.M)
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert "rollingUpdate\t<RollingUpdateDeployment>" in out
    assert "type\t<string>" in out


# ---- wait ------------------------------------------------------------------------------------


def test_wait_for_deployment_condition_set_via_status(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", DEPLOYMENT)
    waiter = kubectl.background("wait", "--for=condition=Available", "deploy/web", "--timeout=15s")
    time.sleep(0.3)
    assert waiter.proc.poll() is None, "wait returned before the condition was set"
    status = {"status": {"observedGeneration": 1, "conditions": [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "ok"}]},
        "spec": {"replicas": 9}}
    kubectl("patch", "deploy", "web", "--subresource=status", "--type=merge", "-p", json.dumps(status))
    assert waiter.finish() == 0, waiter.lines
    assert waiter.lines == ["deployment.apps/web condition met"]
    d = kubectl.json("get", "deploy", "web")
    assert d["status"]["conditions"][0]["type"] == "Available"
    assert d["spec"]["replicas"] == 2  # the status subresource ignores spec
    # the main resource ignores status
    kubectl("patch", "deploy", "web", "--type=merge", "-p", '{"status":{"replicas":7}}')
    assert kubectl.json("get", "deploy", "web")["status"].get("replicas") in (None, 0)


def test_wait_for_node_ready(kubectl_cluster: Kubectl, node_name: str) -> None:
    kubectl_cluster("create", "-f", "-", input=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name}}))
    timed_out = kubectl_cluster("wait", "--for=condition=Ready", f"node/{node_name}", "--timeout=1s", check=False)
    assert timed_out.returncode != 0 and "timed out" in timed_out.stderr
    waiter = kubectl_cluster.background("wait", "--for=condition=Ready=True", f"node/{node_name}", "--timeout=15s")
    cond = {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
    kubectl_cluster("patch", "node", node_name, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": {"conditions": [cond]}}))
    assert waiter.finish() == 0, waiter.lines
    assert waiter.lines == [f"node/{node_name} condition met"]
    assert rows(kubectl_cluster("get", "node", node_name).stdout)[0][1] == "Ready"


def test_wait_for_jsonpath_on_pod_status(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", POD)
    waiter = kubectl.background("wait", "--for=jsonpath={.status.phase}=Running", "pod/solo", "--timeout=15s")
    status = {"status": {"phase": "Running", "podIP": "10.1.2.3", "conditions": [
        {"type": "Ready", "status": "True"}], "containerStatuses": [
        {"name": "main", "ready": True, "restartCount": 1, "image": "busybox:1.36", "imageID": "",
         "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}}]}}
    kubectl("patch", "pod", "solo", "--subresource=status", "--type=merge", "-p", json.dumps(status))
    assert waiter.finish() == 0, waiter.lines
    assert waiter.lines == ["pod/solo condition met"]
    kubectl("wait", "--for=condition=Ready", "pod/solo", "--timeout=5s")
    row = rows(kubectl("get", "pod", "solo", "-o", "wide").stdout)[0]
    assert row[:6] == ["solo", "1/1", "Running", "1", row[4], "10.1.2.3"]


def test_wait_for_delete(kubectl: Kubectl) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "held", "finalizers": ["example.com/hold"]}, "data": {"a": "b"}}
    kubectl("create", "-f", "-", input=json.dumps(cm))
    kubectl("delete", "cm", "held", "--wait=false")
    held = kubectl.json("get", "cm", "held")
    assert held["metadata"]["deletionTimestamp"]
    waiter = kubectl.background("wait", "--for=delete", "cm/held", "--timeout=15s")
    time.sleep(0.3)
    assert waiter.proc.poll() is None, "wait returned while a finalizer still held the object"
    kubectl("patch", "cm", "held", "--type=json", "-p", '[{"op":"remove","path":"/metadata/finalizers"}]')
    assert waiter.finish() == 0, waiter.lines
    assert waiter.lines == ["configmap/held condition met"]
    assert "NotFound" in kubectl.fail("get", "cm", "held").stderr


# ---- imperative create (protobuf bodies) ------------------------------------------------------


def test_create_namespace(server: RunningServer, kubectl_cluster: Kubectl, collections: list[str]) -> None:
    from tests.e2e.conftest import destroy_namespace

    name = unique("e2e-created")
    try:
        assert kubectl_cluster("create", "namespace", name).stdout.strip() == f"namespace/{name} created"
        ns = kubectl_cluster.json("get", "namespace", name)
        assert ns["status"]["phase"] == "Active"
        assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == name
        dup = kubectl_cluster.fail("create", "namespace", name)
        assert "AlreadyExists" in dup.stderr
    finally:
        destroy_namespace(server, name, collections)


def test_create_configmap_from_literal(kubectl: Kubectl) -> None:
    out = kubectl("create", "configmap", "lit", "--from-literal=color=red", "--from-literal=n=1").stdout
    assert out.strip() == "configmap/lit created"
    assert kubectl.json("get", "cm", "lit")["data"] == {"color": "red", "n": "1"}


def test_create_secret_generic(kubectl: Kubectl) -> None:
    out = kubectl("create", "secret", "generic", "creds", "--from-literal=user=admin",
                  "--from-literal=password=s3cr3t").stdout
    assert out.strip() == "secret/creds created"
    s = kubectl.json("get", "secret", "creds")
    assert s["type"] == "Opaque"
    assert {k: base64.b64decode(v).decode() for k, v in s["data"].items()} == {"user": "admin", "password": "s3cr3t"}


def test_create_deployment(kubectl: Kubectl) -> None:
    out = kubectl("create", "deployment", "api", "--image=nginx:1.25", "--replicas=3", "--port=8080").stdout
    assert out.strip() == "deployment.apps/api created"
    d = kubectl.json("get", "deploy", "api")
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["selector"] == {"matchLabels": {"app": "api"}}
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "nginx:1.25" and c["ports"][0]["containerPort"] == 8080
    assert d["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted


def test_run(kubectl: Kubectl) -> None:
    out = kubectl("run", "shell", "--image=busybox:1.36", "--labels=role=debug", "--env=A=1",
                  "--", "sleep", "60").stdout
    assert out.strip() == "pod/shell created"
    pod = kubectl.json("get", "pod", "shell")
    assert pod["metadata"]["labels"] == {"role": "debug"}
    c = pod["spec"]["containers"][0]
    assert c["name"] == "shell" and c["image"] == "busybox:1.36"
    assert c["args"] == ["sleep", "60"]
    assert c["env"] == [{"name": "A", "value": "1"}]
    assert pod["status"]["phase"] == "Pending"


# ---- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("manifest", "field", "text"), [
    ("invalid-name.yaml", "metadata.name", 'Invalid value: "Web_1": a lowercase RFC 1123 subdomain'),
    ("invalid-no-image.yaml", "spec.containers[0].image", "Required value"),
    ("invalid-cpu.yaml", "spec.containers[0].resources.limits[cpu]", "quantities must match the regular expression"),
])
def test_invalid_objects_are_refused(kubectl: Kubectl, manifest: str, field: str, text: str) -> None:
    for verb in ("create", "apply"):
        p = kubectl.fail(verb, "-f", str(MANIFESTS / manifest))
        assert p.returncode == 1
        assert field in p.stderr, p.stderr
        assert text in p.stderr, p.stderr
        assert "is invalid" in p.stderr or "BadRequest" in p.stderr
    assert kubectl("get", "pods").stdout == ""  # nothing was stored


@pytest.mark.parametrize(("manifest", "field"), [
    ("unknown-field.yaml", "dataa"),
    ("unknown-nested-field.yaml", "spec.template.spec.containers[0].imagePullPolicyy"),
])
def test_apply_unknown_field_is_refused(kubectl: Kubectl, manifest: str, field: str) -> None:
    p = kubectl.fail("apply", "-f", str(MANIFESTS / manifest))
    assert f'unknown field "{field}"' in p.stderr, p.stderr
    assert "typo" not in kubectl("get", "cm,deploy", "-o", "name").stdout
    lenient = kubectl("apply", "-f", str(MANIFESTS / manifest), "--validate=false")
    assert "created" in lenient.stdout


def test_get_missing_object_is_not_found(kubectl: Kubectl) -> None:
    p = kubectl.fail("get", "pod", "ghost")
    assert p.stderr.strip() == 'Error from server (NotFound): pods "ghost" not found'
    p = kubectl.fail("get", "deployment", "ghost", "-o", "json")
    assert 'deployments.apps "ghost" not found' in p.stderr
    p = kubectl.fail("get", "nosuchkind")
    assert 'the server doesn\'t have a resource type "nosuchkind"' in p.stderr
    ok = kubectl("get", "pod", "ghost", "--ignore-not-found")
    assert ok.stdout == "" and ok.stderr == ""


# ---- priority classes -----------------------------------------------------------------------


def test_priority_class_gives_pods_their_priority(kubectl: Kubectl, kubectl_cluster: Kubectl) -> None:
    """``kubectl create priorityclass`` (a protobuf body), its table, and a pod that names it."""
    name = unique("pc")
    try:
        out = kubectl_cluster("create", "priorityclass", name, "--value=1000", "--description=for tests",
                              "--preemption-policy=Never").stdout
        assert out.strip() == f"priorityclass.scheduling.k8s.io/{name} created"
        table = kubectl_cluster("get", "pc", name).stdout
        assert header(table) == ["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"]
        row = rows(table)[0]
        assert (row[0], row[1], row[2], row[4]) == (name, "1000", "false", "Never")
        system = kubectl_cluster("get", "priorityclasses", "-o", "name").stdout.split()
        assert "priorityclass.scheduling.k8s.io/system-node-critical" in system
        manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "urgent"},
                    "spec": {"priorityClassName": name, "containers": [{"name": "c", "image": "busybox"}]}}
        kubectl("apply", "-f", "-", input=json.dumps(manifest))
        spec = kubectl.json("get", "pod", "urgent")["spec"]
        assert (spec["priority"], spec["preemptionPolicy"]) == (1000, "Never")
        manifest["metadata"]["name"] = "nameless"
        manifest["spec"]["priorityClassName"] = unique("missing")
        bad = kubectl.fail("apply", "-f", "-", input=json.dumps(manifest))
        assert "Forbidden" in bad.stderr and "no PriorityClass with name" in bad.stderr
        assert kubectl("get", "pod", "nameless", check=False).returncode != 0
        refused = kubectl_cluster.fail("delete", "priorityclass", "system-cluster-critical")
        assert "this is a system priority class and cannot be deleted" in refused.stderr
        too_high = kubectl_cluster.fail("create", "priorityclass", unique("pc"), "--value=2000000000")
        assert "maximum allowed value of a user defined priority is 1000000000" in too_high.stderr
    finally:
        kubectl_cluster("delete", "priorityclass", name, "--ignore-not-found")
