"""Ingress objects as routes. Pure: Ingresses, IngressClasses and the cluster view in, ``Collected`` out.

Which Ingresses are shoal's (``shoal.api.ingresssecrets``, the rule the Node
authorizer shares): those whose class (``spec.ingressClassName``, or
the old ``kubernetes.io/ingress.class`` annotation) is an IngressClass with
controller ``shoal.io/ingress``, and those with no class when the default
IngressClass is shoal's or there is no default at all (k3s's bundled proxy
takes class-less Ingresses the same way).

Conflicts are settled as ingress-nginx settles them: Ingresses are read
oldest first (creationTimestamp, then namespace/name), the first to claim a
host + path + pathType keeps it, and each later claimant is still served for
the rest of its rules and gets an Event naming the winner. Only the oldest
``defaultBackend`` is used, likewise. A TLS entry whose Secret is missing or
holds no valid key pair leaves its hosts on the default certificate, with an
Event naming the Secret.

HTTP -> HTTPS, as ingress-nginx: a plain-HTTP request whose route is on a
TLS host answers ``308`` with ``Location: https://host[:https port]/path?query``.
A TLS host is a rule host of any of shoal's Ingresses with a ``tls`` section
(ingress-nginx gives every rule host of such an Ingress a certificate, the
default one when no entry names the host or its Secret is missing or
invalid, and redirects whenever a host has one); the route's own Ingress
decides with ``nginx.ingress.kubernetes.io/ssl-redirect`` (default ``"true"``),
and ``nginx.ingress.kubernetes.io/force-ssl-redirect: "true"`` redirects even
without TLS (host-less rules too). Paths under ``/.well-known/acme-challenge``
are never redirected, even when forced (ingress-nginx's
``no-tls-redirect-locations`` default, checked before anything else), so
cert-manager's HTTP-01 solver Ingress answers on plain HTTP. Unlike
ingress-nginx, the Location keeps a trailing slash (ingress-nginx drops it
unless ``preserve-trailing-slash``) and names the proxy's HTTPS port when it
is not 443 (shoal's is a flag; ingress-nginx writes none unless
``use-port-in-redirects``). Values are read as Go's ``ParseBool``; one
that is not a boolean keeps the default, as ingress-nginx's parser does. The
``defaultBackend`` never redirects.

Path types: ``Exact`` matches the path exactly; ``Prefix`` matches whole path
elements (``/foo`` matches ``/foo`` and ``/foo/bar``, not ``/foobar``; a
trailing ``/`` is ignored); ``ImplementationSpecific`` is a plain string
prefix, as nginx's ``location``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shoal.api import views as v
from shoal.api.ingresssecrets import ingress_is_ours
from shoal.ingress.backends import Body, ClusterView, Ref, backend_name, weighted_servers
from shoal.ingress.model import Backend, Cert, Collected, Match, PathKind, Problem, Route
from shoal.ingress.tls import secret_pem

_PATH_KINDS: dict[str, PathKind] = {"Exact": "Exact", "Prefix": "Prefix", "ImplementationSpecific": "Begins"}


SSL_REDIRECT = "nginx.ingress.kubernetes.io/ssl-redirect"
FORCE_SSL_REDIRECT = "nginx.ingress.kubernetes.io/force-ssl-redirect"
NO_TLS_REDIRECT = "/.well-known/acme-challenge"
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(value: object, default: bool) -> bool:
    """Go's ``strconv.ParseBool`` (ingress-nginx's annotation parser); anything else is ``default``."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return default


def tls_hosts(ingresses: Iterable[Body]) -> frozenset[str]:
    """The rule hosts that have a certificate in ingress-nginx's eyes: every host of an Ingress with TLS."""
    return frozenset(str(r["host"]).lower() for ing in ingresses if v.as_list(v.spec(ing).get("tls"))
                     for r in v.as_list(v.spec(ing).get("rules")) if isinstance(r, dict) and r.get("host"))


def redirects_to_https(ing: Body, host: str, path: str, tls: frozenset[str]) -> bool:
    """Whether plain HTTP to this Ingress's ``path`` on ``host`` ("" for none) answers a redirect to https."""
    if path.startswith(NO_TLS_REDIRECT):
        return False
    ann = v.annotations(ing)
    if parse_bool(ann.get(FORCE_SSL_REDIRECT), False):
        return True
    return bool(host) and host in tls and parse_bool(ann.get(SSL_REDIRECT), True)


def safe(value: str) -> bool:
    """A host, path or header value the proxy's configuration can carry (no quote, no control character)."""
    return "'" not in value and all(c.isprintable() and not c.isspace() for c in value)


