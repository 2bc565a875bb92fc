"""The ingress end to end: a real shoal server, a real HAProxy run by ``IngressNode``, loopback backends.

Backends are local HTTP servers whose addresses the test writes into the
Endpoints of Services without selectors (as one does for endpoints outside
the cluster); the proxy, its reloads, its runtime API and its counters are the
real thing, on high loopback ports (``tests.ingress.backends`` on the addresses).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from shoal.agent.nodecert import CERT_FILE, KEY_FILE
from shoal.client import ApiClient, ApiException
from shoal.ingress.node import IngressNode
from shoal.ingress.resources import GATEWAYS, HTTPROUTES, REFERENCE_GRANTS, ROLLOUTS
from shoal.ingress.tls import self_signed
from tests.ingress.backends import ADDRESSES, Backend, local_addresses
from tests.ingress.objects import endpoints, ingress, path, service, tls_secret
from tests.server_fixture import RunningServer, free_port, start_server

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/sbin/haproxy") or os.geteuid() != 0,
                                reason="needs haproxy, and root for the backends' local addresses")


@pytest.fixture(scope="module", autouse=True)
def addresses() -> Iterator[tuple[str, ...]]:
    with local_addresses() as addrs:
        yield addrs


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(Path(tmp_path_factory.mktemp("ingress")), args=["--disable-scheduler"])
    yield srv
    srv.stop()


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[ApiClient]:
    c = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    yield c
    await c.close()


@pytest.fixture
async def node(client: ApiClient, tmp_path: Path) -> AsyncIterator[IngressNode]:
    n = IngressNode(client, run_dir=str(tmp_path / "run"), bind="127.0.0.1", http_port=free_port(),
                    https_port=free_port(), addresses=["127.0.0.1"], debounce=0.02)
    await n.start()
    yield n
    await n.stop()


@pytest.fixture
def backends() -> Iterator[dict[str, Backend]]:
    bs = {n: Backend(n, host=ADDRESSES[i % 3]) for i, n in enumerate(("a1", "a2", "b1", "bad"))}
    bs["bad"].status = 503
    yield bs
    for b in bs.values():
        b.close()


def get(port: int, path: str = "/", host: str = "x", headers: dict[str, str] | None = None,
        tls: bool = False) -> tuple[int, str, dict[str, str]]:
    """One request through the proxy (curl: real SNI with --resolve for https)."""
    scheme = "https" if tls else "http"
    cmd = ["curl", "-sk", "--max-time", "5", "-o", "-", "-D", "/dev/stderr", "-w", "\n%{http_code}",
           "--resolve", f"{host}:{port}:127.0.0.1", f"{scheme}://{host}:{port}{path}"]
    for k, val in (headers or {}).items():
        cmd += ["-H", f"{k}: {val}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    body, _, code = p.stdout.rpartition("\n")
    hdrs = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1].strip() for ln in p.stderr.splitlines() if ":" in ln}
    return int(code or 0), body.strip(), hdrs


async def eventually(fn: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            out = await fn()
            if out:
                return out
        except (AssertionError, ApiException):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def put(client: ApiClient, res: Any, obj: dict[str, Any], ns: str | None = "default") -> None:
    try:
        await client.create(res, obj, ns)
    except ApiException as e:
        if e.status != 409:
            raise
        cur = await client.get(res, obj["metadata"]["name"], ns)
        await client.update(res, {**obj, "metadata": {**obj["metadata"],
                                                      "resourceVersion": cur["metadata"]["resourceVersion"]}})


async def delete_all(client: ApiClient) -> None:
    for res in ("ingresses", HTTPROUTES, GATEWAYS, ROLLOUTS, "services", "endpoints", "secrets"):
        items, _ = await client.list_all(res, "default")
        for o in items:
            if res == "secrets" and o.get("type") != "kubernetes.io/tls":
                continue
            with contextlib.suppress(ApiException):
                await client.delete(res, o["metadata"]["name"], "default")


async def serve(client: ApiClient, name: str, *bs: Backend) -> None:
    await put(client, "services", service(name))
    await put(client, "endpoints", endpoints(name, [b.address for b in bs]))


async def test_ingress_hosts_paths_tls_conflicts_status(client: ApiClient, node: IngressNode,
                                                        backends: dict[str, Backend]) -> None:
    await delete_all(client)
    await serve(client, "a", backends["a1"], backends["a2"])
    await serve(client, "b", backends["b1"])
    crt, key = self_signed("app.example", hosts=("app.example",))
    _, wrong_key = self_signed("other")
    await put(client, "secrets", tls_secret("app-tls", crt, key))
    await put(client, "secrets", tls_secret("broken-tls", crt, wrong_key))
    await put(client, "ingresses", ingress("web", [
        ("app.example", [path("/", "a"), path("/b", "b"), path("/exact", "b", "Exact")]),
        ("*.wild.example", [path("/", "b")]),
        ("broken.example", [path("/", "a")])], default="b",
        tls=[{"hosts": ["app.example"], "secretName": "app-tls"},
             {"hosts": ["broken.example"], "secretName": "broken-tls"}]))
    hp, sp = node.settings.http_port, node.settings.https_port
    # the hosts of an Ingress with TLS answer plain HTTP with a 308 to https (ingress-nginx's ssl-redirect, on by
    # default), so the routing is checked over https; the default backend (no host) still answers plain HTTP

    async def routed() -> bool:
        return (await asyncio.to_thread(get, sp, "/b/x", "app.example", tls=True))[1].startswith("b1")
    await eventually(routed)
    seen = {(await asyncio.to_thread(get, sp, "/", "app.example", tls=True))[1].split()[0] for _ in range(4)}
    assert seen == {"a1", "a2"}  # both endpoints, directly
    assert (await asyncio.to_thread(get, sp, "/bx", "app.example", tls=True))[1].startswith("a")  # element-wise /b
    assert (await asyncio.to_thread(get, sp, "/exact", "app.example", tls=True))[1].startswith("b1")
    assert (await asyncio.to_thread(get, sp, "/exact/x", "app.example", tls=True))[1].startswith("a")
    assert (await asyncio.to_thread(get, sp, "/", "one.wild.example", tls=True))[1].startswith("b1")
    assert (await asyncio.to_thread(get, hp, "/", "a.b.wild.example"))[1].startswith("b1")  # default backend
    assert (await asyncio.to_thread(get, hp, "/", "nowhere.example"))[1].startswith("b1")
    for host in ("app.example", "one.wild.example", "broken.example"):  # broken: its Secret is not usable
        code, _, hdrs = await asyncio.to_thread(get, hp, "/b/x?q=1", host)
        assert (code, hdrs.get("location")) == (308, f"https://{host}:{sp}/b/x?q=1"), (host, code, hdrs)
    code, body, _ = await asyncio.to_thread(get, sp, "/", "app.example", tls=True)
    assert code == 200 and body.startswith("a")
    # SNI: app.example gets its Secret's certificate, broken.example the default one
    for host, cn in (("app.example", "app.example"), ("broken.example", "shoal-ingress-default")):
        p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{sp}", "-servername", host],
                           input="", capture_output=True, text=True, timeout=10)
        assert f"CN = {cn}" in p.stdout or f"CN={cn}" in p.stdout, p.stdout[:500]

    async def status_and_events() -> bool:
        ing = await client.get("ingresses", "web", "default")
        evs, _ = await client.list_all("events", "default")
        reasons = {(e["reason"], e["involvedObject"]["name"]) for e in evs}
        msgs = " ".join(e["message"] for e in evs)
        return (ing["status"]["loadBalancer"] == {"ingress": [{"ip": "127.0.0.1"}]}
                and ("InvalidTLSSecret", "web") in reasons and "default/broken-tls" in msgs)
    await eventually(status_and_events)

    # a newer Ingress claims app.example / : accepted, not served for that path, told so. The server sets
    # creationTimestamp (to the second; a client's value is ignored), and a tie goes by name, where "late"
    # sorts first: so it is created in a later second than "web"
    await asyncio.sleep(1.1)
    await put(client, "ingresses", ingress("late", [("app.example", [path("/", "b"), path("/late", "b")])],
                                           created="2099-01-01T00:00:00Z"))

    async def conflict_reported() -> bool:
        evs, _ = await client.list_all("events", "default")
        return any(e["reason"] == "Conflict" and e["involvedObject"]["name"] == "late" and
                   "Ingress default/web" in e["message"] for e in evs)
    await eventually(conflict_reported)

    async def late_served() -> bool:  # the reload is under way when the event is written
        return (await asyncio.to_thread(get, sp, "/late", "app.example", tls=True))[1].startswith("b1")
    await eventually(late_served)
    for _ in range(4):
        assert (await asyncio.to_thread(get, sp, "/", "app.example", tls=True))[1].startswith("a")
    # "late" has no TLS of its own, but its host has a certificate (web's): it redirects too, as ingress-nginx
    assert (await asyncio.to_thread(get, hp, "/late", "app.example"))[0] == 308


async def test_http_to_https_redirect_as_ingress_nginx(client: ApiClient, node: IngressNode,
                                                       backends: dict[str, Backend]) -> None:
    await delete_all(client)
    await serve(client, "a", backends["a1"])
    crt, key = self_signed("secure.example", hosts=("secure.example",))
    await put(client, "secrets", tls_secret("secure-tls", crt, key))
    tls = [{"hosts": ["secure.example"], "secretName": "secure-tls"}]
    await put(client, "ingresses", ingress("secure", [("secure.example", [path("/", "a")])], tls=tls))
    plain = ingress("plain", [("secure.example", [path("/plain", "a")]), ("open.example", [path("/", "a")])],
                    tls=[{"hosts": ["open.example"], "secretName": "secure-tls"}])
    plain["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}
    await put(client, "ingresses", plain)
    forced = ingress("forced", [("forced.example", [path("/", "a")])])
    forced["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}
    await put(client, "ingresses", forced)
    hp, sp = node.settings.http_port, node.settings.https_port

    async def up() -> bool:
        return (await asyncio.to_thread(get, hp, "/", "forced.example"))[0] == 308
    await eventually(up)
    code, _, hdrs = await asyncio.to_thread(get, hp, "/some/path?x=1&y=2", "secure.example")
    assert (code, hdrs.get("location")) == (308, f"https://secure.example:{sp}/some/path?x=1&y=2")
    # following it (curl -L, with the https port mapped) reaches the backend over TLS
    p = subprocess.run(["curl", "-sk", "-L", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code} %{scheme}",
                        "--resolve", f"secure.example:{hp}:127.0.0.1", "--resolve", f"secure.example:{sp}:127.0.0.1",
                        f"http://secure.example:{hp}/"], capture_output=True, text=True, timeout=10)
    assert p.stdout.lower() == "200 https", p.stdout
    # ssl-redirect "false": served on plain HTTP, even on a host another Ingress gives TLS (a path of its own)
    assert (await asyncio.to_thread(get, hp, "/", "open.example"))[:2] == (200, "a1 -")
    assert (await asyncio.to_thread(get, hp, "/plain", "secure.example"))[0] == 200
    code, _, hdrs = await asyncio.to_thread(get, hp, "/x", "forced.example")  # forced, without any TLS
    assert (code, hdrs.get("location")) == (308, f"https://forced.example:{sp}/x")
    assert (await asyncio.to_thread(get, sp, "/", "secure.example", tls=True))[0] == 200  # https itself: served
    # the annotation is read on every change: turned off, plain HTTP is served again
    secure = ingress("secure", [("secure.example", [path("/", "a")])], tls=tls)
    secure["metadata"]["annotations"] = {"nginx.ingress.kubernetes.io/ssl-redirect": "false"}
    await put(client, "ingresses", secure)

    async def served_plain() -> bool:
        return (await asyncio.to_thread(get, hp, "/", "secure.example"))[0] == 200
    await eventually(served_plain)


def _load(port: int, host: str, stop: threading.Event, results: list[int], errors: list[str]) -> None:
    """Keep-alive requests until ``stop``; every non-200 or connection error is a failure."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    while not stop.is_set():
        try:
            conn.request("GET", "/", headers={"Host": host})
            r = conn.getresponse()
            r.read()
            results.append(r.status)
            if r.status != 200:
                errors.append(f"status {r.status}")
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        except (OSError, http.client.HTTPException) as e:
            errors.append(repr(e))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.close()


