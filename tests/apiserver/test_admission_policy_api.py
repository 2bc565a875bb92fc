"""ValidatingAdmissionPolicy and its bindings through the real kubectl and plain HTTPS: Deny with upstream's
Status, Warn as ``Warning:`` lines, parameters from a ConfigMap (by name, and missing), messageExpression,
the binding's own match resources, the policy kinds' validation and tables."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer, start_server

ADM = "/apis/admissionregistration.k8s.io/v1"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    s = start_server(Path(tmp_path_factory.mktemp("vap")), args=["--disable-scheduler", "--disable-controller-manager"])
    yield s
    s.stop()


@pytest.fixture
def ns(srv: RunningServer) -> Iterator[str]:
    name = f"vap-{uuid.uuid4().hex[:8]}"
    srv.kubectl("create", "namespace", name)
    srv.kubectl("label", "namespace", name, f"vap-test={name}")
    made: list[str] = []
    yield name
    for item in made:
        srv.session().delete(f"{srv.url}{ADM}/{item}")


def create(srv: RunningServer, obj: dict[str, Any]) -> None:
    srv.kubectl("apply", "-f", "-", input=json.dumps(obj))


def policy(name: str, ns: str, validations: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name}, "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                                       "resources": ["deployments"]}],
                    "namespaceSelector": {"matchLabels": {"vap-test": ns}}},
                "validations": validations, **spec}}


def binding(name: str, policy_name: str, actions: list[str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name}, "spec": {"policyName": policy_name, "validationActions": actions, **spec}}


def test_deny_and_warn(srv: RunningServer, ns: str) -> None:
    create(srv, policy(f"max-{ns}.example.com", ns, [{"expression": "object.spec.replicas <= 5"}]))
    create(srv, binding(f"max-{ns}", f"max-{ns}.example.com", ["Deny"]))
    p = srv.kubectl("-n", ns, "create", "deployment", "big", "--image=nginx", "--replicas=7", check=False)
    assert p.returncode != 0
    assert p.stderr.strip() == (
        f'error: failed to create deployment: deployments.apps "big" is forbidden: ValidatingAdmissionPolicy '
        f"'max-{ns}.example.com' with binding 'max-{ns}' denied request: failed expression: object.spec.replicas <= 5")
    r = srv.session().post(f"{srv.url}/apis/apps/v1/namespaces/{ns}/deployments", json={
        "metadata": {"name": "big"}, "spec": {"replicas": 9, "selector": {"matchLabels": {"a": "b"}},
                                              "template": {"metadata": {"labels": {"a": "b"}},
                                                           "spec": {"containers": [{"name": "c", "image": "x"}]}}}})
    assert r.status_code == 422 and r.json()["reason"] == "Invalid"
    assert r.json()["details"]["causes"][0]["message"].startswith("ValidatingAdmissionPolicy")
    srv.kubectl("-n", ns, "create", "deployment", "small", "--image=nginx", "--replicas=2")
    # an update is held to it too (``kubectl scale`` is deployments/scale, which the rules do not name)
    p = srv.kubectl("-n", ns, "patch", "deployment", "small", "-p", '{"spec":{"replicas":8}}', check=False)
    assert p.returncode != 0 and "denied request: failed expression: object.spec.replicas <= 5" in p.stderr
    # Warn: the write goes through, kubectl prints the warning
    srv.kubectl("delete", "validatingadmissionpolicybinding", f"max-{ns}")
    create(srv, binding(f"max-warn-{ns}", f"max-{ns}.example.com", ["Warn", "Audit"]))
    p = srv.kubectl("-n", ns, "create", "deployment", "big", "--image=nginx", "--replicas=7")
    assert (f"Warning: Validation failed for ValidatingAdmissionPolicy 'max-{ns}.example.com' with binding "
            f"'max-warn-{ns}': failed expression: object.spec.replicas <= 5") in p.stderr
    srv.kubectl("delete", "validatingadmissionpolicybinding", f"max-warn-{ns}")


def test_params_from_a_configmap(srv: RunningServer, ns: str) -> None:
    name = f"param-{ns}.example.com"
    create(srv, policy(name, ns, [{"expression": "object.spec.replicas <= int(params.data.max)",
                                   "messageExpression": "'at most ' + params.data.max + ' replicas'",
                                   "reason": "Forbidden"}],
                       paramKind={"apiVersion": "v1", "kind": "ConfigMap"}))
    create(srv, binding(f"param-{ns}", name, ["Deny"],
                        paramRef={"name": "limits", "namespace": ns, "parameterNotFoundAction": "Deny"}))
    p = srv.kubectl("-n", ns, "create", "deployment", "a", "--image=nginx", check=False)
    assert p.returncode != 0 and "no params found for policy binding with `Deny` parameterNotFoundAction" in p.stderr
    srv.kubectl("-n", ns, "create", "configmap", "limits", "--from-literal=max=3")
    srv.kubectl("-n", ns, "create", "deployment", "a", "--image=nginx", "--replicas=3")
    p = srv.kubectl("-n", ns, "create", "deployment", "b", "--image=nginx", "--replicas=4", check=False)
    assert p.returncode != 0 and "Error from server (Forbidden)" not in p.stderr  # create deployment words it so
    assert f"'{name}' with binding 'param-{ns}' denied request: at most 3 replicas" in p.stderr
    r = srv.session().patch(f"{srv.url}/apis/apps/v1/namespaces/{ns}/deployments/a",
                            headers={"Content-Type": "application/merge-patch+json"},
                            data=json.dumps({"spec": {"replicas": 5}}))
    assert r.status_code == 403 and r.json()["reason"] == "Forbidden"
    srv.kubectl("delete", "validatingadmissionpolicybinding", f"param-{ns}")


def test_binding_match_resources_narrow_the_policy(srv: RunningServer, ns: str) -> None:
    name = f"named-{ns}.example.com"
    create(srv, policy(name, ns, [{"expression": "false", "message": "no"}]))
    create(srv, binding(f"named-{ns}", name, ["Deny"], matchResources={
        "objectSelector": {"matchLabels": {"guarded": "yes"}}}))
    srv.kubectl("-n", ns, "create", "deployment", "free", "--image=nginx")
    create(srv, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
        "name": "free", "namespace": ns, "labels": {"app": "free"}}, "spec": {
        "selector": {"matchLabels": {"app": "free"}},
        "template": {"metadata": {"labels": {"app": "free"}}, "spec": {"containers": [{"name": "c", "image": "y"}]}}}})
    p = srv.kubectl("-n", ns, "label", "deployment", "free", "guarded=yes", check=False)
    assert p.returncode != 0 and "denied request: no" in p.stderr
    srv.kubectl("delete", "validatingadmissionpolicybinding", f"named-{ns}")


def test_policy_validation_and_tables(srv: RunningServer, ns: str) -> None:
    bad = policy("bad.example.com", ns, [{"expression": "object.spec.("}])
    p = srv.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert p.returncode != 0 and "spec.validations[0].expression: Invalid value" in p.stderr
    b = binding("bad", "x", ["Deny", "Warn"])
    p = srv.kubectl("apply", "-f", "-", input=json.dumps(b), check=False)
    assert p.returncode != 0 and "must not contain both Deny and Warn" in p.stderr
    create(srv, policy(f"t-{ns}.example.com", ns, [{"expression": "true"}, {"expression": "true"}],
                       paramKind={"apiVersion": "v1", "kind": "ConfigMap"}))
    create(srv, binding(f"t-{ns}", f"t-{ns}.example.com", ["Audit"], paramRef={"name": "p", "namespace": "default"}))
    out = srv.kubectl("get", "validatingadmissionpolicies", f"t-{ns}.example.com").stdout.splitlines()
    assert out[0].split() == ["NAME", "VALIDATIONS", "PARAMKIND", "AGE"]
    assert out[1].split()[:3] == [f"t-{ns}.example.com", "2", "v1/ConfigMap"]
    out = srv.kubectl("get", "validatingadmissionpolicybindings", f"t-{ns}").stdout.splitlines()
    assert out[0].split() == ["NAME", "POLICYNAME", "PARAMREF", "AGE"]
    assert out[1].split()[:3] == [f"t-{ns}", f"t-{ns}.example.com", "default/p"]
    srv.kubectl("delete", "validatingadmissionpolicybinding", f"t-{ns}")
