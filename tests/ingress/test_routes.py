"""Table tests of the pure translations: Ingresses and HTTPRoutes -> routes -> haproxy.cfg."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.api.ingresssecrets import ingress_is_ours
from shoal.ingress.backends import ClusterView, Ref, weighted_servers
from shoal.ingress.gatewayroutes import collect_gateways
from shoal.ingress.haproxycfg import Settings, conditions, render
from shoal.ingress.ingressroutes import collect_ingresses
from shoal.ingress.model import Collected, Match, ProxyConfig, Route, finish
from shoal.ingress.tls import self_signed
from tests.ingress.objects import endpoints, ingress, meta, path, service, tls_secret

SETTINGS = Settings(run_dir="/run/x", bind="127.0.0.1", http_port=8080, https_port=8443)


def view(**svcs: list[tuple[str, int]]) -> ClusterView:
    return ClusterView(services={("default", n): service(n) for n in svcs},
                       endpoints={("default", n): endpoints(n, a) for n, a in svcs.items()})


def cfg_of(ingresses: list[dict[str, Any]], v: ClusterView, classes: list[dict[str, Any]] | None = None
           ) -> tuple[ProxyConfig, Collected]:
    c = Collected()
    collect_ingresses(ingresses, classes or [], v, c)
    return finish(c), c


@pytest.mark.parametrize(("route", "want"), [
    (Route((), Match("/", "Prefix"), "b"), [""]),
    (Route(("a.example",), Match("/", "Prefix"), "b"), ["{ var(txn.host) -m str 'a.example' }"]),
    (Route(("*.example.com",), Match("/api", "Prefix"), "b"),
     ["{ var(txn.host) -m reg '^[^.]+\\.example\\.com$' } { path -m reg '^/api(/|$)' }"]),
    (Route((), Match("/x", "Exact"), "b"), ["{ path -m str '/x' }"]),
    (Route((), Match("/x", "Begins"), "b"), ["{ path -m beg '/x' }"]),
    (Route(("a", "b"), Match("/", "Prefix", headers=(("X-Env", "canary", "Exact"),),
                             query=(("v", "2", "Exact"),), method="GET"), "b", https_only=True),
     ["{ var(txn.host) -m str 'a' } { ssl_fc } { method GET } { req.hdr(X-Env) -m str 'canary' } "
      "{ url_param(v) -m str '2' }",
      "{ var(txn.host) -m str 'b' } { ssl_fc } { method GET } { req.hdr(X-Env) -m str 'canary' } "
      "{ url_param(v) -m str '2' }"]),
])
def test_conditions(route: Route, want: list[str]) -> None:
    assert conditions(route) == want


def test_route_order_most_specific_first() -> None:
    v = view(a=[("10.0.0.1", 80)])
    ing = ingress("i", [("", [path("/", "a")]), ("*.example.com", [path("/", "a")]),
                        ("x.example.com", [path("/", "a"), path("/api", "a"), path("/api/v1", "a"),
                                           path("/exact", "a", "Exact")])])
    cfg, _ = cfg_of([ing], v)
    got = [(r.hosts, r.match.path, r.match.path_kind) for r in cfg.routes]
    assert got == [(("x.example.com",), "/exact", "Exact"), (("x.example.com",), "/api/v1", "Prefix"),
                   (("x.example.com",), "/api", "Prefix"), (("x.example.com",), "/", "Prefix"),
                   (("*.example.com",), "/", "Prefix"), ((), "/", "Prefix")]


def test_conflict_older_wins_and_the_newer_is_told() -> None:
    v = view(old=[("10.0.0.1", 80)], new=[("10.0.0.2", 80)])
    newer = ingress("newer", [("a.example", [path("/", "new"), path("/only-new", "new")])],
                    created="2026-02-01T00:00:00Z")
    older = ingress("older", [("a.example", [path("/", "old")])], created="2026-01-01T00:00:00Z")
    cfg, c = cfg_of([newer, older], v)
    served = {(r.match.path, r.source) for r in cfg.routes}
    assert served == {("/", "Ingress default/older"), ("/only-new", "Ingress default/newer")}
    assert [(p.name, p.reason) for p in c.problems] == [("newer", "Conflict")]
    assert "Ingress default/older" in c.problems[0].message


def test_prefix_trailing_slash_is_the_same_claim() -> None:
    v = view(a=[("10.0.0.1", 80)])
    cfg, c = cfg_of([ingress("a", [("h", [path("/foo/", "a")])]),
                     ingress("b", [("h", [path("/foo", "a")])], created="2026-03-01T00:00:00Z")], v)
    assert len(cfg.routes) == 1 and [p.reason for p in c.problems] == ["Conflict"]


@pytest.mark.parametrize(("classes", "ing_class", "ours"), [
    ([], None, True),
    ([{"metadata": {"name": "shoal"}, "spec": {"controller": "shoal.io/ingress"}}], "shoal", True),
    ([{"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}], "nginx", False),
    ([], "missing", False),
    ([{"metadata": {"name": "nginx", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
       "spec": {"controller": "k8s.io/ingress-nginx"}}], None, False),
])
def test_which_ingresses_are_ours(classes: list[dict[str, Any]], ing_class: str | None, ours: bool) -> None:
    assert ingress_is_ours(ingress("i", [], cls=ing_class), classes) is ours


def test_default_backend_oldest_and_404_otherwise() -> None:
    v = view(a=[("10.0.0.1", 80)], b=[("10.0.0.2", 80)])
    cfg, c = cfg_of([ingress("x", [], default="b", created="2026-05-01T00:00:00Z"),
                     ingress("y", [], default="a")], v)
    assert cfg.default_backend == "ing_default_y_default" and [p.name for p in c.problems] == ["x"]
    text = render(cfg_of([], v)[0], SETTINGS).text
    assert "default_backend shoal_default_404" in text and "http-request return status 404" in text


def test_tls_valid_and_invalid_secrets() -> None:
    crt, key = self_signed("a.example", hosts=("a.example",))
    _, other_key = self_signed("b.example")
    v = ClusterView(services={("default", "a"): service("a")},
                    secrets={("default", "good"): tls_secret("good", crt, key),
                             ("default", "bad"): tls_secret("bad", crt, other_key)})
    ing = ingress("i", [("a.example", [path("/", "a")])],
                  tls=[{"hosts": ["a.example"], "secretName": "good"}, {"hosts": ["b.example"], "secretName": "bad"},
                       {"hosts": ["c.example"], "secretName": "absent"}])
    cfg, c = cfg_of([ing], v)
    assert [(x.name, x.hosts) for x in cfg.certs] == [("tls_default_good", ("a.example",))]
    msgs = [p.message for p in c.problems]
    assert len(msgs) == 2 and "default/bad" in msgs[0] and "not the key" in msgs[0] and "default/absent" in msgs[1]
    r = render(cfg, SETTINGS)
    assert r.files["crt-list.txt"] == "/run/x/certs/tls_default_good.pem a.example\n"
    assert "bind 127.0.0.1:8443 ssl crt /run/x/default.pem crt-list /run/x/crt-list.txt" in r.text


@pytest.mark.parametrize(("weights", "eps", "share"), [
    ((80, 20), (3, 1), (0.8, 0.2)),
    ((50, 50), (1, 4), (0.5, 0.5)),
    ((100, 0), (2, 2), (1.0, 0.0)),
    ((1, 99), (5, 1), (0.01, 0.99)),
])
def test_weighted_servers_hold_the_shares(weights: tuple[int, int], eps: tuple[int, int],
                                          share: tuple[float, float]) -> None:
    v = view(s=[(f"10.0.0.{i}", 80) for i in range(eps[0])], c=[(f"10.0.1.{i}", 80) for i in range(eps[1])])
    servers = weighted_servers(v, [Ref("default", "s", 80, weights[0]), Ref("default", "c", 80, weights[1])])
    total = sum(s.weight for s in servers)
    got = sum(s.weight for s in servers if s.service == "default/s") / total
    assert abs(got - share[0]) < 0.01 and all(0 <= s.weight <= 256 for s in servers)
    assert len(servers) == sum(eps)  # a 0-weight Service keeps its servers (weights change without reload)


def test_rollout_split_replaces_the_stable_service() -> None:
    v = ClusterView(services={("default", n): service(n) for n in ("web", "web-canary")},
                    endpoints={("default", "web"): endpoints("web", [("10.0.0.1", 80)]),
                               ("default", "web-canary"): endpoints("web-canary", [("10.0.0.2", 80)])},
                    splits={("default", "web"): (("web", 75), ("web-canary", 25))})
    servers = weighted_servers(v, [Ref("default", "web", 80)])
    assert {s.service: s.weight for s in servers} == {"default/web": 256, "default/web-canary": 85}


def test_weights_only_change_has_the_same_shape() -> None:
    def rendered(w: int) -> Any:
        v = ClusterView(services={("default", n): service(n) for n in ("s", "c")},
                        endpoints={("default", "s"): endpoints("s", [("10.0.0.1", 80)]),
                                   ("default", "c"): endpoints("c", [("10.0.0.2", 80)])},
                        splits={("default", "s"): (("s", 100 - w), ("c", w))})
        return render(cfg_of([ingress("i", [("", [path("/", "s")])])], v)[0], SETTINGS)
    a, b = rendered(0), rendered(30)
    assert a.text != b.text and a.shape == b.shape
    assert a.weights[("ing_default_i_0_0", "default.c.10.0.0.2.80")] == 0
    assert b.weights[("ing_default_i_0_0", "default.c.10.0.0.2.80")] > 0


def test_nothing_per_request_that_costs_cpu_is_rendered() -> None:
    """No log line, no L7-retry copy of each request, keep-alive to the servers (bench/ingress_config_bench.py)."""
    text = render(cfg_of([ingress("i", [("", [path("/", "s")])])], view(s=[("10.0.0.1", 80)]))[0], SETTINGS).text
    lines = [x.strip() for x in text.splitlines()]
    assert "retry-on conn-failure" in lines
    assert not [x for x in lines if x.startswith(("log ", "option httplog", "option http-server-close",
                                                   "option httpclose", "retry-on")) and x != "retry-on conn-failure"]


def test_unsafe_values_are_refused_not_rendered() -> None:
    cfg, c = cfg_of([ingress("i", [("a.example", [path("/x'; y", "a")])])], view(a=[("10.0.0.1", 80)]))
    assert cfg.routes == () and [p.reason for p in c.problems] == ["InvalidPath"]


def _gw_objects() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    classes = [{"metadata": {"name": "shoal"}, "spec": {"controllerName": "shoal.io/gateway-controller"}},
               {"metadata": {"name": "other"}, "spec": {"controllerName": "x.io/gw"}}]
    gws = [{"metadata": meta("gw"), "spec": {"gatewayClassName": "shoal", "listeners": [
               {"name": "web", "port": 80, "protocol": "HTTP"}]}},
           {"metadata": meta("foreign"), "spec": {"gatewayClassName": "other", "listeners": [
               {"name": "web", "port": 80, "protocol": "HTTP"}]}}]
    return classes, gws


def test_httproute_matches_weights_filters_redirects() -> None:
    classes, gws = _gw_objects()
    route = {"metadata": meta("r"), "spec": {
        "parentRefs": [{"name": "gw"}], "hostnames": ["app.example"],
        "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/api"},
                          "headers": [{"name": "X-Env", "value": "beta"}]},
                         {"queryParams": [{"name": "v", "value": "2"}]}],
             "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {
                             "set": [{"name": "X-From", "value": "shoal"}], "remove": ["X-Drop"]}},
                         {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
                             "add": [{"name": "X-Served", "value": "yes"}]}}],
             "backendRefs": [{"name": "a", "port": 80, "weight": 90}, {"name": "b", "port": 80, "weight": 10}]},
            {"matches": [{"path": {"type": "Exact", "value": "/old"}}],
             "filters": [{"type": "RequestRedirect", "requestRedirect": {
                 "scheme": "https", "statusCode": 301, "path": {"type": "ReplaceFullPath", "replaceFullPath": "/new"}}}]},
        ]}}
    foreign = {"metadata": meta("f"), "spec": {"parentRefs": [{"name": "foreign"}],
                                              "rules": [{"backendRefs": [{"name": "a", "port": 80}]}]}}
    c = Collected()
    parents = collect_gateways(classes, gws, [route, foreign], view(a=[("10.0.0.1", 80)], b=[("10.0.0.2", 80)]), c)
    assert parents == {("default", "r"): [("default", "gw")]}
    cfg = finish(c)
    assert [(r.match.path_kind, r.match.path, bool(r.match.headers), bool(r.match.query)) for r in cfg.routes] == [
        ("Exact", "/old", False, False), ("Prefix", "/api", True, False), ("Prefix", "/", False, True)]
    text = render(cfg, SETTINGS).text
    assert "http-request redirect location 'https://%[var(txn.host)]/new' code 301" in text
    assert "http-request set-header X-From 'shoal'" in text and "http-request del-header X-Drop" in text
    assert "http-response add-header X-Served 'yes'" in text
    be = next(b for b in cfg.backends if b.name == "hr_default_r_0")
    assert {s.service: s.weight for s in be.servers} == {"default/a": 256, "default/b": 28}
