"""The proxy's configuration as typed values: what ``haproxycfg`` renders, whatever produced it.

Ingresses and HTTPRoutes both become ``Route``s (a host set, a match, and
either a backend or a redirect; on plain HTTP, an Ingress's TLS host's route
is a redirect to https instead, ``to_https``); every route has a ``Backend`` of its own
(its servers are the endpoints of the Services it names, weighted, plus the
route's header modifiers), so a per-route rule never needs a condition the
response phase cannot evaluate. ``ProxyConfig`` is the whole of it, in the
order HAProxy must try the routes (``route_order``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PathKind = Literal["Exact", "Prefix", "Begins", "Regex"]  # Begins: ImplementationSpecific (a plain string prefix)
ValueKind = Literal["Exact", "RegularExpression"]


@dataclass(frozen=True, slots=True)
class Server:
    """One endpoint in a backend; ``service`` ("ns/name") says whose, for per-service counters."""

    name: str
    address: str
    port: int
    weight: int
    service: str


@dataclass(frozen=True, slots=True)
class HeaderMods:
    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.add or self.remove)


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    servers: tuple[Server, ...] = ()
    request_headers: HeaderMods = HeaderMods()
    response_headers: HeaderMods = HeaderMods()


@dataclass(frozen=True, slots=True)
class Redirect:
    """Gateway API's RequestRedirect: parts left None keep the request's."""

    scheme: str | None = None
    hostname: str | None = None
    port: int | None = None
    path: str | None = None  # ReplaceFullPath
    status: int = 302


@dataclass(frozen=True, slots=True)
class Match:
    path: str = "/"
    path_kind: PathKind = "Prefix"
    headers: tuple[tuple[str, str, ValueKind], ...] = ()
    query: tuple[tuple[str, str, ValueKind], ...] = ()
    method: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    hosts: tuple[str, ...]  # () = any host; "*.example.com" matches one label
    match: Match
    backend: str | None = None  # a Backend's name
    redirect: Redirect | None = None
    source: str = ""  # "Ingress ns/name", for messages
    created: str = ""  # the source's creationTimestamp: the older wins a tie
    https_only: bool = False  # a Gateway's HTTPS listener only
    http_only: bool = False  # a Gateway's HTTP listener only
    to_https: bool = False  # plain HTTP answers 308 to https (an Ingress's TLS host: ingress-nginx's ssl-redirect)


@dataclass(frozen=True, slots=True)
class Cert:
    """A certificate (PEM cert chain + key) served by SNI for ``hosts``."""

    name: str
    pem: str
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    routes: tuple[Route, ...] = ()
    backends: tuple[Backend, ...] = ()
    default_backend: str | None = None
    certs: tuple[Cert, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.routes and self.default_backend is None


@dataclass(slots=True)
class Problem:
    """Something about one object the user should hear of (an Event): the object, reason and message."""

    kind: str
    namespace: str
    name: str
    reason: str
    message: str
    warning: bool = True


@dataclass(frozen=True, slots=True)
class Unresolved:
    """Why an HTTPRoute's references do not all resolve: its ResolvedRefs=False condition (upstream's reasons)."""

    reason: str  # RefNotPermitted, InvalidKind (a route's); RefNotPermitted, InvalidCertificateRef (a listener's)
    message: str


@dataclass(slots=True)
class Collected:
    """Routes, backends and certificates gathered from several sources, with the problems found."""

    routes: list[Route] = field(default_factory=list)
    backends: dict[str, Backend] = field(default_factory=dict)
    certs: dict[str, Cert] = field(default_factory=dict)
    default_backend: str | None = None
    problems: list[Problem] = field(default_factory=list)
    unresolved: dict[tuple[str, str], Unresolved] = field(default_factory=dict)  # HTTPRoute (ns, name) -> why
    # a Gateway's listeners, by (gateway namespace, gateway name, listener name): why its certificateRefs do not
    # all resolve, and how many HTTPRoutes attach to it (its status)
    listener_refs: dict[tuple[str, str, str], Unresolved] = field(default_factory=dict)
    attached: dict[tuple[str, str, str], int] = field(default_factory=dict)


def _host_rank(hosts: tuple[str, ...]) -> tuple[int, int]:
    if not hosts:
        return (2, 0)
    if any(h.startswith("*.") for h in hosts):
        return (1, -max(len(h) for h in hosts))
    return (0, 0)


def _path_rank(m: Match) -> tuple[int, int]:
    kind = {"Exact": 0, "Regex": 1, "Prefix": 2, "Begins": 2}[m.path_kind]
    return (kind, -len(m.path))


def route_order(r: Route) -> tuple[object, ...]:
    """Most specific first (Gateway API's precedence, which ingress-nginx's also is): exact hosts before
    wildcards before any host; exact paths before prefixes, longer prefixes first; a method, then more
    header and query matches; then the oldest source."""
    m = r.match
    return (*_host_rank(r.hosts), *_path_rank(m), m.method is None, -len(m.headers), -len(m.query),
            r.created, r.source)


def finish(c: Collected) -> ProxyConfig:
    routes = sorted(c.routes, key=route_order)
    used = {r.backend for r in routes if r.backend} | ({c.default_backend} if c.default_backend else set())
    backends = tuple(b for name, b in sorted(c.backends.items()) if name in used)
    return ProxyConfig(routes=tuple(routes), backends=backends, default_backend=c.default_backend,
                       certs=tuple(c.certs[k] for k in sorted(c.certs)))
