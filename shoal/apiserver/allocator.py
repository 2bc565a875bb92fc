"""Service ClusterIPs and NodePorts: allocated on create, released on delete.

Each allocated address is a reservation key in the store
(``/registry/ranges/serviceips/<ip>``, ``/registry/ranges/servicenodeports/<port>``)
created with the store's atomic create, so two API servers on one etcd can
never hand out the same address. A reservation is made before the Service is
written and released if that write fails; a repair pass at start-up releases
reservations whose Service is gone (a crash between the two writes). On a
store other servers share, a reservation without its Service may be another
server's create in flight, so there the pass releases only what was orphaned,
unchanged (same mod_revision, deleted by compare-and-swap), across a grace
period longer than any request takes.

A requested address that is out of range or taken is a 422 naming the field,
as upstream: ``spec.clusterIPs: Invalid value: ["10.43.0.5"]: failed to
allocate IP 10.43.0.5: provided IP is already allocated``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from shoal.apiserver import errors, rawobj
from shoal.store.base import ConflictError, KeyExistsError, NotFoundError, Store

log = logging.getLogger(__name__)

IP_PREFIX = "/registry/ranges/serviceips/"
PORT_PREFIX = "/registry/ranges/servicenodeports/"
NODE_PORT_RANGE = (30000, 32767)
DNS_OFFSET = 10  # 10.43.0.10: the cluster DNS service, as k3s
Undo = Callable[[], Awaitable[None]]


def _invalid(name: str, field: str, value: Any, msg: str) -> errors.ApiError:
    shown = msgspec.json.encode(value).decode()
    return errors.invalid("Service", name, [{"reason": "FieldValueInvalid", "field": field,
                                             "message": f"Invalid value: {shown}: {msg}"}])


class ServiceAllocator:
    """The Service strategy's ``KeyAllocator``: reservations made before a write, released after."""

    def __init__(self, store: Store, *, service_cidr: str = "10.43.0.0/16",
                 node_port_range: tuple[int, int] = NODE_PORT_RANGE) -> None:
        self.store = store
        self.net = ipaddress.ip_network(service_cidr, strict=False)
        self.ports = node_port_range
        # first and last addresses are not handed out; .1 is the API's own service, .10 the DNS
        self._first = int(self.net.network_address) + 1
        self._last = int(self.net.broadcast_address) - 1
        self.dns_ip = str(self.net.network_address + DNS_OFFSET)

    # ---- primitives -----------------------------------------------------------------
    async def _reserve(self, key: str, owner: str) -> bool:
        try:
            await self.store.create(key, owner.encode())
            return True
        except KeyExistsError:
            return False

    async def _release(self, key: str) -> None:
        with contextlib.suppress(NotFoundError):
            await self.store.delete(key)

    async def allocate_ip(self, name: str, owner: str, requested: str | None) -> tuple[str, Undo]:
        if requested:
            try:
                ip = ipaddress.ip_address(requested)
            except ValueError:
                raise _invalid(name, "spec.clusterIPs", [requested], "must be a valid IP address") from None
            if ip not in self.net:
                raise _invalid(name, "spec.clusterIPs", [requested],
                               f"failed to allocate IP {requested}: the provided IP ({requested}) is not in the "
                               f"valid range. The range of valid IPs is {self.net}")
            if not await self._reserve(IP_PREFIX + requested, owner):
                raise _invalid(name, "spec.clusterIPs", [requested],
                               f"failed to allocate IP {requested}: provided IP is already allocated")
            return requested, self._undo(IP_PREFIX + requested)
        size = self._last - self._first + 1
        start = random.randrange(size)
        for i in range(min(size, 4096)):
            n = self._first + (start + i) % size
            candidate = str(ipaddress.ip_address(n))
            if candidate == self.dns_ip:
                continue
            if await self._reserve(IP_PREFIX + candidate, owner):
                return candidate, self._undo(IP_PREFIX + candidate)
        raise errors.ApiError(500, "InternalError", "failed to allocate a serviceIP: range is full")

    async def allocate_port(self, name: str, owner: str, field: str, requested: int | None) -> tuple[int, Undo]:
        lo, hi = self.ports
        if requested:
            if not lo <= requested <= hi:
                raise _invalid(name, field, requested, f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}")
            if not await self._reserve(PORT_PREFIX + str(requested), owner):
                raise _invalid(name, field, requested, "provided port is already allocated")
            return requested, self._undo(PORT_PREFIX + str(requested))
        size = hi - lo + 1
        start = random.randrange(size)
        for i in range(size):
            p = lo + (start + i) % size
            if await self._reserve(PORT_PREFIX + str(p), owner):
                return p, self._undo(PORT_PREFIX + str(p))
        raise errors.ApiError(500, "InternalError", "failed to allocate a nodePort: range is full")

    def _undo(self, key: str) -> Undo:
        async def undo() -> None:
            await self._release(key)
        return undo

    # ---- what a Service holds ------------------------------------------------------------
    @staticmethod
    def held(svc: dict[str, Any]) -> tuple[set[str], set[int]]:
        spec = svc.get("spec") or {}
        ips = {ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip and ip != "None"}
        ports = {int(p["nodePort"]) for p in spec.get("ports") or [] if p.get("nodePort")}
        return ips, ports

    async def prepare(self, svc: dict[str, Any], old: dict[str, Any] | None) -> tuple[list[Undo], list[str]]:
        """Fill in clusterIP(s) and nodePorts; return undo actions and keys to release after the write."""
        spec = svc.setdefault("spec", {})
        md = svc.get("metadata") or {}
        name = md.get("name", "")
        owner = f"{md.get('namespace')}/{name}"
        typ = spec.get("type") or "ClusterIP"
        undo: list[Undo] = []
        old_ips, old_ports = self.held(old) if old else (set(), set())
        try:
            if typ == "ExternalName":
                spec.pop("clusterIP", None)
                spec.pop("clusterIPs", None)
            else:
                want = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
                if want == "None":
                    spec["clusterIP"] = "None"
                    spec["clusterIPs"] = ["None"]
                elif want and want in old_ips:
                    spec["clusterIP"], spec["clusterIPs"] = want, [want]
                elif old and old_ips and not want:
                    keep = sorted(old_ips)[0]
                    spec["clusterIP"], spec["clusterIPs"] = keep, [keep]
                else:
                    ip, u = await self.allocate_ip(name, owner, want)
                    undo.append(u)
                    spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            wants_node_ports = typ in ("NodePort", "LoadBalancer")
            for i, p in enumerate(spec.get("ports") or []):
                np_ = p.get("nodePort")
                if not wants_node_ports:
                    if np_ and not old_ports:
                        raise _invalid(name, f"spec.ports[{i}].nodePort", np_,
                                       "may not be used when `type` is 'ClusterIP'")
                    p.pop("nodePort", None)
                    continue
                if np_ and int(np_) in old_ports:
                    continue
                port, u = await self.allocate_port(name, owner, f"spec.ports[{i}].nodePort", np_)
                undo.append(u)
                p["nodePort"] = port
        except BaseException:
            for u in undo:
                await u()
            raise
        new_ips, new_ports = self.held(svc)
        release = [IP_PREFIX + ip for ip in old_ips - new_ips] + [PORT_PREFIX + str(p) for p in old_ports - new_ports]
        return undo, release

    async def release_all(self, svc: dict[str, Any]) -> None:
        ips, ports = self.held(svc)
        for ip in ips:
            await self._release(IP_PREFIX + ip)
        for p in ports:
            await self._release(PORT_PREFIX + str(p))

    async def release_keys(self, keys: list[str]) -> None:
        for k in keys:
            await self._release(k)

    async def _orphans(self, services_prefix: str) -> dict[str, int]:
        """Reservations no Service holds: key -> mod_revision."""
        kvs, _, _ = await self.store.list(services_prefix)
        held_ips: set[str] = set()
        held_ports: set[int] = set()
        for kv in kvs:
            ips, ports = self.held(rawobj.decode(kv.value))
            held_ips |= ips
            held_ports |= ports
        out: dict[str, int] = {}
        for prefix, held in ((IP_PREFIX, {str(i) for i in held_ips}), (PORT_PREFIX, {str(p) for p in held_ports})):
            res, _, _ = await self.store.list(prefix)
            out.update({kv.key: kv.mod_revision for kv in res if kv.key[len(prefix):] not in held})
        return out

    async def repair(self, services_prefix: str, *, grace: float = 0.0) -> int:
        """Release reservations no Service holds (left by a crash between two writes); with ``grace``,
        only those orphaned and unchanged across it (see the module docstring)."""
        orphans = await self._orphans(services_prefix)
        if grace > 0 and orphans:
            await asyncio.sleep(grace)
            again = await self._orphans(services_prefix)
            orphans = {k: rev for k, rev in orphans.items() if again.get(k) == rev}
        freed = 0
        for key, rev in orphans.items():
            with contextlib.suppress(NotFoundError, ConflictError):
                await self.store.delete(key, expected_revision=rev)
                freed += 1
        if freed:
            log.info("released %d service address reservations held by no Service", freed)
        return freed
