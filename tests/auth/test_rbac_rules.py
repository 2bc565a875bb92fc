"""The RBAC decision, pure: request attributes, rule matching, the Forbidden sentence, escalation."""

from __future__ import annotations

import pytest

from shoal.apiserver.auth import User
from shoal.apiserver.authz.attributes import Attributes, request_attributes
from shoal.apiserver.authz.escalation import escalation_reason
from shoal.apiserver.authz.rbac import decide, denied, why_denied
from shoal.apiserver.authz.rules import Rule, allows, compact_string, compile_rules, uncovered

ALICE = User("alice", ("dev", "system:authenticated"))
ADMIN = User("admin", ("system:masters", "system:authenticated"))


def rule(**kw: list[str]) -> Rule:
    keys = {"verbs": "verbs", "groups": "apiGroups", "resources": "resources", "names": "resourceNames",
            "urls": "nonResourceURLs"}
    return Rule.from_dict({keys[k]: v for k, v in kw.items()})


@pytest.mark.parametrize(("method", "path", "watch", "want"), [
    ("GET", "/api/v1/namespaces/team-b/pods", "", ("list", "", "pods", "", "team-b", "")),
    ("GET", "/api/v1/namespaces/team-b/pods", "true", ("watch", "", "pods", "", "team-b", "")),
    ("GET", "/api/v1/namespaces/a/pods/web", "", ("get", "", "pods", "", "a", "web")),
    ("GET", "/api/v1/namespaces/a/pods/web/log", "", ("get", "", "pods", "log", "a", "web")),
    ("POST", "/apis/apps/v1/namespaces/a/deployments", "", ("create", "apps", "deployments", "", "a", "")),
    ("PUT", "/apis/apps/v1/namespaces/a/deployments/d/scale", "", ("update", "apps", "deployments", "scale", "a", "d")),
    ("PATCH", "/api/v1/nodes/n1/status", "", ("patch", "", "nodes", "status", "", "n1")),
    ("DELETE", "/api/v1/namespaces/a/configmaps", "", ("deletecollection", "", "configmaps", "", "a", "")),
    ("DELETE", "/api/v1/namespaces/a/configmaps/c", "", ("delete", "", "configmaps", "", "a", "c")),
    # a namespace object is in its own namespace; its status and finalize are subresources
    ("GET", "/api/v1/namespaces/a", "", ("get", "", "namespaces", "", "a", "a")),
    ("PUT", "/api/v1/namespaces/a/finalize", "", ("update", "", "namespaces", "finalize", "a", "a")),
    ("GET", "/api/v1/namespaces", "", ("list", "", "namespaces", "", "", "")),
    ("POST", "/api/v1/namespaces/a/serviceaccounts/b/token", "", ("create", "", "serviceaccounts", "token", "a", "b")),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", "",
     ("create", "authorization.k8s.io", "selfsubjectaccessreviews", "", "", "")),
    ("GET", "/api/v1/watch/namespaces/a/pods", "", ("watch", "", "pods", "", "a", "")),
])
def test_resource_request_attributes(method: str, path: str, watch: str, want: tuple[str, ...]) -> None:
    a = request_attributes(ALICE, method, path, watch)
    assert a.resource_request
    assert (a.verb, a.group, a.resource, a.subresource, a.namespace, a.name) == want


@pytest.mark.parametrize(("method", "path", "verb"), [
    ("GET", "/api", "get"), ("GET", "/apis", "get"), ("GET", "/apis/apps", "get"), ("GET", "/api/v1", "get"),
    ("GET", "/apis/apps/v1", "get"), ("GET", "/openapi/v3", "get"), ("POST", "/version", "post"),
    ("GET", "/shoal/v1/tunnel", "get"),
])
def test_non_resource_request_attributes(method: str, path: str, verb: str) -> None:
    a = request_attributes(ALICE, method, path)
    assert not a.resource_request and a.verb == verb and a.path == path


