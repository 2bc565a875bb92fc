"""Several clusters on one machine: whose nftables tables are whose, and when a second cluster must not start.

Two shoal clusters on one machine (a test cluster beside a dev cluster) each
run a service proxy that routes its service CIDR locally and DNATs its VIPs,
and a cluster DNS on the CIDR's ``.10`` address. If their service CIDRs
overlap, their VIPs are the same addresses (``10.43.0.1`` is every default
cluster's ``kubernetes`` Service) and whichever table's rule the kernel meets
first answers; the first DNS to bind the address answers both clusters' pods.
No sharing can make that right, so a node refuses to start its network when a
live table of another cluster on this machine serves an overlapping CIDR, and
says which cluster and what to change (``--service-cidr``). A second cluster
with a service CIDR of its own gets its own VIPs and its own DNS address.

So the tables carry their owner: the cluster's ID is in each table's name
(``shoal_<id8>_<node>``, ``nftrules.table_name``) and, with the service CIDR
and the owning process, in its comment (``shoal service-cidr 10.43.0.0/16
cluster <uuid> pid 123``). A table whose process is gone (a server killed
with SIGKILL leaves its table) belongs to nobody: it is no reason to refuse,
and it is removed, so its stale rules stop answering the VIPs. Tables
without a cluster (made before tables carried one, or by a tool) are left
alone.

The decision (``conflicts``) is pure; listing the tables and asking whether a
process lives are the caller's I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

_COMMENT = re.compile(r"^shoal service-cidr (?P<cidr>\S+)(?: cluster (?P<cluster>\S+) pid (?P<pid>\d+))?$")


class NetworkConflict(Exception):
    """This node's network would answer for (or be answered by) another cluster's on this machine."""


@dataclass(frozen=True, slots=True)
class TableOwner:
    """What a shoal table's comment says: the service CIDR it serves, its cluster and process."""

    cidr: str
    cluster_id: str = ""
    pid: int = 0


def comment(owner: TableOwner) -> str:
    base = f"shoal service-cidr {owner.cidr}"
    return f"{base} cluster {owner.cluster_id} pid {owner.pid}" if owner.cluster_id else base


def parse_comment(text: str) -> TableOwner | None:
    m = _COMMENT.match(text.strip())
    if m is None:
        return None
    return TableOwner(m["cidr"], m["cluster"] or "", int(m["pid"] or 0))


def _overlap(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_network(a, strict=False).overlaps(ipaddress.ip_network(b, strict=False))
    except (ValueError, TypeError):
        return False


@dataclass(frozen=True, slots=True)
class Verdict:
    """Live tables of other clusters this node collides with, and dead ones to remove."""

    conflicts: tuple[tuple[str, TableOwner], ...]
    stale: tuple[str, ...]


def conflicts(tables: dict[str, TableOwner], *, cidr: str, cluster_id: str,
              alive: Callable[[int], bool]) -> Verdict:
    """Which of the machine's shoal tables (name -> owner) stop this cluster (``cluster_id``, serving ``cidr``)
    from starting its network, and which are left by processes that are gone (of another cluster)."""
    found: list[tuple[str, TableOwner]] = []
    stale: list[str] = []
    if not cluster_id:
        return Verdict((), ())
    for name, owner in sorted(tables.items()):
        if not owner.cluster_id or owner.cluster_id == cluster_id:
            continue
        if owner.pid and not alive(owner.pid):
            stale.append(name)
        elif _overlap(owner.cidr, cidr):
            found.append((name, owner))
    return Verdict(tuple(found), tuple(stale))


def conflict_message(found: tuple[tuple[str, TableOwner], ...], *, cidr: str, dns_ip: str) -> str:
    name, owner = found[0]
    return (f"the service CIDR {cidr} (and its cluster DNS address {dns_ip}) is already served on this machine by "
            f"another cluster, {owner.cluster_id} (process {owner.pid}, nft table ip {name}, service CIDR "
            f"{owner.cidr}); two clusters on one machine need service CIDRs of their own: start this one with "
            f"another --service-cidr (e.g. {suggest(owner.cidr)})")


def suggest(taken: str) -> str:
    """A /16 beside ``taken`` (10.43.0.0/16 -> 10.44.0.0/16), for the message."""
    try:
        net = ipaddress.IPv4Network(taken, strict=False)
    except (ValueError, TypeError):
        return "10.44.0.0/16"
    return f"{ipaddress.IPv4Address((((int(net.network_address) >> 16) + 1) & 0xFFFF) << 16)}/16"
