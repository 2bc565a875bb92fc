"""Pod CIDR reservations in the store: one Node per range, on both backends, even when two writers race.

The guard runs here directly over each store (the API wires it into Node writes; the node IPAM tests in
``tests/controllers/test_nodeipam.py`` go through the real server).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shoal.apiserver import rawobj
from shoal.apiserver.errors import ApiError
from shoal.apiserver.podcidrs import PodCidrGuard
from shoal.store.base import Store
from tests.store.conftest import etcd_endpoint, ns, store  # noqa: F401 - fixtures


def node(name: str, cidr: str | None = None) -> dict[str, Any]:
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec}


async def test_two_nodes_racing_for_one_range_one_wins(store: Store, ns: str) -> None:  # noqa: F811
    guard = PodCidrGuard(store, prefix=ns)
    results = await asyncio.gather(*(guard.prepare(node(f"n{i}", "10.42.7.0/24"), node(f"n{i}"))
                                     for i in range(5)), return_exceptions=True)
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, ApiError)]
    assert len(won) == 1 and len(lost) == 4
    msg = str(lost[0])
    assert "spec.podCIDRs" in str(getattr(lost[0], "details", "")) + msg and "already allocated to node" in str(msg)
    holder = (await store.get(guard.key_of("10.42.7.0/24")))
    assert holder is not None and holder.value.decode().startswith("n")


async def test_same_node_again_is_fine_and_its_undo_keeps_the_older_reservation(
        store: Store, ns: str) -> None:  # noqa: F811
    guard = PodCidrGuard(store, prefix=ns)
    undo, _ = await guard.prepare(node("a", "10.42.1.0/24"), None)
    assert len(undo) == 1
    again, _ = await guard.prepare(node("a", "10.42.1.0/24"), node("a"))  # a retried write of the same Node
    assert again == []
    undo2, _ = await guard.prepare(node("b", "10.42.2.0/24"), node("b"))
    await undo2[0]()  # the Node write failed: the reservation goes
    assert await store.get(guard.key_of("10.42.2.0/24")) is None
    assert await store.get(guard.key_of("10.42.1.0/24")) is not None


async def test_a_range_never_changes_and_is_free_again_after_delete(store: Store, ns: str) -> None:  # noqa: F811
    guard = PodCidrGuard(store, prefix=ns)
    await guard.prepare(node("a", "10.42.1.0/24"), node("a"))
    with pytest.raises(ApiError) as e:
        await guard.prepare(node("a", "10.42.9.0/24"), node("a", "10.42.1.0/24"))
    assert "may not change podCIDR" in str(e.value)
    with pytest.raises(ApiError):
        await guard.prepare(node("b", "10.42.1.0/24"), node("b"))
    await guard.release_all(node("a", "10.42.1.0/24"))
    await guard.prepare(node("b", "10.42.1.0/24"), node("b"))
    await guard.release_all(node("a", "10.42.1.0/24"))  # not a's any more: b keeps it
    holder = await store.get(guard.key_of("10.42.1.0/24"))
    assert holder is not None and holder.value == b"b"


async def test_repair_releases_orphans_and_reserves_what_nodes_hold(store: Store, ns: str) -> None:  # noqa: F811
    guard = PodCidrGuard(store, prefix=ns + "ranges/")
    nodes = ns + "nodes/"
    await store.create(nodes + "a", rawobj.encode_for_store(node("a", "10.42.1.0/24")))
    await store.create(nodes + "b", rawobj.encode_for_store(node("b")))
    await store.create(guard.key_of("10.42.5.0/24"), b"gone")  # a crash between two writes
    assert await guard.repair(nodes) == (1, 1)
    assert await store.get(guard.key_of("10.42.5.0/24")) is None
    kv = await store.get(guard.key_of("10.42.1.0/24"))
    assert kv is not None and kv.value == b"a"
    assert await guard.repair(nodes) == (0, 0)


async def test_repair_with_grace_spares_a_write_in_flight(store: Store, ns: str) -> None:  # noqa: F811
    """On a shared store another server's reservation may precede its Node by a moment: a repair with a
    grace period releases only what stayed orphaned and unchanged across it."""
    guard = PodCidrGuard(store, prefix=ns + "ranges/")
    nodes = ns + "nodes/"
    await store.create(guard.key_of("10.42.5.0/24"), b"gone")  # a crash between two writes
    await store.create(guard.key_of("10.42.6.0/24"), b"c")  # another server's Node write in flight

    async def the_other_server() -> None:
        await asyncio.sleep(0.1)
        await store.create(nodes + "c", rawobj.encode_for_store(node("c", "10.42.6.0/24")))

    released, _ = (await asyncio.gather(guard.repair(nodes, grace=0.4), the_other_server()))[0]
    assert released == 1
    assert await store.get(guard.key_of("10.42.5.0/24")) is None
    kv = await store.get(guard.key_of("10.42.6.0/24"))
    assert kv is not None and kv.value == b"c"
