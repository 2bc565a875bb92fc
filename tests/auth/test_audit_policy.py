"""The audit policy's rules as tables: which rule matches which request, and the level and stages it gives."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.apiserver.audit.policy import Level, PolicyError, evaluate, parse
from shoal.apiserver.authn.user import User
from shoal.apiserver.authz.attributes import request_attributes

ALICE = User("alice", ("dev", "system:authenticated"))
NODE = User("system:node:n1", ("system:nodes", "system:authenticated"))
KCM = User("system:kube-controller-manager", ("system:authenticated",))


def policy(*rules: dict[str, Any], omit: list[str] | None = None) -> Any:
    doc: dict[str, Any] = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": list(rules)}
    if omit:
        doc["omitStages"] = omit
    return parse(doc)


# upstream's documented example policy, abridged to the rules shoal's requests meet
EXAMPLE = policy(
    {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
     "resources": [{"group": "", "resources": ["endpoints", "services"]}]},
    {"level": "None", "userGroups": ["system:authenticated"], "nonResourceURLs": ["/api*", "/version"]},
    {"level": "Request", "resources": [{"group": "", "resources": ["configmaps"]}], "namespaces": ["kube-system"]},
    {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets", "configmaps"]}]},
    {"level": "Request", "resources": [{"group": ""}, {"group": "extensions"}]},
    {"level": "Metadata", "omitStages": ["RequestReceived"]},
    omit=["ResponseStarted"],
)


@pytest.mark.parametrize(("user", "method", "path", "watch", "level", "omitted"), [
    # first matching rule wins
    (User("system:kube-proxy"), "GET", "/api/v1/services", "true", Level.NONE, set()),
    (User("system:kube-proxy"), "GET", "/api/v1/services", "", Level.REQUEST, {"ResponseStarted"}),
    (ALICE, "GET", "/apis", "", Level.NONE, set()),
    (ALICE, "GET", "/version", "", Level.NONE, set()),
    (ALICE, "GET", "/healthz", "", Level.METADATA, {"ResponseStarted", "RequestReceived"}),
    (ALICE, "POST", "/api/v1/namespaces/kube-system/configmaps", "", Level.REQUEST, {"ResponseStarted"}),
    (ALICE, "POST", "/api/v1/namespaces/default/configmaps", "", Level.METADATA, {"ResponseStarted"}),
    (ALICE, "GET", "/api/v1/namespaces/default/secrets/s", "", Level.METADATA, {"ResponseStarted"}),
    (ALICE, "GET", "/api/v1/namespaces/default/pods/p/log", "", Level.REQUEST, {"ResponseStarted"}),
    (ALICE, "POST", "/apis/apps/v1/namespaces/d/deployments", "", Level.METADATA,
     {"ResponseStarted", "RequestReceived"}),
])
def test_upstream_example(user: User, method: str, path: str, watch: str, level: Level, omitted: set[str]) -> None:
    d = evaluate(EXAMPLE, request_attributes(user, method, path, watch))
    assert d.level == level
    if level != Level.NONE:
        assert d.omit_stages == omitted


def _only(rule: dict[str, Any]) -> Any:
    return policy({"level": "RequestResponse", **rule})


@pytest.mark.parametrize(("rule", "user", "method", "path", "logged"), [
    ({"users": ["alice"]}, ALICE, "GET", "/api/v1/pods", True),
    ({"users": ["bob"]}, ALICE, "GET", "/api/v1/pods", False),
    ({"userGroups": ["system:nodes"]}, NODE, "GET", "/api/v1/pods", True),
    ({"userGroups": ["system:nodes"]}, ALICE, "GET", "/api/v1/pods", False),
    ({"verbs": ["create", "delete"]}, ALICE, "POST", "/api/v1/namespaces/a/pods", True),
    ({"verbs": ["create", "delete"]}, ALICE, "DELETE", "/api/v1/namespaces/a/pods", False),  # deletecollection
    ({"verbs": ["list"]}, ALICE, "GET", "/api/v1/pods", True),
    ({"namespaces": ["a"]}, ALICE, "GET", "/api/v1/namespaces/a/pods", True),
    ({"namespaces": ["a"]}, ALICE, "GET", "/api/v1/namespaces/b/pods", False),
    ({"namespaces": [""]}, ALICE, "GET", "/api/v1/nodes/n1", True),  # non-namespaced: ""
    ({"namespaces": ["a"]}, ALICE, "GET", "/version", False),  # resource rules never match paths
    ({"resources": [{"group": "apps"}]}, ALICE, "GET", "/apis/apps/v1/deployments", True),
    ({"resources": [{"group": "apps"}]}, ALICE, "GET", "/api/v1/pods", False),
    ({"resources": [{"group": "", "resources": ["pods"]}]}, ALICE, "GET", "/api/v1/namespaces/a/pods/p", True),
    ({"resources": [{"group": "", "resources": ["pods"]}]}, ALICE, "GET", "/api/v1/namespaces/a/pods/p/log", False),
    ({"resources": [{"group": "", "resources": ["pods/log"]}]}, ALICE, "GET", "/api/v1/namespaces/a/pods/p/log",
     True),
    ({"resources": [{"group": "", "resources": ["pods/*"]}]}, ALICE, "GET", "/api/v1/namespaces/a/pods/p/exec",
     True),
    # upstream's checker matches "pods/*" on the resource alone, so the pod itself too
    ({"resources": [{"group": "", "resources": ["pods/*"]}]}, ALICE, "GET", "/api/v1/namespaces/a/pods/p", True),
    ({"resources": [{"group": "", "resources": ["pods/*"]}]}, ALICE, "GET", "/api/v1/namespaces/a/services/s",
     False),
    ({"resources": [{"group": "apps", "resources": ["*/scale"]}]}, ALICE, "PUT",
     "/apis/apps/v1/namespaces/a/deployments/d/scale", True),
    ({"resources": [{"group": "apps", "resources": ["*/scale"]}]}, ALICE, "PUT",
     "/apis/apps/v1/namespaces/a/deployments/d", False),
    ({"resources": [{"group": "", "resources": ["*"]}]}, ALICE, "GET", "/api/v1/namespaces/a/pods/p/log", True),
    ({"resources": [{"group": "", "resources": ["configmaps"], "resourceNames": ["x"]}]}, ALICE, "GET",
     "/api/v1/namespaces/a/configmaps/x", True),
    ({"resources": [{"group": "", "resources": ["configmaps"], "resourceNames": ["x"]}]}, ALICE, "GET",
     "/api/v1/namespaces/a/configmaps/y", False),
    ({"nonResourceURLs": ["/healthz*"]}, ALICE, "GET", "/healthz/etcd", True),
    ({"nonResourceURLs": ["/healthz"]}, ALICE, "GET", "/healthz/etcd", False),
    ({"nonResourceURLs": ["*"]}, ALICE, "GET", "/metrics", True),
    ({"nonResourceURLs": ["*"]}, ALICE, "GET", "/api/v1/pods", False),  # a resource request
    ({}, User(""), "GET", "/api/v1/pods", True),  # an empty rule matches all, even a refused request's
    ({"userGroups": ["system:unauthenticated"]}, User(""), "GET", "/api/v1/pods", False),
])
def test_one_rule(rule: dict[str, Any], user: User, method: str, path: str, logged: bool) -> None:
    assert (evaluate(_only(rule), request_attributes(user, method, path)).level != Level.NONE) is logged


def test_no_rule_matching_means_not_logged() -> None:
    assert evaluate(policy({"level": "Metadata", "users": ["x"]}), request_attributes(ALICE, "GET", "/")).level \
        == Level.NONE


@pytest.mark.parametrize(("path", "level"), [
    ("/api/v1/namespaces/a/secrets/s", Level.METADATA),  # Secret bodies are never logged
    ("/api/v1/namespaces/a/secrets", Level.METADATA),
    ("/api/v1/namespaces/a/configmaps/c", Level.REQUEST_RESPONSE),
])
def test_secrets_capped_at_metadata(path: str, level: Level) -> None:
    assert evaluate(policy({"level": "RequestResponse"}), request_attributes(KCM, "GET", path)).level == level


@pytest.mark.parametrize(("doc", "message"), [
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Loud"}]}, 'Unsupported value: "Loud"'),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "None", "omitStages": ["Begin"]}]},
     'Unsupported value: "Begin"'),
    ({"apiVersion": "audit.k8s.io/v1beta1", "kind": "Policy", "rules": []}, "audit.k8s.io/v1"),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
        {"level": "None", "resources": [{"group": ""}], "nonResourceURLs": ["/x"]}]}, "both"),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [
        {"level": "None", "resources": [{"group": "", "resources": ["*"], "resourceNames": ["a"]}]}]},
     "exact resources"),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "None", "nonResourceURLs": ["x"]}]},
     'must start with "/"'),
    ({"apiVersion": "audit.k8s.io/v1", "kind": "Policy"}, "rules"),
])
def test_bad_policies_are_refused(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse(doc)


def test_the_auditors_kept_decisions_are_the_policys() -> None:
    """``Auditor.decide`` keeps (attributes, decision) per (user, method, path, watch): a kept one is what
    evaluating again gives, and the cache starts over at ``DECISIONS_KEPT`` instead of growing."""
    from shoal.apiserver.audit import recorder

    auditor = recorder.Auditor(EXAMPLE, backend=None)  # type: ignore[arg-type]  # decide() does no I/O
    asks = [(User("system:kube-proxy"), "GET", "/api/v1/services", "true"), (ALICE, "GET", "/version", ""),
            (ALICE, "POST", "/api/v1/namespaces/kube-system/configmaps", ""), (NODE, "GET", "/api/v1/secrets", ""),
            (ALICE, "GET", "/api/v1/namespaces/a/pods", "")]
    for _ in range(2):  # the second pass is answered from the cache
        for user, method, path, watch in asks:
            attrs = request_attributes(user, method, path, watch)
            assert auditor.decide(user, method, path, watch) == (attrs, evaluate(EXAMPLE, attrs))
    first = auditor.decide(ALICE, "GET", "/api/v1/namespaces/a/pods", "")
    assert auditor.decide(ALICE, "GET", "/api/v1/namespaces/a/pods", "") is first  # kept, not made again
    for i in range(recorder.DECISIONS_KEPT + 10):
        auditor.decide(ALICE, "GET", f"/api/v1/namespaces/a/pods/p{i}", "")
    assert len(auditor._decisions) <= recorder.DECISIONS_KEPT
