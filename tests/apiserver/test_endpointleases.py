"""The ``kubernetes`` endpoints from the API servers' Leases (shoal.apiserver.endpointleases): table tests."""

from __future__ import annotations

import pytest

from shoal.apiserver.endpointleases import (
    Seen,
    ServerLease,
    lease_body,
    lease_name,
    parse_address,
    plan,
    slice_part,
    subsets,
    view_of,
)


def lease(name: str, ip: str, port: int = 6443, renew: str = "t1", duration: float = 15.0) -> ServerLease:
    return ServerLease(name=name, ip=ip, port=port, renew_time=renew, duration=duration)


A, B, C = lease("a", "10.0.0.2"), lease("b", "10.0.0.10"), lease("c", "10.0.0.3")

CASES = [
    # (why, leases, seen before, now, own, endpoints)
    ("three fresh servers, sorted by address (not as text), one own", [A, B, C], {}, 100.0, "a",
     [("10.0.0.2", 6443), ("10.0.0.3", 6443), ("10.0.0.10", 6443)]),
    ("a lease whose renewTime has not changed for its duration is dropped", [A, B],
     {"b": Seen("t1", 80.0)}, 100.0, "a", [("10.0.0.2", 6443)]),
    ("a lease renewed since (renewTime changed) is alive again", [A, lease("b", "10.0.0.10", renew="t2")],
     {"b": Seen("t1", 80.0)}, 100.0, "a", [("10.0.0.2", 6443), ("10.0.0.10", 6443)]),
    ("just inside the duration: alive", [A, B], {"b": Seen("t1", 85.5)}, 100.0, "a",
     [("10.0.0.2", 6443), ("10.0.0.10", 6443)]),
    ("our own lease is alive to us whatever we saw", [A], {"a": Seen("t1", 0.0)}, 100.0, "a",
     [("10.0.0.2", 6443)]),
    ("shutting down (own None): our stale-looking lease goes too", [A, B], {"a": Seen("t1", 0.0)}, 100.0, None,
     [("10.0.0.10", 6443)]),
    ("another machine's clock does not matter: first sight counts as fresh", [lease("b", "10.0.0.10",
                                                                                     renew="1999-01-01")],
     {}, 100.0, "a", [("10.0.0.10", 6443)]),
    ("loopback and unspecified addresses are never listed", [lease("l", "127.0.0.1"), lease("u", "0.0.0.0"), B],
     {}, 1.0, "l", [("10.0.0.10", 6443)]),
    ("two leases for one address: listed once", [A, lease("a2", "10.0.0.2")], {}, 1.0, "a", [("10.0.0.2", 6443)]),
    ("same address, other port: two endpoints", [A, lease("a2", "10.0.0.2", port=7443)], {}, 1.0, "a",
     [("10.0.0.2", 6443), ("10.0.0.2", 7443)]),
    ("IPv4 before IPv6", [lease("v6", "fd00::1"), A], {}, 1.0, "a", [("10.0.0.2", 6443), ("fd00::1", 6443)]),
    ("a shorter lease duration expires sooner", [A, lease("b", "10.0.0.10", duration=2.0)],
     {"b": Seen("t1", 97.0)}, 100.0, "a", [("10.0.0.2", 6443)]),
    ("nothing at all", [], {}, 1.0, None, []),
]


@pytest.mark.parametrize(("why", "leases", "seen", "now", "own", "want"), CASES, ids=[c[0] for c in CASES])
def test_plan_endpoints(why: str, leases: list[ServerLease], seen: dict[str, Seen], now: float, own: str | None,
                        want: list[tuple[str, int]]) -> None:
    assert plan(leases, seen, now, own=own).endpoints == want


def test_seen_keeps_the_first_sight_of_a_renew_time_and_moves_on_a_change() -> None:
    p = plan([A, B], {"a": Seen("t1", 5.0), "b": Seen("t0", 5.0), "gone": Seen("x", 1.0)}, 9.0, own="a")
    assert p.seen == {"a": Seen("t1", 5.0), "b": Seen("t1", 9.0)}  # a lease no longer listed is forgotten


def test_leases_expired_long_ago_are_deleted_not_just_dropped() -> None:
    p = plan([A, B, C], {"b": Seen("t1", 0.0), "c": Seen("t1", 50.0)}, 100.0, own="a", gc_after=60.0)
    assert p.delete == ["b"]  # b: expired at 15, 85 s ago; c: expired at 65, 35 s ago: kept for now
    assert p.endpoints == [("10.0.0.2", 6443)]


def test_a_lease_round_trips_through_its_view() -> None:
    body = lease_body(name=lease_name("fd00::7", 6443), holder="h", hostname="m1", ip="fd00::7", port=6443,
                      duration=15.0, renew_time="2026-12-06T22:00:00.000000Z")
    assert body["metadata"]["name"].startswith("apiserver-")
    assert body["metadata"]["labels"]["apiserver.kubernetes.io/identity"] == "kube-apiserver"
    assert view_of(body) == ServerLease(name=body["metadata"]["name"], ip="fd00::7", port=6443,
                                        renew_time="2026-12-06T22:00:00.000000Z", duration=15.0)


@pytest.mark.parametrize("obj", [
    {"metadata": {"name": "kube-scheduler"}, "spec": {}},  # another Lease
    {"metadata": {"name": "x", "labels": {"apiserver.kubernetes.io/identity": "kube-apiserver"}}},  # no address
    {"metadata": {"name": "x", "labels": {"apiserver.kubernetes.io/identity": "kube-apiserver"},
                  "annotations": {"apiserver.shoal.io/advertise-address": "host.example:6443"}}},  # not an IP
])
def test_leases_that_are_not_server_leases_are_ignored(obj: dict[str, object]) -> None:
    assert view_of(obj) is None


def test_lease_names_are_stable_per_address() -> None:
    assert lease_name("10.0.0.2", 6443) == lease_name("10.0.0.2", 6443) != lease_name("10.0.0.2", 6444)


@pytest.mark.parametrize(("text", "want"), [("10.0.0.1:6443", ("10.0.0.1", 6443)), ("[fd00::1]:443", ("fd00::1", 443)),
                                            ("10.0.0.1", None), ("x:1", None), ("", None)])
def test_parse_address(text: str, want: tuple[str, int] | None) -> None:
    assert parse_address(text) == want


def test_one_subset_per_port_and_the_slice_takes_the_lowest_port() -> None:
    eps = [("10.0.0.1", 7443), ("10.0.0.2", 6443), ("10.0.0.3", 6443)]
    assert subsets(eps) == [
        {"addresses": [{"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}], "ports": [{"name": "https", "port": 6443,
                                                                         "protocol": "TCP"}]},
        {"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "https", "port": 7443, "protocol": "TCP"}]}]
    s = slice_part(eps)
    assert [e["addresses"] for e in s["endpoints"]] == [["10.0.0.2"], ["10.0.0.3"]]
    assert s["ports"][0]["port"] == 6443 and s["addressType"] == "IPv4"
    assert slice_part([("fd00::1", 6443)])["addressType"] == "IPv6"
    assert subsets([]) == [] and slice_part([])["endpoints"] == []
