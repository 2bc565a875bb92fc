"""Table tests: Ingress HTTP->HTTPS redirects (ingress-nginx's ssl-redirect) and Gateway API ReferenceGrants."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.api.crd.schema import compile_schema, validate
from shoal.api.ingresssecrets import served_secrets
from shoal.api.referencegrants import permitted, route_may_use_service
from shoal.apiserver.authz.ingressgraph import (
    GATEWAY_CLASSES_PREFIX,
    GATEWAYS_PREFIX,
    GRANTS_PREFIX,
)
from shoal.ingress.backends import ClusterView
from shoal.ingress.crds import CRDS, REFERENCE_GRANT_SCHEMA
from shoal.ingress.gatewayroutes import collect_gateways
from shoal.ingress.haproxycfg import HTTPS_REDIRECT, Settings, render
from shoal.ingress.ingressroutes import collect_ingresses, parse_bool, redirects_to_https, tls_hosts
from shoal.ingress.model import Collected, finish
from shoal.ingress.tls import self_signed
from tests.auth.test_node_authz_ingress import Feed
from tests.ingress.objects import endpoints, ingress, meta, path, service, tls_secret

SETTINGS = Settings(run_dir="/run/x", bind="127.0.0.1", http_port=8080, https_port=8443)
TLS = [{"hosts": ["a.example"], "secretName": "s"}]


def annotated(ing: dict[str, Any], **ann: str) -> dict[str, Any]:
    ing["metadata"]["annotations"] = {f"nginx.ingress.kubernetes.io/{k.replace('_', '-')}": x for k, x in ann.items()}
    return ing


@pytest.mark.parametrize(("value", "default", "want"), [
    (None, True, True), (None, False, False), ("false", True, False), ("False", True, False), ("0", True, False),
    ("true", False, True), ("T", False, True), ("1", False, True), ("yes", True, True), ("no", True, True),
    ("", False, False), ("FALSE ", True, True),
])
def test_parse_bool_is_gos(value: str | None, default: bool, want: bool) -> None:
    assert parse_bool(value, default) is want


@pytest.mark.parametrize(("ann", "tls", "host", "want"), [
    ({}, TLS, "a.example", True),  # the default: a TLS host redirects
    ({}, TLS, "b.example", True),  # any rule host of an Ingress with TLS: ingress-nginx gives it a (default) cert
    ({}, None, "a.example", False),  # no TLS, no redirect
    ({"ssl_redirect": "false"}, TLS, "a.example", False),
    ({"ssl_redirect": "bogus"}, TLS, "a.example", True),  # not a boolean: the default
    ({"force_ssl_redirect": "true"}, None, "a.example", True),
    ({"force_ssl_redirect": "true"}, None, "", True),  # even host-less
    ({"force_ssl_redirect": "true", "ssl_redirect": "false"}, TLS, "a.example", True),
    ({"force_ssl_redirect": "false"}, TLS, "a.example", True),
    ({}, TLS, "", False),  # a host-less rule has no certificate of its own
])
def test_redirects_to_https(ann: dict[str, str], tls: list[dict[str, Any]] | None, host: str, want: bool) -> None:
    ing = annotated(ingress("i", [("a.example", [path("/", "a")]), ("b.example", [path("/", "a")]),
                                  ("", [path("/", "a")])], tls=tls), **ann)
    assert redirects_to_https(ing, host, "/", tls_hosts([ing])) is want


@pytest.mark.parametrize(("path_", "force", "want"), [
    ("/.well-known/acme-challenge/tok3n", False, False),  # cert-manager's HTTP-01 solver answers on plain HTTP
    ("/.well-known/acme-challenge", False, False),
    ("/.well-known/acme-challenge/tok3n", True, False),  # even when forced (ingress-nginx's lua checks it first)
    ("/.well-known/other", False, True),
])
def test_acme_challenges_are_not_redirected(path_: str, force: bool, want: bool) -> None:
    ing = ingress("i", [("a.example", [path(path_, "a")])], tls=TLS)
    if force:
        annotated(ing, force_ssl_redirect="true")
    assert redirects_to_https(ing, "a.example", path_, tls_hosts([ing])) is want


def test_a_host_with_tls_in_another_ingress_redirects_that_ingress_too() -> None:
    """ingress-nginx's certificate is per host (server), the ssl-redirect per location: an Ingress without TLS on
    a host another Ingress gives TLS redirects, unless it says ``ssl-redirect: "false"``."""
    web = ingress("web", [("a.example", [path("/", "a")])], tls=[{"hosts": ["a.example"], "secretName": "absent"}])
    api = ingress("api", [("a.example", [path("/api", "a")])], created="2026-02-01T00:00:00Z")
    plain = annotated(ingress("plain", [("a.example", [path("/plain", "a")])], created="2026-02-01T00:00:00Z"),
                      ssl_redirect="false")
    c = Collected()
    v = ClusterView(services={("default", "a"): service("a")}, endpoints={("default", "a"): endpoints("a", [
        ("10.0.0.1", 80)])})
    collect_ingresses([web, api, plain], [], v, c)
    cfg = finish(c)
    assert {r.match.path: r.to_https for r in cfg.routes} == {"/": True, "/api": True, "/plain": False}
    assert [p.reason for p in c.problems] == ["InvalidTLSSecret"]  # a missing Secret still redirects (nginx's too)
    text = render(cfg, SETTINGS).text
    http, https = text.split("frontend https")
    https = https.split("\nbackend ")[0]
    # plain HTTP: in route order, the redirecting routes go to the redirect backend, /plain to its own
    assert [ln.split()[1] for ln in http.splitlines() if ln.strip().startswith("use_backend")] == [
        "ing_default_plain_0_0", HTTPS_REDIRECT, HTTPS_REDIRECT]
    assert HTTPS_REDIRECT not in https
    assert (f"backend {HTTPS_REDIRECT}\n    http-request redirect location "
            "'https://%[var(txn.host)]:8443%[pathq]' code 308") in text


def test_no_redirect_backend_without_tls_and_no_port_on_443() -> None:
    v = ClusterView(services={("default", "a"): service("a")})
    c = Collected()
    collect_ingresses([ingress("i", [("a.example", [path("/", "a")])])], [], v, c)
    assert HTTPS_REDIRECT not in render(finish(c), SETTINGS).text
    c = Collected()
    collect_ingresses([ingress("i", [("a.example", [path("/", "a")])], tls=TLS)], [], v, c)
    text = render(finish(c), Settings(run_dir="/r")).text
    assert "location 'https://%[var(txn.host)]%[pathq]' code 308" in text


def grant(ns: str, froms: list[dict[str, str]], tos: list[dict[str, str]], name: str = "g") -> dict[str, Any]:
    return {"metadata": meta(name, ns), "spec": {"from": froms, "to": tos}}


ROUTE_FROM = {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "apps"}


@pytest.mark.parametrize(("grants", "svc_ns", "svc", "want"), [
    ([], "apps", "x", True),  # same namespace: no grant needed
    ([], "shared", "x", False),
    ([grant("shared", [ROUTE_FROM], [{"group": "", "kind": "Service"}])], "shared", "x", True),
    ([grant("shared", [ROUTE_FROM], [{"group": "core", "kind": "Service"}])], "shared", "x", True),
    ([grant("shared", [ROUTE_FROM], [{"group": "", "kind": "Service", "name": "x"}])], "shared", "x", True),
    ([grant("shared", [ROUTE_FROM], [{"group": "", "kind": "Service", "name": "y"}])], "shared", "x", False),
    ([grant("other", [ROUTE_FROM], [{"group": "", "kind": "Service"}])], "shared", "x", False),  # wrong namespace
    ([grant("shared", [{**ROUTE_FROM, "namespace": "else"}], [{"group": "", "kind": "Service"}])],
     "shared", "x", False),
    ([grant("shared", [{**ROUTE_FROM, "kind": "GRPCRoute"}], [{"group": "", "kind": "Service"}])],
     "shared", "x", False),
    ([grant("shared", [{**ROUTE_FROM, "group": ""}], [{"group": "", "kind": "Service"}])], "shared", "x", False),
    ([grant("shared", [ROUTE_FROM], [{"group": "", "kind": "Secret"}])], "shared", "x", False),
    ([grant("shared", [ROUTE_FROM], [{"group": "apps", "kind": "Service"}])], "shared", "x", False),
    ([grant("shared", [{"group": "x", "kind": "Y", "namespace": "z"}, ROUTE_FROM],
            [{"group": "", "kind": "Secret"}, {"group": "", "kind": "Service"}])], "shared", "x", True),
])
def test_reference_grants(grants: list[dict[str, Any]], svc_ns: str, svc: str, want: bool) -> None:
    assert route_may_use_service(grants, "apps", svc_ns, svc) is want


def test_a_terminating_grant_permits_nothing() -> None:
    g = grant("shared", [ROUTE_FROM], [{"group": "", "kind": "Service"}])
    g["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert not permitted([g], from_group="gateway.networking.k8s.io", from_kind="HTTPRoute", from_namespace="apps",
                         to_group="", to_kind="Service", to_namespace="shared", to_name="x")


def _gateway() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    classes = [{"metadata": {"name": "shoal"}, "spec": {"controllerName": "shoal.io/gateway-controller"}}]
    gws = [{"metadata": meta("gw", "apps"), "spec": {"gatewayClassName": "shoal", "listeners": [
        {"name": "web", "port": 80, "protocol": "HTTP"},
        {"name": "websecure", "port": 443, "protocol": "HTTPS", "hostname": "app.example",
         "tls": {"certificateRefs": [{"name": "own"}, {"name": "theirs", "namespace": "shared"}]}}]}}]
    return classes, gws


def _cluster() -> ClusterView:
    return ClusterView(services={("apps", "local"): service("local", ns="apps"),
                                 ("shared", "db"): service("db", ns="shared")},
                       endpoints={("apps", "local"): endpoints("local", [("10.0.0.1", 80)], ns="apps"),
                                  ("shared", "db"): endpoints("db", [("10.0.0.2", 80)], ns="shared")})


def _route() -> dict[str, Any]:
    return {"metadata": meta("r", "apps"), "spec": {"parentRefs": [{"name": "gw"}], "rules": [
        {"backendRefs": [{"name": "local", "port": 80}, {"name": "db", "namespace": "shared", "port": 80},
                         {"name": "bucket", "kind": "Bucket", "group": "storage.example", "port": 80}]}]}}


@pytest.mark.parametrize(("grants", "services", "reason"), [
    ([], {"apps/local"}, "RefNotPermitted"),
    ([grant("shared", [ROUTE_FROM], [{"group": "", "kind": "Service", "name": "db"}])],
     {"apps/local", "shared/db"}, "InvalidKind"),
])
def test_httproute_cross_namespace_backends(grants: list[dict[str, Any]], services: set[str], reason: str) -> None:
    classes, gws = _gateway()
    c = Collected()
    parents = collect_gateways(classes, gws, [_route()], _cluster(), c, grants)
    assert parents == {("apps", "r"): [("apps", "gw")]}
    be = next(b for b in finish(c).backends if b.name == "hr_apps_r_0")
    assert {s.service for s in be.servers} == services
    assert c.unresolved[("apps", "r")].reason == reason
    assert "storage.example/Bucket" in c.unresolved[("apps", "r")].message
    assert ("shared/db is not permitted" in c.unresolved[("apps", "r")].message) is (not grants)


def test_an_unusable_secret_is_an_invalid_certificate_ref() -> None:
    classes, gws = _gateway()
    gws[0]["spec"]["listeners"][1]["tls"]["certificateRefs"] = [{"name": "own"}]
    c = Collected()
    collect_gateways(classes, gws, [{"metadata": meta("r", "apps"), "spec": {"parentRefs": [{"name": "gw"}]}}],
                     ClusterView(), c)
    assert {k: u.reason for k, u in c.listener_refs.items()} == {("apps", "gw", "websecure"): "InvalidCertificateRef"}
    assert c.attached == {("apps", "gw", "web"): 1, ("apps", "gw", "websecure"): 1}


GATEWAY_FROM = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "apps"}


@pytest.mark.parametrize(("grants", "served"), [
    ([], False),
    ([grant("shared", [GATEWAY_FROM], [{"group": "", "kind": "Secret"}])], True),
    ([grant("shared", [GATEWAY_FROM], [{"group": "", "kind": "Secret", "name": "theirs"}])], True),
    ([grant("shared", [GATEWAY_FROM], [{"group": "", "kind": "Secret", "name": "other"}])], False),
    ([grant("shared", [ROUTE_FROM], [{"group": "", "kind": "Secret"}])], False),  # for HTTPRoutes, not Gateways
    ([grant("apps", [GATEWAY_FROM], [{"group": "", "kind": "Secret"}])], False),  # in the referrer's namespace
])
def test_cross_namespace_certificate_refs(grants: list[dict[str, Any]], served: bool) -> None:
    classes, gws = _gateway()
    c = Collected()
    crt, key = self_signed("app.example", hosts=("app.example",))
    view = ClusterView(secrets={("apps", "own"): tls_secret("own", crt, key, ns="apps"),
                                ("shared", "theirs"): tls_secret("theirs", crt, key, ns="shared")})
    collect_gateways(classes, gws, [], view, c, grants)
    assert sorted(x.name for x in finish(c).certs) == (
        ["tls_apps_own", "tls_shared_theirs"] if served else ["tls_apps_own"])
    assert [p.reason for p in c.problems] == ([] if served else ["RefNotPermitted"])
    refs = {k: u.reason for k, u in c.listener_refs.items()}
    assert refs == ({} if served else {("apps", "gw", "websecure"): "RefNotPermitted"})
    # what the proxy serves is what its node may read: the agent's watch list and the Node authorizer agree
    assert (("shared", "theirs") in served_secrets([], [], gws, classes, grants)) is served
    f = Feed()
    f.put(GATEWAY_CLASSES_PREFIX + "shoal", classes[0])
    f.put(GATEWAYS_PREFIX + "apps/gw", gws[0])
    for g in grants:
        f.put(f"{GRANTS_PREFIX}{g['metadata']['namespace']}/{g['metadata']['name']}", g)
    assert f.g.related("any-node", "secrets", "shared", "theirs") is served
    assert f.g.related("any-node", "secrets", "apps", "own")


def test_the_node_authorizer_follows_grants() -> None:
    classes, gws = _gateway()
    f = Feed()
    f.put(GATEWAY_CLASSES_PREFIX + "shoal", classes[0])
    f.put(GATEWAYS_PREFIX + "apps/gw", gws[0])
    key = GRANTS_PREFIX + "shared/g"
    g = grant("shared", [GATEWAY_FROM], [{"group": "", "kind": "Secret", "name": "theirs"}])

    def may() -> bool:
        return f.g.related("n", "secrets", "shared", "theirs")
    assert not may()
    f.put(key, g)
    assert may()
    f.put(key, grant("shared", [GATEWAY_FROM], [{"group": "", "kind": "Secret", "name": "else"}]), "MODIFIED")
    assert not may()
    f.put(key, g, "MODIFIED")
    assert may()
    f.put(key, {**g, "metadata": {**g["metadata"], "deletionTimestamp": "2026-01-01T00:00:00Z"}}, "MODIFIED")
    assert not may()  # a grant being deleted grants nothing
    f.put(key, g, "MODIFIED")
    f.delete(key, g)
    assert not may()
    f.put(key, g)
    f.g.forget(GRANTS_PREFIX)  # the CRD no longer served
    assert not may()
    f.put(key, g)
    f.put(GATEWAY_CLASSES_PREFIX + "shoal", {**classes[0], "spec": {"controllerName": "x.io/other"}}, "MODIFIED")
    assert not may()  # not shoal's Gateway any more: the grant alone opens nothing


def test_redirect_on_the_http_listener_only() -> None:
    """The usual pair: a RequestRedirect to https on the HTTP listener, the backends on the HTTPS one."""
    classes, gws = _gateway()
    redirect = {"metadata": meta("to-https", "apps"), "spec": {
        "parentRefs": [{"name": "gw", "sectionName": "web"}], "hostnames": ["app.example"],
        "rules": [{"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https",
                                                                               "statusCode": 301}}]}]}}
    app = {"metadata": meta("app", "apps"), "spec": {
        "parentRefs": [{"name": "gw", "sectionName": "websecure"}], "hostnames": ["app.example"],
        "rules": [{"backendRefs": [{"name": "local", "port": 80}]}]}}
    c = Collected()
    collect_gateways(classes, gws, [redirect, app], _cluster(), c)
    assert c.attached == {("apps", "gw", "web"): 1, ("apps", "gw", "websecure"): 1}
    # one Secret missing, one not permitted: the listener says RefNotPermitted (shoal prefers that reason)
    assert c.listener_refs[("apps", "gw", "websecure")].reason == "RefNotPermitted"
    text = render(finish(c), SETTINGS).text
    assert "use_backend hr_apps_to-https_0 if { var(txn.host) -m str 'app.example' } !{ ssl_fc }" in text
    assert "use_backend hr_apps_app_0 if { var(txn.host) -m str 'app.example' } { ssl_fc }" in text
    assert "http-request redirect location 'https://%[var(txn.host)]%[pathq]' code 301" in text


@pytest.mark.parametrize(("spec", "error"), [
    ({"from": [ROUTE_FROM], "to": [{"group": "", "kind": "Service"}]}, None),
    ({"from": [{**ROUTE_FROM, "kind": "HTTP Route"}], "to": [{"group": "", "kind": "Service"}]}, "spec.from[0].kind"),
    ({"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}], "to": [{"group": "", "kind": "Service"}]},
     "spec.from[0].namespace"),
    ({"from": [{**ROUTE_FROM, "namespace": "Not_A_Namespace"}], "to": [{"group": "", "kind": "Service"}]},
     "spec.from[0].namespace"),
    ({"from": [ROUTE_FROM], "to": [{"group": "Bad Group!", "kind": "Service"}]}, "spec.to[0].group"),
    ({"from": [ROUTE_FROM], "to": [{"kind": "Service"}]}, "spec.to[0].group"),
    ({"from": [], "to": [{"group": "", "kind": "Service"}]}, "spec.from"),
    ({"to": [{"group": "", "kind": "Service"}]}, "spec.from"),
])
def test_reference_grant_schema(spec: dict[str, Any], error: str | None) -> None:
    crd = next(c for c in CRDS if c["spec"]["names"]["kind"] == "ReferenceGrant")
    assert crd["spec"]["versions"][0]["name"] == "v1beta1"
    errs = validate({"spec": spec}, compile_schema(REFERENCE_GRANT_SCHEMA))
    fields = " ".join(str(e) for e in errs)
    if error is None:
        assert errs == []
    else:
        assert error in fields, fields
