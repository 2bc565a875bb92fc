"""The UI's pure JavaScript (kubectl's columns, rollback patches, quantities, the terminal's screen),
as tables, run in the real browser: each case is the module's function applied to an input there."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shoal.ui.assets import ASSETS, Bundle
from tests.server_fixture import RunningServer
from tests.ui.conftest import goto


@pytest.fixture(scope="module")
def page(server: RunningServer, browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(ignore_https_errors=True)
    p = ctx.new_page()
    goto(p, server.url + "/ui/")
    yield p
    ctx.close()


def call(page: Any, module: str, fn: str, *args: Any) -> Any:
    url = f"{ASSETS}{Bundle.load().build}/js/{module}"
    return page.evaluate("async ([url, fn, args]) => { const m = await import(url); return m[fn](...args); }",
                         [url, fn, list(args)])


def pod(phase: str = "Running", containers: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    statuses = containers if containers is not None else [
        {"name": "main", "ready": True, "restartCount": 0, "state": {"running": {}}}]
    md = {"name": "p", "namespace": "default", **extra.pop("metadata", {})}
    return {"metadata": md, "spec": {"containers": [{"name": c["name"]} for c in statuses] or [{"name": "main"}],
                                     **extra.pop("spec", {})},
            "status": {"phase": phase, "containerStatuses": statuses, **extra}}


@pytest.mark.parametrize(("p", "want"), [
    (pod(), {"status": "Running", "ready": "1/1", "restarts": 0}),
    (pod("Pending", [{"name": "a", "ready": False, "restartCount": 4,
                      "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
     {"status": "CrashLoopBackOff", "ready": "0/1", "restarts": 4}),
    (pod("Succeeded", [{"name": "a", "ready": False, "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]),
     {"status": "Completed", "ready": "0/1", "restarts": 0}),
    (pod("Failed", [{"name": "a", "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 2}}}]),
     {"status": "ExitCode:2", "ready": "0/1", "restarts": 0}),
    (pod("Pending", [], spec={"initContainers": [{"name": "i"}, {"name": "j"}]},
         initContainerStatuses=[{"name": "i", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
                                {"name": "j", "restartCount": 1, "state": {"running": {}}}]),
     {"status": "Init:1/2", "ready": "0/1", "restarts": 1}),
    (pod(metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}), {"status": "Terminating", "ready": "1/1", "restarts": 0}),
    (pod("Failed", [], reason="Evicted"), {"status": "Evicted", "ready": "0/1", "restarts": 0}),
])
def test_pod_status_as_kubectl(page: Any, p: dict[str, Any], want: dict[str, Any]) -> None:
    assert call(page, "kube.js", "podStatus", p) == want


@pytest.mark.parametrize(("q", "want"), [
    ("250m", 0.25), ("2", 2), ("1.5", 1.5), ("2500000n", 0.0025), ("128Mi", 128 * 2**20), ("1Gi", 2**30),
    ("1G", 1e9), ("24576Ki", 24576 * 1024), ("1e3", 1000), ("100k", 1e5), ("", 0), ("nonsense", None), ("5Xi", None),
])
def test_quantities(page: Any, q: str, want: float | None) -> None:
    got = call(page, "quantity.js", "parseQuantity", q)
    if want is None:
        assert got != got  # NaN
    else:
        assert got == pytest.approx(want)


UID = "d-uid"


def deployment(annotations: dict[str, str] | None = None, image: str = "b", paused: bool = False) -> dict[str, Any]:
    return {"metadata": {"name": "web", "uid": UID, "annotations": {"deployment.kubernetes.io/revision": "2",
                                                                    **(annotations or {})}},
            "spec": {"paused": paused, "template": {"metadata": {"labels": {"app": "web"}},
                                                   "spec": {"containers": [{"name": "c", "image": image}]}}}}


def rs(rev: int, image: str, cause: str | None = None, owner: str = UID) -> dict[str, Any]:
    ann = {"deployment.kubernetes.io/revision": str(rev)}
    if cause:
        ann["kubernetes.io/change-cause"] = cause
    return {"metadata": {"name": f"web-{rev}", "annotations": ann,
                         "ownerReferences": [{"uid": owner, "controller": True}]},
            "spec": {"template": {"metadata": {"labels": {"app": "web", "pod-template-hash": f"h{rev}"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def test_deployment_undo_is_kubectls_json_patch(page: Any) -> None:
    d = deployment({"kubectl.kubernetes.io/last-applied-configuration": "{}", "note": "dropped"})
    plan = call(page, "kube.js", "rollbackPatch", "Deployment", d, [rs(1, "a", "first"), rs(2, "b"),
                                                                    rs(9, "z", owner="someone-else")], 0)
    assert plan["type"] == "json" and plan["revision"] == 1
    assert plan["body"] == [
        {"op": "replace", "path": "/spec/template",
         "value": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "a"}]}}},
        {"op": "replace", "path": "/metadata/annotations",
         "value": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                   "deployment.kubernetes.io/revision": "2", "kubernetes.io/change-cause": "first"}},
    ]


@pytest.mark.parametrize(("d", "children", "to", "want"), [
    (deployment(paused=True), [rs(1, "a"), rs(2, "b")], 0, {"error": "you cannot rollback a paused deployment; "
                                                            "resume it first with 'kubectl rollout resume' and try again"}),
    (deployment(), [rs(2, "b")], 0, {"error": 'no rollout history found for deployment "web"'}),
    (deployment(), [rs(1, "a"), rs(2, "b")], 5, {"error": "unable to find specified revision 5 in history"}),
    (deployment(), [rs(1, "a"), rs(2, "b")], 2,
     {"skipped": "skipped rollback (current template already matches revision 2)"}),
])
def test_deployment_undo_refusals(page: Any, d: dict[str, Any], children: list[dict[str, Any]], to: int,
                                  want: dict[str, Any]) -> None:
    assert call(page, "kube.js", "rollbackPatch", "Deployment", d, children, to) == want


def test_statefulset_undo_sends_the_revision_data(page: Any) -> None:
    def rev(n: int, image: str) -> dict[str, Any]:
        return {"metadata": {"name": f"s-{n}", "ownerReferences": [{"uid": "s", "controller": True}]}, "revision": n,
                "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": [{"image": image}]}}}}}

    sts = {"metadata": {"name": "s", "uid": "s"}, "spec": {"template": {"spec": {"containers": [{"image": "b"}]}}}}
    plan = call(page, "kube.js", "rollbackPatch", "StatefulSet", sts, [rev(1, "a"), rev(2, "b")], 0)
    assert plan == {"type": "strategic", "revision": 1, "body": rev(1, "a")["data"]}
    hist = call(page, "kube.js", "history", "StatefulSet", sts, [rev(2, "b"), rev(1, "a")])
    assert [(h["revision"], h["images"], h["changeCause"]) for h in hist] == [(1, "a", "<none>"), (2, "b", "<none>")]


def test_restart_and_scale_patches(page: Any) -> None:
    assert call(page, "kube.js", "scalePatch", 4) == {"spec": {"replicas": 4}}
    p = call(page, "kube.js", "restartPatch")
    at = p["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"]
    assert at.endswith("Z") and "." not in at


@pytest.mark.parametrize(("chunks", "want"), [
    (["hello\r\nworld"], "hello\nworld"),
    (["abc\rX"], "Xbc"),
    (["abc\b\x1b[K"], "ab"),
    (["$ \x1b[31mred\x1b[0m ok"], "$ red ok"),
    (["one\x1b[", "2K\rtwo"], "two"),  # a sequence cut between two messages
    (["\x1b]0;title\x07$ ls"], "$ ls"),
    (["a\tb"], "a       b"),
])
def test_terminal_screen(page: Any, chunks: list[str], want: str) -> None:
    url = f"{ASSETS}{Bundle.load().build}/js/terminal.js"
    got = page.evaluate("async ([url, chunks]) => { const m = await import(url); const s = new m.Screen();"
                        " for (const c of chunks) s.write(c); return s.text(); }", [url, chunks])
    assert got == want


def test_manifest_documents_flatten_lists(page: Any) -> None:
    docs = call(page, "pages/deploy.js", "documents",
                [None, {"kind": "List", "items": [{"kind": "A"}, {"kind": "B"}]}, {"kind": "C"}])
    assert [d["kind"] for d in docs] == ["A", "B", "C"]
    assert call(page, "pages/deploy.js", "invalid", {"kind": "ConfigMap", "metadata": {"name": "x"}}) == \
        "error: unable to decode: Object 'apiVersion' is missing"


@pytest.mark.parametrize(("doc", "kube", "name"), [
    ({"apiVersion": "v1", "kind": "Pod"}, True, "document 1"),
    ({"kind": "ConfigMap"}, True, "document 1"),  # kubectl's "apiVersion is missing", not another system's
    ({"services": {"web": {"image": "nginx"}}}, False, "Compose file"),
    ({"id": "/a", "cmd": "x"}, False, "Marathon app /a"),
    ({"id": "/g", "apps": []}, False, "Marathon group /g"),
    ({"family": "web", "containerDefinitions": []}, False, "ECS task definition web"),
    ({"serviceName": "web", "taskDefinition": "web"}, False, "ECS service web"),
    ("text", True, "document 1"),
])
def test_manifest_routes_other_systems_to_shoal_apply(page: Any, doc: Any, kube: bool, name: str) -> None:
    assert call(page, "pages/deploy.js", "isKubernetes", doc) is kube
    assert call(page, "pages/deploy.js", "otherName", doc, 0) == name


def test_apply_result_line(page: Any) -> None:
    result = {"results": ["stack s: 1 service(s) deployed"],
              "objects": [{"kind": "Deployment", "namespace": "s", "name": "web", "action": "created"},
                          {"kind": "Namespace", "namespace": "", "name": "s", "action": "configured"}]}
    assert call(page, "pages/deploy.js", "applied", result) == \
        "stack s: 1 service(s) deployed; deployment/web -n s created; namespace/s configured"
