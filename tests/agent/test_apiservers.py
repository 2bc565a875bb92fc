"""The agent follows the API servers (shoal.agent.apiservers): the TLS check of a learned address, the follower
over a stand-in API, and what the Node authorizer lets a node read of the ``kubernetes`` endpoints."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from shoal.agent.apiservers import ServerFollower, check
from shoal.apiserver.auth import User
from shoal.apiserver.authz import defaults
from shoal.apiserver.authz.attributes import Attributes
from shoal.apiserver.authz.authorizer import Authorizer
from shoal.apiserver.authz.index import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, RbacIndex
from shoal.apiserver.certs import ensure_serving_cert
from shoal.client import ApiClient
from shoal.client.failover import FailoverTransport
from shoal.client.httptransport import HttpTransport
from shoal.datadir import DataDir
from tests.etcd_fixture import free_port

A, B, C = "https://192.0.2.1:6443", "https://192.0.2.2:6443", "https://192.0.2.3:6443"


# ---- the TLS check: a real server whose certificate names one of the two addresses it listens on ----------------

@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[int, str]]:
    dd = DataDir(tmp_path).ensure()
    crt, key = ensure_serving_cert(dd, hosts=["127.0.0.5"])
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(crt), str(key))
    app = web.Application()
    app.router.add_get("/livez", lambda _: web.Response(text="ok"))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    for host in ("127.0.0.5", "127.0.0.6"):
        await web.TCPSite(runner, host, port, ssl_context=ctx).start()
    yield port, str(dd.ca_crt)
    await runner.cleanup()


async def test_a_learned_address_is_used_only_if_the_certificate_names_it(tls_server: tuple[int, str]) -> None:
    port, ca = tls_server
    results = {}
    for name, url in (("named", f"https://127.0.0.5:{port}"), ("not named", f"https://127.0.0.6:{port}"),
                      ("closed", f"https://127.0.0.5:{free_port()}")):
        t = HttpTransport(url, ca_file=ca)
        try:
            results[name] = await check(t, timeout=5)
        finally:
            await t.close()
    assert results["named"] is None
    assert results["not named"] is not None and results["not named"][0] == "its certificate is not valid for that address"
    assert "127.0.0.6" in results["not named"][1]
    assert results["closed"] is not None and results["closed"][0] == "not reachable from here"


# ---- the follower over a stand-in API server that serves the kubernetes Endpoints ---------------------------------

def endpoints(rv: int, *ips: str) -> dict[str, Any]:
    subsets = [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "https", "port": 6443}]}] if ips else []
    return {"apiVersion": "v1", "kind": "Endpoints", "subsets": subsets,
            "metadata": {"name": "kubernetes", "namespace": "default", "resourceVersion": str(rv)}}


class FakeApi:
    """Lists the Endpoints it holds and streams what ``events`` is given; checks the field selector."""

    def __init__(self) -> None:
        self.obj = endpoints(1, "192.0.2.1", "192.0.2.2")
        self.events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()  # None: end every watch
        self.selectors: set[str] = set()

    async def endpoints(self, request: web.Request) -> web.StreamResponse:
        self.selectors.add(request.query.get("fieldSelector", ""))
        if not request.query.get("watch"):
            return web.json_response({"kind": "EndpointsList", "metadata": {"resourceVersion": "1"},
                                      "items": [self.obj]})
        resp = web.StreamResponse()
        await resp.prepare(request)
        while (ev := await self.events.get()) is not None:
            self.obj = ev["object"]
            await resp.write(json.dumps(ev).encode() + b"\n")
        self.events.put_nowait(None)
        return resp


class Checker:
    def __init__(self, failing: dict[str, tuple[str, str]]) -> None:
        self.failing = failing
        self.calls: dict[str, int] = {}

    async def __call__(self, t: HttpTransport) -> tuple[str, str] | None:
        self.calls[t.server] = self.calls.get(t.server, 0) + 1
        return self.failing.get(t.server)


async def eventually(cond: Any, what: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out: {what}")
        await asyncio.sleep(0.02)


async def test_the_follower_adds_what_passes_keeps_the_configured_and_stays_on_the_server_in_use(
        caplog: pytest.LogCaptureFixture) -> None:
    api = FakeApi()
    app = web.Application()
    app.router.add_get("/api/v1/namespaces/default/endpoints", api.endpoints)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    given = f"http://127.0.0.1:{port}"
    checker = Checker({B: ("its certificate is not valid for that address", "IP address mismatch")})
    balancer = FailoverTransport([given])
    follower = ServerFollower(ApiClient(balancer), balancer, configured=[given], recheck=60, checker=checker)
    caplog.set_level(logging.INFO, logger="shoal.agent.apiservers")
    try:
        await follower.start()
        # A learned; B's certificate does not name it: skipped, with a line saying why; the given one kept, in use
        await eventually(lambda: balancer.servers == [A, given], "A learned")
        assert balancer.server == given
        assert api.selectors == {"metadata.name=kubernetes"}
        skipped = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert skipped == [f"agent: API server {B} (from the kubernetes endpoints) not used: its certificate is "
                           "not valid for that address (IP address mismatch)"]

        # C joins: learned; B is checked again (it may have been fixed) but not reported twice; A not again
        await api.events.put({"type": "MODIFIED", "object": endpoints(2, "192.0.2.1", "192.0.2.2", "192.0.2.3")})
        await eventually(lambda: balancer.servers == [A, C, given], "C learned")
        assert checker.calls == {A: 1, B: 2, C: 1}
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
        assert balancer.server == given

        # B's certificate fixed and the server in use is A: B joins, A stays in use
        balancer.set_servers(balancer.servers, 0)
        checker.failing.clear()
        await api.events.put({"type": "MODIFIED", "object": endpoints(3, "192.0.2.2", "192.0.2.1", "192.0.2.3")})
        await eventually(lambda: balancer.servers == [B, A, C, given], "B learned")
        assert balancer.server == A

        # the endpoints empty: back to the configured list
        await api.events.put({"type": "MODIFIED", "object": endpoints(4)})
        await eventually(lambda: balancer.servers == [given], "back to the given server")
        assert balancer.server == given
    finally:
        await follower.stop()
        await balancer.close()
        api.events.put_nowait(None)
        await runner.cleanup()


# ---- the Node authorizer: a node reads the kubernetes endpoints, and writes none ----------------------------------

class NoGraph:
    def related(self, node: str, resource: str, namespace: str, name: str) -> bool:
        return False


@pytest.fixture(scope="module")
def authorizer() -> Iterator[Authorizer]:
    index = RbacIndex(store=None)  # type: ignore[arg-type]  # never asked: everything is observed
    rev = 0
    for prefix, objs in ((CLUSTER_ROLES.storage_prefix, defaults.cluster_roles()),
                         (CLUSTER_ROLE_BINDINGS.storage_prefix, defaults.cluster_role_bindings())):
        for o in objs:
            rev += 1
            index.observe(prefix + o["metadata"]["name"], rev, json.dumps(o).encode())
    yield Authorizer(index, NoGraph())


NODE = User("system:node:n1", ("system:nodes", "system:authenticated"))
HOLLOW = User("system:shoal:simulated-nodes:hollow", ("system:shoal:simulated-nodes", "system:authenticated"))


@pytest.mark.parametrize(("user", "verb", "group", "resource", "name", "allowed"), [
    (NODE, "get", "", "endpoints", "kubernetes", True),  # upstream's system:node
    (NODE, "list", "", "endpoints", "", True),  # an informer by name lists with a field selector
    (NODE, "watch", "", "endpoints", "", True),
    (NODE, "list", "discovery.k8s.io", "endpointslices", "", True),
    (NODE, "update", "", "endpoints", "kubernetes", False),
    (NODE, "delete", "", "endpoints", "kubernetes", False),
    (NODE, "patch", "discovery.k8s.io", "endpointslices", "kubernetes", False),
    (HOLLOW, "list", "", "endpoints", "", True),  # an agent of simulated nodes
    (HOLLOW, "watch", "", "endpoints", "", True),
    (HOLLOW, "update", "", "endpoints", "kubernetes", False),
])
def test_a_node_may_read_the_kubernetes_endpoints_and_not_write_them(
        authorizer: Authorizer, user: User, verb: str, group: str, resource: str, name: str, allowed: bool) -> None:
    a = Attributes(user, verb, True, group=group, resource=resource, namespace="default", name=name)
    assert authorizer.allowed(a) is allowed
