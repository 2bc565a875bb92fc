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


class _FakeKv:
    """A member's KV stub: answers ``Range`` after failing it with each of ``errors`` in turn."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.calls: list[float] = []

    async def Range(self, request: object, timeout: float) -> object:  # noqa: N802 - gRPC's name
        from aetcd import rpc
        from grpc import aio

        self.calls.append(timeout)
        if self.errors:
            raise aio.AioRpcError(rpc.StatusCode.UNAVAILABLE, aio.Metadata(), aio.Metadata(),
                                  details=self.errors.pop(0))

        class Header:
            revision = 7

        class Answer:
            header = Header()
        return Answer()


class _FakeClient:
    def __init__(self, kv: _FakeKv) -> None:
        self.kvstub = kv


async def test_a_member_without_leader_is_asked_again_not_left() -> None:
    """While etcd elects, its member answers UNAVAILABLE "no leader": the store asks it again instead of moving
    to the next endpoint (which may be the member that died, costing a whole timeout)."""
    own, other = _FakeKv(["etcdserver: no leader", "etcdserver: leader changed"]), _FakeKv([])
    store = EtcdStore(["127.0.0.1:1", "127.0.0.1:2"], write_timeout=1.0)
    store._open = True
    store._clients = {0: _FakeClient(own), 1: _FakeClient(other)}
    assert await store.current_revision() == 7
    assert len(own.calls) == 3 and other.calls == []
    # any other UNAVAILABLE (the member itself is gone) still moves on
    own.errors = ["connection refused"]
    store._switch = _no_probe_switch(store)  # type: ignore[method-assign]
    assert await store.current_revision() == 7
    assert len(other.calls) == 1


def _no_probe_switch(store: EtcdStore):  # type: ignore[no-untyped-def]
    async def switch(failed: int, *, include_failed: bool = True) -> None:
        store._current = (failed + 1) % 2
    return switch
