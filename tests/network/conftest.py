"""Shared by the kernel dataplane tests: one API server and three backends in namespaces.

Package-scoped, so the modules that send real traffic share one server (with
every controller, on a random service CIDR of its own) and one set of network
namespaces, removed at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shoal.client import ApiClient, InformerFactory
from shoal.network.proxy import ServiceProxy
from tests.network.netns import CIDR, SUBNET, NsHost, make_host, remove_host, sh
from tests.server_fixture import RunningServer, start_server


@pytest.fixture(scope="package")
def net_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(Path(tmp_path_factory.mktemp("netsrv")), args=["--service-cidr", CIDR])
    yield srv
    srv.stop()


@pytest.fixture(scope="package")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NsHost]]:
    root = Path(tmp_path_factory.mktemp("www"))
    hosts: list[NsHost] = []
    try:
        for i in range(3):
            hosts.append(make_host(i, SUBNET, root))
        yield hosts
    finally:
        for h in hosts:
            remove_host(h)


@pytest.fixture
async def api(net_server: RunningServer) -> AsyncIterator[tuple[ApiClient, str]]:
    """A client of the network test server and a fresh namespace."""
    client = ApiClient.http(net_server.url, token=net_server.token, ca_file=net_server.ca)
    ns = f"px-{uuid.uuid4().hex[:6]}"
    await client.create("namespaces", {"metadata": {"name": ns}})
    yield client, ns
    await client.close()


@pytest.fixture
async def proxy(api: tuple[ApiClient, str]) -> AsyncIterator[tuple[ApiClient, ServiceProxy, str]]:
    client, ns = api
    factory = InformerFactory(client)
    table = f"shoal_t{uuid.uuid4().hex[:6]}"
    p = ServiceProxy(factory, service_cidr=CIDR, mode="nftables", table=table)
    factory.start()
    await p.start()
    yield client, p, ns
    await p.stop()
    await factory.stop()
    assert table not in sh("nft", "list", "tables").stdout
    assert "local" not in sh("ip", "route", "show", "table", "local", CIDR).stdout
