"""The thin executor of the overlay: read what the kernel has, apply a difference. iproute2 only.

Everything here runs ``ip``/``bridge`` in the calling process's network
namespace (a test's "machine" is a namespace the agent was started in). What
to change is decided elsewhere (``overlay.diff``); this module only reads the
entries shoal owns (routes of protocol ``ROUTE_PROTO`` in the main table,
permanent neighbour and forwarding entries on its VXLAN device) and runs the
batches with ``-force``, so one refused line does not stop the rest: the next
pass reads the kernel again and retries what is still missing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from dataclasses import dataclass
from typing import Any

from shoal.network.overlay import (
    ROUTE_PROTO,
    Entries,
    fdb_batch,
    ip_batch,
    parse_fdb,
    parse_neighs,
    parse_routes,
)

log = logging.getLogger(__name__)


async def run(*cmd: str, stdin: str | None = None) -> tuple[int, str]:
    """Exit status and output (stdout and stderr together)."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    except OSError as e:
        return 127, str(e)
    out, _ = await proc.communicate(stdin.encode() if stdin is not None else None)
    return proc.returncode or 0, out.decode(errors="replace")


async def json_of(*cmd: str) -> list[dict[str, Any]]:
    rc, out = await run(*cmd)
    if rc != 0 or not out.strip():
        return []
    try:
        data = json.loads(out)
    except ValueError:
        return []
    return [d for d in data if isinstance(d, dict)] if isinstance(data, list) else []


@dataclass(frozen=True, slots=True)
class Underlay:
    """The interface that carries this node's address: the overlay's underlay."""

    dev: str
    mtu: int
    network: ipaddress.IPv4Network
    address: str


async def underlay(address: str) -> Underlay | None:
    """The interface holding ``address`` in this network namespace (None: not an address of this machine)."""
    for link in await json_of("ip", "-j", "-4", "addr", "show"):
        for a in link.get("addr_info") or []:
            if a.get("local") == address and a.get("family", "inet") == "inet":
                net = ipaddress.IPv4Network(f"{address}/{int(a.get('prefixlen') or 32)}", strict=False)
                return Underlay(str(link.get("ifname")), int(link.get("mtu") or 1500), net, address)
    return None


async def link(dev: str) -> dict[str, Any] | None:
    found = await json_of("ip", "-j", "-d", "link", "show", "dev", dev)
    return found[0] if found else None


async def current(vxlan_dev: str | None) -> Entries:
    """The entries shoal owns now: its routes, and on ``vxlan_dev`` (if it exists) its neighbours and fdb."""
    routes = parse_routes(await json_of("ip", "-j", "route", "show", "table", "main", "proto", str(ROUTE_PROTO)))
    if vxlan_dev is None or await link(vxlan_dev) is None:
        return Entries(routes)
    neighs = parse_neighs(await json_of("ip", "-j", "neigh", "show", "dev", vxlan_dev), vxlan_dev)
    fdb = parse_fdb(await json_of("bridge", "-j", "fdb", "show", "dev", vxlan_dev), vxlan_dev)
    return Entries(routes, neighs, fdb)


async def apply(add: Entries, remove: Entries) -> list[str]:
    """Run the difference; the lines the kernel refused (as iproute2 reported them)."""
    errors: list[str] = []
    fdb = fdb_batch(add, Entries(fdb=remove.fdb))
    ip = ip_batch(add, remove)
    # forwarding entries first: a route is usable at once only if its neighbour and fdb entries exist
    if add.fdb or remove.fdb:
        rc, out = await run("bridge", "-force", "-b", "-", stdin=fdb)
        if rc != 0:
            errors.append(out.strip())
    if ip:
        rc, out = await run("ip", "-force", "-b", "-", stdin=ip)
        if rc != 0:
            errors.append(out.strip())
    return errors
