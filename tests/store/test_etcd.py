"""etcd specifics: endpoint failover and an unreachable cluster."""

from __future__ import annotations

import pytest

from shoal.store.base import StoreUnavailableError
from shoal.store.etcd import EtcdStore
from tests.etcd_fixture import free_port


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