async def test_no_failed_requests_while_the_config_changes(client: ApiClient, node: IngressNode,
                                                            backends: dict[str, Backend]) -> None:
    await delete_all(client)
    await serve(client, "a", backends["a1"], backends["a2"])
    await put(client, "ingresses", ingress("web", [("load.example", [path("/", "a")])]))
    hp = node.settings.http_port

    async def up() -> bool:
        return (await asyncio.to_thread(get, hp, "/", "load.example"))[0] == 200
    await eventually(up)
    stop, results, errors = threading.Event(), [], []
    threads = [threading.Thread(target=_load, args=(hp, "load.example", stop, results, errors)) for _ in range(4)]
    for t in threads:
        t.start()
    reloads0, weights0 = node.proxy.reloads, node.proxy.weight_updates
    eps = [backends["a1"].address, backends["a2"].address]
    for i in range(20):
        # alternately: a new path (a reload) and the endpoints changing (a reload: servers differ)
        if i % 2:
            await put(client, "ingresses", ingress("web", [("load.example", [path("/", "a"),
                                                                             path(f"/p{i}", "a")])]))
        else:
            await put(client, "endpoints", endpoints("a", eps[: 1 + (i // 2) % 2]))
        await asyncio.sleep(0.25)
    await asyncio.sleep(0.5)
    stop.set()
    for t in threads:
        await asyncio.to_thread(t.join)
    assert node.proxy.reloads - reloads0 >= 15, (node.proxy.reloads, node.proxy.weight_updates - weights0)
    assert len(results) > 500 and errors == [], (len(results), errors[:5])


async def test_a_killed_proxy_is_restarted_from_the_objects(client: ApiClient, node: IngressNode,
                                                            backends: dict[str, Backend]) -> None:
    await delete_all(client)
    await serve(client, "a", backends["a1"])
    await put(client, "ingresses", ingress("web", [("k.example", [path("/", "a")])]))
    hp = node.settings.http_port

    async def up() -> bool:
        return (await asyncio.to_thread(get, hp, "/", "k.example"))[0] == 200
    await eventually(up)
    assert node.proxy.proc is not None
    starts = node.proxy.starts
    os.killpg(node.proxy.proc.pid, signal.SIGKILL)  # master and workers
    await eventually(lambda: asyncio.sleep(0, result=node.proxy.starts > starts))
    await eventually(up)


async def test_gateway_httproute(client: ApiClient, node: IngressNode, backends: dict[str, Backend]) -> None:
    await delete_all(client)
    await serve(client, "a", backends["a1"])
    await serve(client, "b", backends["b1"])
    await put(client, GATEWAYS, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                                 "metadata": {"name": "gw", "namespace": "default"},
                                 "spec": {"gatewayClassName": "shoal",
                                          "listeners": [{"name": "web", "port": 80, "protocol": "HTTP"}]}})
    await put(client, HTTPROUTES, {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "r", "namespace": "default"},
        "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["gw.example"], "rules": [
            {"matches": [{"headers": [{"name": "X-Env", "value": "beta"}]}, {"queryParams": [{"name": "v",
                                                                                              "value": "b"}]}],
             "filters": [{"type": "RequestHeaderModifier",
                          "requestHeaderModifier": {"set": [{"name": "X-From", "value": "gateway"}]}},
                         {"type": "ResponseHeaderModifier",
                          "responseHeaderModifier": {"add": [{"name": "X-Served-By", "value": "shoal"}]}}],
             "backendRefs": [{"name": "b", "port": 80}]},
            {"matches": [{"path": {"type": "Exact", "value": "/old"}}],
             "filters": [{"type": "RequestRedirect", "requestRedirect": {
                 "hostname": "new.example", "statusCode": 301,
                 "path": {"type": "ReplaceFullPath", "replaceFullPath": "/new"}}}]},
            {"backendRefs": [{"name": "a", "port": 80, "weight": 3}, {"name": "b", "port": 80, "weight": 1}]}]}})
    hp = node.settings.http_port

    async def up() -> bool:
        return (await asyncio.to_thread(get, hp, "/", "gw.example", {"X-Env": "beta"}))[1] == "b1 gateway"
    await eventually(up)
    code, _, hdrs = await asyncio.to_thread(get, hp, "/", "gw.example", {"X-Env": "beta"})
    assert hdrs.get("x-served-by") == "shoal"
    assert (await asyncio.to_thread(get, hp, "/?v=b", "gw.example"))[1] == "b1 gateway"
    code, _, hdrs = await asyncio.to_thread(get, hp, "/old", "gw.example")
    assert code == 301 and hdrs["location"] == "http://new.example/new"
    names = [(await asyncio.to_thread(get, hp, "/", "gw.example"))[1].split()[0] for _ in range(40)]
    assert 25 <= names.count("a1") <= 35, names  # 3:1 round robin by weight

    async def statuses() -> bool:
        gw = await client.get(GATEWAYS, "gw", "default")
        rt = await client.get(HTTPROUTES, "r", "default")
        conds = {c["type"]: c["status"] for c in gw.get("status", {}).get("conditions", [])}
        parents = rt.get("status", {}).get("parents", [])
        return (conds.get("Programmed") == "True" and gw["status"]["addresses"][0]["value"] == "127.0.0.1"
                and parents and parents[0]["conditions"][0]["status"] == "True")
    await eventually(statuses)


