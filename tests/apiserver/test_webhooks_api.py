"""Admission webhooks against a real HTTPS webhook on loopback (its own CA, given as ``caBundle``), through
the real kubectl, the official Python client and plain HTTPS: denial, mutation by JSON patch, failure
policies, timeouts, answers that are not AdmissionReviews, service references, dry run, reinvocation,
match conditions, the scale subresource, and the configuration kinds' own validation and tables."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer, free_port, start_server
from tests.webhook_fixture import WebhookServer, make_certs

ADM = "/apis/admissionregistration.k8s.io/v1"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # a server of its own: webhooks registered here must not reach other modules' requests
    s = start_server(Path(tmp_path_factory.mktemp("webhooks")),
                     args=["--disable-scheduler", "--disable-controller-manager"])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def hook() -> Iterator[WebhookServer]:
    w = WebhookServer(dns_names=["hook.webhooks.svc"]).start()
    yield w
    w.stop()


@pytest.fixture
def ns(srv: RunningServer) -> str:
    """A namespace labelled with its own name, which each test's webhooks select."""
    name = f"wh-{uuid.uuid4().hex[:8]}"
    r = srv.session().post(srv.url + "/api/v1/namespaces",
                           json={"metadata": {"name": name, "labels": {"wh-test": name}}})
    assert r.status_code == 201, r.text
    return name


@pytest.fixture
def configs(srv: RunningServer) -> Iterator[list[str]]:
    """Names of configurations made by a test (``plural/name``), removed after it."""
    made: list[str] = []
    yield made
    s = srv.session()
    for item in made:
        s.delete(f"{srv.url}{ADM}/{item}")


def webhook(name: str, ns: str, client_config: dict[str, Any], *, resources: list[str] | None = None,
            operations: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "clientConfig": client_config,
        "rules": [{"operations": operations or ["CREATE"], "apiGroups": ["*"], "apiVersions": ["*"],
                   "resources": resources or ["configmaps"]}],
        "namespaceSelector": {"matchLabels": {"wh-test": ns}},
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        **extra,
    }


def register(srv: RunningServer, configs: list[str], kind: str, name: str, hooks: list[dict[str, Any]]) -> None:
    plural = kind.lower() + "s"
    r = srv.session().post(f"{srv.url}{ADM}/{plural}", json={
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": kind, "metadata": {"name": name},
        "webhooks": hooks})
    assert r.status_code == 201, r.text
    configs.append(f"{plural}/{name}")


def cm(srv: RunningServer, ns: str, name: str, *, params: str = "", **meta: Any) -> requests.Response:
    return srv.session().post(f"{srv.url}/api/v1/namespaces/{ns}/configmaps{params}",
                              json={"metadata": {"name": name, **meta}, "data": {"k": "v"}})


