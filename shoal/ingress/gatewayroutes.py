"""Gateway API objects as routes. Pure: GatewayClasses, Gateways, HTTPRoutes and the cluster view in.

A Gateway is shoal's when its GatewayClass's ``controllerName`` is
``shoal.io/gateway-controller``. Every node's proxy serves every such Gateway:
HTTP listeners on the node's HTTP port, HTTPS listeners (TLS terminated with
the listener's ``certificateRefs``, by SNI on the listener's hostname) on its
HTTPS port, whatever port number the listener names (a published port as for
Ingress; the number is kept in status). An HTTPRoute attached to such a
Gateway (``parentRefs``, optionally one listener by ``sectionName``) gives one
route per match of each rule; the rule's backend carries its
``backendRefs`` with their weights and its ``RequestHeaderModifier`` /
``ResponseHeaderModifier`` filters, and a ``RequestRedirect`` filter makes
the rule a redirect. Hostnames: the route's, else its listeners', else any.
A route attached only to HTTP listeners (or only to HTTPS ones) is served
on that port alone, so the usual pair - a ``RequestRedirect`` with
``scheme: https`` on the HTTP listener, the backends on the HTTPS one - does
not redirect the HTTPS requests too.
Served here: path ``Exact`` / ``PathPrefix`` / ``RegularExpression``, header
and query ``Exact`` / ``RegularExpression``, method; not served (yet):
URLRewrite, RequestMirror.

References to another namespace: a ``backendRef`` to a Service there is used
only when a ReferenceGrant in that namespace permits it
(``shoal.api.referencegrants``); otherwise that backend is left out (the
rule's other backends keep their weights) and the route's ``ResolvedRefs``
condition is False with reason ``RefNotPermitted``, upstream's; a
``backendRef`` of another kind than Service is left out with ``InvalidKind``.
A listener's ``certificateRefs`` to another namespace's Secret likewise need
a ReferenceGrant there (from Gateways of the Gateway's namespace to that
Secret); refused, the listener's hosts get the default certificate, the
Gateway an Event, and the listener ``ResolvedRefs=False`` ``RefNotPermitted``
(``into.listener_refs``; an unusable Secret: ``InvalidCertificateRef``).
Every node's proxy reads those Secrets under the Node authorizer's ingress
edge, which asks the very same functions (``shoal.api.ingresssecrets``), so
a node may read exactly the Secrets its proxy is allowed to serve.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shoal.api import views as v
from shoal.api.ingresssecrets import gateway_class_is_ours, listener_secret_refs
from shoal.api.referencegrants import route_may_use_service
from shoal.ingress.backends import Body, ClusterView, Ref, backend_name, weighted_servers
from shoal.ingress.ingressroutes import age_key, normalize_prefix, safe
from shoal.ingress.model import (
    Backend,
    Cert,
    Collected,
    HeaderMods,
    Match,
    PathKind,
    Problem,
    Redirect,
    Route,
    Unresolved,
    ValueKind,
)
from shoal.ingress.tls import secret_pem

_PATH: dict[str, PathKind] = {"Exact": "Exact", "PathPrefix": "Prefix", "RegularExpression": "Regex"}


def _value_kind(t: object) -> ValueKind:
    return "RegularExpression" if t == "RegularExpression" else "Exact"


def our_gateways(classes: Iterable[Body], gateways: Iterable[Body]) -> list[Body]:
    ours = {v.name(c) for c in classes if gateway_class_is_ours(c)}
    return sorted((g for g in gateways if v.spec(g).get("gatewayClassName") in ours and not v.is_terminating(g)),
                  key=age_key)


def _listeners(gw: Body) -> list[dict[str, Any]]:
    return [li for li in v.as_list(v.spec(gw).get("listeners")) if isinstance(li, dict)]


def _certs(gw: Body, view: ClusterView, into: Collected, grants: list[Body]) -> None:
    ns = v.namespace(gw)
    for li in _listeners(gw):
        if li.get("protocol") != "HTTPS":
            continue
        host = str(li.get("hostname") or "").lower()
        where = (ns, v.name(gw), str(li.get("name") or ""))
        for (sns, sname), allowed in listener_secret_refs(gw, li, grants):
            if not allowed:
                msg = (f"certificateRef {sns}/{sname} of listener {li.get('name')} is not permitted: no "
                       f"ReferenceGrant in namespace {sns} allows Gateways of namespace {ns} to refer to it; "
                       "served with the default certificate")
                into.problems.append(Problem("Gateway", ns, v.name(gw), "RefNotPermitted", msg))
                into.listener_refs[where] = Unresolved("RefNotPermitted", msg)
                continue
            obj = view.secrets.get((sns, sname))
            pem, why = secret_pem(obj) if obj is not None else (None, "it does not exist")
            if pem is None:
                msg = (f"TLS Secret {sns}/{sname} of listener {li.get('name')} is not usable ({why}): served with "
                       "the default certificate")
                into.problems.append(Problem("Gateway", ns, v.name(gw), "InvalidTLSSecret", msg))
                into.listener_refs.setdefault(where, Unresolved("InvalidCertificateRef", msg))
                continue
            name = backend_name("tls", sns, sname)
            prev = into.certs.get(name)
            hosts = ({host} if host and safe(host) else set()) | set(prev.hosts if prev else ())
            into.certs[name] = Cert(name, pem, tuple(sorted(hosts)))


def _mods(f: Mapping[str, Any] | None) -> HeaderMods:
    if not isinstance(f, dict):
        return HeaderMods()

    def pairs(key: str) -> tuple[tuple[str, str], ...]:
        return tuple((str(h.get("name")), str(h.get("value") or "")) for h in v.as_list(f.get(key))
                     if isinstance(h, dict) and h.get("name") and safe(str(h.get("value") or "x")))
    return HeaderMods(set=pairs("set"), add=pairs("add"),
                      remove=tuple(str(n) for n in v.as_list(f.get("remove")) if isinstance(n, str)))


def _redirect(f: Mapping[str, Any]) -> Redirect:
    path = f.get("path") or {}
    full = path.get("replaceFullPath") if path.get("type") == "ReplaceFullPath" else None
    return Redirect(scheme=f.get("scheme"), hostname=f.get("hostname"), port=f.get("port"),
                    path=str(full) if full and safe(str(full)) else None, status=int(f.get("statusCode") or 302))


def _match(m: Mapping[str, Any]) -> Match | None:
    p = m.get("path") or {}
    kind = _PATH.get(str(p.get("type") or "PathPrefix"), "Prefix")
    value = str(p.get("value") or "/")
    if kind == "Prefix":
        value = normalize_prefix(value)
    headers = tuple((str(h.get("name")), str(h.get("value") or ""), _value_kind(h.get("type")))
                    for h in v.as_list(m.get("headers")) if isinstance(h, dict))
    query = tuple((str(h.get("name")), str(h.get("value") or ""), _value_kind(h.get("type")))
                  for h in v.as_list(m.get("queryParams")) if isinstance(h, dict))
    if not all(safe(x) for x in (value, *(h[1] for h in headers), *(q[1] for q in query))):
        return None
    method = m.get("method")
    return Match(value, kind, headers, query, str(method) if isinstance(method, str) and method.isalpha() else None)


def _parents(route: Body, gateways: Mapping[tuple[str, str], Body]) -> list[tuple[Body, list[dict[str, Any]]]]:
    """The shoal Gateways a route attaches to, each with the listeners it attaches to."""
    out = []
    for ref in v.as_list(v.spec(route).get("parentRefs")):
        if not isinstance(ref, dict) or ref.get("kind", "Gateway") != "Gateway":
            continue
        gw = gateways.get((str(ref.get("namespace") or v.namespace(route)), str(ref.get("name") or "")))
        if gw is None:
            continue
        section = ref.get("sectionName")
        listeners = [li for li in _listeners(gw) if li.get("protocol") in ("HTTP", "HTTPS")
                     and (not section or li.get("name") == section)]
        if listeners:
            out.append((gw, listeners))
    return out


def backend_refs(route: Body, rule: Mapping[str, Any], grants: Iterable[Body]
                 ) -> tuple[list[Ref], list[Unresolved]]:
    """A rule's usable Service references, and why each other one is not used (upstream's reasons)."""
    ns = v.namespace(route)
    refs: list[Ref] = []
    bad: list[Unresolved] = []
    for b in v.as_list(rule.get("backendRefs")):
        if not isinstance(b, dict):
            continue
        sns, sname = str(b.get("namespace") or ns), str(b.get("name") or "")
        if b.get("kind", "Service") != "Service" or (b.get("group") or "") not in ("", "core"):
            bad.append(Unresolved("InvalidKind", f"backendRef {sns}/{sname}: kind {b.get('group') or 'core'}/"
                                                 f"{b.get('kind')} is not served (only Services are)"))
            continue
        if not route_may_use_service(grants, ns, sns, sname):
            bad.append(Unresolved("RefNotPermitted", f"backendRef to Service {sns}/{sname} is not permitted: no "
                                                     f"ReferenceGrant in namespace {sns} allows HTTPRoutes of "
                                                     f"namespace {ns} to refer to it"))
            continue
        port = b.get("port")
        refs.append(Ref(sns, sname, int(port) if port else None, int(b.get("weight", 1))))
    return refs, bad


def collect_gateways(classes: Iterable[Body], gateways: Iterable[Body], routes: Iterable[Body],
                     view: ClusterView, into: Collected, grants: Iterable[Body] = ()
                     ) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Add the HTTPRoutes of shoal's Gateways to ``into`` (with ``into.unresolved`` for the routes whose
    references do not all resolve); returns each accepted route's parents ((namespace, name) ->
    [(gateway namespace, gateway name)]), for status. ``grants``: the cluster's ReferenceGrants."""
    grants = list(grants)
    gws = our_gateways(classes, gateways)
    for gw in gws:
        _certs(gw, view, into, grants)
    by_key = {(v.namespace(g), v.name(g)): g for g in gws}
    accepted: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for route in sorted(routes, key=age_key):
        parents = _parents(route, by_key)
        if not parents or v.is_terminating(route):
            continue
        ns, name = v.namespace(route), v.name(route)
        accepted[(ns, name)] = [(v.namespace(g), v.name(g)) for g, _ in parents]
        for where in {(v.namespace(g), v.name(g), str(li.get("name") or "")) for g, ls in parents for li in ls}:
            into.attached[where] = into.attached.get(where, 0) + 1
        listeners = [li for _, ls in parents for li in ls]
        hosts = tuple(str(h).lower() for h in v.as_list(v.spec(route).get("hostnames"))
                      if isinstance(h, str) and safe(h))
        if not hosts and all(li.get("hostname") for li in listeners):
            hosts = tuple(sorted({str(li["hostname"]).lower() for li in listeners}))
        https_only = all(li.get("protocol") == "HTTPS" for li in listeners)
        http_only = all(li.get("protocol") == "HTTP" for li in listeners)
        unresolved: list[Unresolved] = []
        for i, rule in enumerate(v.as_list(v.spec(route).get("rules"))):
            if not isinstance(rule, dict):
                continue
            filters = [f for f in v.as_list(rule.get("filters")) if isinstance(f, dict)]
            redirect = next((_redirect(f.get("requestRedirect") or {}) for f in filters
                             if f.get("type") == "RequestRedirect"), None)
            req = next((_mods(f.get("requestHeaderModifier")) for f in filters
                        if f.get("type") == "RequestHeaderModifier"), HeaderMods())
            resp = next((_mods(f.get("responseHeaderModifier")) for f in filters
                         if f.get("type") == "ResponseHeaderModifier"), HeaderMods())
            refs, bad = backend_refs(route, rule, grants)
            unresolved += bad
            into.problems += [Problem("HTTPRoute", ns, name, u.reason, u.message) for u in bad]
            bname = backend_name("hr", ns, name, str(i))
            into.backends[bname] = Backend(bname, () if redirect else weighted_servers(view, refs), req, resp)
            for m in [m for m in v.as_list(rule.get("matches")) if isinstance(m, dict)] or [{}]:
                match = _match(m)
                if match is None:
                    into.problems.append(Problem("HTTPRoute", ns, name, "UnsupportedValue",
                                                 f"rule {i}: a match value cannot be served"))
                    continue
                into.routes.append(Route(hosts=hosts, match=match, backend=bname, redirect=redirect,
                                         source=f"HTTPRoute {ns}/{name}", created=age_key(route)[0],
                                         https_only=https_only, http_only=http_only))
        if unresolved:
            first = next((u for u in unresolved if u.reason == "RefNotPermitted"), unresolved[0])
            into.unresolved[(ns, name)] = Unresolved(first.reason, "; ".join(u.message for u in unresolved))
    return accepted
