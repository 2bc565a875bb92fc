"""The cluster network between machines, as data: Nodes in, forwarding entries out. Pure.

Every node's pods live in its own pod CIDR (``spec.podCIDR``, from node IPAM)
behind its bridge. For a pod on one machine to reach a pod on another, every
node keeps, per other node, what flannel keeps:

* ``vxlan`` (the default; kernel VXLAN, VNI 1, UDP 8472, as flannel): a route
  ``<peer podCIDR> via <peer podCIDR>.0 dev shoal.1 onlink``, a permanent
  neighbour entry ``<peer podCIDR>.0 lladdr <peer VTEP MAC>`` and a forwarding
  entry ``<peer VTEP MAC> dst <peer underlay address>`` on the VXLAN device.
  Nothing is learned or flooded: a packet to a node not (yet) known is dropped;
* ``host-gw`` (nodes on one L2 segment, no encapsulation): a route
  ``<peer podCIDR> via <peer underlay address>`` on the underlay device; a peer
  outside this node's segment cannot be reached so and is skipped, with why;
* ``none``: nothing (a single machine, or routes made by someone else).

Each node publishes what the others need on its Node, under ``shoal.io/``
names: ``network-backend``, ``network-public-ip`` (the underlay address) and
``network-backend-data`` (``{"VNI": 1, "VtepMAC": "..."}``, flannel's JSON).
Not flannel's own annotation names: no test here runs a real flannel, so
claiming its names would promise a wire compatibility nothing checks, and a
cluster that does run flannel would have two writers of one annotation.

A node on the same underlay address as this one is on this machine (two agents
in one network namespace share its bridge), so it needs no entries. The plan is
``plan(backend, local, nodes)``; ``diff`` compares it with what the kernel has
(the executor reads only what shoal owns: routes of protocol ``ROUTE_PROTO``,
permanent entries on its own VXLAN device), and ``ip_batch``/``fdb_batch`` turn
the difference into iproute2 batches: deletions first, then additions.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.api import views
from shoal.api.views import Body, name, node_address, pod_cidrs

ANNOTATION_BACKEND = "shoal.io/network-backend"
ANNOTATION_PUBLIC_IP = "shoal.io/network-public-ip"
ANNOTATION_BACKEND_DATA = "shoal.io/network-backend-data"
ROUTE_PROTO = 83  # the routes shoal owns carry this protocol number (iproute2's "proto 83"); no one else's
VXLAN_OVERHEAD = 50  # outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14


def vxlan_device(vni: int) -> str:
    return f"shoal.{vni}"


@dataclass(frozen=True, slots=True)
class NodeNet:
    """What the network of one Node tells the others."""

    name: str
    cidrs: tuple[ipaddress.IPv4Network, ...] = ()
    public_ip: str = ""
    backend: str = ""
    vtep_mac: str = ""


def _ipv4(value: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value))
    except ValueError:
        return ""


def _mac(value: object) -> str:
    text = str(value or "").lower()
    parts = text.split(":")
    ok = len(parts) == 6 and all(len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts)
    return text if ok else ""


def node_net(node: Body) -> NodeNet:
    """The view of a Node the plan needs; what is unreadable is left empty (and the node skipped)."""
    ann = views.annotations(node)
    cidrs = []
    for c in pod_cidrs(node):
        try:
            net = ipaddress.ip_network(c, strict=False)
        except ValueError:
            continue
        if isinstance(net, ipaddress.IPv4Network):
            cidrs.append(net)
    public = _ipv4(ann.get(ANNOTATION_PUBLIC_IP, "")) or _ipv4(node_address(node))
    mac = ""
    try:
        data = json.loads(ann.get(ANNOTATION_BACKEND_DATA) or "{}")
        if isinstance(data, dict):
            mac = _mac(data.get("VtepMAC"))
    except ValueError:
        pass
    return NodeNet(name(node), tuple(cidrs), public, ann.get(ANNOTATION_BACKEND, ""), mac)


def published(backend: str, public_ip: str, data: dict[str, Any] | None) -> dict[str, str]:
    """The annotations a node publishes about its own network."""
    out = {ANNOTATION_BACKEND: backend, ANNOTATION_PUBLIC_IP: public_ip}
    if data is not None:
        out[ANNOTATION_BACKEND_DATA] = json.dumps(data, separators=(",", ":"), sort_keys=True)
    return out


# ---- entries ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, order=True)
class Route:
    dst: str
    via: str
    dev: str
    onlink: bool = False


@dataclass(frozen=True, slots=True, order=True)
class Neigh:
    ip: str
    mac: str
    dev: str


@dataclass(frozen=True, slots=True, order=True)
class Fdb:
    mac: str
    dst: str
    dev: str


@dataclass(frozen=True, slots=True)
class Entries:
    routes: frozenset[Route] = frozenset()
    neighs: frozenset[Neigh] = frozenset()
    fdb: frozenset[Fdb] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.routes or self.neighs or self.fdb)

    def __sub__(self, other: Entries) -> Entries:
        return Entries(self.routes - other.routes, self.neighs - other.neighs, self.fdb - other.fdb)


@dataclass(frozen=True, slots=True)
class Plan:
    entries: Entries = field(default_factory=Entries)
    peers: tuple[str, ...] = ()  # nodes reached through this node's entries
    skipped: tuple[tuple[str, str], ...] = ()  # (node, why) for nodes that get no entries


def _remote(local: NodeNet, nodes: Iterable[NodeNet]) -> tuple[list[NodeNet], list[tuple[str, str]]]:
    peers, skipped = [], []
    for n in sorted(nodes, key=lambda x: x.name):
        if n.name == local.name:
            continue
        if not n.cidrs:
            skipped.append((n.name, "no pod CIDR yet"))
        elif not n.public_ip:
            skipped.append((n.name, "no underlay address published"))
        elif n.public_ip == local.public_ip:
            skipped.append((n.name, "on this machine: its pods are on the same bridge"))
        else:
            peers.append(n)
    return peers, skipped


def plan_vxlan(local: NodeNet, nodes: Iterable[NodeNet], *, device: str) -> Plan:
    peers, skipped = _remote(local, nodes)
    routes: set[Route] = set()
    neighs: set[Neigh] = set()
    fdb: set[Fdb] = set()
    reached: list[str] = []
    for p in peers:
        if p.backend != "vxlan":
            skipped.append((p.name, f"its backend is {p.backend or 'not published yet'}, not vxlan"))
            continue
        if not p.vtep_mac:
            skipped.append((p.name, "no VTEP MAC published yet"))
            continue
        for cidr in p.cidrs:
            gw = str(cidr.network_address)
            routes.add(Route(str(cidr), gw, device, onlink=True))
            neighs.add(Neigh(gw, p.vtep_mac, device))
        fdb.add(Fdb(p.vtep_mac, p.public_ip, device))
        reached.append(p.name)
    return Plan(Entries(frozenset(routes), frozenset(neighs), frozenset(fdb)), tuple(reached), tuple(skipped))


def plan_host_gw(local: NodeNet, nodes: Iterable[NodeNet], *, device: str,
                 segment: ipaddress.IPv4Network | None) -> Plan:
    """Routes through the peers' underlay addresses, which must be on this node's segment."""
    peers, skipped = _remote(local, nodes)
    routes: set[Route] = set()
    reached: list[str] = []
    for p in peers:
        if p.backend != "host-gw":
            skipped.append((p.name, f"its backend is {p.backend or 'not published yet'}, not host-gw"))
            continue
        if segment is None or ipaddress.IPv4Address(p.public_ip) not in segment:
            skipped.append((p.name, f"{p.public_ip} is not on this node's segment {segment}: host-gw needs one L2 "
                                    "segment (use vxlan)"))
            continue
        routes.update(Route(str(c), p.public_ip, device) for c in p.cidrs)
        reached.append(p.name)
    return Plan(Entries(frozenset(routes)), tuple(reached), tuple(skipped))


def diff(current: Entries, desired: Entries) -> tuple[Entries, Entries]:
    """(to add, to remove): what the kernel lacks and what it has that the plan no longer wants."""
    return desired - current, current - desired


# ---- iproute2 batches ------------------------------------------------------------------------
def ip_batch(add: Entries, remove: Entries) -> str:
    """Routes and neighbour entries: deletions first (routes before the neighbours they use), then additions."""
    lines = [f"route del {r.dst} via {r.via} dev {r.dev} proto {ROUTE_PROTO}" for r in sorted(remove.routes)]
    lines += [f"neigh del {n.ip} dev {n.dev}" for n in sorted(remove.neighs)]
    lines += [f"neigh replace {n.ip} lladdr {n.mac} dev {n.dev} nud permanent" for n in sorted(add.neighs)]
    lines += [f"route replace {r.dst} via {r.via} dev {r.dev}{' onlink' if r.onlink else ''} proto {ROUTE_PROTO}"
              for r in sorted(add.routes)]
    return "".join(line + "\n" for line in lines)


def fdb_batch(add: Entries, remove: Entries) -> str:
    lines = [f"fdb del {f.mac} dev {f.dev} dst {f.dst} self" for f in sorted(remove.fdb)]
    lines += [f"fdb replace {f.mac} dev {f.dev} dst {f.dst} self permanent" for f in sorted(add.fdb)]
    return "".join(line + "\n" for line in lines)


# ---- reading what the kernel has (``ip -j`` / ``bridge -j`` output) ----------------------------
def parse_routes(data: Sequence[dict[str, Any]], default_dev: str = "") -> frozenset[Route]:
    out = set()
    for r in data:
        dst, via = str(r.get("dst") or ""), str(r.get("gateway") or "")
        if not dst or not via:
            continue
        if "/" not in dst:
            dst += "/32"
        out.add(Route(dst, via, str(r.get("dev") or default_dev), "onlink" in (r.get("flags") or [])))
    return frozenset(out)


def parse_neighs(data: Sequence[dict[str, Any]], dev: str) -> frozenset[Neigh]:
    return frozenset(Neigh(str(n["dst"]), _mac(n.get("lladdr")), dev) for n in data
                     if n.get("dst") and _mac(n.get("lladdr")) and "PERMANENT" in (n.get("state") or []))


def parse_fdb(data: Sequence[dict[str, Any]], dev: str) -> frozenset[Fdb]:
    return frozenset(Fdb(_mac(f.get("mac")), str(f["dst"]), dev) for f in data
                     if f.get("dst") and _mac(f.get("mac")) and f.get("state") == "permanent")


def pod_mtu(underlay_mtu: int, backend: str) -> int:
    """The MTU of pods' interfaces: the underlay's, less what the backend's encapsulation adds."""
    return underlay_mtu - (VXLAN_OVERHEAD if backend == "vxlan" else 0)