def test_validating_webhook_denies_with_its_message(srv: RunningServer, hook: WebhookServer, ns: str,
                                                    configs: list[str]) -> None:
    register(srv, configs, "ValidatingWebhookConfiguration", f"deny-{ns}",
             [webhook("deny.example.com", ns, {"url": hook.url("/deny"), "caBundle": hook.ca_bundle})])
    r = cm(srv, ns, "one")
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["message"] == 'admission webhook "deny.example.com" denied the request: ' \
                              "pods named deny-me are not welcome"
    assert body["reason"] == "Forbidden"
    p = srv.kubectl("-n", ns, "create", "configmap", "two", "--from-literal=a=b", check=False)
    assert p.returncode != 0
    assert p.stderr.strip() == 'error: failed to create configmap: admission webhook "deny.example.com" denied the ' \
                               "request: pods named deny-me are not welcome"
    p = srv.kubectl("-n", ns, "apply", "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "three"}}))
    assert 'Error from server (Forbidden): error when creating "STDIN": admission webhook "deny.example.com" ' \
           "denied the request: pods named deny-me are not welcome" in p.stderr
    # what the webhook was sent
    req = hook.seen("/deny")[-1]["request"]
    assert req["operation"] == "CREATE"
    assert req["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert req["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
    assert req["namespace"] == ns and req["name"] == "three"
    assert req["oldObject"] is None
    assert req["userInfo"]["username"] and req["dryRun"] is False
    # other namespaces are not selected
    other = f"other-{uuid.uuid4().hex[:6]}"
    srv.kubectl("create", "namespace", other)
    assert cm(srv, other, "free").status_code == 201


def test_python_client_sees_the_denial(srv: RunningServer, hook: WebhookServer, ns: str,
                                       configs: list[str]) -> None:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    register(srv, configs, "ValidatingWebhookConfiguration", f"deny-{ns}",
             [webhook("deny.example.com", ns, {"url": hook.url("/deny"), "caBundle": hook.ca_bundle})])
    api = client.CoreV1Api(config.new_client_from_config(str(srv.kubeconfig)))
    with pytest.raises(ApiException) as e:
        api.create_namespaced_config_map(ns, {"metadata": {"name": "x"}, "data": {}})
    assert e.value.status == 403
    assert "denied the request: pods named deny-me are not welcome" in json.loads(e.value.body)["message"]


def test_mutating_webhook_patches_before_validation(srv: RunningServer, hook: WebhookServer, ns: str,
                                                    configs: list[str]) -> None:
    register(srv, configs, "MutatingWebhookConfiguration", f"label-{ns}",
             [webhook("label.example.com", ns, {"url": hook.url("/label"), "caBundle": hook.ca_bundle})])
    srv.kubectl("-n", ns, "create", "configmap", "patched", "--from-literal=a=b")
    got = json.loads(srv.kubectl("-n", ns, "get", "configmap", "patched", "-o", "json").stdout)
    assert got["metadata"]["labels"] == {"mutated-by": "webhook"}
    sent = hook.seen("/label")[-1]["request"]["object"]
    assert "uid" not in sent["metadata"]  # mutation comes before the server fills the object in
    # a Pod is sent defaulted (upstream decodes with defaulting before mutating admission)
    register(srv, configs, "MutatingWebhookConfiguration", f"label-pods-{ns}",
             [webhook("label-pods.example.com", ns, {"url": hook.url("/label"), "caBundle": hook.ca_bundle},
                      resources=["pods"])])
    srv.kubectl("-n", ns, "run", "web", "--image=nginx")
    pod = hook.seen("/label")[-1]["request"]["object"]
    assert pod["spec"]["restartPolicy"] == "Always" and pod["spec"]["dnsPolicy"] == "ClusterFirst"
    got = json.loads(srv.kubectl("-n", ns, "get", "pod", "web", "-o", "json").stdout)
    assert got["metadata"]["labels"]["mutated-by"] == "webhook" and got["metadata"]["labels"]["run"] == "web"


def test_failure_policy_on_an_unreachable_webhook(srv: RunningServer, hook: WebhookServer, ns: str,
                                                  configs: list[str]) -> None:
    port = free_port()
    url = f"https://127.0.0.1:{port}/nobody"
    register(srv, configs, "ValidatingWebhookConfiguration", f"down-{ns}",
             [webhook("down.example.com", ns, {"url": url, "caBundle": hook.ca_bundle}, failurePolicy="Fail")])
    r = cm(srv, ns, "refused")
    assert r.status_code == 500, r.text
    assert r.json()["reason"] == "InternalError"
    assert r.json()["message"] == (
        'Internal error occurred: failed calling webhook "down.example.com": failed to call webhook: '
        f'Post "{url}?timeout=10s": dial tcp 127.0.0.1:{port}: connect: connection refused')
    srv.session().delete(f"{srv.url}{ADM}/{configs.pop()}")
    register(srv, configs, "ValidatingWebhookConfiguration", f"down-ignore-{ns}",
             [webhook("down.example.com", ns, {"url": url, "caBundle": hook.ca_bundle}, failurePolicy="Ignore")])
    assert cm(srv, ns, "passes").status_code == 201


def test_timeouts(srv: RunningServer, hook: WebhookServer, ns: str, configs: list[str]) -> None:
    register(srv, configs, "ValidatingWebhookConfiguration", f"slow-{ns}",
             [webhook("slow.example.com", ns, {"url": hook.url("/slow"), "caBundle": hook.ca_bundle},
                      timeoutSeconds=1)])
    t0 = time.monotonic()
    r = cm(srv, ns, "late")
    took = time.monotonic() - t0
    assert r.status_code == 500, r.text
    assert r.json()["message"].endswith(f'Post "{hook.url("/slow")}?timeout=1s": context deadline exceeded')
    assert took < 3
    srv.session().delete(f"{srv.url}{ADM}/{configs.pop()}")
    register(srv, configs, "ValidatingWebhookConfiguration", f"slow-ignore-{ns}",
             [webhook("slow.example.com", ns, {"url": hook.url("/slow"), "caBundle": hook.ca_bundle},
                      timeoutSeconds=1, failurePolicy="Ignore")])
    assert cm(srv, ns, "late-but-fine").status_code == 201


@pytest.mark.parametrize(("path", "why"), [
    ("/garbage", "failed to call webhook: couldn't get version/kind; json parse error"),
    ("/wrong-uid", 'received invalid webhook response: expected response.uid="'),
])
def test_bad_responses_are_clear_errors(srv: RunningServer, hook: WebhookServer, ns: str, configs: list[str],
                                        path: str, why: str) -> None:
    register(srv, configs, "ValidatingWebhookConfiguration", f"bad-{ns}",
             [webhook("bad.example.com", ns, {"url": hook.url(path), "caBundle": hook.ca_bundle})])
    r = cm(srv, ns, "x")
    assert r.status_code == 500, r.text
    assert r.json()["message"].startswith(f'Internal error occurred: failed calling webhook "bad.example.com": {why}')
    p = srv.kubectl("-n", ns, "apply", "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y"}}))
    assert p.returncode != 0 and 'Error from server (InternalError): error when creating "STDIN": Internal error ' \
        'occurred: failed calling webhook "bad.example.com"' in p.stderr


