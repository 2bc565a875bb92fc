"""Several clusters on one machine (shoal.network.machine): table comments and when a node must refuse."""

from __future__ import annotations

import pytest

from shoal.network import machine
from shoal.network.machine import TableOwner

ME, OTHER = "aaaaaaaa-0000-4000-8000-000000000000", "bbbbbbbb-0000-4000-8000-000000000000"


@pytest.mark.parametrize("owner", [
    TableOwner("10.43.0.0/16", ME, 4321), TableOwner("10.43.0.0/16"),
])
def test_comment_round_trip(owner: TableOwner) -> None:
    assert machine.parse_comment(machine.comment(owner)) == owner


def test_comments_that_are_not_shoals() -> None:
    assert machine.parse_comment("kube-proxy") is None
    assert machine.parse_comment("shoal service-cidr 10.43.0.0/16") == TableOwner("10.43.0.0/16")  # before clusters


LIVE, DEAD = 100, 200


@pytest.mark.parametrize(("tables", "conflicting", "stale"), [
    ({}, [], []),
    ({"shoal_aaaaaaaa_n": TableOwner("10.43.0.0/16", ME, LIVE)}, [], []),  # our own (another node of ours)
    ({"shoal_bbbbbbbb_n": TableOwner("10.43.0.0/16", OTHER, LIVE)}, ["shoal_bbbbbbbb_n"], []),
    ({"shoal_bbbbbbbb_n": TableOwner("10.43.128.0/17", OTHER, LIVE)}, ["shoal_bbbbbbbb_n"], []),  # overlaps
    ({"shoal_bbbbbbbb_n": TableOwner("10.44.0.0/16", OTHER, LIVE)}, [], []),  # a CIDR of its own: both run
    ({"shoal_bbbbbbbb_n": TableOwner("10.43.0.0/16", OTHER, DEAD)}, [], ["shoal_bbbbbbbb_n"]),  # killed -9
    ({"shoal_n": TableOwner("10.43.0.0/16")}, [], []),  # no cluster named: left alone
])
def test_which_tables_stop_a_node(tables: dict[str, TableOwner], conflicting: list[str], stale: list[str]) -> None:
    v = machine.conflicts(tables, cidr="10.43.0.0/16", cluster_id=ME, alive=lambda pid: pid == LIVE)
    assert [name for name, _ in v.conflicts] == conflicting
    assert list(v.stale) == stale


def test_a_node_without_a_cluster_id_checks_nothing() -> None:
    tables = {"shoal_bbbbbbbb_n": TableOwner("10.43.0.0/16", OTHER, LIVE)}
    assert machine.conflicts(tables, cidr="10.43.0.0/16", cluster_id="", alive=lambda _: True).conflicts == ()


def test_the_message_says_which_cluster_and_what_to_do() -> None:
    owner = TableOwner("10.43.0.0/16", OTHER, LIVE)
    msg = machine.conflict_message((("shoal_bbbbbbbb_n", owner),), cidr="10.43.0.0/16", dns_ip="10.43.0.10")
    assert f"another cluster, {OTHER} (process {LIVE}, nft table ip shoal_bbbbbbbb_n" in msg
    assert "10.43.0.10" in msg and "--service-cidr (e.g. 10.44.0.0/16)" in msg
    assert machine.suggest("192.168.0.0/24") == "192.169.0.0/16"
