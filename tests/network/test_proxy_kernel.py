"""The nftables service proxy with real kernel rules and real TCP traffic.

Backends are web servers in network namespaces the test creates; clients are
the host and those namespaces. Before anything is sent to a VIP, the test
checks the kernel routes it locally, so no packet can leave the machine.
"""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import pytest

from shoal.client import ApiClient
from shoal.network.proxy import kernel_mode_available
from tests.network.netns import NsHost, sh

pytestmark = pytest.mark.skipif(not kernel_mode_available(), reason="needs root and nft (installed by make setup)")


async def make_service(client: ApiClient, ns: str, name: str, backends: list[NsHost], **spec: Any) -> dict[str, Any]:
    svc = await client.create("services", {"metadata": {"name": name},
                                           "spec": {"ports": [{"name": "http", "port": 80}], **spec}}, ns)
    await client.create("endpoints", {"metadata": {"name": name}, "subsets": [
        {"addresses": [{"ip": b.ip} for b in backends], "ports": [{"name": "http", "port": 8000}]}]}, ns)
    return svc


def assert_local(ip: str) -> None:
    out = sh("ip", "route", "get", ip).stdout
    assert out.startswith("local "), f"{ip} is not routed locally: {out}"


def host_fetch(url: str) -> str:
    try:
        return urllib.request.urlopen(url, timeout=3).read().decode().strip()
    except OSError as e:
        return f"ERROR {e}"


async def wait_for(fn: Any, timeout: float = 5.0) -> Any:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        v = await loop.run_in_executor(None, fn)
        if v or loop.time() > end:
            return v
        await asyncio.sleep(0.05)


async def test_clusterip_spreads_over_backends(proxy: Any, backends: list[NsHost]) -> None:
    client, _p, ns = proxy
    svc = await make_service(client, ns, "web", backends)
    vip = svc["spec"]["clusterIP"]
    assert_local(vip)
    assert await wait_for(lambda: not host_fetch(f"http://{vip}/").startswith("ERROR"))
    loop = asyncio.get_running_loop()
    seen = [await loop.run_in_executor(None, host_fetch, f"http://{vip}/") for _ in range(30)]
    assert set(seen) == {b.name for b in backends}, seen
    # from a "pod": another namespace, and the hairpin case (a backend reaching its own service)
    from_pod = {await loop.run_in_executor(None, backends[0].fetch, f"http://{vip}/") for _ in range(15)}
    assert from_pod <= {b.name for b in backends} and backends[0].name in from_pod and len(from_pod) >= 2


async def test_endpoint_changes_apply_within_a_second(proxy: Any, backends: list[NsHost]) -> None:
    client, _p, ns = proxy
    svc = await make_service(client, ns, "shrink", backends)
    vip = svc["spec"]["clusterIP"]
    assert_local(vip)
    assert await wait_for(lambda: not host_fetch(f"http://{vip}/").startswith("ERROR"))
    ep = await client.get("endpoints", "shrink", ns)
    ep["subsets"][0]["addresses"] = [{"ip": backends[1].ip}]
    t0 = asyncio.get_running_loop().time()
    await client.update("endpoints", ep)
    loop = asyncio.get_running_loop()

    def only_one() -> bool:
        return {host_fetch(f"http://{vip}/") for _ in range(8)} == {backends[1].name}

    assert await wait_for(only_one, 1.5)
    assert loop.time() - t0 < 1.5


async def test_session_affinity_client_ip(proxy: Any, backends: list[NsHost]) -> None:
    client, _p, ns = proxy
    svc = await make_service(client, ns, "sticky", backends, sessionAffinity="ClientIP")
    vip = svc["spec"]["clusterIP"]
    assert_local(vip)
    assert await wait_for(lambda: not host_fetch(f"http://{vip}/").startswith("ERROR"))
    loop = asyncio.get_running_loop()
    seen = {await loop.run_in_executor(None, host_fetch, f"http://{vip}/") for _ in range(10)}
    assert len(seen) == 1


async def test_node_port_and_removal(proxy: Any, backends: list[NsHost]) -> None:
    client, _p, ns = proxy
    svc = await make_service(client, ns, "np", backends[:1], type="NodePort")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    vip = svc["spec"]["clusterIP"]
    # the host side of a test veth is an address of this node
    node_addr = backends[2].host_ip
    assert_local(node_addr)
    assert await wait_for(lambda: host_fetch(f"http://{node_addr}:{node_port}/") == backends[0].name)
    assert backends[1].fetch(f"http://{node_addr}:{node_port}/") == backends[0].name
    await client.delete("services", "np", ns)
    assert_local(vip)
    assert await wait_for(lambda: host_fetch(f"http://{vip}/").startswith("ERROR"), 2)
    assert host_fetch(f"http://{node_addr}:{node_port}/").startswith("ERROR")


async def test_vip_without_endpoints_is_refused_locally(proxy: Any) -> None:
    client, _p, ns = proxy
    svc = await client.create("services", {"metadata": {"name": "empty"},
                                           "spec": {"ports": [{"port": 80}]}}, ns)
    vip = svc["spec"]["clusterIP"]
    assert_local(vip)
    await asyncio.sleep(0.2)
    assert "Connection refused" in host_fetch(f"http://{vip}/")
