"""Table tests for ``ipamplan``: which pod CIDR a Node gets, a full range, the start-up checks. No I/O."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from shoal.controllers import ipamplan
from shoal.controllers.ipamplan import (
    Assign,
    ClearUnavailable,
    MarkUnavailable,
    check_ranges,
    decide,
    parse_config,
)


def node(name: str, cidr: str | None = None, *, full: bool = False) -> dict[str, Any]:
    n: dict[str, Any] = {"metadata": {"name": name}, "spec": {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}}
    if full:
        n["status"] = {"conditions": [{"type": "NetworkUnavailable", "status": "True",
                                       "reason": ipamplan.REASON_FULL}]}
    return n


CFG = parse_config("10.42.0.0/16", 24)
SMALL = parse_config("10.42.0.0/23", 24)  # two ranges


@pytest.mark.parametrize(("cfg", "n", "others", "want"), [
    (CFG, node("a"), [], Assign("a", "10.42.0.0/24")),
    (CFG, node("a"), ["10.42.0.0/24", "10.42.2.0/24"], Assign("a", "10.42.1.0/24")),  # the lowest free one
    (CFG, node("a"), ["10.42.0.0/23"], Assign("a", "10.42.2.0/24")),  # a wider range held by hand covers two
    (CFG, node("a"), ["192.168.0.0/24", "garbage"], Assign("a", "10.42.0.0/24")),  # outside, unreadable: no matter
    (CFG, node("a"), ["10.42.0.7/24"], Assign("a", "10.42.1.0/24")),  # not normalised: still holds its range
    (CFG, node("a", "10.42.9.0/24"), [], None),  # has one: nothing to do
    (CFG, node("a", "10.42.9.0/24", full=True), [], ClearUnavailable("a")),  # got one later: clear the condition
    (SMALL, node("c"), ["10.42.0.0/24", "10.42.1.0/24"],
     MarkUnavailable("c", "no free /24 left in the cluster CIDR 10.42.0.0/23 (2 of 2 in use); "
                          "the node's pods have no addresses")),
    (SMALL, node("c", full=True), ["10.42.0.0/24", "10.42.1.0/24"], None),  # already said so
    (SMALL, node("c", full=True), ["10.42.0.0/24"], Assign("c", "10.42.1.0/24")),  # one was freed
])
def test_decide(cfg: ipamplan.IpamConfig, n: dict[str, Any], others: list[str], want: ipamplan.Action | None) -> None:
    assert decide(cfg, n, others) == want


def test_every_range_handed_out_once_until_full() -> None:
    cfg = parse_config("10.42.0.0/20", 24)
    held: list[str] = []
    for i in range(16):
        act = decide(cfg, node(f"n{i}"), held)
        assert isinstance(act, Assign)
        held.append(act.cidr)
    assert len(set(held)) == 16 and all(ipaddress.ip_network(c).subnet_of(cfg.cluster) for c in held)  # type: ignore[arg-type]
    assert isinstance(decide(cfg, node("n16"), held), MarkUnavailable)
    held.remove("10.42.3.0/24")  # a node deleted: its range is free again
    assert decide(cfg, node("n16"), held) == Assign("n16", "10.42.3.0/24")


@pytest.mark.parametrize(("cidr", "mask", "error"), [
    ("10.42.0.0/16", 24, None),
    ("10.42.0.0/16", 16, None),  # one node
    ("10.42.0.0/16", 15, "--node-cidr-mask-size 15"),
    ("10.42.0.0/16", 31, "--node-cidr-mask-size 31"),
    ("10.0.0.0/8", 28, "more than 65536 subnets"),
    ("10.42.0.1/16", 24, "--cluster-cidr '10.42.0.1/16'"),  # host bits set
    ("fd00::/64", 80, "only IPv4"),
    ("nope", 24, "--cluster-cidr 'nope'"),
])
def test_parse_config(cidr: str, mask: int, error: str | None) -> None:
    if error is None:
        assert parse_config(cidr, mask).size == 1 << (mask - 16)
    else:
        with pytest.raises(ValueError, match=error.replace("(", r"\(")):
            parse_config(cidr, mask)


@pytest.mark.parametrize(("cluster", "service", "overlap"), [
    ("10.42.0.0/16", "10.43.0.0/16", False),
    ("10.42.0.0/15", "10.43.0.0/16", True),  # the cluster CIDR swallows the service CIDR
    ("10.43.128.0/17", "10.43.0.0/16", True),
    ("10.0.0.0/8", "192.168.0.0/16", False),
])
def test_overlapping_ranges_are_refused_by_name(cluster: str, service: str, overlap: bool) -> None:
    why = check_ranges(cluster, service)
    assert (why is not None) == overlap
    if why:
        assert "--cluster-cidr" in why and "--service-cidr" in why and "overlap" in why
