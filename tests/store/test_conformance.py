"""The Store contract, run unchanged against every backend (kine's approach).

Revisions are compared relative to each other, never to absolute numbers: an
empty etcd starts at revision 1, an empty SQLite file at 0, and the etcd of
this session is shared by all tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shoal.store.base import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    NotFoundError,
    Store,
    WatchEvent,
    compact_keeping,
)


async def take(it: AsyncIterator[list[WatchEvent]], n: int) -> list[WatchEvent]:
    """The next ``n`` events from a watch (fails if they do not come in 5 s)."""
    out: list[WatchEvent] = []
    while len(out) < n:
        out.extend(await asyncio.wait_for(anext(it), 5))
    assert len(out) == n, f"expected {n} events, got {[(e.type, e.kv.key) for e in out]}"
    return out


# -- single-key operations ---------------------------------------------------


async def test_create_then_get(store: Store, ns: str) -> None:
    before = await store.current_revision()
    rev = await store.create(ns + "a", b"one")
    assert rev > before
    assert await store.get(ns + "a") == KeyValue(ns + "a", b"one", rev, rev)
    assert await store.get(ns + "missing") is None
    assert await store.current_revision() >= rev


async def test_create_existing_key_fails_and_keeps_value(store: Store, ns: str) -> None:
    rev = await store.create(ns + "a", b"one")
    with pytest.raises(KeyExistsError):
        await store.create(ns + "a", b"two")
    assert await store.get(ns + "a") == KeyValue(ns + "a", b"one", rev, rev)


async def test_update_checks_expected_revision(store: Store, ns: str) -> None:
    created = await store.create(ns + "a", b"v1")
    updated = await store.update(ns + "a", b"v2", expected_revision=created)
    assert updated > created
    assert await store.get(ns + "a") == KeyValue(ns + "a", b"v2", created, updated)

    with pytest.raises(ConflictError) as conflict:
        await store.update(ns + "a", b"stale", expected_revision=created)
    assert conflict.value.current == KeyValue(ns + "a", b"v2", created, updated)

    unconditional = await store.update(ns + "a", b"v3", expected_revision=0)
    assert unconditional > updated
    assert (await store.get(ns + "a")) == KeyValue(ns + "a", b"v3", created, unconditional)


async def test_update_of_missing_key_is_not_found(store: Store, ns: str) -> None:
    with pytest.raises(NotFoundError):
        await store.update(ns + "nope", b"x", expected_revision=0)
    with pytest.raises(NotFoundError):
        await store.update(ns + "nope", b"x", expected_revision=12345)
    assert await store.get(ns + "nope") is None


async def test_delete_returns_last_value_at_delete_revision(store: Store, ns: str) -> None:
    created = await store.create(ns + "a", b"v1")
    updated = await store.update(ns + "a", b"v2", expected_revision=created)

    with pytest.raises(ConflictError) as conflict:
        await store.delete(ns + "a", expected_revision=created)
    assert conflict.value.current.mod_revision == updated
    assert await store.get(ns + "a") is not None

    deleted = await store.delete(ns + "a", expected_revision=updated)
    assert deleted.key == ns + "a"
    assert deleted.value == b"v2"
    assert deleted.create_revision == created
    assert deleted.mod_revision > updated
    assert await store.get(ns + "a") is None

    with pytest.raises(NotFoundError):
        await store.delete(ns + "a")
    with pytest.raises(NotFoundError):
        await store.delete(ns + "a", expected_revision=updated)


async def test_recreated_key_gets_a_new_create_revision(store: Store, ns: str) -> None:
    first = await store.create(ns + "a", b"v1")
    await store.delete(ns + "a")
    second = await store.create(ns + "a", b"v2")
    kv = await store.get(ns + "a")
    assert kv is not None
    assert kv.create_revision == second > first


async def test_bad_inputs_are_rejected(store: Store, ns: str) -> None:
    with pytest.raises(ValueError):
        await store.create("", b"x")
    with pytest.raises(TypeError):
        await store.create(ns + "a", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await store.list(ns, limit=-1)
    with pytest.raises(ValueError):
        await store.update(ns + "a", b"x", expected_revision=-1)
    with pytest.raises(ValueError):
        store.watch(ns, from_revision=-1)
    assert await store.get(ns + "a") is None


async def test_revisions_increase_with_every_write(store: Store, ns: str) -> None:
    seen = [await store.current_revision()]
    seen.append(await store.create(ns + "a", b"1"))
    seen.append(await store.create(ns + "b", b"1"))
    seen.append(await store.update(ns + "a", b"2", expected_revision=seen[-2]))
    seen.append((await store.delete(ns + "b")).mod_revision)
    seen.append(await store.create(ns + "b", b"again"))
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert await store.current_revision() >= seen[-1]
    # A failed write does not move the revision.
    with pytest.raises(KeyExistsError):
        await store.create(ns + "a", b"x")
    assert await store.create(ns + "c", b"1") > seen[-1]


# -- concurrency -------------------------------------------------------------


async def test_concurrent_creates_of_one_key_exactly_one_wins(store: Store, ns: str) -> None:
    values = [f"writer-{i}".encode() for i in range(20)]
    results = await asyncio.gather(
        *(store.create(ns + "contended", v) for v in values), return_exceptions=True
    )
    winners = [(v, r) for v, r in zip(values, results, strict=True) if isinstance(r, int)]
    losers = [r for r in results if isinstance(r, KeyExistsError)]
    assert len(winners) == 1 and len(losers) == 19
    value, rev = winners[0]
    assert await store.get(ns + "contended") == KeyValue(ns + "contended", value, rev, rev)


async def test_concurrent_updates_with_same_expected_revision_one_wins(
    store: Store, ns: str
) -> None:
    rev = await store.create(ns + "a", b"0")
    results = await asyncio.gather(
        *(store.update(ns + "a", b"%d" % i, expected_revision=rev) for i in range(10)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, ConflictError) for r in results) == 9


async def test_concurrent_creates_of_distinct_keys_all_succeed(store: Store, ns: str) -> None:
    revs = await asyncio.gather(*(store.create(f"{ns}k{i:03d}", b"x") for i in range(100)))
    assert len(set(revs)) == 100
    assert await store.count(ns) == 100


# -- list and count ----------------------------------------------------------


async def test_list_returns_only_the_prefix_sorted(store: Store, ns: str) -> None:
    for key in ["a/2", "a/1", "a/10", "ab/1", "b/1", "a"]:
        await store.create(ns + key, key.encode())
    items, rev, more = await store.list(ns + "a/")
    assert [kv.key for kv in items] == [ns + "a/1", ns + "a/10", ns + "a/2"]
    assert [kv.value for kv in items] == [b"a/1", b"a/10", b"a/2"]
    assert rev >= max(kv.mod_revision for kv in items)
    assert more is False
    assert (await store.list(ns + "zzz/"))[0] == []
    assert await store.count(ns + "a/") == 3
    assert await store.count(ns) == 6
    assert await store.count(ns + "zzz/") == 0


async def test_list_limit_and_start_after(store: Store, ns: str) -> None:
    for i in range(5):
        await store.create(f"{ns}{i}", b"x")
    items, _, more = await store.list(ns, limit=2)
    assert [kv.key for kv in items] == [ns + "0", ns + "1"] and more
    items, _, more = await store.list(ns, start_after=ns + "1", limit=2)
    assert [kv.key for kv in items] == [ns + "2", ns + "3"] and more
    items, _, more = await store.list(ns, start_after=ns + "3", limit=2)
    assert [kv.key for kv in items] == [ns + "4"] and not more
    items, _, more = await store.list(ns, start_after=ns + "4")
    assert items == [] and not more
    # start_after between keys and before the prefix
    items, _, _ = await store.list(ns, start_after=ns + "2x")
    assert [kv.key for kv in items] == [ns + "3", ns + "4"]
    items, _, _ = await store.list(ns, start_after="/")
    assert len(items) == 5


async def test_pagination_over_250_keys_is_a_consistent_snapshot(store: Store, ns: str) -> None:
    await asyncio.gather(*(store.create(f"{ns}k{i:04d}", b"%d" % i) for i in range(250)))
    first, rev, more = await store.list(ns, limit=100)
    assert more and len(first) == 100
    # Changes after the first page must not show in later pages read at `rev`.
    await store.update(f"{ns}k0200", b"changed", expected_revision=0)
    await store.create(f"{ns}k9999", b"new")
    pages, collected, last = [first], list(first), first[-1].key
    while more:
        page, page_rev, more = await store.list(ns, start_after=last, limit=100, revision=rev)
        assert page_rev == rev
        pages.append(page)
        collected.extend(page)
        last = page[-1].key
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [kv.key for kv in collected] == [f"{ns}k{i:04d}" for i in range(250)]
    assert collected[200].value == b"200"


async def test_list_at_a_past_revision(store: Store, ns: str) -> None:
    await store.create(ns + "a", b"a1")
    await store.create(ns + "b", b"b1")
    then = await store.current_revision()
    await store.update(ns + "a", b"a2", expected_revision=0)
    await store.delete(ns + "b")
    await store.create(ns + "c", b"c1")

    past, rev, _ = await store.list(ns, revision=then)
    assert rev == then
    assert [(kv.key, kv.value) for kv in past] == [(ns + "a", b"a1"), (ns + "b", b"b1")]
    now, now_rev, _ = await store.list(ns)
    assert now_rev > then
    assert [(kv.key, kv.value) for kv in now] == [(ns + "a", b"a2"), (ns + "c", b"c1")]
    limited, _, more = await store.list(ns, revision=then, limit=1)
    assert [kv.key for kv in limited] == [ns + "a"] and more


async def test_list_at_a_future_revision_fails(store: Store, ns: str) -> None:
    current = await store.current_revision()
    with pytest.raises(FutureRevisionError):
        await store.list(ns, revision=current + 1000)


# -- watch -------------------------------------------------------------------


async def test_watch_replays_history_then_follows_live_changes(store: Store, ns: str) -> None:
    start = await store.current_revision()
    r1 = await store.create(ns + "a", b"a1")
    r2 = await store.create(ns + "b", b"b1")
    r3 = await store.update(ns + "a", b"a2", expected_revision=r1)

    watch = store.watch(ns, from_revision=start)
    try:
        old = await take(watch, 3)
        assert [(e.type, e.kv.key, e.kv.mod_revision) for e in old] == [
            ("PUT", ns + "a", r1),
            ("PUT", ns + "b", r2),
            ("PUT", ns + "a", r3),
        ]
        assert old[0].prev is None
        assert old[2].prev is not None and old[2].prev.value == b"a1"
        assert old[2].kv == KeyValue(ns + "a", b"a2", r1, r3)

        deleted = await store.delete(ns + "b")
        r5 = await store.create(ns + "c", b"c1")
        live = await take(watch, 2)
        assert live[0].type == "DELETE"
        assert live[0].kv == KeyValue(ns + "b", b"b1", r2, deleted.mod_revision)
        assert live[1].type == "PUT" and live[1].kv.mod_revision == r5
    finally:
        await watch.aclose()


async def test_watch_from_a_revision_skips_older_events(store: Store, ns: str) -> None:
    await store.create(ns + "a", b"1")
    middle = await store.create(ns + "b", b"1")
    last = await store.create(ns + "c", b"1")
    watch = store.watch(ns, from_revision=middle)
    try:
        events = await take(watch, 1)
        assert [(e.kv.key, e.kv.mod_revision) for e in events] == [(ns + "c", last)]
    finally:
        await watch.aclose()


async def test_watch_sees_only_its_prefix(store: Store, ns: str) -> None:
    start = await store.current_revision()
    watch = store.watch(ns + "a/", from_revision=start)
    try:
        await store.create(ns + "b/1", b"other")
        await store.create(ns + "ab", b"sibling, not under a/")
        mine = await store.create(ns + "a/1", b"mine")
        await store.create(ns + "b/2", b"other")
        await store.delete(ns + "b/1")
        sentinel = await store.create(ns + "a/2", b"sentinel")
        events = await take(watch, 2)
        assert [(e.kv.key, e.kv.mod_revision) for e in events] == [
            (ns + "a/1", mine),
            (ns + "a/2", sentinel),
        ]
    finally:
        await watch.aclose()


async def test_many_live_events_arrive_in_revision_order(store: Store, ns: str) -> None:
    start = await store.current_revision()
    watch = store.watch(ns, from_revision=start)
    try:
        revs = await asyncio.gather(*(store.create(f"{ns}{i:03d}", b"x") for i in range(200)))
        events = await take(watch, 200)
        got = [e.kv.mod_revision for e in events]
        assert got == sorted(revs)
    finally:
        await watch.aclose()


# -- compaction --------------------------------------------------------------


async def test_compaction_keeps_current_values_and_rejects_old_revisions(
    store: Store, ns: str
) -> None:
    first = await store.create(ns + "a", b"v1")
    await store.update(ns + "a", b"v2", expected_revision=0)
    await store.create(ns + "gone", b"x")
    await store.delete(ns + "gone")
    last = await store.update(ns + "a", b"v3", expected_revision=0)
    await store.create(ns + "b", b"b1")

    await store.compact(last)
    assert await store.compacted_revision() >= last
    assert await store.get(ns + "a") == KeyValue(ns + "a", b"v3", first, last)
    items, _, _ = await store.list(ns)
    assert [(kv.key, kv.value) for kv in items] == [(ns + "a", b"v3"), (ns + "b", b"b1")]
    at_compaction, _, _ = await store.list(ns, revision=last)
    assert [(kv.key, kv.value) for kv in at_compaction] == [(ns + "a", b"v3")]

    with pytest.raises(CompactedError) as listed:
        await store.list(ns, revision=first)
    assert listed.value.compacted_revision >= last
    with pytest.raises(CompactedError):
        await anext(store.watch(ns, from_revision=first - 1))

    # A watch from the compacted revision still sees everything after it.
    watch = store.watch(ns, from_revision=last)
    try:
        events = await take(watch, 1)
        assert events[0].kv.key == ns + "b"
    finally:
        await watch.aclose()

    await store.compact(first)  # older than the compacted revision: a no-op
    assert await store.compacted_revision() >= last
    with pytest.raises(FutureRevisionError):
        await store.compact(await store.current_revision() + 1000)


async def test_compact_keeping_leaves_the_last_revisions_watchable(store: Store, ns: str) -> None:
    start = await store.current_revision()
    for i in range(10):
        await store.create(f"{ns}{i}", b"x")
    target = await compact_keeping(store, keep=4)
    assert target == start + 10 - 4
    assert await store.compacted_revision() == target
    watch = store.watch(ns, from_revision=target)
    try:
        events = await take(watch, 4)
        assert [e.kv.key for e in events] == [f"{ns}{i}" for i in range(6, 10)]
    finally:
        await watch.aclose()
    assert await compact_keeping(store, keep=100_000) == 0
    with pytest.raises(ValueError):
        await compact_keeping(store, keep=-1)