def test_ca_bundle_is_the_only_trust(srv: RunningServer, hook: WebhookServer, ns: str, configs: list[str]) -> None:
    import base64

    other_ca = base64.b64encode(make_certs(["x"])[0]).decode()
    register(srv, configs, "ValidatingWebhookConfiguration", f"ca-{ns}",
             [webhook("ca.example.com", ns, {"url": hook.url("/allow"), "caBundle": other_ca})])
    r = cm(srv, ns, "untrusted")
    assert r.status_code == 500
    assert "tls: failed to verify certificate: x509: certificate signed by unknown authority" in r.json()["message"]


def test_service_reference(srv: RunningServer, hook: WebhookServer, configs: list[str]) -> None:
    """A ``service`` target: not found, no endpoints, then an ExternalName Service leading to the webhook,
    whose certificate is checked for ``hook.webhooks.svc`` (Endpoints may not hold loopback addresses)."""
    s = srv.session()
    s.post(srv.url + "/api/v1/namespaces", json={"metadata": {"name": "webhooks"}})
    target = f"svc-{uuid.uuid4().hex[:8]}"
    s.post(srv.url + "/api/v1/namespaces", json={"metadata": {"name": target, "labels": {"wh-test": target}}})
    register(srv, configs, "MutatingWebhookConfiguration", f"svc-{target}",
             [webhook("svc.example.com", target, {"service": {"namespace": "webhooks", "name": "hook",
                                                              "path": "/label", "port": hook.port},
                                                  "caBundle": hook.ca_bundle})])
    r = cm(srv, target, "no-service")
    assert r.status_code == 500
    assert r.json()["message"].endswith(
        f'Post "https://hook.webhooks.svc:{hook.port}/label?timeout=10s": service "hook" not found')
    svc = {"metadata": {"name": "hook"}, "spec": {"ports": [{"name": "https", "port": hook.port}]}}
    assert s.post(srv.url + "/api/v1/namespaces/webhooks/services", json=svc).status_code == 201
    r = cm(srv, target, "no-endpoints")
    assert r.json()["message"].endswith('no endpoints available for service "hook"')
    s.delete(srv.url + "/api/v1/namespaces/webhooks/services/hook")
    svc["spec"] = {"type": "ExternalName", "externalName": "localhost", "ports": [{"name": "https", "port": hook.port}]}
    assert s.post(srv.url + "/api/v1/namespaces/webhooks/services", json=svc).status_code == 201
    r = cm(srv, target, "through-service")
    assert r.status_code == 201, r.text
    assert r.json()["metadata"]["labels"] == {"mutated-by": "webhook"}


