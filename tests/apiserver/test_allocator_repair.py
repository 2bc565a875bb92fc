"""The Service allocator's repair pass on a store other servers share: a create in flight keeps its address."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shoal.apiserver import rawobj
from shoal.apiserver.allocator import IP_PREFIX, PORT_PREFIX, ServiceAllocator
from shoal.store.sqlite import SqliteStore

SERVICES = "/registry/services/specs/"


def service(name: str, ip: str, node_port: int | None = None) -> bytes:
    ports = [{"port": 80, **({"nodePort": node_port} if node_port else {})}]
    return rawobj.encode_for_store({"apiVersion": "v1", "kind": "Service",
                                    "metadata": {"name": name, "namespace": "default"},
                                    "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": ports,
                                             "type": "NodePort" if node_port else "ClusterIP"}})


async def test_repair_releases_orphans_at_once_without_grace(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.start()
    try:
        alloc = ServiceAllocator(store)
        await store.create(IP_PREFIX + "10.43.0.7", b"default/gone")
        await store.create(IP_PREFIX + "10.43.0.8", b"default/kept")
        await store.create(SERVICES + "default/kept", service("kept", "10.43.0.8"))
        assert await alloc.repair(SERVICES) == 1
        assert await store.get(IP_PREFIX + "10.43.0.7") is None
        assert await store.get(IP_PREFIX + "10.43.0.8") is not None
    finally:
        await store.close()


async def test_repair_with_grace_spares_a_create_in_flight_and_a_reused_address(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.start()
    try:
        alloc = ServiceAllocator(store)
        await store.create(IP_PREFIX + "10.43.0.7", b"default/gone")
        await store.create(PORT_PREFIX + "30007", b"default/gone")
        await store.create(IP_PREFIX + "10.43.0.9", b"default/inflight")  # reserved, Service not yet written
        await store.create(IP_PREFIX + "10.43.0.11", b"default/old")  # released and taken again meanwhile

        async def other_server() -> None:
            await asyncio.sleep(0.1)
            await store.create(SERVICES + "default/inflight", service("inflight", "10.43.0.9"))
            await store.delete(IP_PREFIX + "10.43.0.11")
            await store.create(IP_PREFIX + "10.43.0.11", b"default/new")  # its Service is still to come

        freed, _ = await asyncio.gather(alloc.repair(SERVICES, grace=0.4), other_server())
        assert freed == 2
        assert await store.get(IP_PREFIX + "10.43.0.7") is None
        assert await store.get(PORT_PREFIX + "30007") is None
        assert await store.get(IP_PREFIX + "10.43.0.9") is not None
        kv = await store.get(IP_PREFIX + "10.43.0.11")
        assert kv is not None and kv.value == b"default/new"
    finally:
        await store.close()
