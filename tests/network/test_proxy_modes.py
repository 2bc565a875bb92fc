"""The dataplane beyond ClusterIP: LoadBalancer ports, manual Endpoints, the userspace mode, two nodes.

Same setup as ``test_proxy_kernel``: backends in network namespaces, a server
on a service CIDR of the test's own, real traffic only to the test's own
addresses and to VIPs checked to be routed locally first. LoadBalancer ports
are random high ports, so no service of the machine is shadowed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import uuid
from typing import Any

import pytest
from dnslib import QTYPE, DNSRecord  # type: ignore[import-untyped]

from shoal.client import ApiClient, ApiException, InformerFactory
from shoal.network import nftrules
from shoal.network.node import NetworkNode
from shoal.network.proxy import ServiceProxy, kernel_mode_available
from tests.network.netns import CIDR, NsHost, sh
from tests.network.test_proxy_kernel import assert_local, host_fetch, make_service, wait_for
from tests.server_fixture import RunningServer

pytestmark = pytest.mark.skipif(not kernel_mode_available(), reason="needs root and nft (installed by make setup)")


def ok(url: str) -> bool:
    return not host_fetch(url).startswith("ERROR")


async def fetch_many(url: str, n: int, via: NsHost | None = None) -> list[str]:
    loop = asyncio.get_running_loop()
    return [await loop.run_in_executor(None, via.fetch if via else host_fetch, url) for _ in range(n)]


async def test_load_balancer_port_on_the_nodes_addresses(proxy: Any, backends: list[NsHost]) -> None:
    client, _p, ns = proxy
    node_ip = backends[2].host_ip  # a node address the test made (the host side of a veth)
    node = f"lbnode-{uuid.uuid4().hex[:6]}"
    await client.create("nodes", {"metadata": {"name": node}})
    for attempt in range(10):  # the node IPAM controller writes the new Node's podCIDR meanwhile
        n = await client.get("nodes", node)
        n["status"] = {"addresses": [{"type": "InternalIP", "address": node_ip}],
                       "conditions": [{"type": "Ready", "status": "True"}]}
        try:
            await client.update_status("nodes", n)
            break
        except ApiException as e:
            if e.status != 409 or attempt == 9:
                raise
    port = random.randint(20000, 29999)
    try:
        await make_service(client, ns, "lb", backends[:1], type="LoadBalancer",
                           ports=[{"name": "http", "port": port}])

        async def ingress(name: str) -> list[str]:
            s = await client.get("services", name, ns)
            return [i["ip"] for i in ((s.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]

        for _ in range(100):
            if node_ip in await ingress("lb"):
                break
            await asyncio.sleep(0.05)
        assert node_ip in await ingress("lb")
        assert_local(node_ip)
        assert await wait_for(lambda: host_fetch(f"http://{node_ip}:{port}/") == backends[0].name)
        # every local address serves the port (as k3s's svclb host ports), from the host and from a "pod"
        other_addr = backends[1].host_ip
        assert_local(other_addr)
        assert host_fetch(f"http://{other_addr}:{port}/") == backends[0].name
        assert backends[1].fetch(f"http://{node_ip}:{port}/") == backends[0].name
        # a second LoadBalancer on the same port stays pending and does not take the port
        await make_service(client, ns, "lb2", backends[1:2], type="LoadBalancer",
                           ports=[{"name": "http", "port": port}])
        await asyncio.sleep(0.5)
        assert await ingress("lb2") == []
        assert set(await fetch_many(f"http://{node_ip}:{port}/", 5)) == {backends[0].name}
        # the first goes: the second gets the port
        await client.delete("services", "lb", ns)
        assert await wait_for(lambda: host_fetch(f"http://{node_ip}:{port}/") == backends[1].name, 3)
        await client.delete("services", "lb2", ns)
        assert await wait_for(lambda: not ok(f"http://{node_ip}:{port}/"), 2)
    finally:
        with contextlib.suppress(ApiException):
            await client.delete("nodes", node)


async def test_selectorless_service_with_manual_endpoints(proxy: Any, backends: list[NsHost]) -> None:
    client, _p, ns = proxy
    svc = await client.create("services", {"metadata": {"name": "manual"}, "spec": {
        "ports": [{"name": "web", "port": 8080, "targetPort": 9999}]}}, ns)
    vip = svc["spec"]["clusterIP"]
    await client.create("endpoints", {"metadata": {"name": "manual"}, "subsets": [
        {"addresses": [{"ip": backends[0].ip}], "ports": [{"name": "web", "port": 8000}]}]}, ns)
    assert_local(vip)
    # the Endpoints' port is used as written (the Service's targetPort matters only with a selector)
    assert await wait_for(lambda: host_fetch(f"http://{vip}:8080/") == backends[0].name)
    ep = await client.get("endpoints", "manual", ns)
    assert "endpointslice.kubernetes.io/managed-by" not in (ep["metadata"].get("labels") or {})
    slices = await client.list("endpointslices", ns)
    assert not slices["items"], "the controller must leave a selector-less Service's endpoints alone"
    ep["subsets"] = [{"addresses": [{"ip": backends[2].ip}], "ports": [{"name": "web", "port": 8000}]}]
    await client.update("endpoints", ep)
    assert await wait_for(lambda: host_fetch(f"http://{vip}:8080/") == backends[2].name, 1.5)
    # Endpoints whose port name matches no Service port: nothing to serve, refused on this machine
    ep = await client.get("endpoints", "manual", ns)
    ep["subsets"] = [{"addresses": [{"ip": backends[2].ip}], "ports": [{"name": "other", "port": 8000}]}]
    await client.update("endpoints", ep)
    assert await wait_for(lambda: "Connection refused" in host_fetch(f"http://{vip}:8080/"), 1.5)


async def test_userspace_mode_serves_a_vip(api: tuple[ApiClient, str], backends: list[NsHost]) -> None:
    client, ns = api
    factory = InformerFactory(client)
    p = ServiceProxy(factory, service_cidr=CIDR, mode="userspace", table="shoal_unused")
    factory.start()
    await p.start()
    try:
        assert p.mode == "userspace" and p.route_local
        svc = await make_service(client, ns, "us", backends)
        vip = svc["spec"]["clusterIP"]
        assert_local(vip)
        assert await wait_for(lambda: ok(f"http://{vip}/"))
        assert set(await fetch_many(f"http://{vip}/", 6)) == {b.name for b in backends}  # round robin
        assert "shoal_unused" not in sh("nft", "list", "tables").stdout
        await client.delete("services", "us", ns)
        assert await wait_for(lambda: not ok(f"http://{vip}/"), 2)
    finally:
        await p.stop()
        await factory.stop()
    assert "local" not in sh("ip", "route", "show", "table", "local", CIDR).stdout


def dns_query(server: str, name: str) -> list[str]:
    q = DNSRecord.question(name, "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(q.pack(), (server, 53))
        reply = DNSRecord.parse(s.recv(4096))
    return [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A]


async def test_two_nodes_on_one_machine(api: tuple[ApiClient, str], backends: list[NsHost]) -> None:
    client, ns = api
    tag = uuid.uuid4().hex[:5]
    a = NetworkNode(client, node_name=f"a-{tag}", service_cidr=CIDR, mode="nftables", dns_retry=0.2)
    b = NetworkNode(client, node_name=f"b-{tag}", service_cidr=CIDR, mode="nftables", dns_retry=0.2)
    stopped: list[NetworkNode] = []
    try:
        await a.start()
        await b.start()
        assert a.dns_serving and b.dns_shared and not b.dns_serving and b.dns_available
        svc = await make_service(client, ns, "both", backends[:2])
        vip = svc["spec"]["clusterIP"]
        assert_local(vip)
        assert await wait_for(lambda: ok(f"http://{vip}/"))
        tables = sh("nft", "list", "tables").stdout
        assert f"shoal_a_{tag}" in tables and f"shoal_b_{tag}" in tables
        loop = asyncio.get_running_loop()
        name = f"both.{ns}.svc.cluster.local"
        assert await loop.run_in_executor(None, dns_query, a.dns_ip, name) == [vip]
        # the first node goes: the route stays for the second, which serves the VIP and takes over the DNS
        await a.stop()
        stopped.append(a)
        assert_local(vip)
        assert f"shoal_a_{tag}" not in sh("nft", "list", "tables").stdout
        assert set(await fetch_many(f"http://{vip}/", 10)) == {backends[0].name, backends[1].name}
        for _ in range(50):
            if b.dns_serving:
                break
            await asyncio.sleep(0.05)
        assert b.dns_serving
        assert await loop.run_in_executor(None, dns_query, b.dns_ip, name) == [vip]
        await b.stop()
        stopped.append(b)
        assert "local" not in sh("ip", "route", "show", "table", "local", CIDR).stdout
        assert f"shoal_b_{tag}" not in sh("nft", "list", "tables").stdout
    finally:
        for node in (a, b):
            if node not in stopped:
                await node.stop()


async def test_shoal_agent_runs_the_node_proxy(net_server: RunningServer, api: tuple[ApiClient, str],
                                               tmp_path: Any) -> None:
    client, ns = api
    svc = await client.create("services", {"metadata": {"name": "seen"}, "spec": {"ports": [{"port": 80}]}}, ns)
    await client.create("endpoints", {"metadata": {"name": "seen"}, "subsets": [
        {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 8000}]}]}, ns)
    node = f"agent-{uuid.uuid4().hex[:6]}"
    table = nftrules.table_name(node, (net_server.data_dir / "cluster-id").read_text().strip())
    token = (net_server.data_dir / "node-token").read_text().strip()
    log = open(tmp_path / "agent.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, "-m", "shoal", "agent", "--server", net_server.url, "--token", token,
         "--data-dir", str(tmp_path), "--ca-file", net_server.ca, "--node-name", node, "--runtime", "process"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SHOAL_SERVICE_CIDR": CIDR},
        start_new_session=True)
    try:
        def rules() -> str:
            out = sh("nft", "list", "table", "ip", table, check=False).stdout
            return out if svc["spec"]["clusterIP"] in out else ""

        assert await wait_for(rules, 20), (tmp_path / "agent.log").read_text()
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        assert table not in sh("nft", "list", "tables").stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        log.close()
        sh("nft", "delete", "table", "ip", table, check=False)
        with contextlib.suppress(ApiException):
            await client.delete("nodes", node)
