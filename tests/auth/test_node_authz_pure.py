"""The Node authorizer, its graph and NodeRestriction admission, as tables (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.apiserver.authn.components import node, node_name
from shoal.apiserver.authn.user import User
from shoal.apiserver.authz import node as node_authz
from shoal.apiserver.authz.attributes import Attributes, request_attributes, selected_name
from shoal.apiserver.authz.authorizer import NODE_RULES
from shoal.apiserver.authz.nodegraph import NodeGraph, pod_refs, volume_secret_refs
from shoal.apiserver.authz.noderestriction import admit

A = node("a")


class FakeStore:
    async def list(self, prefix: str) -> tuple[list[Any], int, bool]:
        return [], 0, False


class Ev:
    def __init__(self, type_: str, rev: int, key: str, obj: dict[str, Any]) -> None:
        import msgspec

        self.type, self.rev, self.key, self.obj = type_, rev, key, obj
        self.raw = msgspec.json.encode(obj)


def pod(name: str, node_name: str, ns: str = "ns", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"nodeName": node_name, **spec}}


def graph() -> NodeGraph:
    g = NodeGraph(FakeStore())  # type: ignore[arg-type]
    g.loaded = True
    vols = [{"name": "s", "secret": {"secretName": "a-secret"}},
            {"name": "c", "configMap": {"name": "a-config"}},
            {"name": "p", "projected": {"sources": [{"secret": {"name": "a-projected"}}]}},
            {"name": "d", "persistentVolumeClaim": {"claimName": "a-claim"}}]
    env = [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "a-env", "key": "k"}}}]
    g.observe_event(Ev("ADDED", 1, "/registry/core/pods/ns/p1", pod("p1", "a", serviceAccountName="builder",
                                                                  volumes=vols, containers=[{"env": env}])))
    g.observe_event(Ev("ADDED", 2, "/registry/core/pods/ns/p2", pod("p2", "b", volumes=[
        {"name": "s", "secret": {"secretName": "b-secret"}}])))
    g.observe_event(Ev("ADDED", 3, "/registry/core/persistentvolumeclaims/ns/a-claim",
                       {"metadata": {"name": "a-claim", "namespace": "ns"}, "spec": {"volumeName": "pv-a"}}))
    g.observe_event(Ev("ADDED", 4, "/registry/core/persistentvolumes/pv-a",
                       {"metadata": {"name": "pv-a"}, "spec": {"csi": {"driver": "x", "nodePublishSecretRef": {
                           "name": "pv-secret", "namespace": "ns"}}}}))
    return g


def req(verb: str, resource: str, name: str = "", ns: str = "ns", sub: str = "", group: str = "",
        user: User = A) -> Attributes:
    return Attributes(user, verb, True, group=group, resource=resource, subresource=sub, namespace=ns, name=name)


NO_REL = "no relationship found between node 'a' and this object"


@pytest.mark.parametrize(("a", "allowed", "reason"), [
    (req("get", "secrets", "a-secret"), True, ""),
    (req("watch", "secrets", "a-secret"), True, ""),
    (req("get", "secrets", "a-projected"), True, ""),
    (req("get", "secrets", "a-env"), True, ""),
    (req("get", "secrets", "pv-secret"), True, ""),  # through the claim's volume
    (req("get", "secrets", "b-secret"), False, NO_REL),
    (req("get", "secrets", "a-secret", ns="other"), False, NO_REL),
    (req("list", "secrets"), False, "No Object name found"),
    (req("update", "secrets", "a-secret"), False, "can only read resources of this type"),
    (req("get", "configmaps", "a-config"), True, ""),
    (req("get", "configmaps", "b-config"), False, NO_REL),
    (req("get", "persistentvolumeclaims", "a-claim"), True, ""),
    (req("list", "persistentvolumeclaims", "a-claim"), False, "can only get individual resources of this type"),
    (req("patch", "persistentvolumeclaims", "a-claim", sub="status"), True, ""),
    (req("get", "persistentvolumes", "pv-a", ns=""), True, ""),
    (req("get", "persistentvolumes", "pv-b", ns=""), False, "no relationship found between node 'a' and this object"),
    (req("create", "serviceaccounts", "builder", sub="token"), True, ""),
    (req("create", "serviceaccounts", "default", sub="token"), False, NO_REL),
    (req("get", "serviceaccounts", "builder"), False, "can only create tokens for individual service accounts"),
    (req("update", "leases", "a", ns="kube-node-lease", group="coordination.k8s.io"), True, ""),
    (req("create", "leases", "", ns="kube-node-lease", group="coordination.k8s.io"), True, ""),
    (req("update", "leases", "b", ns="kube-node-lease", group="coordination.k8s.io"), False,
     "can only access node lease with the same name as the requesting node"),
    (req("get", "leases", "a", ns="kube-system", group="coordination.k8s.io"), False,
     'can only access leases in the "kube-node-lease" system namespace'),
    # the rest: upstream's system:node rules, whatever the object
    (req("patch", "nodes", "b", ns=""), True, ""),
    (req("patch", "pods", "p2", sub="status"), True, ""),
    (req("list", "pods"), True, ""),
    (req("delete", "deployments", "x", group="apps"), False, ""),
])
def test_node_authorizer(a: Attributes, allowed: bool, reason: str) -> None:
    d = node_authz.decide("a", a, graph(), NODE_RULES)
    assert (d.allowed, d.reason) == (allowed, reason)


def test_the_graph_follows_pods_moving_and_going() -> None:
    g = graph()
    assert g.related("a", "secrets", "ns", "a-secret")
    g.observe_event(Ev("MODIFIED", 10, "/registry/core/pods/ns/p1", pod("p1", "c")))  # (not what a pod does; a table)
    assert not g.related("a", "secrets", "ns", "a-secret")
    assert g.related("c", "serviceaccounts", "ns", "default")
    g.observe_event(Ev("MODIFIED", 9, "/registry/core/pods/ns/p1", pod("p1", "a", serviceAccountName="old")))
    assert not g.related("a", "serviceaccounts", "ns", "old")  # an older event never wins
    g.observe_event(Ev("DELETED", 11, "/registry/core/pods/ns/p1", pod("p1", "c")))
    assert not g.related("c", "serviceaccounts", "ns", "default")
    assert g.related("b", "secrets", "ns", "b-secret")


def test_two_pods_on_a_node_share_a_reference_until_both_are_gone() -> None:
    g = graph()
    g.observe_event(Ev("ADDED", 20, "/registry/core/pods/ns/p3", pod("p3", "b", volumes=[
        {"name": "s", "secret": {"secretName": "b-secret"}}])))
    g.observe_event(Ev("DELETED", 21, "/registry/core/pods/ns/p2", pod("p2", "b")))
    assert g.related("b", "secrets", "ns", "b-secret")
    g.observe_event(Ev("DELETED", 22, "/registry/core/pods/ns/p3", pod("p3", "b")))
    assert not g.related("b", "secrets", "ns", "b-secret")


def test_pod_refs_and_volume_secrets() -> None:
    p = pod("p", "a", imagePullSecrets=[{"name": "pull"}], containers=[
        {"envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "sec"}}]}],
        volumes=[{"name": "e", "ephemeral": {"volumeClaimTemplate": {}}}])
    assert pod_refs(p) == {("serviceaccounts", "default"), ("secrets", "pull"), ("configmaps", "cm"),
                           ("secrets", "sec"), ("persistentvolumeclaims", "p-e")}
    pv = {"spec": {"rbd": {"secretRef": {"name": "ceph"}}, "csi": {"nodeStageSecretRef": {"name": "s", "namespace":
                                                                                         "n"}}}}
    assert volume_secret_refs(pv) == {("", "ceph"), ("n", "s")}


@pytest.mark.parametrize(("user", "want"), [
    (node("a"), "a"),
    (User("system:node:a", ("system:authenticated",)), None),  # not in system:nodes
    (User("system:node:", ("system:nodes",)), None),
    (User("alice", ("system:nodes",)), None),
])
def test_node_identity(user: User, want: str | None) -> None:
    assert node_name(user) == want


@pytest.mark.parametrize(("selector", "name"), [
    ("metadata.name=x", "x"), ("metadata.name==x", "x"), ("metadata.namespace=n,metadata.name=x", "x"),
    ("metadata.name!=x", ""), ("spec.nodeName=a", ""), ("metadata.name=a/b", ""),
])
def test_a_list_selecting_one_name_names_it(selector: str, name: str) -> None:
    assert selected_name(selector) == name
    a = request_attributes(A, "GET", "/api/v1/namespaces/ns/secrets", "true", selector)
    assert (a.verb, a.name) == ("watch", name)


MIRROR = {"kubernetes.io/config.mirror": "x"}


def mirror(node_name: str, **spec: Any) -> dict[str, Any]:
    p = pod("m", node_name, **spec)
    p["metadata"]["annotations"] = MIRROR
    return p


def with_labels(obj: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    return {**obj, "metadata": {**obj["metadata"], "labels": labels}}


NODE_A = {"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {}}


@pytest.mark.parametrize(("op", "group", "resource", "sub", "new", "old", "why"), [
    ("create", "", "pods", "", mirror("a"), None, None),
    ("create", "", "pods", "", pod("m", "a"), None,
     'pod does not have "kubernetes.io/config.mirror" annotation, node "a" can only create mirror pods'),
    ("create", "", "pods", "", mirror("b"), None, 'node "a" can only create pods with spec.nodeName set to itself'),
    ("create", "", "pods", "", mirror("a", volumes=[{"name": "s", "secret": {"secretName": "x"}}]), None,
     'node "a" can not create pods that reference secrets'),
    ("update", "", "pods", "status", pod("p", "a"), pod("p", "a"), None),
    ("update", "", "pods", "status", pod("p", "b"), pod("p", "b"),
     'node "a" can only update pod status for pods with spec.nodeName set to itself'),
    ("update", "", "pods", "status", with_labels(pod("p", "a"), {"k": "v"}), pod("p", "a"),
     'node "a" cannot update labels through pod status'),
    ("delete", "", "pods", "", None, pod("p", "a"), None),
    ("delete", "", "pods", "", None, pod("p", "b"), 'node "a" can only delete pods with spec.nodeName set to itself'),
    ("create", "", "nodes", "", NODE_A, None, None),
    ("update", "", "nodes", "status", NODE_A, NODE_A, None),
    ("update", "", "nodes", "", {**NODE_A, "metadata": {"name": "b"}}, {**NODE_A, "metadata": {"name": "b"}},
     'node "a" is not allowed to modify node "b"'),
    ("create", "", "nodes", "", with_labels(NODE_A, {"node-restriction.kubernetes.io/trusted": "yes"}), None,
     'node "a" is not allowed to set the following labels: node-restriction.kubernetes.io/trusted'),
    ("update", "", "nodes", "", with_labels(NODE_A, {"x": "2"}), NODE_A, None),
    ("update", "", "nodes", "", NODE_A, with_labels(NODE_A, {"a.node-restriction.kubernetes.io/z": "1"}),
     'node "a" is not allowed to modify labels: a.node-restriction.kubernetes.io/z'),
    ("update", "", "nodes", "", {**NODE_A, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}, NODE_A,
     'node "a" is not allowed to modify taints'),
    ("create", "coordination.k8s.io", "leases", "", {"metadata": {"name": "a"}}, None, None),
    ("create", "coordination.k8s.io", "leases", "", {"metadata": {"name": "b"}}, None,
     "can only access node lease with the same name as the requesting node"),
    ("create", "", "configmaps", "", {"metadata": {"name": "b"}}, None, None),
])
def test_node_restriction(op: str, group: str, resource: str, sub: str, new: dict[str, Any] | None,
                          old: dict[str, Any] | None, why: str | None) -> None:
    assert admit("a", op, group, resource, sub, new, old) == why
