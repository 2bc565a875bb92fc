"""Table tests for the overlay's plan: Nodes in, routes / neighbours / forwarding entries out. No I/O.

Also the pieces around it: reading a Node, the diff against the kernel, the iproute2 batches, parsing
``ip -j``/``bridge -j`` output (as iproute2 6.1 prints it), and which entries each backend plans.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from shoal.network import overlay
from shoal.network.backends import HostGwBackend, NoBackend, VxlanBackend, make_backend
from shoal.network.netlink import Underlay
from shoal.network.overlay import (
    Entries,
    Fdb,
    Neigh,
    NodeNet,
    Route,
    diff,
    node_net,
    plan_host_gw,
    plan_vxlan,
)

DEV = "shoal.1"
MAC_B, MAC_C = "02:00:00:00:00:0b", "02:00:00:00:00:0c"


def nn(name: str, cidr: str | None, ip: str, backend: str = "vxlan", mac: str = "") -> NodeNet:
    return NodeNet(name, (ipaddress.IPv4Network(cidr),) if cidr else (), ip, backend, mac)


A = nn("a", "10.42.0.0/24", "192.168.9.1")
B = nn("b", "10.42.1.0/24", "192.168.9.2", mac=MAC_B)
C = nn("c", "10.42.2.0/24", "192.168.9.3", mac=MAC_C)


def vx_b() -> tuple[set[Route], set[Neigh], set[Fdb]]:
    return ({Route("10.42.1.0/24", "10.42.1.0", DEV, True)}, {Neigh("10.42.1.0", MAC_B, DEV)},
            {Fdb(MAC_B, "192.168.9.2", DEV)})


@pytest.mark.parametrize(("nodes", "routes", "peers", "skipped"), [
    ([A], set(), (), ()),  # alone: nothing
    ([A, B], {Route("10.42.1.0/24", "10.42.1.0", DEV, True)}, ("b",), ()),
    ([A, B, C], {Route("10.42.1.0/24", "10.42.1.0", DEV, True), Route("10.42.2.0/24", "10.42.2.0", DEV, True)},
     ("b", "c"), ()),
    ([A, nn("b", None, "192.168.9.2", mac=MAC_B)], set(), (), (("b", "no pod CIDR yet"),)),
    ([A, nn("b", "10.42.1.0/24", "192.168.9.2")], set(), (), (("b", "no VTEP MAC published yet"),)),
    ([A, nn("b", "10.42.1.0/24", "", mac=MAC_B)], set(), (), (("b", "no underlay address published"),)),
    ([A, nn("b", "10.42.1.0/24", "192.168.9.1", mac=MAC_B)], set(), (),
     (("b", "on this machine: its pods are on the same bridge"),)),
    ([A, nn("b", "10.42.1.0/24", "192.168.9.2", backend="host-gw", mac=MAC_B)], set(), (),
     (("b", "its backend is host-gw, not vxlan"),)),
])
def test_vxlan_plan(nodes: list[NodeNet], routes: set[Route], peers: tuple[str, ...],
                    skipped: tuple[tuple[str, str], ...]) -> None:
    plan = plan_vxlan(A, nodes, device=DEV)
    assert set(plan.entries.routes) == routes and plan.peers == peers and plan.skipped == skipped
    # one neighbour entry per route's gateway and one forwarding entry per peer, naming its MAC and address
    assert {n.ip for n in plan.entries.neighs} == {r.via for r in routes}
    assert {(f.mac, f.dst) for f in plan.entries.fdb} == {(n.vtep_mac, n.public_ip) for n in nodes
                                                          if n.name in peers}


def test_vxlan_entries_of_one_peer() -> None:
    routes, neighs, fdb = vx_b()
    assert plan_vxlan(A, [A, B], device=DEV).entries == Entries(frozenset(routes), frozenset(neighs), frozenset(fdb))


SEGMENT = ipaddress.IPv4Network("192.168.9.0/24")


@pytest.mark.parametrize(("peer", "routes", "why"), [
    (nn("b", "10.42.1.0/24", "192.168.9.2", "host-gw"), {Route("10.42.1.0/24", "192.168.9.2", "eth0")}, None),
    (nn("b", "10.42.1.0/24", "192.168.7.2", "host-gw"), set(),
     "192.168.7.2 is not on this node's segment 192.168.9.0/24: host-gw needs one L2 segment (use vxlan)"),
    (nn("b", "10.42.1.0/24", "192.168.9.2", "vxlan"), set(), "its backend is vxlan, not host-gw"),
])
def test_host_gw_plan(peer: NodeNet, routes: set[Route], why: str | None) -> None:
    plan = plan_host_gw(A, [A, peer], device="eth0", segment=SEGMENT)
    assert set(plan.entries.routes) == routes and not plan.entries.neighs and not plan.entries.fdb
    assert plan.skipped == ((("b", why),) if why else ())


def test_a_node_leaving_removes_exactly_its_entries() -> None:
    before = plan_vxlan(A, [A, B, C], device=DEV).entries
    after = plan_vxlan(A, [A, C], device=DEV).entries
    add, remove = diff(before, after)
    routes, neighs, fdb = vx_b()
    assert not add and remove == Entries(frozenset(routes), frozenset(neighs), frozenset(fdb))
    # and applying the plan twice changes nothing (the executor is idempotent)
    assert diff(after, after) == (Entries(), Entries())


def test_a_peer_with_a_new_mac_is_replaced() -> None:
    moved = nn("b", "10.42.1.0/24", "192.168.9.5", mac="02:00:00:00:00:ff")
    add, remove = diff(plan_vxlan(A, [A, B], device=DEV).entries, plan_vxlan(A, [A, moved], device=DEV).entries)
    assert not add.routes and not remove.routes  # the route stays; its neighbour and fdb entries change
    batch = overlay.ip_batch(add, remove)
    assert batch.splitlines() == ["neigh del 10.42.1.0 dev shoal.1",
                                  "neigh replace 10.42.1.0 lladdr 02:00:00:00:00:ff dev shoal.1 nud permanent"]
    assert overlay.fdb_batch(add, remove).splitlines() == [
        "fdb del 02:00:00:00:00:0b dev shoal.1 dst 192.168.9.2 self",
        "fdb replace 02:00:00:00:00:ff dev shoal.1 dst 192.168.9.5 self permanent"]


def test_batches_delete_first_and_tag_routes() -> None:
    routes, neighs, fdb = vx_b()
    add = Entries(frozenset(routes), frozenset(neighs), frozenset(fdb))
    gone = Entries(frozenset({Route("10.42.7.0/24", "192.168.9.7", "eth0")}))
    assert overlay.ip_batch(add, gone).splitlines() == [
        "route del 10.42.7.0/24 via 192.168.9.7 dev eth0 proto 83",
        "neigh replace 10.42.1.0 lladdr 02:00:00:00:00:0b dev shoal.1 nud permanent",
        "route replace 10.42.1.0/24 via 10.42.1.0 dev shoal.1 onlink proto 83"]


def node(name: str, *, cidr: str | None = None, ann: dict[str, str] | None = None,
         address: str | None = None) -> dict[str, Any]:
    n: dict[str, Any] = {"metadata": {"name": name, "annotations": ann or {}},
                         "spec": {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}}
    if address:
        n["status"] = {"addresses": [{"type": "InternalIP", "address": address}]}
    return n


@pytest.mark.parametrize(("obj", "want"), [
    (node("b", cidr="10.42.1.0/24", ann=overlay.published("vxlan", "192.168.9.2", {"VNI": 1, "VtepMAC": MAC_B})),
     nn("b", "10.42.1.0/24", "192.168.9.2", "vxlan", MAC_B)),
    # no annotation: the InternalIP stands in for the underlay address
    (node("b", cidr="10.42.1.0/24", address="192.168.9.2"), nn("b", "10.42.1.0/24", "192.168.9.2", "")),
    # what cannot be read is left empty, so the node is skipped rather than breaking the plan
    (node("b", cidr="nope", ann={overlay.ANNOTATION_PUBLIC_IP: "x", overlay.ANNOTATION_BACKEND_DATA: "{",
                                 overlay.ANNOTATION_BACKEND: "vxlan"}), nn("b", None, "", "vxlan")),
    (node("b", ann={overlay.ANNOTATION_BACKEND_DATA: json.dumps({"VtepMAC": "not-a-mac"})}), nn("b", None, "", "")),
])
def test_node_view(obj: dict[str, Any], want: NodeNet) -> None:
    assert node_net(obj) == want


def test_parse_what_iproute2_prints() -> None:
    routes = overlay.parse_routes([{"dst": "10.42.1.0/24", "gateway": "10.42.1.0", "dev": "shoal.1",
                                    "flags": ["onlink"]}, {"dst": "default", "dev": "eth0"},
                                   {"dst": "10.42.9.9", "gateway": "192.168.9.9", "dev": "eth0", "flags": []}])
    assert routes == {Route("10.42.1.0/24", "10.42.1.0", "shoal.1", True), Route("10.42.9.9/32", "192.168.9.9", "eth0")}
    neighs = overlay.parse_neighs([{"dst": "10.42.1.0", "lladdr": "02:11:22:33:44:55", "state": ["PERMANENT"]},
                                   {"dst": "10.42.2.0", "lladdr": "02:11:22:33:44:66", "state": ["REACHABLE"]}], DEV)
    assert neighs == {Neigh("10.42.1.0", "02:11:22:33:44:55", DEV)}  # only permanent entries are shoal's
    fdb = overlay.parse_fdb([{"mac": "02:11:22:33:44:55", "dst": "192.168.250.2", "flags": ["self"],
                              "state": "permanent"}, {"mac": "33:33:00:00:00:01", "flags": ["self"],
                                                       "state": "permanent"}], DEV)
    assert fdb == {Fdb("02:11:22:33:44:55", "192.168.250.2", DEV)}


UNDER = Underlay("eth0", 1500, ipaddress.IPv4Network("192.168.9.0/24"), "192.168.9.1")


@pytest.mark.parametrize(("name", "under", "kind", "mtu"), [
    ("vxlan", UNDER, VxlanBackend, 1450),  # MTU = underlay's - 50
    ("host-gw", UNDER, HostGwBackend, 1500),
    ("none", UNDER, NoBackend, 1500),
    ("vxlan", None, NoBackend, None),  # no underlay: nothing to build on
])
def test_backends(name: str, under: Underlay | None, kind: type, mtu: int | None) -> None:
    b = make_backend(name, under)
    assert isinstance(b, kind)
    if mtu is not None:
        assert overlay.pod_mtu(UNDER.mtu, b.name) == mtu
    with pytest.raises(ValueError, match="unknown network backend"):
        make_backend("wireguard", UNDER)


def test_vxlan_backend_plans_on_its_device() -> None:
    b = VxlanBackend(UNDER, vni=1)
    assert b.device == "shoal.1" and b.plan(A, [A, B]).entries.fdb == {Fdb(MAC_B, "192.168.9.2", "shoal.1")}
    assert HostGwBackend(UNDER).plan(A, [A, nn("b", "10.42.1.0/24", "192.168.9.2", "host-gw")]).entries.routes == {
        Route("10.42.1.0/24", "192.168.9.2", "eth0")}
