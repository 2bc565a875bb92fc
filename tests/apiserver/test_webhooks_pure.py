"""The pure parts of dynamic admission, as tables: rule matching, selectors, reading a webhook's answer,
the denial Status, where a Service leads, and a policy's evaluation."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from shoal.apiserver.webhooks import matching, policies, review
from shoal.apiserver.webhooks.attributes import Attributes
from shoal.apiserver.webhooks.caller import CallError, display_url
from shoal.apiserver.webhooks.chain import endpoint_for


def attrs(op: str = "CREATE", resource: str = "pods", sub: str = "", group: str = "", version: str = "v1",
          ns: str = "default", obj: dict[str, Any] | None = None, old: dict[str, Any] | None = None,
          name: str = "p") -> Attributes:
    return Attributes(operation=op, group=group, version=version, resource=resource, subresource=sub, kind="Pod",
                      namespaced=bool(ns), namespace=ns, name=name, obj=obj, old=old)


def rule(**kw: Any) -> dict[str, Any]:
    return {"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], **kw}


@pytest.mark.parametrize(("r", "a", "exact", "want"), [
    (rule(), attrs(), False, True),
    (rule(operations=["UPDATE"]), attrs(), False, False),
    (rule(operations=["*"]), attrs(op="DELETE"), False, True),
    (rule(apiGroups=["apps"]), attrs(), False, False),
    (rule(apiGroups=["*"]), attrs(group="apps"), False, True),
    (rule(apiVersions=["v2"]), attrs(), False, True),  # Equivalent: the one served version
    (rule(apiVersions=["v2"]), attrs(), True, False),  # Exact
    (rule(resources=["pods"]), attrs(sub="status"), False, False),
    (rule(resources=["pods/status"]), attrs(sub="status"), False, True),
    (rule(resources=["pods/*"]), attrs(sub="status"), False, True),
    (rule(resources=["pods/*"]), attrs(), False, True),
    (rule(resources=["*"]), attrs(resource="configmaps"), False, True),
    (rule(resources=["*"]), attrs(sub="exec"), False, False),
    (rule(resources=["*/*"]), attrs(sub="exec"), False, True),
    (rule(resources=["*/scale"]), attrs(resource="deployments", sub="scale"), False, True),
    (rule(scope="Cluster"), attrs(), False, False),
    (rule(scope="Namespaced"), attrs(), False, True),
    (rule(scope="Namespaced"), attrs(ns=""), False, False),
])
def test_rule_matching(r: dict[str, Any], a: Attributes, exact: bool, want: bool) -> None:
    assert matching.rule_matches(r, a, exact=exact) is want


def test_selectors() -> None:
    sel = {"matchLabels": {"team": "a"}}
    assert matching.namespace_matches(sel, attrs(), {"team": "a"})
    assert not matching.namespace_matches(sel, attrs(), {"team": "b"})
    # a cluster-scoped object other than a Namespace is never excluded by a namespaceSelector
    assert matching.namespace_matches(sel, attrs(resource="nodes", ns=""), None)
    # a Namespace is selected by its own labels
    ns_obj = {"metadata": {"name": "x", "labels": {"team": "a"}}}
    a = attrs(resource="namespaces", ns="", obj=ns_obj, name="x")
    assert matching.needs_namespace(a) and matching.namespace_of_request(a) == ("x", {"team": "a"})
    # the objectSelector matches the new or the old object
    osel = {"matchLabels": {"app": "web"}}
    assert matching.object_matches(osel, attrs(op="DELETE", old={"metadata": {"labels": {"app": "web"}}}))
    assert not matching.object_matches(osel, attrs(obj={"metadata": {}}))
    assert matching.object_matches({}, attrs(obj={"metadata": {}}))


def answer(uid: str = "u1", **resp: Any) -> bytes:
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "response": {"uid": uid, **resp}}).encode()


def b64(ops: Any) -> str:
    return base64.b64encode(json.dumps(ops).encode()).decode()


@pytest.mark.parametrize(("raw", "mutating", "why"), [
    (b"<html>", False, "couldn't get version/kind; json parse error"),
    (b"{}", False, "webhook response was absent"),
    (answer("other", allowed=True), False, 'expected response.uid="u1", got "other"'),
    (json.dumps({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview",
                 "response": {"uid": "u1", "allowed": True}}).encode(), False,
     "expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got admission.k8s.io/v1beta1, "
     "Kind=AdmissionReview"),
    (answer(allowed=True, patch=b64([])), True, "webhook returned response.patch but not response.patchType"),
    (answer(allowed=True, patchType="JSONPatch"), True, "webhook returned response.patchType but not response.patch"),
    (answer(allowed=True, patchType="Merge", patch=b64([])), True, 'invalid response.patchType of "Merge"'),
    (answer(allowed=True, patchType="JSONPatch", patch=b64([])), False,
     "validating webhook may not return response.patch"),
    (answer(), False, "response.allowed"),
])
def test_bad_answers(raw: bytes, mutating: bool, why: str) -> None:
    with pytest.raises(review.BadResponse, match=None) as e:
        review.read_response(raw, "u1", mutating=mutating)
    assert why in str(e.value)


def test_good_answers_and_denials() -> None:
    v = review.read_response(answer(allowed=True, patchType="JSONPatch",
                                    patch=b64([{"op": "add", "path": "/a", "value": 1}]), warnings=["w"]),
                             "u1", mutating=True)
    assert v.allowed and v.patch == [{"op": "add", "path": "/a", "value": 1}] and v.warnings == ["w"]
    e = review.denial("h.example.com", {"code": 200, "message": "no"})
    assert (e.code, e.message) == (400, 'admission webhook "h.example.com" denied the request: no')
    e = review.denial("h.example.com", {"reason": "Nope"})
    assert e.message.endswith("denied the request: Nope") and e.reason == "Nope"
    e = review.denial("h.example.com", None)
    assert e.message == 'admission webhook "h.example.com" denied the request without explanation'


def test_request_shape() -> None:
    a = attrs(op="UPDATE", sub="status", obj={"x": 1}, old={"x": 0})
    r = review.admission_request(a, "id")
    assert r["subResource"] == "status" and r["requestSubResource"] == "status"
    assert r["options"] == {"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1"}
    assert r["object"] == {"x": 1} and r["oldObject"] == {"x": 0} and r["namespace"] == "default"


def test_where_a_service_leads() -> None:
    svc = {"spec": {"ports": [{"name": "https", "port": 443}]}}
    eps = {"subsets": [{"addresses": [{"ip": "10.0.0.5"}], "ports": [{"name": "https", "port": 8443}]}]}
    assert endpoint_for(svc, eps, "hook", 443) == ("10.0.0.5", 8443)
    with pytest.raises(CallError, match='no endpoints available for service "hook"'):
        endpoint_for(svc, {"subsets": [{"notReadyAddresses": [{"ip": "10.0.0.6"}]}]}, "hook", 443)
    with pytest.raises(CallError, match="unable to find service port 8080"):
        endpoint_for(svc, eps, "hook", 8080)
    ext = {"spec": {"type": "ExternalName", "externalName": "hooks.example.com", "ports": [{"port": 443}]}}
    assert endpoint_for(ext, None, "hook", 443) == ("hooks.example.com", 443)
    assert display_url({"service": {"namespace": "n", "name": "s", "path": "/v"}}, 5) == \
        "https://s.n.svc:443/v?timeout=5s"
    assert display_url({"url": "https://h/x?a=b"}, 10) == "https://h/x?a=b&timeout=10s"


def policy(**spec: Any) -> policies.Policy:
    return policies.compile_policy({"metadata": {"name": "p.example.com"}, "spec": {
        "matchConstraints": {"resourceRules": [rule(apiGroups=["apps"], resources=["deployments"])]}, **spec}})


def binding(*actions: str) -> policies.Binding:
    return policies.compile_binding({"metadata": {"name": "b"}, "spec": {"policyName": "p.example.com",
                                                                       "validationActions": list(actions)}})


def run(p: policies.Policy, b: policies.Binding, obj: dict[str, Any], params: Any = None) -> policies.Outcome:
    a = attrs(resource="deployments", group="apps", obj=obj, name="web")
    out = policies.Outcome()
    policies.evaluate(p, b, a, request=review.admission_request(a, ""), params=params, namespace=None, outcome=out)
    return out


def test_policy_evaluation() -> None:
    p = policy(validations=[{"expression": "object.spec.replicas <= 5"}])
    big = {"spec": {"replicas": 7}}
    out = run(p, binding("Deny"), big)
    assert out.denied is not None and out.denied.code == 422 and out.denied.reason == "Invalid"
    assert out.denied.message == ('deployments.apps "web" is forbidden: ValidatingAdmissionPolicy \'p.example.com\' '
                                  "with binding 'b' denied request: failed expression: object.spec.replicas <= 5")
    assert run(p, binding("Deny"), {"spec": {"replicas": 2}}).denied is None
    out = run(p, binding("Warn", "Audit"), big)
    assert out.denied is None and out.warnings == [
        "Validation failed for ValidatingAdmissionPolicy 'p.example.com' with binding 'b': "
        "failed expression: object.spec.replicas <= 5"] and len(out.audit) == 1
    # params, variables, messageExpression, reason
    p = policy(variables=[{"name": "limit", "expression": "params.max"}],
               validations=[{"expression": "object.spec.replicas <= variables.limit", "reason": "Forbidden",
                             "messageExpression": "'at most ' + string(variables.limit) + ' replicas'"}])
    out = run(p, binding("Deny"), big, params={"max": 3})
    assert out.denied is not None and out.denied.code == 403
    assert out.denied.message.endswith("denied request: at most 3 replicas")
    # a validation that cannot be evaluated: Fail denies, Ignore lets it pass
    p = policy(validations=[{"expression": "object.spec.missing > 1"}])
    out = run(p, binding("Deny"), big)
    assert out.denied is not None and "expression 'object.spec.missing > 1' resulted in error: no such key" in \
        out.denied.message
    p = policy(validations=[{"expression": "object.spec.missing > 1"}], failurePolicy="Ignore")
    assert run(p, binding("Deny"), big).denied is None
    # match conditions
    p = policy(matchConditions=[{"name": "big", "expression": "object.spec.replicas > 100"}],
               validations=[{"expression": "false"}])
    assert run(p, binding("Deny"), big).denied is None


def test_policy_matching() -> None:
    p = policy(validations=[{"expression": "true"}])
    assert policies.policy_matches(p, attrs(resource="deployments", group="apps"))
    assert not policies.policy_matches(p, attrs())
    m = {"resourceRules": [{**rule(operations=["*"], apiGroups=["*"], apiVersions=["*"], resources=["*"]),
                            "resourceNames": ["only"]}],
         "excludeResourceRules": [rule(apiGroups=["*"], apiVersions=["*"], resources=["secrets"])]}
    assert policies.resources_match(m, attrs(name="only"), None, need_rules=True)
    assert not policies.resources_match(m, attrs(name="other"), None, need_rules=True)
    assert not policies.resources_match(m, attrs(resource="secrets", name="only"), None, need_rules=True)
