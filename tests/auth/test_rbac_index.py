"""The RBAC index (fed by observed writes), default roles, aggregation and impersonation plans: no I/O."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shoal.apiserver import errors
from shoal.apiserver.auth import User
from shoal.apiserver.authz import defaults
from shoal.apiserver.authz.aggregate import aggregated_rules
from shoal.apiserver.authz.attributes import Attributes
from shoal.apiserver.authz.authorizer import Authorizer
from shoal.apiserver.authz.impersonation import plan
from shoal.apiserver.authz.index import (
    CLUSTER_ROLE_BINDINGS,
    CLUSTER_ROLES,
    ROLE_BINDINGS,
    ROLES,
    RbacIndex,
)

ALICE = User("alice", ("dev", "system:authenticated"))
G = "rbac.authorization.k8s.io"


def enc(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode()


class Feed:
    def __init__(self) -> None:
        self.index = RbacIndex(store=None)  # type: ignore[arg-type]  # never asked: everything is observed
        self.rev = 0

    def put(self, key: str, obj: dict[str, Any] | None) -> None:
        self.rev += 1
        self.index.observe(key, self.rev, enc(obj) if obj is not None else None)


def role(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"rules": rules}


def binding(kind: str, name: str, *subjects: dict[str, str]) -> dict[str, Any]:
    return {"roleRef": {"apiGroup": G, "kind": kind, "name": name}, "subjects": list(subjects)}


PODS_READ = {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}


def can(index: RbacIndex, user: User, verb: str, resource: str, ns: str) -> bool:
    return Authorizer(index).allowed(Attributes(user, verb, True, resource=resource, namespace=ns))


def test_bindings_apply_in_their_namespace_cluster_bindings_everywhere() -> None:
    f = Feed()
    f.put(f"{ROLES.storage_prefix}a/reader", role([PODS_READ]))
    f.put(f"{ROLE_BINDINGS.storage_prefix}a/rb", binding("Role", "reader", {"kind": "Group", "name": "dev"}))
    assert can(f.index, ALICE, "list", "pods", "a")
    assert not can(f.index, ALICE, "list", "pods", "b")
    assert not can(f.index, ALICE, "delete", "pods", "a")
    f.put(f"{CLUSTER_ROLES.storage_prefix}deleter", role([{"verbs": ["delete"], "apiGroups": [""], "resources": ["pods"]}]))
    f.put(f"{CLUSTER_ROLE_BINDINGS.storage_prefix}crb", binding("ClusterRole", "deleter", {"kind": "User", "name": "alice"}))
    assert can(f.index, ALICE, "delete", "pods", "b") and can(f.index, ALICE, "delete", "pods", "")


def test_a_role_binding_to_a_cluster_role_grants_it_in_the_binding_namespace_only() -> None:
    f = Feed()
    f.put(f"{CLUSTER_ROLES.storage_prefix}view", role([PODS_READ]))
    f.put(f"{ROLE_BINDINGS.storage_prefix}a/rb", binding("ClusterRole", "view", {"kind": "User", "name": "alice"}))
    assert can(f.index, ALICE, "get", "pods", "a") and not can(f.index, ALICE, "get", "pods", "b")


def test_a_binding_to_a_missing_role_grants_nothing_until_the_role_appears() -> None:
    f = Feed()
    f.put(f"{ROLE_BINDINGS.storage_prefix}a/rb", binding("Role", "later", {"kind": "User", "name": "alice"}))
    assert not can(f.index, ALICE, "get", "pods", "a")
    f.put(f"{ROLES.storage_prefix}a/later", role([PODS_READ]))
    assert can(f.index, ALICE, "get", "pods", "a")
    f.put(f"{ROLES.storage_prefix}a/later", None)
    assert not can(f.index, ALICE, "get", "pods", "a")


def test_deleting_or_changing_a_binding_revokes() -> None:
    f = Feed()
    f.put(f"{CLUSTER_ROLES.storage_prefix}view", role([PODS_READ]))
    key = f"{ROLE_BINDINGS.storage_prefix}a/rb"
    f.put(key, binding("ClusterRole", "view", {"kind": "User", "name": "alice"}))
    assert can(f.index, ALICE, "get", "pods", "a")
    f.put(key, binding("ClusterRole", "view", {"kind": "User", "name": "bob"}))
    assert not can(f.index, ALICE, "get", "pods", "a")
    assert can(f.index, User("bob"), "get", "pods", "a")
    f.put(key, None)
    assert not can(f.index, User("bob"), "get", "pods", "a")


def test_service_account_subjects_default_to_the_binding_namespace() -> None:
    f = Feed()
    f.put(f"{CLUSTER_ROLES.storage_prefix}view", role([PODS_READ]))
    f.put(f"{ROLE_BINDINGS.storage_prefix}a/rb", binding("ClusterRole", "view", {"kind": "ServiceAccount", "name": "b"}))
    sa = User("system:serviceaccount:a:b", ("system:serviceaccounts", "system:serviceaccounts:a"))
    assert can(f.index, sa, "list", "pods", "a")
    assert not can(f.index, User("system:serviceaccount:c:b"), "list", "pods", "a")


def test_an_older_write_never_replaces_a_newer_one() -> None:
    idx = RbacIndex(store=None)  # type: ignore[arg-type]
    key = f"{CLUSTER_ROLES.storage_prefix}r"
    idx.observe(key, 5, enc(role([PODS_READ])))
    idx.observe(key, 3, None)
    assert idx.cluster_roles["r"]


def test_resolved_rules_are_cached_until_something_changes() -> None:
    f = Feed()
    f.put(f"{CLUSTER_ROLES.storage_prefix}view", role([PODS_READ]))
    f.put(f"{CLUSTER_ROLE_BINDINGS.storage_prefix}crb", binding("ClusterRole", "view", {"kind": "Group", "name": "dev"}))
    first = f.index.rules_for(ALICE, "a")
    assert f.index.rules_for(ALICE, "a") is first
    f.put(f"{ROLES.storage_prefix}a/other", role([]))
    assert f.index.rules_for(ALICE, "a") is not first


def test_defaults_reconcile_creates_then_adds_only_what_is_missing() -> None:
    want = next(r for r in defaults.cluster_roles() if r["metadata"]["name"] == "system:basic-user")
    assert defaults.reconcile_role(want, None) is want
    live = {**want, "rules": [*want["rules"], {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}
    assert defaults.reconcile_role(want, live) is None  # an administrator's addition stays, nothing to do
    shrunk = {**want, "rules": want["rules"][:1]}
    fixed = defaults.reconcile_role(want, shrunk)
    assert fixed is not None and len(fixed["rules"]) == len(want["rules"])
    frozen = {**shrunk, "metadata": {**want["metadata"], "annotations": {defaults.AUTOUPDATE: "false"}}}
    assert defaults.reconcile_role(want, frozen) is None


def test_default_bindings_gain_missing_subjects_and_keep_others() -> None:
    want = next(b for b in defaults.cluster_role_bindings() if b["metadata"]["name"] == "system:public-info-viewer")
    live = {**want, "subjects": [{"kind": "User", "apiGroup": G, "name": "extra"}]}
    fixed = defaults.reconcile_binding(want, live)
    assert fixed is not None
    assert fixed["subjects"][0]["name"] == "extra" and len(fixed["subjects"]) == 1 + len(want["subjects"])


def test_the_default_roles_are_upstreams_where_users_meet_them() -> None:
    f = Feed()
    for r in defaults.cluster_roles():
        f.put(f"{CLUSTER_ROLES.storage_prefix}{r['metadata']['name']}", r)
    for b in defaults.cluster_role_bindings():
        f.put(f"{CLUSTER_ROLE_BINDINGS.storage_prefix}{b['metadata']['name']}", b)
    anyone = User("x", ("system:authenticated",))
    anonymous = User("system:anonymous", ("system:unauthenticated",))
    az = Authorizer(f.index)
    assert az.allowed(Attributes(anyone, "get", False, path="/apis/apps/v1"))  # system:discovery
    assert az.allowed(Attributes(anonymous, "get", False, path="/version"))  # system:public-info-viewer
    assert not az.allowed(Attributes(anonymous, "get", False, path="/api"))
    assert az.allowed(Attributes(anyone, "create", True, group="authorization.k8s.io",
                                 resource="selfsubjectaccessreviews"))  # system:basic-user
    assert not az.allowed(Attributes(anyone, "list", True, resource="pods", namespace="a"))
    sched = User("system:kube-scheduler", ("system:authenticated",))
    assert az.allowed(Attributes(sched, "create", True, resource="pods", subresource="binding", namespace="a",
                                 name="p"))


def test_aggregation_follows_selectors_in_name_order_without_duplicates() -> None:
    roles = {
        "edit": {"metadata": {"name": "edit", "labels": {"agg": "admin"}},
                 "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "edit"}}]}, "rules": []},
        "b": {"metadata": {"name": "b", "labels": {"agg": "edit"}}, "rules": [PODS_READ, {"verbs": ["x"]}]},
        "a": {"metadata": {"name": "a", "labels": {"agg": "edit"}}, "rules": [{"verbs": ["x"]}]},
        "c": {"metadata": {"name": "c"}, "rules": [{"verbs": ["y"]}]},
    }
    assert aggregated_rules(roles["edit"], roles) == [{"verbs": ["x"]}, PODS_READ]
    assert aggregated_rules(roles["a"], roles) is None


def test_default_aggregated_roles_settle_admin_edit_view() -> None:
    roles = {r["metadata"]["name"]: r for r in defaults.cluster_roles()}
    for _ in range(3):  # view, then edit (which aggregates view), then admin (which aggregates edit)
        for name, r in roles.items():
            want = aggregated_rules(r, roles)
            if want is not None:
                roles[name] = {**r, "rules": want}
    f = Feed()
    for name, r in roles.items():
        f.put(f"{CLUSTER_ROLES.storage_prefix}{name}", r)
    f.put(f"{ROLE_BINDINGS.storage_prefix}a/e", binding("ClusterRole", "edit", {"kind": "User", "name": "alice"}))
    f.put(f"{ROLE_BINDINGS.storage_prefix}b/v", binding("ClusterRole", "view", {"kind": "User", "name": "alice"}))
    az = Authorizer(f.index)
    dep = {"group": "apps", "resource": "deployments"}
    assert az.allowed(Attributes(ALICE, "create", True, namespace="a", **dep))
    assert az.allowed(Attributes(ALICE, "list", True, namespace="b", **dep))
    assert not az.allowed(Attributes(ALICE, "create", True, namespace="b", **dep))
    assert not az.allowed(Attributes(ALICE, "create", True, group=G, resource="rolebindings", namespace="a"))


def test_impersonation_plan() -> None:
    p = plan(User("bob"), "alice", ["dev"], "", {"scopes": ["view"]})
    assert [(c.resource, c.subresource, c.name) for c in p.checks] == [
        ("users", "", "alice"), ("groups", "", "dev"), ("userextras", "scopes", "view")]
    assert p.user.name == "alice" and p.user.groups == ("dev", "system:authenticated")
    sa = plan(User("bob"), "system:serviceaccount:a:builder", [], "", {})
    assert (sa.checks[0].resource, sa.checks[0].namespace, sa.checks[0].name) == ("serviceaccounts", "a", "builder")
    assert sa.user.groups == ("system:serviceaccounts", "system:serviceaccounts:a", "system:authenticated")
    with pytest.raises(errors.ApiError):
        plan(User("bob"), "", ["dev"], "", {})
