"""Node pod CIDRs: one Node per range, enforced by the store.

The node IPAM controller picks a free range from what it sees, which two
controllers (two servers on one etcd) may see alike. So, as the Service
allocator does for ClusterIPs (``allocator.py``), every range a Node holds is
a reservation key in the store (``/registry/ranges/podcidrs/<ip>-<bits>``,
its value the Node's name) made with the store's atomic create before the Node
is written: the second Node to claim a range gets a 422 naming the field and
the holder, and its controller plans again. The reservation goes when the Node
is deleted; a repair pass at start-up releases reservations no Node holds and
makes those missing for Nodes that hold a range (a crash between two writes,
or Nodes written before the reservations existed). On a shared store it
releases only what stayed orphaned and unchanged across a grace period (a
reservation without its Node may be another server's write in flight), as
the Service allocator does.

A Node's ranges never change once set (upstream: ``node updates may not change
podCIDR except from "" to valid``): pods and routes on every machine use them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from shoal.apiserver import errors, rawobj
from shoal.store.base import ConflictError, KeyExistsError, NotFoundError, Store

log = logging.getLogger(__name__)

PREFIX = "/registry/ranges/podcidrs/"
Undo = Callable[[], Awaitable[None]]


def _held(node: dict[str, Any] | None) -> list[str]:
    """The Node's ranges, normalised (``10.42.1.7/24`` holds ``10.42.1.0/24``); unreadable ones hold nothing."""
    spec = (node or {}).get("spec") or {}
    raw = spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    out = []
    for c in raw:
        with contextlib.suppress(ValueError, TypeError):
            out.append(str(ipaddress.ip_network(c, strict=False)))
    return out


class PodCidrGuard:
    """The hooks the Node REST storage calls around writes (the Service allocator's shape)."""

    def __init__(self, store: Store, *, prefix: str = PREFIX) -> None:
        self.store = store
        self.prefix = prefix

    def key_of(self, cidr: str) -> str:
        return self.prefix + cidr.replace("/", "-")

    async def _holder(self, key: str) -> str | None:
        kv = await self.store.get(key)
        return None if kv is None else kv.value.decode(errors="replace")

    async def _reserve(self, node: str, cidr: str) -> Undo | None:
        """Reserve ``cidr`` for ``node``: the undo action if this call made the reservation, None if
        ``node`` already held it; a 422 if another Node does."""
        key = self.key_of(cidr)
        try:
            await self.store.create(key, node.encode())
        except KeyExistsError:
            holder = await self._holder(key)
            if holder == node:
                return None
            shown = msgspec.json.encode(cidr).decode()
            raise errors.invalid("Node", node, [{
                "reason": "FieldValueInvalid", "field": "spec.podCIDRs",
                "message": f"Invalid value: {shown}: failed to allocate {cidr}: "
                           f"already allocated to node {holder!r}"}]) from None

        async def undo() -> None:
            await self._release(key, node)
        return undo

    async def _release(self, key: str, node: str) -> None:
        if await self._holder(key) == node:
            with contextlib.suppress(NotFoundError):
                await self.store.delete(key)

    async def prepare(self, node: dict[str, Any], old: dict[str, Any] | None) -> tuple[list[Undo], list[str]]:
        name = str((node.get("metadata") or {}).get("name") or "")
        new, before = _held(node), _held(old)
        if before and new != before:
            raise errors.invalid("Node", name, [{
                "reason": "FieldValueForbidden", "field": "spec.podCIDRs",
                "message": 'Forbidden: node updates may not change podCIDR except from "" to valid'}])
        undo: list[Undo] = []
        try:
            for cidr in new:
                if cidr in before:
                    continue
                u = await self._reserve(name, cidr)
                if u is not None:
                    undo.append(u)
        except BaseException:
            for u in undo:
                await u()
            raise
        return undo, []

    async def release_all(self, node: dict[str, Any]) -> None:
        name = str((node.get("metadata") or {}).get("name") or "")
        for cidr in _held(node):
            await self._release(self.key_of(cidr), name)

    async def release_keys(self, keys: list[str]) -> None:  # ranges never change, so nothing to release
        return None

    async def _scan(self, nodes_prefix: str) -> tuple[dict[str, str], dict[str, tuple[str, int]]]:
        """(reservation key -> the Node that holds its range, reservation key -> (holder, mod_revision))."""
        kvs, _, _ = await self.store.list(nodes_prefix)
        want: dict[str, str] = {}
        for kv in kvs:
            obj = rawobj.decode(kv.value)
            for cidr in _held(obj):
                want.setdefault(self.key_of(cidr), str(obj["metadata"]["name"]))
        res, _, _ = await self.store.list(self.prefix)
        return want, {kv.key: (kv.value.decode(errors="replace"), kv.mod_revision) for kv in res}

    async def repair(self, nodes_prefix: str, *, grace: float = 0.0) -> tuple[int, int]:
        """Release reservations no Node holds and make those missing; (released, made). With ``grace``, a
        reservation is released only if orphaned and unchanged across it (see the module docstring)."""
        want, have = await self._scan(nodes_prefix)
        orphans = {key: rev for key, (holder, rev) in have.items() if want.get(key) != holder}
        if grace > 0 and orphans:
            await asyncio.sleep(grace)
            want, have = await self._scan(nodes_prefix)
            orphans = {key: rev for key, rev in orphans.items()
                       if key in have and have[key][1] == rev and want.get(key) != have[key][0]}
        released = made = 0
        for key, rev in orphans.items():
            with contextlib.suppress(NotFoundError, ConflictError):
                await self.store.delete(key, expected_revision=rev)
                released += 1
                have.pop(key, None)
        for key, node in want.items():
            if have.get(key, ("", 0))[0] != node:
                with contextlib.suppress(KeyExistsError):
                    await self.store.create(key, node.encode())
                    made += 1
        if released or made:
            log.info("pod CIDR reservations: released %d held by no Node, made %d missing", released, made)
        return released, made
