"""Deleting a stopped server's Node removes its etcd member (shoal.etcdmember.removal), on three real servers
with embedded etcd members.

The servers run without agents (``--no-agent``, as every HA test: three agents on one machine would share its
network); each server's Node is made here with the marks a server's agent gives it
(``removalplan.server_node_marks``, checked in test_removal_plan.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import requests

from shoal.etcdmember.member import list_members
from shoal.etcdmember.plan import CertPaths
from shoal.etcdmember.removal import LEASE
from shoal.etcdmember.removalplan import server_node_marks
from tests.etcd_fixture import etcd_available
from tests.ha.cluster import Cluster, Member

pytestmark = [pytest.mark.skipif(not etcd_available(), reason="etcd is not installed"), pytest.mark.timeout(240)]

NODES = "/api/v1/nodes"
EVENTS = "/api/v1/namespaces/default/events"


def members_seen_by(m: Member) -> list[str]:
    etcd = m.server.data_dir / "etcd"
    certs = CertPaths(ca=m.server.data_dir / "ca.crt", cert=etcd / "member.crt", key=etcd / "member.key")
    return sorted(x["name"] for x in asyncio.run(list_members(f"127.0.0.1:{m.client_port}", certs)))


def wait_until(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (requests.RequestException, OSError, ValueError) as e:
            last = e
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def events_about(s: requests.Session, url: str, node: str, reason: str) -> list[str]:
    items = s.get(url + EVENTS, timeout=5).json()["items"]
    return [e["message"] for e in items if e["involvedObject"].get("name") == node and e["reason"] == reason]


def test_deleting_a_stopped_servers_node_removes_its_member(cluster: Cluster) -> None:
    s0 = cluster.members[0].server.session()
    url0 = cluster.members[0].server.url
    for m in cluster.members:
        labels, annotations = server_node_marks(m.name, f"https://127.0.0.1:{m.peer_port}")
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": m.name, "labels": labels, "annotations": annotations}}
        assert s0.post(url0 + NODES, json=node, timeout=10).status_code == 201
    leader = wait_until("a member controller leader", lambda: cluster.leader_of(LEASE))
    assert members_seen_by(leader) == ["s0", "s1", "s2"]
    victim = next(m for m in cluster.members if m is not leader)
    survivor = next(m for m in cluster.members if m is not leader and m is not victim)
    s, url = leader.server.session(), leader.server.url

    # the leader's own Node: it is alive, so its member stays, and an Event says why
    assert s.delete(f"{url}{NODES}/{leader.name}", timeout=10).status_code == 200
    msg = wait_until("the refusal event", lambda: events_about(s, url, leader.name, "EtcdMemberNotRemoved"))
    assert "stop that server for good" in msg[0]
    assert members_seen_by(leader) == ["s0", "s1", "s2"]

    # a server that left for good: stopped, then its Node deleted -> its member goes
    victim.server.stop()
    assert s.delete(f"{url}{NODES}/{victim.name}", timeout=10).status_code == 200
    want = sorted([leader.name, survivor.name])
    wait_until("two members", lambda: members_seen_by(leader) == want)
    assert members_seen_by(survivor) == want
    assert wait_until("the removal event", lambda: events_about(s, url, victim.name, "EtcdMemberRemoved"))

    # writes go on, through both remaining servers
    for m in (leader, survivor):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"after-{m.name}"}, "data": {"k": "v"}}
        r = m.server.session().post(m.server.url + "/api/v1/namespaces/default/configmaps", json=cm, timeout=10)
        assert r.status_code == 201, r.text

    # the same Node made and deleted again: its member is gone already, nothing else is touched
    labels, annotations = server_node_marks(victim.name, f"https://127.0.0.1:{victim.peer_port}")
    again = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": victim.name, "labels": labels,
                                                             "annotations": annotations}}
    assert s.post(url + NODES, json=again, timeout=10).status_code == 201
    assert s.delete(f"{url}{NODES}/{victim.name}", timeout=10).status_code == 200
    time.sleep(2)
    assert members_seen_by(leader) == want
    assert "removed already" in leader.server.log()