def res(verb: str, resource: str, *, group: str = "", sub: str = "", ns: str = "a", name: str = "") -> Attributes:
    return Attributes(ALICE, verb, True, group=group, resource=resource, subresource=sub, namespace=ns, name=name)


def url(verb: str, path: str) -> Attributes:
    return Attributes(ALICE, verb, False, path=path)


@pytest.mark.parametrize(("r", "a", "allowed"), [
    (rule(verbs=["get"], groups=[""], resources=["pods"]), res("get", "pods"), True),
    (rule(verbs=["get"], groups=[""], resources=["pods"]), res("list", "pods"), False),
    (rule(verbs=["*"], groups=[""], resources=["pods"]), res("delete", "pods"), True),
    (rule(verbs=["get"], groups=["apps"], resources=["pods"]), res("get", "pods"), False),
    (rule(verbs=["get"], groups=["*"], resources=["deployments"]), res("get", "deployments", group="apps"), True),
    # a subresource is matched as resource/subresource, */subresource, or *
    (rule(verbs=["get"], groups=[""], resources=["pods"]), res("get", "pods", sub="log"), False),
    (rule(verbs=["get"], groups=[""], resources=["pods/log"]), res("get", "pods", sub="log"), True),
    (rule(verbs=["get"], groups=[""], resources=["*/log"]), res("get", "pods", sub="log"), True),
    (rule(verbs=["get"], groups=[""], resources=["*"]), res("get", "pods", sub="log"), True),
    (rule(verbs=["get"], groups=[""], resources=["pods/log"]), res("get", "pods"), False),
    # resourceNames limit a rule to the objects named (a list has no name: not allowed)
    (rule(verbs=["get"], groups=[""], resources=["secrets"], names=["s1"]), res("get", "secrets", name="s1"), True),
    (rule(verbs=["get"], groups=[""], resources=["secrets"], names=["s1"]), res("get", "secrets", name="s2"), False),
    (rule(verbs=["list"], groups=[""], resources=["secrets"], names=["s1"]), res("list", "secrets"), False),
    # non-resource URLs: exact, prefix*, or *; a resource rule never matches a path and vice versa
    (rule(verbs=["get"], urls=["/healthz"]), url("get", "/healthz"), True),
    (rule(verbs=["get"], urls=["/healthz"]), url("get", "/healthz/etcd"), False),
    (rule(verbs=["get"], urls=["/apis/*"]), url("get", "/apis/apps/v1"), True),
    (rule(verbs=["get"], urls=["*"]), url("get", "/anything"), True),
    (rule(verbs=["get"], urls=["/api"]), url("post", "/api"), False),
    (rule(verbs=["get"], groups=["*"], resources=["*"]), url("get", "/api"), False),
    (rule(verbs=["get"], urls=["*"]), res("get", "pods"), False),
    # a verb nothing has is accepted in a rule and matches only itself
    (rule(verbs=["frobnicate"], groups=[""], resources=["pods"]), res("frobnicate", "pods"), True),
    (rule(verbs=["frobnicate"], groups=[""], resources=["pods"]), res("get", "pods"), False),
])
def test_rule_allows(r: Rule, a: Attributes, allowed: bool) -> None:
    assert allows(r, a) is allowed


def test_masters_are_allowed_without_rules_and_others_need_one() -> None:
    a = res("delete", "nodes", ns="")
    assert decide(Attributes(ADMIN, "delete", True, resource="nodes"), ())
    assert not decide(a, ())
    assert decide(a, (rule(verbs=["delete"], groups=[""], resources=["nodes"]),))


