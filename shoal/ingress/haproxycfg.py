"""``ProxyConfig`` -> haproxy.cfg and its files. Pure: the same routes always render the same text.

Layout: one ``http`` frontend and one ``https`` frontend (TLS terminated with
SNI from a ``crt-list``: each Secret's PEM filtered to its hosts, the proxy's
own certificate first, so a host without a usable Secret gets it), with the
same ``use_backend`` rules, most specific route first; every route has a
backend of its own that carries its header modifiers or its redirect; a
request no route takes gets the Ingress default backend, else a 404. The
two frontends differ in one thing: on plain HTTP a route marked ``to_https``
(an Ingress's TLS host) goes to one shared backend that answers 308 to
``https://host[:https port]`` with the request's path and query; it is a
``use_backend`` in the route's place, not an ``http-request redirect`` ahead
of them, so a more specific route that does not redirect (another Ingress
with ``ssl-redirect: "false"``) still wins for its paths. A Gateway route
attached only to HTTP (or only to HTTPS) listeners is served on that
frontend alone (``!{ ssl_fc }`` / ``{ ssl_fc }``), so a ``RequestRedirect``
to https on the HTTP listener never answers the HTTPS request it sends.

Hot reload: ``option idle-close-on-response`` keeps the old worker from
closing a client's idle keep-alive connection under it at a reload (it
answers one more request with ``Connection: close`` instead), which is what
made 50 reloads under wrk cost 0 failed requests instead of ~0.4 per reload
(docs/decisions.md). ``weights`` and ``shape`` let the caller see that a new
configuration differs only in server weights, which the runtime API sets with
no reload at all (a canary's weight steps).

Per-request cost (docs/decisions.md, ``bench/ingress_config_bench.py``): no
``log`` line (a log line is a syscall per request), keep-alive and
``http-reuse safe`` on both sides (HAProxy's defaults; ``http-server-close``
costs 3x), and retries on a failed connect only: ``retry-on empty-response``
makes HAProxy copy every request into a second buffer (~2 us of its ~19 us a
request); without it, a reused server connection the backend closed under a
request closes the client's connection with no response, which HTTP clients
retry (the keep-alive race any server has), instead of HAProxy re-sending it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shoal.ingress.model import Backend, HeaderMods, ProxyConfig, Redirect, Route

DEFAULT_404 = "shoal_default_404"
HTTPS_REDIRECT = "shoal_https_redirect"
_WEIGHT = re.compile(r" weight \d+")
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&*+.^_`|~-]+$")


@dataclass(frozen=True, slots=True)
class Settings:
    run_dir: str  # sockets, certificates and the configuration live here
    bind: str = "0.0.0.0"
    http_port: int = 80
    https_port: int = 443
    maxconn: int = 8000

    @property
    def admin_socket(self) -> str:
        return f"{self.run_dir}/admin.sock"

    @property
    def default_cert(self) -> str:
        return f"{self.run_dir}/default.pem"


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    files: dict[str, str]  # path relative to run_dir -> content (certificates, the crt-list)
    weights: dict[tuple[str, str], int]  # (backend, server) -> weight

    @property
    def shape(self) -> str:
        """The configuration with server weights left out: equal shapes differ in weights only."""
        return _WEIGHT.sub("", self.text)


def q(value: str) -> str:
    """Strong (single) quoting: HAProxy expands nothing inside; callers never pass a quote (``safe``)."""
    return f"'{value}'"


def _host_conds(host: str) -> str:
    if host.startswith("*."):
        return "{ var(txn.host) -m reg " + q("^[^.]+" + re.escape(host[1:]) + "$") + " }"
    return "{ var(txn.host) -m str " + q(host) + " }"


def _path_cond(route: Route) -> str | None:
    m = route.match
    if m.path_kind == "Exact":
        return "{ path -m str " + q(m.path) + " }"
    if m.path_kind == "Regex":
        return "{ path -m reg " + q(m.path) + " }"
    if m.path == "/":
        return None
    if m.path_kind == "Begins":
        return "{ path -m beg " + q(m.path) + " }"
    return "{ path -m reg " + q("^" + re.escape(m.path) + "(/|$)") + " }"


def conditions(route: Route) -> list[str]:
    """One condition (ANDed anonymous ACLs) per host of the route; [""] for an unconditional route."""
    m = route.match
    common: list[str] = []
    if route.https_only:
        common.append("{ ssl_fc }")
    elif route.http_only:
        common.append("!{ ssl_fc }")
    path = _path_cond(route)
    if path:
        common.append(path)
    if m.method:
        common.append("{ method " + m.method + " }")
    for name, value, kind in m.headers:
        if _TOKEN.match(name):
            common.append("{ req.hdr(" + name + ") -m " + ("reg " if kind != "Exact" else "str ") + q(value) + " }")
    for name, value, kind in m.query:
        if _TOKEN.match(name):
            common.append("{ url_param(" + name + ") -m " + ("reg " if kind != "Exact" else "str ") + q(value) + " }")
    hosts = [_host_conds(h) for h in route.hosts] or [""]
    return [" ".join(c for c in (h, *common) if c) for h in hosts]


def _frontend_rules(cfg: ProxyConfig, *, plain: bool) -> list[str]:
    lines = ["    http-request set-var(txn.host) req.hdr(host),field(1,:),lower"]
    for r in cfg.routes:
        if not r.backend:
            continue
        backend = HTTPS_REDIRECT if plain and r.to_https else r.backend
        for cond in conditions(r):
            lines.append(f"    use_backend {backend}" + (f" if {cond}" if cond else ""))
    lines.append(f"    default_backend {cfg.default_backend or DEFAULT_404}")
    return lines


def _mods(direction: str, mods: HeaderMods) -> list[str]:
    out = [f"    {direction} del-header {n}" for n in mods.remove if _TOKEN.match(n)]
    out += [f"    {direction} set-header {n} {q(val)}" for n, val in mods.set if _TOKEN.match(n)]
    out += [f"    {direction} add-header {n} {q(val)}" for n, val in mods.add if _TOKEN.match(n)]
    return out


def _redirect(r: Redirect) -> str:
    scheme = r.scheme or "%[ssl_fc,iif(https,http)]"
    host = r.hostname or "%[var(txn.host)]"
    port = f":{r.port}" if r.port else ""
    path = r.path if r.path is not None else "%[pathq]"
    return f"    http-request redirect location {q(f'{scheme}://{host}{port}{path}')} code {r.status}"


def _backend(b: Backend, redirect: Redirect | None) -> list[str]:
    lines = [f"backend {b.name}", "    balance roundrobin", "    retry-on conn-failure"]
    if redirect is not None:
        lines.append(_redirect(redirect))
    lines += _mods("http-request", b.request_headers) + _mods("http-response", b.response_headers)
    lines += [f"    server {s.name} {_addr(s.address)}:{s.port} weight {s.weight}" for s in b.servers]
    return lines


def _addr(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def render(cfg: ProxyConfig, s: Settings) -> Rendered:
    files: dict[str, str] = {}
    crt_list: list[str] = []
    for c in cfg.certs:
        path = f"certs/{c.name}.pem"
        files[path] = c.pem
        crt_list.append(" ".join((f"{s.run_dir}/{path}", *c.hosts)))
    bind_ssl = f"ssl crt {s.default_cert}"
    if crt_list:
        files["crt-list.txt"] = "\n".join(crt_list) + "\n"
        bind_ssl += f" crt-list {s.run_dir}/crt-list.txt"
    lines = [
        "# written by shoal (shoal.ingress); edits are overwritten",
        "global",
        f"    stats socket {s.admin_socket} mode 600 level admin expose-fd listeners",
        f"    maxconn {s.maxconn}",
        "    hard-stop-after 60s",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 30s",
        "    timeout http-keep-alive 30s",
        "    option idle-close-on-response",
        "    option redispatch",
        "    retries 2",
        "frontend http",
        f"    bind {_addr(s.bind)}:{s.http_port}",
        *_frontend_rules(cfg, plain=True),
        "frontend https",
        f"    bind {_addr(s.bind)}:{s.https_port} {bind_ssl}",
        *_frontend_rules(cfg, plain=False),
    ]
    redirects = {r.backend: r.redirect for r in cfg.routes if r.backend and r.redirect is not None}
    weights: dict[tuple[str, str], int] = {}
    for b in cfg.backends:
        lines += _backend(b, redirects.get(b.name))
        weights.update({(b.name, srv.name): srv.weight for srv in b.servers})
    if any(r.to_https for r in cfg.routes):
        port = "" if s.https_port == 443 else f":{s.https_port}"
        lines += [f"backend {HTTPS_REDIRECT}",
                  f"    http-request redirect location {q(f'https://%[var(txn.host)]{port}%[pathq]')} "
                  "code 308"]
    if cfg.default_backend is None:
        lines += [f"backend {DEFAULT_404}",
                  "    http-request return status 404 content-type text/plain string 'default backend - 404'"]
    return Rendered("\n".join(lines) + "\n", files, weights)
