"""etcd specifics: endpoint failover, an unreachable cluster, a watch across a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shoal.store.base import StoreUnavailableError
from shoal.store.etcd import EtcdStore
from tests.etcd_fixture import etcd_available, free_port, start_etcd


async def test_a_dead_endpoint_is_skipped(etcd_endpoint: str) -> None:
    store = EtcdStore([f"127.0.0.1:{free_port()}", etcd_endpoint], timeout=2)
    await store.start()
    try:
        assert store.endpoint == etcd_endpoint
        rev = await store.create("/failover/a", b"x")
        assert (await store.get("/failover/a")) is not None
        await store.delete("/failover/a", expected_revision=rev)
    finally:
        await store.close()


async def test_no_reachable_endpoint_is_unavailable() -> None:
    store = EtcdStore([f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"], timeout=1)
    with pytest.raises(StoreUnavailableError):
        await store.start()
    with pytest.raises(StoreUnavailableError):
        await store.get("/a")


@pytest.mark.skipif(not etcd_available(), reason="etcd is not installed")
async def test_watch_resumes_after_etcd_restarts(tmp_path: Path) -> None:
    client_port, peer_port = free_port(), free_port()
    endpoint, stop = start_etcd(tmp_path, client_port=client_port, peer_port=peer_port)
    store = EtcdStore([endpoint], timeout=2)
    try:
        await store.start()
        watch = store.watch("/r/", from_revision=await store.current_revision())
        first = await store.create("/r/1", b"x")
        assert [e.kv.mod_revision for e in await anext(watch)] == [first]

        stop()
        pending = asyncio.ensure_future(anext(watch))
        await asyncio.sleep(0.5)
        assert not pending.done()
        _, stop = start_etcd(tmp_path, client_port=client_port, peer_port=peer_port)
        # Written while the watch is still reconnecting: it must not miss them.
        second = await store.create("/r/2", b"y")
        third = await store.create("/r/3", b"z")
        seen = list(await asyncio.wait_for(pending, 10))
        while len(seen) < 2:
            seen.extend(await asyncio.wait_for(anext(watch), 10))
        assert [e.kv.mod_revision for e in seen] == [second, third]
        await watch.aclose()
    finally:
        await store.close()
        stop()