def _resolved_refs(route: dict[str, Any]) -> tuple[str, str, str] | None:
    for parent in route.get("status", {}).get("parents", []):
        for c in parent.get("conditions", []):
            if c["type"] == "ResolvedRefs":
                return c["status"], c["reason"], c.get("message", "")
    return None


async def test_gateway_reference_grant_and_redirect_to_https(client: ApiClient, node: IngressNode,
                                                             backends: dict[str, Backend]) -> None:
    """A backendRef to another namespace's Service is used only with a ReferenceGrant there (ResolvedRefs False,
    RefNotPermitted, until then); a RequestRedirect to https on the HTTP listener answers plain HTTP only."""
    await delete_all(client)
    with contextlib.suppress(ApiException):
        await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shared"}})
    await put(client, "services", service("db", ns="shared"), "shared")
    await put(client, "endpoints", endpoints("db", [backends["b1"].address], ns="shared"), "shared")
    with contextlib.suppress(ApiException):
        await client.delete(REFERENCE_GRANTS, "routes-to-db", "shared")
    crt, key = self_signed("gw.example", hosts=("gw.example",))
    await put(client, "secrets", tls_secret("gw-tls", crt, key))
    gw_api = "gateway.networking.k8s.io/v1"
    await put(client, GATEWAYS, {"apiVersion": gw_api, "kind": "Gateway", "metadata": {"name": "gw", "namespace": "default"},
                                 "spec": {"gatewayClassName": "shoal", "listeners": [
                                     {"name": "web", "port": 80, "protocol": "HTTP"},
                                     {"name": "websecure", "port": 443, "protocol": "HTTPS", "hostname": "gw.example",
                                      "tls": {"certificateRefs": [{"kind": "Secret", "name": "gw-tls"}]}}]}})
    await put(client, HTTPROUTES, {"apiVersion": gw_api, "kind": "HTTPRoute",
                                   "metadata": {"name": "to-https", "namespace": "default"},
                                   "spec": {"parentRefs": [{"name": "gw", "sectionName": "web"}],
                                            "hostnames": ["gw.example"],
                                            "rules": [{"filters": [{"type": "RequestRedirect", "requestRedirect": {
                                                "scheme": "https", "statusCode": 301}}]}]}})
    await put(client, HTTPROUTES, {"apiVersion": gw_api, "kind": "HTTPRoute",
                                   "metadata": {"name": "app", "namespace": "default"},
                                   "spec": {"parentRefs": [{"name": "gw", "sectionName": "websecure"}],
                                            "hostnames": ["gw.example"],
                                            "rules": [{"backendRefs": [{"name": "db", "namespace": "shared",
                                                                        "port": 80}]}]}})
    hp, sp = node.settings.http_port, node.settings.https_port
    try:
        async def redirected() -> bool:
            return (await asyncio.to_thread(get, hp, "/p?q=1", "gw.example"))[0] == 301
        await eventually(redirected)
        code, _, hdrs = await asyncio.to_thread(get, hp, "/p?q=1", "gw.example")
        assert hdrs.get("location") == "https://gw.example/p?q=1"  # https's well-known port: none written (spec)

        async def refused() -> bool:
            rt = await client.get(HTTPROUTES, "app", "default")
            got = _resolved_refs(rt)
            return got is not None and got[:2] == ("False", "RefNotPermitted") and "shared/db" in got[2]
        await eventually(refused)

        async def not_routed() -> bool:  # the route is served (a reload may still be under way), with no servers
            return (await asyncio.to_thread(get, sp, "/p", "gw.example", tls=True))[0] == 503
        await eventually(not_routed)
        for _ in range(5):
            code, body, _ = await asyncio.to_thread(get, sp, "/p", "gw.example", tls=True)
            assert code == 503 and not body.startswith("b1"), (code, body)  # not routed to the other namespace
        evs, _ = await client.list_all("events", "default")
        assert any(e["reason"] == "RefNotPermitted" and e["involvedObject"]["name"] == "app" for e in evs)

        await client.create(REFERENCE_GRANTS, {
            "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": "routes-to-db", "namespace": "shared"},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "default"}],
                     "to": [{"group": "", "kind": "Service", "name": "db"}]}}, "shared")

        async def routed() -> bool:
            return (await asyncio.to_thread(get, sp, "/p", "gw.example", tls=True))[:2] == (200, "b1 -")
        await eventually(routed)

        async def resolved() -> bool:
            got = _resolved_refs(await client.get(HTTPROUTES, "app", "default"))
            return got is not None and got[:2] == ("True", "ResolvedRefs")
        await eventually(resolved)
        gw = await client.get(GATEWAYS, "gw", "default")
        listeners = {x["name"]: x for x in gw["status"]["listeners"]}
        assert {n: x["attachedRoutes"] for n, x in listeners.items()} == {"web": 1, "websecure": 1}
        assert {c["type"]: c["status"] for c in listeners["websecure"]["conditions"]} == {
            "Accepted": "True", "Programmed": "True", "ResolvedRefs": "True"}
        # the redirect route is on the HTTP listener only: HTTPS is not redirected (no loop)
        assert (await asyncio.to_thread(get, sp, "/p", "gw.example", tls=True))[0] == 200

        # a grant with a bad from kind is refused by the CRD's schema, naming the field
        with pytest.raises(ApiException) as bad:
            await client.create(REFERENCE_GRANTS, {
                "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
                "metadata": {"name": "bad", "namespace": "shared"},
                "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTP Route", "namespace": "default"}],
                         "to": [{"group": "", "kind": "Service"}]}}, "shared")
        assert bad.value.status == 422 and "spec.from[0].kind" in str(bad.value), str(bad.value)

        # the grant withdrawn: the backend is dropped again
        await client.delete(REFERENCE_GRANTS, "routes-to-db", "shared")

        async def dropped() -> bool:
            return (await asyncio.to_thread(get, sp, "/p", "gw.example", tls=True))[0] == 503
        await eventually(dropped)
    finally:
        for res, name in ((REFERENCE_GRANTS, "routes-to-db"), ("services", "db"), ("endpoints", "db")):
            with contextlib.suppress(ApiException):
                await client.delete(res, name, "shared")


