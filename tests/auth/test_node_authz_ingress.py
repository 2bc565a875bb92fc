"""The Node authorizer's ingress edges as tables: which node may read which TLS Secret (no server)."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.apiserver.authn.components import node
from shoal.apiserver.authz import node as node_authz
from shoal.apiserver.authz.attributes import Attributes, request_attributes
from shoal.apiserver.authz.authorizer import NODE_RULES
from shoal.apiserver.authz.ingressgraph import GATEWAY_CLASSES_PREFIX, GATEWAYS_PREFIX
from shoal.apiserver.authz.nodegraph import NodeGraph
from tests.auth.test_node_authz_pure import Ev, FakeStore, pod

ING = "/registry/networking.k8s.io/ingresses/"
ICLASS = "/registry/networking.k8s.io/ingressclasses/"


def ingress(name: str, secrets: list[str], cls: str | None = None, ns: str = "ns", **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"tls": [{"hosts": [f"{s}.example"], "secretName": s} for s in secrets]}
    if cls:
        spec["ingressClassName"] = cls
    return {"metadata": {"name": name, "namespace": ns, **meta}, "spec": spec}


def iclass(name: str, controller: str, default: bool = False) -> dict[str, Any]:
    ann = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": ann}, "spec": {"controller": controller}}


def gateway(name: str, cls: str, refs: list[dict[str, Any]], protocol: str = "HTTPS") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "spec": {"gatewayClassName": cls, "listeners": [
        {"name": "https", "protocol": protocol, "port": 443, "tls": {"certificateRefs": refs}}]}}


def gclass(name: str, controller: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"controllerName": controller}}


class Feed:
    """Events into a graph, each with the next revision."""

    def __init__(self) -> None:
        self.g = NodeGraph(FakeStore())  # type: ignore[arg-type]
        self.g.loaded = True
        self.rev = 0

    def put(self, key: str, obj: dict[str, Any], type_: str = "ADDED") -> None:
        self.rev += 1
        self.g.observe_event(Ev(type_, self.rev, key, obj))

    def delete(self, key: str, obj: dict[str, Any]) -> None:
        self.put(key, obj, "DELETED")


def cluster() -> Feed:
    f = Feed()
    f.put("/registry/core/pods/ns/p1", pod("p1", "a", volumes=[{"name": "s", "secret": {"secretName": "a-secret"}}]))
    f.put("/registry/core/pods/ns/p2", pod("p2", "b", volumes=[{"name": "s", "secret": {"secretName": "b-secret"}}]))
    f.put(ICLASS + "shoal", iclass("shoal", "shoal.io/ingress"))
    f.put(ICLASS + "nginx", iclass("nginx", "k8s.io/ingress-nginx"))
    f.put(ING + "ns/web", ingress("web", ["web-tls", "shared-tls"], "shoal"))
    f.put(ING + "ns/plain", ingress("plain", ["classless-tls"]))  # no class, no default class: shoal's
    f.put(ING + "ns/theirs", ingress("theirs", ["nginx-tls"], "nginx"))
    f.put(ING + "ns/unknown", ingress("unknown", ["unknown-class-tls"], "missing"))
    f.put(GATEWAY_CLASSES_PREFIX + "shoal", gclass("shoal", "shoal.io/gateway-controller"))
    f.put(GATEWAY_CLASSES_PREFIX + "envoy", gclass("envoy", "example.com/envoy"))
    f.put(GATEWAYS_PREFIX + "ns/gw", gateway("gw", "shoal", [
        {"kind": "Secret", "name": "gw-tls"},
        {"name": "gw-default-kind-tls"},
        {"kind": "Secret", "name": "far-tls", "namespace": "other"},  # no ReferenceGrant here: never served
        {"kind": "ConfigMap", "name": "gw-cm"},
        {"group": "example.com", "kind": "Secret", "name": "gw-foreign-group"}]))
    f.put(GATEWAYS_PREFIX + "ns/envoy-gw", gateway("envoy-gw", "envoy", [{"kind": "Secret", "name": "envoy-tls"}]))
    f.put(GATEWAYS_PREFIX + "ns/http-gw", gateway("http-gw", "shoal", [{"name": "http-tls"}], protocol="HTTP"))
    return f


def req(verb: str, name: str = "", ns: str = "ns", resource: str = "secrets", sub: str = "",
        who: str = "a") -> Attributes:
    return Attributes(node(who), verb, True, resource=resource, subresource=sub, namespace=ns, name=name)


def no_rel(who: str) -> str:
    return f"no relationship found between node '{who}' and this object"


@pytest.mark.parametrize(("a", "allowed", "reason"), [
    # an Ingress's TLS Secret: every node, by name (get, and a list or watch selecting its name)
    (req("get", "web-tls"), True, ""),
    (req("get", "web-tls", who="c"), True, ""),  # a node with no pods at all
    (req("watch", "web-tls", who="b"), True, ""),
    (req("list", "shared-tls", who="c"), True, ""),
    (req("get", "classless-tls"), True, ""),
    (req("get", "gw-tls", who="c"), True, ""),
    (req("get", "gw-default-kind-tls", who="c"), True, ""),
    # never more than that
    (req("list"), False, "No Object name found"),
    (req("watch"), False, "No Object name found"),
    (req("list", ns=""), False, "can only read namespaced object of this type"),
    (req("update", "web-tls"), False, "can only read resources of this type"),
    (req("delete", "web-tls"), False, "can only read resources of this type"),
    (req("create", "web-tls"), False, "can only read resources of this type"),
    (req("get", "web-tls", ns="other"), False, no_rel("a")),  # the same name in another namespace
    (req("get", "web-tls", resource="configmaps"), False, no_rel("a")),
    (req("get", "nginx-tls", who="c"), False, no_rel("c")),  # another controller's Ingress
    (req("get", "unknown-class-tls", who="c"), False, no_rel("c")),  # a class that does not exist
    (req("get", "envoy-tls", who="c"), False, no_rel("c")),  # another controller's Gateway
    (req("get", "far-tls", ns="other", who="c"), False, no_rel("c")),  # cross-namespace certificateRef
    (req("get", "gw-cm", resource="configmaps", who="c"), False, no_rel("c")),
    (req("get", "gw-foreign-group", who="c"), False, no_rel("c")),
    (req("get", "http-tls", who="c"), False, no_rel("c")),  # not an HTTPS listener
    (req("get", "unreferenced"), False, no_rel("a")),
    # pods' Secrets are unchanged: the node of the pod only
    (req("get", "a-secret"), True, ""),
    (req("get", "b-secret"), False, no_rel("a")),
    (req("get", "a-secret", who="c"), False, no_rel("c")),
])
def test_which_node_may_read_which_tls_secret(a: Attributes, allowed: bool, reason: str) -> None:
    d = node_authz.decide(a.user.name.rpartition(":")[2], a, cluster().g, NODE_RULES)
    assert (d.allowed, d.reason) == (allowed, reason)


@pytest.mark.parametrize(("query", "allowed"), [
    ("watch=true&fieldSelector=metadata.name%3Dweb-tls", True),
    ("fieldSelector=metadata.name%3Dweb-tls", True),  # the informer's first list
    ("watch=true", False),
    ("", False),
    ("fieldSelector=metadata.name!%3Dweb-tls", False),
    ("watch=true&fieldSelector=metadata.name%3Dnginx-tls", False),
])
def test_a_request_as_the_agent_sends_it(query: str, allowed: bool) -> None:
    from urllib.parse import parse_qs

    q = {k: v[0] for k, v in parse_qs(query).items()}
    a = request_attributes(node("c"), "GET", "/api/v1/namespaces/ns/secrets", q.get("watch", ""),
                           q.get("fieldSelector", ""))
    assert node_authz.decide("c", a, cluster().g, NODE_RULES).allowed is allowed


def test_edges_follow_the_objects() -> None:
    f = cluster()

    def may(name: str) -> bool:
        return f.g.related("c", "secrets", "ns", name)
    assert may("web-tls") and may("shared-tls")
    f.put(ING + "ns/web", ingress("web", ["shared-tls"], "shoal"), "MODIFIED")  # web-tls no longer named
    assert not may("web-tls") and may("shared-tls")
    f.put(ING + "ns/web2", ingress("web2", ["shared-tls"], "shoal"))
    f.delete(ING + "ns/web", ingress("web", [], "shoal"))
    assert may("shared-tls")  # still named by web2
    f.put(ING + "ns/web2", ingress("web2", ["shared-tls"], "shoal", deletionTimestamp="2026-01-01T00:00:00Z"),
          "MODIFIED")
    assert not may("shared-tls")  # an Ingress being deleted serves nothing
    f.put(ING + "ns/theirs", ingress("theirs", ["nginx-tls"], "shoal"), "MODIFIED")  # moved to shoal's class
    assert may("nginx-tls")
    # a default class of another controller takes the class-less Ingresses
    assert may("classless-tls")
    f.put(ICLASS + "nginx", iclass("nginx", "k8s.io/ingress-nginx", default=True), "MODIFIED")
    assert not may("classless-tls")
    f.delete(ICLASS + "shoal", iclass("shoal", "shoal.io/ingress"))
    assert not may("nginx-tls")  # its class is gone
    # Gateways: the class decides, and a CRD no longer served forgets its objects
    assert may("gw-tls")
    f.put(GATEWAY_CLASSES_PREFIX + "shoal", gclass("shoal", "example.com/other"), "MODIFIED")
    assert not may("gw-tls")
    f.put(GATEWAY_CLASSES_PREFIX + "shoal", gclass("shoal", "shoal.io/gateway-controller"), "MODIFIED")
    assert may("gw-tls")
    f.g.forget(GATEWAYS_PREFIX)
    assert not may("gw-tls")
    f.put(GATEWAYS_PREFIX + "ns/gw", gateway("gw", "shoal", [{"name": "gw-tls"}]))  # served again, created again
    assert may("gw-tls")


def test_an_older_event_never_restores_an_edge() -> None:
    f = cluster()
    f.put(ING + "ns/web", ingress("web", [], "shoal"), "MODIFIED")
    stale = Ev("MODIFIED", 1, ING + "ns/web", ingress("web", ["web-tls"], "shoal"))
    f.g.observe_event(stale)
    assert not f.g.related("c", "secrets", "ns", "web-tls")