def age_key(obj: Body) -> tuple[str, str, str]:
    return (str(v.meta(obj).get("creationTimestamp") or ""), v.namespace(obj), v.name(obj))


def _problem(ing: Body, reason: str, message: str) -> Problem:
    return Problem("Ingress", v.namespace(ing), v.name(ing), reason, message)


def _ref(ns: str, backend: Mapping[str, Any]) -> Ref | None:
    svc = backend.get("service")
    if not isinstance(svc, dict) or not svc.get("name"):
        return None
    port = svc.get("port") or {}
    number, pname = port.get("number"), port.get("name")
    return Ref(ns, str(svc["name"]), int(number) if number else (str(pname) if pname else None))


def normalize_prefix(path: str) -> str:
    return path.rstrip("/") or "/"


def _tls(ing: Body, view: ClusterView, into: Collected) -> None:
    ns = v.namespace(ing)
    for t in v.as_list(v.spec(ing).get("tls")):
        if not isinstance(t, dict) or not t.get("secretName"):
            continue
        secret = str(t["secretName"])
        hosts = tuple(str(h).lower() for h in v.as_list(t.get("hosts")) if isinstance(h, str) and safe(h))
        obj = view.secrets.get((ns, secret))
        pem, why = secret_pem(obj) if obj is not None else (None, "it does not exist")
        if pem is None:
            into.problems.append(_problem(
                ing, "InvalidTLSSecret",
                f"TLS Secret {ns}/{secret} is not usable ({why}): {', '.join(hosts) or 'its hosts'} "
                "served with the default certificate"))
            continue
        name = backend_name("tls", ns, secret)
        prev = into.certs.get(name)
        into.certs[name] = Cert(name, pem, tuple(sorted(set(hosts) | set(prev.hosts if prev else ()))))


def collect_ingresses(ingresses: Iterable[Body], classes: Iterable[Body], view: ClusterView,
                      into: Collected) -> None:
    """Add shoal's Ingresses' routes, backends, certificates and problems to ``into``."""
    classes = list(classes)
    claimed: dict[tuple[str, str, str], str] = {}
    ours = sorted((i for i in ingresses if ingress_is_ours(i, classes) and not v.is_terminating(i)), key=age_key)
    tls = tls_hosts(ours)
    for ing in ours:
        ns, name = v.namespace(ing), v.name(ing)
        source = f"Ingress {ns}/{name}"
        created = age_key(ing)[0]
        spec = v.spec(ing)
        _tls(ing, view, into)
        default = spec.get("defaultBackend")
        if isinstance(default, dict):
            ref = _ref(ns, default)
            if into.default_backend is not None:
                into.problems.append(_problem(ing, "Conflict", "its defaultBackend is not used: an older "
                                              "Ingress's default backend is"))
            elif ref is not None:
                bname = backend_name("ing", ns, name, "default")
                into.backends[bname] = Backend(bname, weighted_servers(view, [ref]))
                into.default_backend = bname
        for i, rule in enumerate(v.as_list(spec.get("rules"))):
            if not isinstance(rule, dict):
                continue
            host = str(rule.get("host") or "").lower()
            if host and not safe(host):
                into.problems.append(_problem(ing, "InvalidHost", f"host {host!r} cannot be served"))
                continue
            for j, p in enumerate(v.as_list((rule.get("http") or {}).get("paths"))):
                if not isinstance(p, dict):
                    continue
                kind = _PATH_KINDS.get(str(p.get("pathType") or "ImplementationSpecific"), "Begins")
                path = str(p.get("path") or "/")
                if kind == "Prefix":
                    path = normalize_prefix(path)
                if not path.startswith("/") or not safe(path):
                    into.problems.append(_problem(ing, "InvalidPath", f"path {path!r} cannot be served"))
                    continue
                key = (host, path, kind)
                winner = claimed.get(key)
                if winner is not None and winner != source:
                    shown = host or "*"
                    into.problems.append(_problem(
                        ing, "Conflict", f"host {shown} path {path} ({p.get('pathType')}) is already served by "
                                         f"{winner}, which is older: that one wins"))
                    continue
                claimed[key] = source
                ref = _ref(ns, p.get("backend") or {})
                if ref is None:
                    into.problems.append(_problem(ing, "UnsupportedBackend",
                                                  f"path {path}: only Service backends are served"))
                    continue
                bname = backend_name("ing", ns, name, str(i), str(j))
                into.backends[bname] = Backend(bname, weighted_servers(view, [ref]))
                into.routes.append(Route(hosts=(host,) if host else (), match=Match(path, kind), backend=bname,
                                         source=source, created=created,
                                         to_https=redirects_to_https(ing, host, path, tls)))