async def test_canary_aborts_on_the_proxys_5xx_counters(client: ApiClient, node: IngressNode,
                                                        backends: dict[str, Backend]) -> None:
    await delete_all(client)
    await serve(client, "web", backends["a1"])
    await serve(client, "web-canary", backends["bad"])  # the new version answers 503
    await put(client, "ingresses", ingress("web", [("canary.example", [path("/", "web")])]))
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}
    ro = {"apiVersion": "shoal.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "web", "namespace": "default"},
          "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}}, "template": template,
                   "strategy": {"canary": {"stableService": "web", "canaryService": "web-canary",
                                           "analysis": {"maxErrorRate": 0.1, "minRequests": 10, "interval": "3s"},
                                           "steps": [{"setWeight": 50}, {"pause": {}}]}}}}
    await put(client, ROLLOUTS, ro)
    hp = node.settings.http_port

    async def phase(want: str) -> dict[str, Any] | None:
        st = (await client.get(ROLLOUTS, "web", "default")).get("status") or {}
        return st if st.get("phase") == want else None
    await eventually(lambda: phase("Healthy"))
    ro["spec"]["template"] = {**template, "spec": {"containers": [{"name": "c", "image": "v2"}]}}
    await put(client, ROLLOUTS, ro)
    st = await eventually(lambda: phase("Paused"))
    assert st["canaryWeight"] == 50

    async def split_seen() -> bool:
        got = [(await asyncio.to_thread(get, hp, "/", "canary.example"))[0] for _ in range(10)]
        return 503 in got and 200 in got
    await eventually(split_seen)
    for _ in range(30):  # traffic for the analysis to read
        await asyncio.to_thread(get, hp, "/", "canary.example")
    st = await eventually(lambda: phase("Degraded"), timeout=15)
    assert st["canaryWeight"] == 0 and "5xx rate" in st["message"]

    async def all_stable() -> bool:
        codes = [(await asyncio.to_thread(get, hp, "/", "canary.example"))[0] for _ in range(10)]
        return codes == [200] * 10
    await eventually(all_stable)
    evs, _ = await client.list_all("events", "default")
    assert any(e["reason"] == "Aborted" and e["involvedObject"]["kind"] == "Rollout" for e in evs)


