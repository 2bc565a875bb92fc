"""Which etcd member a deleted server Node's removal takes out (shoal.etcdmember.removalplan): table tests."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from shoal.etcdmember.plan import MemberSpec
from shoal.etcdmember.removalplan import (
    Member,
    ServerNode,
    Verdict,
    decide,
    member_of,
    server_node,
    server_node_marks,
)
from shoal.server import Server, ServerOptions


def m(i: int, name: str, *, learner: bool = False) -> Member:
    return Member(id=i, name=name, peer_urls=(f"https://10.0.0.{i}:2380",), learner=learner)


S1, S2, S3 = m(1, "s1"), m(2, "s2"), m(3, "s3")
GONE2 = ServerNode(node="s2", member="s2", peer_url="https://10.0.0.2:2380")

CASES = [
    # (why, deleted node, members, own, verdict, member id, words in the reason)
    ("a stopped server's member among three: removed", GONE2, [S1, S2, S3], "s1", Verdict.REMOVE, 2, "2 members"),
    ("among two: removed (one remains)", GONE2, [S1, S2], "s1", Verdict.REMOVE, 2, "1 member remain"),
    ("already gone: nothing (a replayed deletion)", GONE2, [S1, S3], "s1", Verdict.NOTHING, 0, "removed already"),
    ("the last member: refused", GONE2, [S2], "s1", Verdict.REFUSE, 0, "last member"),
    ("the only voter, the others learners: refused", GONE2, [m(1, "s1", learner=True), S2], "s1",
     Verdict.REFUSE, 0, "only voting member"),
    ("a learner beside voters: removed", GONE2, [S1, m(2, "s2", learner=True), S3], "s1", Verdict.REMOVE, 2, ""),
    ("our own member (this server is alive): refused", GONE2, [S1, S2, S3], "s2", Verdict.REFUSE, 0,
     "stop that server for good"),
    ("our own member and the only voter: refused", GONE2, [m(1, "s1", learner=True), S2], "s2", Verdict.REFUSE, 0,
     "only voting member"),
    ("the name now belongs to a server at another address: refused", GONE2,
     [S1, Member(id=9, name="s2", peer_urls=("https://10.0.0.9:2380",)), S3], "s1", Verdict.REFUSE, 0,
     "another server took the name"),
    ("a Node that did not record a peer URL: matched by name", ServerNode("s2", "s2", ""), [S1, S2, S3], "s1",
     Verdict.REMOVE, 2, ""),
    ("the member's name differs from the Node's", ServerNode("node-b", "s2", ""), [S1, S2, S3], "s1",
     Verdict.REMOVE, 2, "Node node-b"),
]


@pytest.mark.parametrize(("why", "deleted", "members", "own", "verdict", "member_id", "words"), CASES,
                         ids=[c[0] for c in CASES])
def test_decide(why: str, deleted: ServerNode, members: list[Member], own: str, verdict: Verdict, member_id: int,
                words: str) -> None:
    d = decide(deleted, members, own=own)
    assert (d.verdict, d.member_id) == (verdict, member_id)
    assert words in d.reason


def test_a_server_node_is_read_back_from_its_marks() -> None:
    labels, annotations = server_node_marks("s2", "https://10.0.0.2:2380")
    assert labels == {"node-role.kubernetes.io/control-plane": "true", "node-role.kubernetes.io/etcd": "true"}
    node = {"metadata": {"name": "s2", "labels": labels, "annotations": annotations}}
    assert server_node(node) == GONE2
    assert server_node({"metadata": {"name": "worker", "labels": {}}}) is None  # an agent's Node: not a member's


def test_members_from_the_member_list() -> None:
    got = member_of({"id": 7, "name": "", "peerURLs": ["https://h:2380"], "clientURLs": [], "isLearner": True})
    assert got == Member(id=7, name="", peer_urls=("https://h:2380",), learner=True)


def test_a_server_with_an_embedded_member_marks_its_node(tmp_path: Path) -> None:
    srv = Server(ServerOptions(data_dir=tmp_path))
    assert srv.server_node_marks() == ({}, {})  # SQLite or an external etcd: no member, no marks
    srv.etcd_member = SimpleNamespace(  # type: ignore[assignment]
        spec=MemberSpec(name="s1", data_dir=tmp_path, host="10.0.0.1", peer_port=2390))
    labels, annotations = srv.server_node_marks()
    assert server_node({"metadata": {"name": "s1", "labels": labels, "annotations": annotations}}) == \
        ServerNode(node="s1", member="s1", peer_url="https://10.0.0.1:2390")