@pytest.mark.parametrize(("a", "message"), [
    (res("list", "pods", ns="team-b"),
     'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "team-b"'),
    (res("get", "deployments", group="apps", name="web"),
     'deployments.apps "web" is forbidden: User "alice" cannot get resource "deployments" in API group "apps" '
     'in the namespace "a"'),
    (res("list", "nodes", ns=""),
     'nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" at the cluster scope'),
    (res("get", "pods", sub="log", name="p"),
     'pods "p" is forbidden: User "alice" cannot get resource "pods/log" in API group "" in the namespace "a"'),
    (url("get", "/apis"), 'forbidden: User "alice" cannot get path "/apis"'),
])
def test_forbidden_messages_are_upstreams(a: Attributes, message: str) -> None:
    err = denied(a)
    assert err.code == 403 and err.reason == "Forbidden" and err.message == message
    assert message.endswith(why_denied(a))


def test_forbidden_details_name_the_resource() -> None:
    assert denied(res("get", "deployments", group="apps", name="web")).details == {
        "kind": "deployments", "name": "web", "group": "apps"}


def test_compact_string_is_upstreams() -> None:
    r = rule(verbs=["get"], groups=[""], resources=["secrets"])
    assert compact_string(r) == '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}'
    assert compact_string(rule(verbs=["get"], urls=["/x"])) == '{NonResourceURLs:["/x"], Verbs:["get"]}'


EDIT_PODS = rule(verbs=["get", "list", "create"], groups=[""], resources=["pods"])


@pytest.mark.parametrize(("owner", "wanted", "missing"), [
    ([EDIT_PODS], [rule(verbs=["get", "list"], groups=[""], resources=["pods"])], 0),
    ([EDIT_PODS], [rule(verbs=["get", "delete"], groups=[""], resources=["pods"])], 1),
    ([EDIT_PODS], [rule(verbs=["get"], groups=["", "apps"], resources=["pods"])], 1),
    ([rule(verbs=["*"], groups=["*"], resources=["*"])], [rule(verbs=["x"], groups=["g"], resources=["r/s"])], 0),
    # an owner with names covers only those names; an owner without covers any
    ([rule(verbs=["get"], groups=[""], resources=["secrets"], names=["a"])],
     [rule(verbs=["get"], groups=[""], resources=["secrets"])], 1),
    ([rule(verbs=["get"], groups=[""], resources=["secrets"], names=["a", "b"])],
     [rule(verbs=["get"], groups=[""], resources=["secrets"], names=["a"])], 0),
    ([rule(verbs=["get"], groups=[""], resources=["secrets"])],
     [rule(verbs=["get"], groups=[""], resources=["secrets"], names=["a"])], 0),
    # subresources: */sub and resource/* cover resource/sub
    ([rule(verbs=["get"], groups=[""], resources=["*/log"])], [rule(verbs=["get"], groups=[""], resources=["pods/log"])], 0),
    ([rule(verbs=["get"], groups=[""], resources=["pods/*"])], [rule(verbs=["get"], groups=[""], resources=["pods/log"])], 0),
    ([rule(verbs=["get"], groups=[""], resources=["pods"])], [rule(verbs=["get"], groups=[""], resources=["pods/log"])], 1),
    ([rule(verbs=["get"], urls=["/apis/*"])], [rule(verbs=["get"], urls=["/apis/apps"])], 0),
    ([rule(verbs=["get"], urls=["/apis"])], [rule(verbs=["get"], urls=["/apis/apps"])], 1),
    # a verb that does not exist is still a permission one must hold to grant
    ([EDIT_PODS], [rule(verbs=["frobnicate"], groups=[""], resources=["pods"])], 1),
])
def test_uncovered(owner: list[Rule], wanted: list[Rule], missing: int) -> None:
    assert len(uncovered(owner, wanted)) == missing


def test_escalation_reason_is_upstreams() -> None:
    why = escalation_reason(ALICE, [EDIT_PODS], compile_rules([
        {"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "secrets"]}]))
    assert why == ('user "alice" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions '
                   'not currently held:\n{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}')
    assert escalation_reason(ALICE, [EDIT_PODS], [rule(verbs=["get"], groups=[""], resources=["pods"])]) == ""