def version(name: str, addrs: tuple[str, str]) -> list[Backend]:
    """Two backends of one version on one port (one pod template: one containerPort), on two addresses."""
    for _ in range(20):
        first = Backend(f"{name}1", host=addrs[0])
        try:
            return [first, Backend(f"{name}2", host=addrs[1], port=first.port)]
        except OSError:  # that port is taken on the second address: another pair
            first.close()
    raise RuntimeError("no common free port")


async def kubelet(client: ApiClient, app: str, by_port: dict[int, list[str]]) -> None:
    """Stands in for the agents (the server runs no scheduler): every pod of ``app`` is given, as its IP, a free
    address where a backend listens on its container port, and is marked Running and Ready. From there the
    real controllers carry on: the ReplicaSets count them ready, the Endpoints controller resolves the Services'
    named targetPort in each pod, the proxy routes to them."""
    while True:
        pods, _ = await client.list_all("pods", "default", label_selector=f"app={app}")
        live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]

        def port_of(p: dict[str, Any]) -> int:
            return int(p["spec"]["containers"][0]["ports"][0]["containerPort"])
        used = {(p["status"]["podIP"], port_of(p)) for p in live if (p.get("status") or {}).get("podIP")}
        for p in live:
            if (p.get("status") or {}).get("podIP"):
                continue
            free = [a for a in by_port.get(port_of(p), []) if (a, port_of(p)) not in used]
            if not free:
                continue
            used.add((free[0], port_of(p)))
            with contextlib.suppress(ApiException):
                await client.patch("pods", p["metadata"]["name"], {"status": {
                    "phase": "Running", "podIP": free[0], "podIPs": [{"ip": free[0]}],
                    "conditions": [{"type": "Ready", "status": "True"}]}}, "default", subresource="status")
        await asyncio.sleep(0.1)


