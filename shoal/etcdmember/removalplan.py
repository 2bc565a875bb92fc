"""Which etcd member a deleted server Node leaves behind, and whether to remove it. Pure.

A server with an embedded etcd member marks its Node as k3s does: the labels
``node-role.kubernetes.io/control-plane`` and ``node-role.kubernetes.io/etcd``,
and annotations naming its member and the member's peer URL
(``server_node_marks``). When such a Node is deleted, the member controller
(``shoal.etcdmember.removal``) asks ``decide`` about the deleted object and
etcd's member list, and removes what it says, as k3s's etcd controller does
(``kubectl delete node`` is how a server that left for good is taken out).

What ``decide`` refuses, each with a sentence for an Event on the Node:

* the last member: removing it would end the cluster's store;
* the member that is the only voter (the others are learners): the same;
* the member of the server running the controller: that server is alive (it
  is the one deciding), so its Node's deletion is not its departure; removing
  its member would cut it off its own store;
* a member of the Node's name whose peer URL is not the Node's: the name was
  taken since by a server at another address, which must not be removed for
  the old Node.

A member already gone is "nothing to do" (a repeated or replayed deletion is
harmless), as is a Node that was never an etcd member's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane"
ETCD_LABEL = "node-role.kubernetes.io/etcd"
MEMBER_ANNOTATION = "etcd.shoal.io/member-name"  # k3s: etcd.k3s.cattle.io/node-name
PEER_URL_ANNOTATION = "etcd.shoal.io/peer-url"  # k3s: etcd.k3s.cattle.io/node-address


def server_node_marks(member_name: str, peer_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) of the Node of a server whose etcd member is ``member_name`` at ``peer_url``."""
    return ({CONTROL_PLANE_LABEL: "true", ETCD_LABEL: "true"},
            {MEMBER_ANNOTATION: member_name, PEER_URL_ANNOTATION: peer_url})


@dataclass(frozen=True, slots=True)
class ServerNode:
    """What a Node says of the etcd member of the server on it."""

    node: str
    member: str
    peer_url: str


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    name: str
    peer_urls: tuple[str, ...]
    learner: bool = False


class Verdict(enum.Enum):
    REMOVE = "remove"
    NOTHING = "nothing"  # not a member's Node, or the member is gone already
    REFUSE = "refuse"  # a removal that must not happen (an Event says why)


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str
    member_id: int = 0


def server_node(node: dict[str, Any]) -> ServerNode | None:
    """The member a Node's annotations name, or None (not a server with an embedded etcd member)."""
    md = node.get("metadata") or {}
    ann = md.get("annotations") or {}
    member = str(ann.get(MEMBER_ANNOTATION) or "")
    if not member:
        return None
    return ServerNode(node=str(md.get("name") or ""), member=member, peer_url=str(ann.get(PEER_URL_ANNOTATION) or ""))


def member_of(m: dict[str, Any]) -> Member:
    """A member as ``shoal.etcdmember.member.list_members`` gives it."""
    return Member(id=int(m["id"]), name=str(m.get("name") or ""), peer_urls=tuple(m.get("peerURLs") or ()),
                  learner=bool(m.get("isLearner")))


def decide(deleted: ServerNode, members: list[Member], *, own: str) -> Decision:
    """What to do about the member of ``deleted`` (a Node just deleted); ``own``: the deciding server's member."""
    found = [m for m in members if m.name == deleted.member]
    if not found:
        return Decision(Verdict.NOTHING, f"etcd member {deleted.member} is not in the cluster (removed already)")
    m = found[0]
    if deleted.peer_url and deleted.peer_url not in m.peer_urls:
        urls = ", ".join(m.peer_urls) or "none"
        return Decision(Verdict.REFUSE, f"etcd member {m.name} now has peer URL(s) {urls}, not {deleted.peer_url} "
                                        f"as Node {deleted.node} said: another server took the name; not removed")
    if len(members) == 1:
        return Decision(Verdict.REFUSE, f"etcd member {m.name} is the cluster's last member: removing it would end "
                                        f"the cluster's store; not removed")
    voters = [v for v in members if not v.learner]
    if not m.learner and voters == [m]:
        return Decision(Verdict.REFUSE, f"etcd member {m.name} is the cluster's only voting member: removing it "
                                        f"would end the cluster's store; not removed")
    if m.name == own:
        return Decision(Verdict.REFUSE, f"etcd member {m.name} is the member of the server removing members, which "
                                        f"is running: stop that server for good, then delete its Node again from "
                                        f"another server (or run `shoal server remove-member {m.name}` there)")
    rest = len(members) - 1
    return Decision(Verdict.REMOVE, f"Node {deleted.node} was deleted: removing its etcd member {m.name} "
                                    f"({rest} member{'s' if rest != 1 else ''} remain)", member_id=m.id)
