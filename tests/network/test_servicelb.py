"""ServiceLB: which addresses a LoadBalancer Service gets, and the controller writing them.

The pure rules first (node readiness and labels, port conflicts, classes), then
the controller against a real API server (the session's server runs no
controllers, so this test runs the one it tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shoal.client import ApiClient, ApiException, InformerFactory
from shoal.controllers import servicelb as lb
from shoal.controllers.base import Context
from tests.eventually import eventually
from tests.server_fixture import RunningServer


def node(name: str, ip: str, *, ready: bool = True, labels: dict[str, str] | None = None,
         external: str | None = None) -> dict[str, Any]:
    addrs = [{"type": "InternalIP", "address": ip}] + ([{"type": "ExternalIP", "address": external}] if external else [])
    return {"metadata": {"name": name, "labels": labels or {}},
            "status": {"addresses": addrs, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def service(name: str, *, port: int = 80, created: str = "2026-01-01T00:00:00Z", typ: str = "LoadBalancer",
            cls: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": typ, "ports": [{"port": port, "protocol": "TCP"}]}
    if cls:
        spec["loadBalancerClass"] = cls
    return {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": created}, "spec": spec}


def ips(ingress: list[dict[str, Any]]) -> list[str]:
    return [i["ip"] for i in ingress]


def test_ready_nodes_sorted_external_ip_preferred() -> None:
    nodes = [node("b", "10.0.0.2"), node("a", "10.0.0.1", external="203.0.113.1"), node("c", "10.0.0.3", ready=False),
             node("d", "10.0.0.2")]
    s = service("web")
    got = lb.ingress_for(s, [s], nodes)
    assert ips(got) == ["10.0.0.2", "203.0.113.1"] and all(i["ipMode"] == "VIP" for i in got)


def test_node_labels_exclude_and_enable() -> None:
    s = service("web")
    nodes = [node("a", "10.0.0.1"), node("b", "10.0.0.2", labels={lb.EXCLUDE_LABEL: ""})]
    assert ips(lb.ingress_for(s, [s], nodes)) == ["10.0.0.1"]
    nodes.append(node("c", "10.0.0.3", labels={lb.ENABLE_LABEL: "true"}))
    assert ips(lb.ingress_for(s, [s], nodes)) == ["10.0.0.3"]


def test_port_taken_by_an_older_service_stays_pending() -> None:
    old, new = service("old", created="2026-01-01T00:00:00Z"), service("new", created="2026-01-02T00:00:00Z")
    other_port = service("other", port=81, created="2026-01-03T00:00:00Z")
    nodes = [node("a", "10.0.0.1")]
    every = [new, old, other_port]
    assert ips(lb.ingress_for(old, every, nodes)) == ["10.0.0.1"]
    assert lb.ingress_for(new, every, nodes) == []
    assert lb.conflicts(new, every) == [("ns/old", ("TCP", 80))]
    assert ips(lb.ingress_for(other_port, every, nodes)) == ["10.0.0.1"]


def test_other_classes_and_types_get_nothing() -> None:
    nodes = [node("a", "10.0.0.1")]
    for s in (service("c", cls="example.com/lb"), service("n", typ="NodePort"), service("i", typ="ClusterIP")):
        assert lb.ingress_for(s, [s], nodes) == []
    assert lb.ingress_for(service("x"), [], []) == []  # no ready node: pending


@pytest.fixture
async def env(server: RunningServer) -> AsyncIterator[tuple[ApiClient, str]]:
    client = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    ns = f"lb-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": ns}})
    ctx = Context(client=client, factory=InformerFactory(client))
    ctl = lb.ServiceLBController(ctx)
    ctl.setup()
    ctx.factory.start()
    await ctx.factory.wait_synced(10)
    task = asyncio.create_task(ctl.run())
    yield client, ns
    await ctl.stop()
    task.cancel()
    await ctx.factory.stop()
    await client.close()


async def make_node(client: ApiClient, name: str, ip: str, *, ready: bool = True) -> None:
    n = await client.create("nodes", {"metadata": {"name": name}})
    n["status"] = node(name, ip, ready=ready)["status"]
    await client.update_status("nodes", n)


async def ingress_of(client: ApiClient, name: str, ns: str) -> list[str]:
    s = await client.get("services", name, ns)
    return ips(((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


async def test_controller_fills_ingress_follows_nodes_and_settles_conflicts(env: Any) -> None:
    client, ns = env
    tag = uuid.uuid4().hex[:6]
    n1, n2 = f"lbn-{tag}-1", f"lbn-{tag}-2"
    await make_node(client, n1, "198.51.100.1")
    # a port no other test's LoadBalancer uses (the API server is shared by the session)
    port = 20000 + int(tag, 16) % 9000
    spec = {"type": "LoadBalancer", "ports": [{"name": "http", "port": port}]}
    await client.create("services", {"metadata": {"name": "first"}, "spec": spec}, ns)
    await asyncio.sleep(0.01)  # creation timestamps have one-second resolution: order by name too
    await client.create("services", {"metadata": {"name": "second"}, "spec": spec}, ns)

    async def first_has(want: list[str]) -> bool:
        got = await ingress_of(client, "first", ns)
        return set(want) <= set(got)

    await eventually(lambda: first_has(["198.51.100.1"]), retry_on=(Exception,))
    assert await ingress_of(client, "second", ns) == []
    await make_node(client, n2, "198.51.100.2")
    await eventually(lambda: first_has(["198.51.100.1", "198.51.100.2"]), retry_on=(Exception,))
    # the port is freed: the pending Service gets it
    await client.delete("services", "first", ns)
    await eventually(lambda: _has(client, "second", ns, "198.51.100.2"), retry_on=(Exception,))
    # no longer a LoadBalancer: the ingress is cleared
    s = await client.get("services", "second", ns)
    s["spec"]["type"] = "ClusterIP"
    for f in ("externalTrafficPolicy", "allocateLoadBalancerNodePorts"):
        s["spec"].pop(f, None)
    for p in s["spec"]["ports"]:
        p.pop("nodePort", None)
    await client.update("services", s)
    await eventually(lambda: _empty(client, "second", ns), retry_on=(Exception,))
    for n in (n1, n2):
        with contextlib.suppress(ApiException):
            await client.delete("nodes", n)


async def _has(client: ApiClient, name: str, ns: str, ip: str) -> bool:
    return ip in await ingress_of(client, name, ns)


async def _empty(client: ApiClient, name: str, ns: str) -> bool:
    return await ingress_of(client, name, ns) == []