async def test_bluegreen_preview_then_promotion_switches_the_active_host(client: ApiClient,
                                                                         node: IngressNode) -> None:
    """A blue-green Rollout through the real proxy: the active host answers with the old version while the
    preview host answers with the new one; ``shoal.io/promote`` switches the active host within 10 s; the old
    ReplicaSet stays up for ``scaleDownDelaySeconds`` after the switch, then is scaled to 0."""
    await delete_all(client)
    blue = version("blue", (ADDRESSES[0], ADDRESSES[1]))
    green = version("green", (ADDRESSES[1], ADDRESSES[2]))
    by_port = {bs[0].port: [b.address[0] for b in bs] for bs in (blue, green)}
    sim = asyncio.create_task(kubelet(client, "bg", by_port))
    try:
        for name in ("bg-active", "bg-preview"):
            await put(client, "services", {**service(name), "spec": {
                "selector": {"app": "bg"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]}})
        await put(client, "ingresses", ingress("bg", [("bg.example", [path("/", "bg-active")]),
                                                      ("preview.bg.example", [path("/", "bg-preview")])]))

        def template(image: str, port: int) -> dict[str, Any]:
            return {"metadata": {"labels": {"app": "bg"}}, "spec": {"containers": [
                {"name": "c", "image": image, "ports": [{"name": "http", "containerPort": port}]}]}}
        delay = 15  # longer than the switch may take (10 s), so a switch held back until the scale-down fails
        ro = {"apiVersion": "shoal.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "bg", "namespace": "default"},
              "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "bg"}},
                       "template": template("web:v1", blue[0].port),
                       "strategy": {"blueGreen": {"activeService": "bg-active", "previewService": "bg-preview",
                                                  "autoPromotionEnabled": False,
                                                  "scaleDownDelaySeconds": delay}}}}
        await put(client, ROLLOUTS, ro)
        hp = node.settings.http_port

        seen: dict[str, set[str]] = {}  # what each host answered last (said when a wait runs out)

        async def names(host: str, n: int = 8) -> set[str]:
            out = set()
            for _ in range(n):
                code, body, _ = await asyncio.to_thread(get, hp, "/", host)
                out.add(body.split()[0] if code == 200 and body else f"status {code}")
            seen[host] = out
            return out

        async def answers(host: str, want: set[str]) -> bool:
            return await names(host) == want

        async def status(**want: Any) -> dict[str, Any] | None:
            st = (await client.get(ROLLOUTS, "bg", "default")).get("status") or {}
            return st if all(st.get(k) == val for k, val in want.items()) else None
        blues, greens = {"blue1", "blue2"}, {"green1", "green2"}
        st = await eventually(lambda: status(phase="Healthy"), timeout=30)
        old = st["activeHash"]
        await eventually(lambda: answers("bg.example", blues), timeout=30)  # both old pods, through the proxy
        await eventually(lambda: answers("preview.bg.example", blues))  # no preview yet: the preview is the active

        # the new version: its pods come up behind the preview only
        ro["spec"]["template"] = template("web:v2", green[0].port)
        await put(client, ROLLOUTS, ro)
        st = await eventually(lambda: status(phase="Paused"), timeout=30)
        new = st["previewHash"]
        assert new != old and st["activeHash"] == old, st
        try:  # the new pods, their endpoints and a reload of the proxy: slow on a loaded machine
            await eventually(lambda: answers("preview.bg.example", greens), timeout=60)
        except AssertionError:
            eps = await client.get("endpoints", "bg-preview", "default")
            raise AssertionError(f"the preview answered {seen.get('preview.bg.example')}; its endpoints: "
                                 f"{eps.get('subsets')}; the rollout: {await status()}") from None
        assert await names("bg.example", 12) == blues  # the active host still only the old version
        assert (await client.get(ROLLOUTS, "bg", "default"))["status"]["phase"] == "Paused"  # not promoted by itself

        # promotion, as the README says: the annotation (what the kubectl plugin sets)
        t0 = time.monotonic()
        await client.patch(ROLLOUTS, "bg", {"metadata": {"annotations": {"shoal.io/promote": "true"}}}, "default")
        await eventually(lambda: answers("bg.example", greens), timeout=10)
        switched_in = time.monotonic() - t0
        assert switched_in <= 10, switched_in
        assert (await client.get("replicasets", f"bg-{old}", "default"))["spec"]["replicas"] == 2  # kept warm
        assert await names("bg.example", 12) == greens  # and it stays there
        # (previousHash names the old version only for the delay, which a slow machine may have let pass by now)
        st = await eventually(lambda: status(activeHash=new))
        assert st.get("previousHash") in (old, None), st
        ro_now = await client.get(ROLLOUTS, "bg", "default")
        assert "shoal.io/promote" not in (ro_now["metadata"].get("annotations") or {})  # consumed
        switched_at = dt.datetime.strptime(st["switchedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)

        # the old version is kept for the delay (counted from the switch), then scaled to 0
        async def old_scaled_down() -> dt.datetime | None:
            rs = await client.get("replicasets", f"bg-{old}", "default")
            return dt.datetime.now(dt.UTC) if rs["spec"]["replicas"] == 0 else None
        seen_down = await eventually(old_scaled_down, timeout=delay + 20)
        assert seen_down >= switched_at + dt.timedelta(seconds=delay), (seen_down, switched_at)
        assert (await client.get("replicasets", f"bg-{new}", "default"))["spec"]["replicas"] == 2
        st = await eventually(lambda: status(activeHash=new, phase="Healthy"))
        assert "previousHash" not in st, st
        assert await names("bg.example") == greens
    finally:
        sim.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sim
        await delete_all(client)
        for b in (*blue, *green):
            b.close()


def start_agent(server: RunningServer, data_dir: Path, node_name: str, hp: int, sp: int) -> subprocess.Popen[bytes]:
    """A ``shoal agent`` (simulated runtime) whose ingress proxy listens on ``hp``/``sp``; its log beside its data."""
    token = (server.data_dir / "node-token").read_text().strip()
    with open(data_dir.parent / "agent.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "shoal", "agent", "--server", server.url, "--token", token, "--ca-file", server.ca,
             "--data-dir", str(data_dir), "--runtime", "simulated", "--node-name", node_name,
             "--ingress-http-port", str(hp), "--ingress-https-port", str(sp)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


async def test_an_agent_on_another_node_serves_the_same_ingresses(server: RunningServer, client: ApiClient,
                                                                  node: IngressNode, backends: dict[str, Backend],
                                                                  tmp_path: Path) -> None:
    """``shoal agent`` runs its node's ingress proxy too (``--ingress-http-port``), rendered from the same objects:
    an Ingress answers on every node's port; the agent's proxy stops with the agent."""
    await delete_all(client)
    await serve(client, "a", backends["a1"])
    await put(client, "ingresses", ingress("web", [("app.example", [path("/", "a")])]))
    hp, sp = free_port(), free_port()
    agent = start_agent(server, tmp_path / "agent", "edge-1", hp, sp)
    try:
        async def both() -> bool:
            on_agent = await asyncio.to_thread(get, hp, "/", "app.example")
            on_server = await asyncio.to_thread(get, node.settings.http_port, "/", "app.example")
            return on_agent[:2] == (200, "a1 -") and on_server[:2] == (200, "a1 -")
        await eventually(both, timeout=30)
        code, _, _ = await asyncio.to_thread(get, sp, "/", "app.example", tls=True)
        assert code == 200
        await put(client, "endpoints", endpoints("a", [backends["a2"].address]))  # reaches the agent's proxy too

        async def moved() -> bool:
            return (await asyncio.to_thread(get, hp, "/", "app.example"))[1] == "a2 -"
        await eventually(moved, timeout=15)
    finally:
        agent.terminate()
        agent.wait(15)
    assert (await asyncio.to_thread(get, hp, "/", "app.example"))[0] == 0, (tmp_path / "agent.log").read_text()


def served_certificate(port: int, host: str) -> x509.Certificate:
    """The certificate the proxy on ``port`` presents for SNI ``host`` (Python's ssl, no verification)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def fingerprint(cert: x509.Certificate | str) -> bytes:
    c = x509.load_pem_x509_certificate(cert.encode()) if isinstance(cert, str) else cert
    return c.fingerprint(hashes.SHA256())


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


async def test_an_agents_proxy_serves_the_tls_secrets_it_may_read_by_name(
        server: RunningServer, client: ApiClient, node: IngressNode, backends: dict[str, Backend],
        tmp_path: Path) -> None:
    """An agent's proxy runs under the node's own credential, which may not list Secrets: it watches by name
    the TLS Secrets of the Ingresses and Gateways it serves (the Node authorizer's ingress edges), serves them
    by SNI, follows a change of the Secret, and gives a Secret that is not a key pair's host the default
    certificate (the server's node writes the Event naming it). The node may read no other Secret."""
    await delete_all(client)
    await serve(client, "a", backends["a1"])
    app_crt, app_key = self_signed("app.example", hosts=("app.example",))
    gw_crt, gw_key = self_signed("gw.example", hosts=("gw.example",))
    _, wrong_key = self_signed("other")
    await put(client, "secrets", tls_secret("app-tls", app_crt, app_key))
    await put(client, "secrets", tls_secret("gw-tls", gw_crt, gw_key))
    await put(client, "secrets", tls_secret("broken-tls", app_crt, wrong_key))
    await put(client, "secrets", tls_secret("unreferenced-tls", app_crt, app_key))
    await put(client, "ingresses", ingress("secure", [("app.example", [path("/", "a")]),
                                                      ("broken.example", [path("/", "a")])],
                                           tls=[{"hosts": ["app.example"], "secretName": "app-tls"},
                                                {"hosts": ["broken.example"], "secretName": "broken-tls"}]))
    await put(client, GATEWAYS, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                                 "metadata": {"name": "gw", "namespace": "default"},
                                 "spec": {"gatewayClassName": "shoal", "listeners": [
                                     {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "gw.example",
                                      "tls": {"certificateRefs": [{"kind": "Secret", "name": "gw-tls"}]}}]}})
    hp, sp = free_port(), free_port()
    data_dir = tmp_path / "agent"
    agent = start_agent(server, tmp_path / "agent", "edge-tls", hp, sp)
    try:
        async def serves(host: str, want: bytes) -> bool:
            try:
                return fingerprint(await asyncio.to_thread(served_certificate, sp, host)) == want
            except OSError:
                return False
        await eventually(lambda: serves("app.example", fingerprint(app_crt)), timeout=30)
        assert common_name(await asyncio.to_thread(served_certificate, sp, "app.example")) == "app.example"
        code, body, _ = await asyncio.to_thread(get, sp, "/", "app.example", tls=True)
        assert (code, body) == (200, "a1 -")
        await eventually(lambda: serves("gw.example", fingerprint(gw_crt)))
        broken = await asyncio.to_thread(served_certificate, sp, "broken.example")
        assert common_name(broken) == "shoal-ingress-default"

        async def event_names_the_secret() -> bool:
            evs, _ = await client.list_all("events", "default")
            return any(e["reason"] == "InvalidTLSSecret" and e["involvedObject"]["name"] == "secure"
                       and "default/broken-tls" in e["message"] for e in evs)
        await eventually(event_names_the_secret)

        # the Secret changes: the agent's watch of it brings the new certificate
        new_crt, new_key = self_signed("app.example", hosts=("app.example",))
        await put(client, "secrets", tls_secret("app-tls", new_crt, new_key))
        await eventually(lambda: serves("app.example", fingerprint(new_crt)), timeout=15)
        # ...and fixing the broken one replaces the default certificate
        await put(client, "secrets", tls_secret("broken-tls", app_crt, app_key))
        await eventually(lambda: serves("broken.example", fingerprint(app_crt)), timeout=15)

        # what the node's own credential may read: those Secrets by name, nothing else
        cred = (str(data_dir / CERT_FILE), str(data_dir / KEY_FILE))
        as_node = ApiClient.http(server.url, ca_file=server.ca, client_cert=cred)
        try:
            assert (await as_node.get("secrets", "app-tls", "default"))["metadata"]["name"] == "app-tls"
            items, _ = await as_node.list_all("secrets", "default", field_selector="metadata.name=gw-tls")
            assert [o["metadata"]["name"] for o in items] == ["gw-tls"]
            for read in (as_node.get("secrets", "unreferenced-tls", "default"), as_node.list_all("secrets", "default"),
                         as_node.list_all("secrets", None)):
                with pytest.raises(ApiException) as e:
                    await read
                assert e.value.status == 403
            # no longer named by the Ingress: refused again
            await put(client, "ingresses", ingress("secure", [("app.example", [path("/", "a")])]))

            async def refused() -> bool:
                try:
                    await as_node.get("secrets", "app-tls", "default")
                except ApiException as e:
                    return e.status == 403
                return False
            await eventually(refused)
        finally:
            await as_node.close()
    finally:
        agent.terminate()
        agent.wait(15)


async def test_an_agents_proxy_serves_a_granted_secret_of_another_namespace(
        server: RunningServer, client: ApiClient, node: IngressNode, tmp_path: Path) -> None:
    """A Gateway's certificateRef to another namespace's Secret: the default certificate, and the Secret unreadable
    by a node, until a ReferenceGrant in that namespace permits it; then the agent's proxy (under the node's own
    credential) reads and serves it; withdrawn, both stop again."""
    await delete_all(client)
    with contextlib.suppress(ApiException):
        await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "certs"}})
    crt, key = self_signed("far.example", hosts=("far.example",))
    await put(client, "secrets", tls_secret("far-tls", crt, key, ns="certs"), "certs")
    with contextlib.suppress(ApiException):
        await client.delete(REFERENCE_GRANTS, "gateways-to-far", "certs")
    await put(client, GATEWAYS, {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                                 "metadata": {"name": "gw", "namespace": "default"},
                                 "spec": {"gatewayClassName": "shoal", "listeners": [
                                     {"name": "https", "port": 443, "protocol": "HTTPS", "hostname": "far.example",
                                      "tls": {"certificateRefs": [{"name": "far-tls", "namespace": "certs"}]}}]}})
    hp, sp = free_port(), free_port()
    data_dir = tmp_path / "agent"
    agent = start_agent(server, tmp_path / "agent", "edge-grant", hp, sp)
    as_node: ApiClient | None = None
    try:
        async def served_cn() -> str:
            try:
                return common_name(await asyncio.to_thread(served_certificate, sp, "far.example"))
            except OSError:
                return ""
        async def served_cn_is(want: str) -> bool:
            return await served_cn() == want
        await eventually(lambda: served_cn_is("shoal-ingress-default"), timeout=30)

        async def event() -> bool:
            evs, _ = await client.list_all("events", "default")
            return any(e["reason"] == "RefNotPermitted" and e["involvedObject"]["name"] == "gw"
                       and "certs/far-tls" in e["message"] for e in evs)
        await eventually(event)

        async def listener_refs(want: tuple[str, str]) -> bool:
            gw = await client.get(GATEWAYS, "gw", "default")
            conds = {c["type"]: (c["status"], c["reason"])
                     for x in gw.get("status", {}).get("listeners", []) for c in x["conditions"]}
            return conds.get("ResolvedRefs") == want
        await eventually(lambda: listener_refs(("False", "RefNotPermitted")))
        cred = (str(data_dir / CERT_FILE), str(data_dir / KEY_FILE))
        as_node = ApiClient.http(server.url, ca_file=server.ca, client_cert=cred)

        async def node_reads() -> bool:
            assert as_node is not None
            try:
                await as_node.get("secrets", "far-tls", "certs")
            except ApiException as e:
                if e.status != 403:
                    raise
                return False
            return True
        assert not await node_reads()

        await client.create(REFERENCE_GRANTS, {
            "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
            "metadata": {"name": "gateways-to-far", "namespace": "certs"},
            "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "default"}],
                     "to": [{"group": "", "kind": "Secret", "name": "far-tls"}]}}, "certs")
        await eventually(lambda: served_cn_is("far.example"), timeout=15)
        assert await node_reads()
        await eventually(lambda: listener_refs(("True", "ResolvedRefs")))

        await client.delete(REFERENCE_GRANTS, "gateways-to-far", "certs")
        await eventually(lambda: served_cn_is("shoal-ingress-default"), timeout=15)
        assert not await node_reads()
    finally:
        if as_node is not None:
            await as_node.close()
        agent.terminate()
        agent.wait(15)
        with contextlib.suppress(ApiException):
            await client.delete(REFERENCE_GRANTS, "gateways-to-far", "certs")