def test_dry_run_reaches_side_effect_free_webhooks(srv: RunningServer, hook: WebhookServer, ns: str,
                                                   configs: list[str]) -> None:
    register(srv, configs, "MutatingWebhookConfiguration", f"dry-{ns}",
             [webhook("dry.example.com", ns, {"url": hook.url("/label"), "caBundle": hook.ca_bundle},
                      sideEffects="NoneOnDryRun")])
    out = srv.kubectl("-n", ns, "create", "configmap", "dry", "--dry-run=server", "-o", "json").stdout
    assert json.loads(out)["metadata"]["labels"] == {"mutated-by": "webhook"}
    assert hook.seen("/label")[-1]["request"]["dryRun"] is True
    assert srv.kubectl("-n", ns, "get", "configmap", "dry", check=False).returncode != 0


def test_reinvocation_if_needed(srv: RunningServer, hook: WebhookServer, ns: str, configs: list[str]) -> None:
    # "a-" runs first (configurations go by name); "b-" changes the object after it, so "a-" runs again
    register(srv, configs, "MutatingWebhookConfiguration", f"a-count-{ns}",
             [webhook("count.example.com", ns, {"url": hook.url("/count"), "caBundle": hook.ca_bundle},
                      reinvocationPolicy="IfNeeded")])
    register(srv, configs, "MutatingWebhookConfiguration", f"b-label-{ns}",
             [webhook("label.example.com", ns, {"url": hook.url("/label"), "caBundle": hook.ca_bundle})])
    r = cm(srv, ns, "again")
    assert r.status_code == 201, r.text
    assert r.json()["metadata"]["annotations"] == {"calls": "xx"}
    assert r.json()["metadata"]["labels"] == {"mutated-by": "webhook"}
    # with Never, once
    srv.session().delete(f"{srv.url}{ADM}/{configs.pop(0)}")
    register(srv, configs, "MutatingWebhookConfiguration", f"a-count-{ns}",
             [webhook("count.example.com", ns, {"url": hook.url("/count"), "caBundle": hook.ca_bundle})])
    r = cm(srv, ns, "once")
    assert r.json()["metadata"]["annotations"] == {"calls": "x"}


def test_match_conditions_and_object_selector(srv: RunningServer, hook: WebhookServer, ns: str,
                                              configs: list[str]) -> None:
    register(srv, configs, "ValidatingWebhookConfiguration", f"cond-{ns}", [webhook(
        "cond.example.com", ns, {"url": hook.url("/deny"), "caBundle": hook.ca_bundle},
        matchConditions=[{"name": "not-exempt", "expression": "object.metadata.name != 'exempt'"}],
        objectSelector={"matchExpressions": [{"key": "free", "operator": "DoesNotExist"}]})])
    assert cm(srv, ns, "exempt").status_code == 201
    assert cm(srv, ns, "labelled", labels={"free": "yes"}).status_code == 201
    assert cm(srv, ns, "caught").status_code == 403


def test_update_and_delete_operations(srv: RunningServer, hook: WebhookServer, ns: str, configs: list[str]) -> None:
    assert cm(srv, ns, "kept").status_code == 201
    register(srv, configs, "ValidatingWebhookConfiguration", f"ud-{ns}", [webhook(
        "ud.example.com", ns, {"url": hook.url("/deny"), "caBundle": hook.ca_bundle},
        operations=["UPDATE", "DELETE"])])
    p = srv.kubectl("-n", ns, "label", "configmap", "kept", "a=b", check=False)
    assert p.returncode != 0 and "denied the request" in p.stderr
    p = srv.kubectl("-n", ns, "delete", "configmap", "kept", check=False)
    assert p.returncode != 0 and "denied the request" in p.stderr
    reqs = [b["request"] for b in hook.seen("/deny")[-2:]]
    assert [r["operation"] for r in reqs] == ["UPDATE", "DELETE"]
    assert reqs[0]["oldObject"]["metadata"]["name"] == "kept" and reqs[0]["object"]["metadata"]["labels"] == {"a": "b"}
    assert reqs[1]["object"] is None and reqs[1]["oldObject"]["metadata"]["name"] == "kept"
    assert reqs[1]["options"]["kind"] == "DeleteOptions"


