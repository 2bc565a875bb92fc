"""An agent's TLS Secret watches against a real server, under a real node credential (no proxy needed).

``NamedSecrets`` keeps one watch per Secret the proxy serves: it follows the
wanted set, brings changes, and - when the server's Node authorizer does not
(yet) let the node read a Secret - retries until the graph has the edge.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shoal.agent import nodecert
from shoal.client import ApiClient, ApiException
from shoal.ingress.secretwatch import NamedSecrets
from tests.ingress.objects import ingress, path, tls_secret
from tests.server_fixture import RunningServer

NS = "tlswatch"


async def until(fn: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


@pytest.fixture
async def admin(server: RunningServer) -> AsyncIterator[ApiClient]:
    c = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    try:
        await c.create("namespaces", {"metadata": {"name": NS}})
    except ApiException as e:
        if e.status != 409:
            raise
    yield c
    for res in ("ingresses", "secrets"):
        items, _ = await c.list_all(res, NS)
        for o in items:
            if res == "ingresses" or o.get("type") == "kubernetes.io/tls":
                await c.delete(res, o["metadata"]["name"], NS)
    await c.close()


@pytest.fixture
async def as_node(server: RunningServer, tmp_path: Path) -> AsyncIterator[ApiClient]:
    """A client with a node's own certificate, obtained as ``shoal agent`` obtains it."""
    token = (server.data_dir / "node-token").read_text().strip()
    boot = ApiClient.http(server.url, token=token, ca_file=server.ca)
    try:
        cred = await nodecert.ensure(boot, tmp_path, nodecert.subject("tls-watch", simulated=False), server.ca)
    finally:
        await boot.close()
    c = ApiClient.http(server.url, ca_file=server.ca, client_cert=cred)
    yield c
    await c.close()


def crt_of(secret: dict[str, Any]) -> str:
    return str(secret["data"]["tls.crt"])


async def test_watches_follow_the_wanted_set_and_wait_for_the_graph(admin: ApiClient, as_node: ApiClient) -> None:
    for name, crt in (("one", "c1"), ("two", "c2")):
        await admin.create("secrets", tls_secret(name, crt, "k", ns=NS), NS)
    changes: list[int] = []
    watches = NamedSecrets(as_node, lambda: changes.append(1))
    try:
        # no Ingress names "one": the node may not read it, the watch keeps retrying
        await watches.want({(NS, "one")}, timeout=0.5)
        assert watches.by_key() == {}
        with pytest.raises(ApiException) as e:
            await as_node.get("secrets", "one", NS)
        assert e.value.status == 403
        await admin.create("ingresses", {**ingress("web", [("one.example", [path("/", "x")])],
                                                   tls=[{"hosts": ["one.example"], "secretName": "one"}]),
                                         "metadata": {"name": "web", "namespace": NS}}, NS)
        await until(lambda: (NS, "one") in watches.by_key())  # the retry lists it once the graph has the edge
        assert changes
        # a change of the Secret reaches the cache
        cur = await admin.get("secrets", "one", NS)
        await admin.update("secrets", {**tls_secret("one", "c1-new", "k", ns=NS),
                                       "metadata": {**cur["metadata"]}})
        new = (await admin.get("secrets", "one", NS))["data"]["tls.crt"]
        await until(lambda: crt_of(watches.by_key()[(NS, "one")]) == new)
        # the set moves: "one" is no longer watched, "two" (named now) is, after one wait
        ing = await admin.get("ingresses", "web", NS)
        ing["spec"]["tls"] = [{"hosts": ["two.example"], "secretName": "two"}]
        await admin.update("ingresses", ing)
        await watches.want({(NS, "two")})  # (a first refusal, the graph an event behind, is retried)
        assert watches.watched == {(NS, "two")}
        assert set(watches.by_key()) == {(NS, "two")}
        # a Secret that does not exist yet: watched (the node may read it, it is named), appears when created
        ing = await admin.get("ingresses", "web", NS)
        ing["spec"]["tls"].append({"hosts": ["three.example"], "secretName": "three"})
        await admin.update("ingresses", ing)
        await watches.want({(NS, "two"), (NS, "three")})
        assert set(watches.by_key()) == {(NS, "two")}
        await admin.create("secrets", tls_secret("three", "c3", "k", ns=NS), NS)
        await until(lambda: (NS, "three") in watches.by_key())
    finally:
        await watches.stop()
    assert watches.watched == frozenset()
