"""The namespace cache behind create admission: answers from memory, never stale for this server's writes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from shoal.api import kinds
from shoal.apiserver import errors
from shoal.apiserver.app import ApiServer
from shoal.apiserver.nscache import MAX_TOMBSTONES, NamespaceCache
from shoal.store.base import KeyValue
from shoal.store.sqlite import SqliteStore

NS = kinds.lookup("", "v1", "namespaces")
assert NS is not None


class CountingStore(SqliteStore):
    """Counts the point reads of namespace keys."""

    ns_gets = 0

    async def get(self, key: str) -> KeyValue | None:
        if key.startswith(NS.storage_prefix):  # type: ignore[union-attr]
            self.ns_gets += 1
        return await super().get(key)


def cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


@pytest.fixture
async def server(tmp_path: Path) -> Any:
    store = CountingStore(tmp_path / "state.db")
    await store.start()
    api = ApiServer(store)
    await api.start()
    yield api, store
    await api.stop()
    await store.close()


def res(api: ApiServer, plural: str) -> Any:
    return next(r for r in api.resources.values() if r.info.plural == plural)


async def test_creates_do_not_read_the_namespace_each_time(server: Any) -> None:
    api, store = server
    await res(api, "namespaces").create(None, {"metadata": {"name": "a"}})
    before = store.ns_gets
    for i in range(20):
        await res(api, "configmaps").create("a", cm(f"c{i}"))
    assert store.ns_gets - before == 0


async def test_missing_namespace_is_read_every_time_and_refused(server: Any) -> None:
    api, store = server
    for _ in range(3):
        before = store.ns_gets
        with pytest.raises(errors.ApiError) as e:
            await res(api, "configmaps").create("nope", cm("c"))
        assert e.value.code == 404
        assert store.ns_gets - before == 1  # a miss is never cached as "not found"


async def test_terminating_and_deleted_namespace_refused_at_once(server: Any) -> None:
    api, _ = server
    nsres = res(api, "namespaces")
    await nsres.create(None, {"metadata": {"name": "b"}})
    await res(api, "configmaps").create("b", cm("first"))
    await nsres.delete(None, "b")  # namespaces go Terminating (spec.finalizers)
    with pytest.raises(errors.ApiError) as e:
        await res(api, "configmaps").create("b", cm("second"))
    assert e.value.code == 403
    assert "being terminated" in e.value.message
    await nsres.set_spec_finalizers("b", [])  # the namespace finishes deleting
    with pytest.raises(errors.ApiError) as e2:
        await res(api, "configmaps").create("b", cm("third"))
    assert e2.value.code == 404


async def test_writes_straight_to_the_store_arrive_through_the_watch(server: Any) -> None:
    api, store = server
    key = NS.key(None, "direct")  # type: ignore[union-attr]
    body = msgspec.json.encode({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "direct"}})
    rev = await store.create(key, body)
    await res(api, "configmaps").create("direct", cm("c"))  # a miss: read from the store
    await store.delete(key, expected_revision=rev)
    for _ in range(100):  # the watch cache delivers the deletion
        if await api.namespaces.get("direct") is None:
            break
        await asyncio.sleep(0.01)
    with pytest.raises(errors.ApiError) as e:
        await res(api, "configmaps").create("direct", cm("d"))
    assert e.value.code == 404


async def test_older_answers_never_replace_newer(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.start()
    try:
        cache = NamespaceCache(store, NS)  # type: ignore[arg-type]
        key = NS.key(None, "x")  # type: ignore[union-attr]
        cache.observe(key, 5, b'{"metadata":{"name":"x","deletionTimestamp":"t"}}')
        cache.observe(key, 4, b'{"metadata":{"name":"x"}}')
        got = await cache.get("x")
        assert got is not None and got["metadata"]["deletionTimestamp"] == "t"
        cache.observe(key, 6, None)  # deleted
        cache.observe(key, 5, b'{"metadata":{"name":"x"}}')  # a late, older event: no resurrection
        assert await cache.get("x") is None  # read from the (empty) store
        cache.observe(key, 7, b'{"metadata":{"name":"x"}}')  # created again
        assert await cache.get("x") == {"metadata": {"name": "x"}}
        cache.reset()
        assert await cache.get("x") is None  # forgotten: the store (which has nothing) answers
    finally:
        await store.close()


async def test_tombstones_are_bounded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.start()
    try:
        cache = NamespaceCache(store, NS)  # type: ignore[arg-type]
        cache.observe("/keep", 1, b'{"metadata":{}}')
        for i in range(MAX_TOMBSTONES + 5):
            cache.observe(f"/gone/{i}", i + 2, None)
        assert len(cache._revs) <= MAX_TOMBSTONES + 1
        assert "/keep" in cache._revs
    finally:
        await store.close()