def test_scale_subresource_sees_a_scale(srv: RunningServer, hook: WebhookServer, ns: str, configs: list[str]) -> None:
    srv.kubectl("-n", ns, "create", "deployment", "web", "--image=nginx")
    register(srv, configs, "ValidatingWebhookConfiguration", f"scale-{ns}", [webhook(
        "scale.example.com", ns, {"url": hook.url("/replicas"), "caBundle": hook.ca_bundle},
        operations=["UPDATE"], resources=["deployments/scale"])])
    p = srv.kubectl("-n", ns, "scale", "deployment", "web", "--replicas=5", check=False)
    assert p.returncode != 0 and 'admission webhook "scale.example.com" denied the request: at most 3 replicas' \
        in p.stderr
    srv.kubectl("-n", ns, "scale", "deployment", "web", "--replicas=2")
    req = hook.seen("/replicas")[-1]["request"]
    assert req["kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert req["subResource"] == "scale" and req["resource"]["resource"] == "deployments"


def test_warnings_reach_kubectl(srv: RunningServer, hook: WebhookServer, ns: str, configs: list[str]) -> None:
    register(srv, configs, "ValidatingWebhookConfiguration", f"warn-{ns}",
             [webhook("warn.example.com", ns, {"url": hook.url("/warn"), "caBundle": hook.ca_bundle})])
    p = srv.kubectl("-n", ns, "create", "configmap", "watched")
    assert "Warning: this object is watched" in p.stderr


def test_configuration_validation_and_table(srv: RunningServer, hook: WebhookServer, configs: list[str]) -> None:
    r = srv.session().post(f"{srv.url}{ADM}/validatingwebhookconfigurations", json={
        "metadata": {"name": "bad"}, "webhooks": [{
            "name": "short", "clientConfig": {"url": "http://127.0.0.1/x"},
            "rules": [{"operations": ["PATCH"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}],
            "timeoutSeconds": 31, "admissionReviewVersions": ["v1"],
            "matchConditions": [{"name": "c", "expression": "object.("}]}]})
    assert r.status_code == 422, r.text
    msg = r.json()["message"]
    for part in ("webhooks[0].name: Invalid value: \"short\": should be a domain with at least three segments",
                 "webhooks[0].clientConfig.url: Invalid value: \"http://127.0.0.1/x\": 'https' is the only allowed",
                 "webhooks[0].rules[0].operations[0]: Unsupported value: \"PATCH\"",
                 "webhooks[0].sideEffects: Required value",
                 "webhooks[0].timeoutSeconds: Invalid value: 31",
                 "webhooks[0].matchConditions[0].expression: Invalid value"):
        assert part in msg, msg
    register(srv, configs, "ValidatingWebhookConfiguration", "listed",
             [webhook("one.example.com", "nowhere", {"url": hook.url("/allow")}),
              webhook("two.example.com", "nowhere", {"url": hook.url("/allow")})])
    out = srv.kubectl("get", "validatingwebhookconfigurations", "listed").stdout.splitlines()
    assert out[0].split() == ["NAME", "WEBHOOKS", "AGE"] and out[1].split()[:2] == ["listed", "2"]
    got = json.loads(srv.kubectl("get", "validatingwebhookconfiguration", "listed", "-o", "json").stdout)
    w = got["webhooks"][0]
    assert (w["failurePolicy"], w["matchPolicy"], w["timeoutSeconds"], w["rules"][0]["scope"]) == \
        ("Fail", "Equivalent", 10, "*")
