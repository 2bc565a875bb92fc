"""The NetworkPolicy compiler against upstream's semantics: the documentation's examples as tables.

Each case compiles policies over a small cluster and asks the compiled rules (``allows``
evaluates exactly what the kernel gets) whether a new connection passes. No I/O.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shoal.network import policynft
from shoal.network.policy import (
    NamedPort,
    NamespaceView,
    NodeRules,
    PodView,
    allows,
    compile_node,
    namespace_view,
    pod_view,
    policy_of,
)

NS_LABEL = "kubernetes.io/metadata.name"


def pod(ns: str, name: str, ip: str, node: str = "n1", ports: tuple[NamedPort, ...] = (), **labels: str) -> PodView:
    return PodView(ns, name, ip, labels, node, ports)


HTTP80 = (NamedPort("http", "tcp", 80),)
HTTP8080 = (NamedPort("http", "tcp", 8080),)

# the cluster: namespace "default" (the policies' own), "myproject" (project=myproject), "alice" (user=alice),
# "other" (no labels)
PODS = {
    "db": pod("default", "db", "10.42.0.10", role="db"),
    "web": pod("default", "web", "10.42.0.11", ports=HTTP80, app="web"),
    "web2": pod("default", "web2", "10.42.0.12", ports=HTTP8080, app="web"),
    "client": pod("default", "client", "10.42.0.20", app="client", role="client"),
    "other": pod("default", "other", "10.42.0.21", app="other"),
    "frontend": pod("default", "frontend", "10.42.0.22", role="frontend"),
    "mp": pod("myproject", "mp", "10.42.1.10", app="any"),
    "alice-client": pod("alice", "alice-client", "10.42.2.10", role="client"),
    "alice-db": pod("alice", "alice-db", "10.42.2.11", role="db"),
    "far-frontend": pod("other", "far-frontend", "10.42.3.10", role="frontend"),
    "far": pod("other", "far", "10.42.3.11", app="web"),
}
NAMESPACES = [
    NamespaceView("default", {NS_LABEL: "default"}),
    NamespaceView("myproject", {NS_LABEL: "myproject", "project": "myproject"}),
    NamespaceView("alice", {NS_LABEL: "alice", "user": "alice"}),
    NamespaceView("other", {NS_LABEL: "other"}),
]


def ip(name: str) -> str:
    return PODS[name].ip if name in PODS else name


def np(name: str, spec: dict[str, Any], ns: str = "default") -> Any:
    return policy_of({"metadata": {"name": name, "namespace": ns}, "spec": spec})


def compiled(*policies: Any, pods: list[PodView] | None = None, node: str | None = None) -> NodeRules:
    return compile_node(policies, pods if pods is not None else PODS.values(), NAMESPACES, node=node)


def can(rules: NodeRules, src: str, dst: str, port: int = 80, protocol: str = "tcp") -> bool:
    return allows(rules, ip(src), ip(dst), protocol, port)


DENY_INGRESS = np("default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})
DENY_EGRESS = np("default-deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]})
DENY_ALL = np("default-deny-all", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
ALLOW_ALL_INGRESS = np("allow-all-ingress", {"podSelector": {}, "ingress": [{}]})
ALLOW_ALL_EGRESS = np("allow-all-egress", {"podSelector": {}, "egress": [{}], "policyTypes": ["Egress"]})
# the documentation's "test-network-policy"
DOCS = np("test-network-policy", {
    "podSelector": {"matchLabels": {"role": "db"}},
    "policyTypes": ["Ingress", "Egress"],
    "ingress": [{"from": [{"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                          {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                          {"podSelector": {"matchLabels": {"role": "frontend"}}}],
                 "ports": [{"protocol": "TCP", "port": 6379}]}],
    "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 5978}]}],
})
ALLOW_CLIENT_80 = np("allow-client", {"podSelector": {"matchLabels": {"app": "web"}},
                                      "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                                                   "ports": [{"port": 80}]}]})
AND_PEER = np("and", {"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{"from": [
    {"namespaceSelector": {"matchLabels": {"user": "alice"}}, "podSelector": {"matchLabels": {"role": "client"}}}]}]})
OR_PEERS = np("or", {"podSelector": {"matchLabels": {"role": "db"}}, "ingress": [{"from": [
    {"namespaceSelector": {"matchLabels": {"user": "alice"}}}, {"podSelector": {"matchLabels": {"role": "client"}}}]}]})
END_PORT = np("multi-port-egress", {"podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": ["Egress"],
                                    "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
                                                "ports": [{"protocol": "TCP", "port": 32000, "endPort": 32768}]}]})


@pytest.mark.parametrize(("policies", "src", "dst", "port", "protocol", "allowed"), [
    # no policy: everything passes
    ((), "client", "web", 80, "tcp", True),
    ((), "far", "db", 5432, "udp", True),
    # default deny ingress: nothing reaches the namespace's pods, they still send; other namespaces untouched
    ((DENY_INGRESS,), "client", "web", 80, "tcp", False),
    ((DENY_INGRESS,), "far", "web", 80, "tcp", False),
    ((DENY_INGRESS,), "web", "far", 80, "tcp", True),
    ((DENY_INGRESS,), "far", "far-frontend", 80, "tcp", True),
    ((DENY_INGRESS,), "8.8.8.8", "web", 443, "tcp", False),
    # allow all ingress beside it: the union wins
    ((DENY_INGRESS, ALLOW_ALL_INGRESS), "far", "web", 80, "tcp", True),
    # default deny egress: the namespace's pods send nothing (DNS included), still receive
    ((DENY_EGRESS,), "web", "far", 80, "tcp", False),
    ((DENY_EGRESS,), "web", "10.43.0.10", 53, "udp", False),
    ((DENY_EGRESS,), "far", "web", 80, "tcp", True),
    ((DENY_EGRESS, ALLOW_ALL_EGRESS), "web", "far", 80, "tcp", True),
    # default deny all: neither way, not even between two of its own pods
    ((DENY_ALL,), "client", "web", 80, "tcp", False),
    ((DENY_ALL,), "web", "far", 80, "tcp", False),
    ((DENY_ALL,), "far", "web", 80, "tcp", False),
    # the documentation's example: db accepts 6379/TCP from the block less its except, from
    # namespace project=myproject and from role=frontend of its own namespace
    ((DOCS,), "172.17.0.5", "db", 6379, "tcp", True),
    ((DOCS,), "172.17.255.1", "db", 6379, "tcp", True),
    ((DOCS,), "172.17.1.5", "db", 6379, "tcp", False),
    ((DOCS,), "172.18.0.5", "db", 6379, "tcp", False),
    ((DOCS,), "mp", "db", 6379, "tcp", True),
    ((DOCS,), "frontend", "db", 6379, "tcp", True),
    ((DOCS,), "far-frontend", "db", 6379, "tcp", False),  # role=frontend, but not of db's namespace
    ((DOCS,), "client", "db", 6379, "tcp", False),
    ((DOCS,), "frontend", "db", 6380, "tcp", False),
    ((DOCS,), "frontend", "db", 6379, "udp", False),
    ((DOCS,), "db", "10.0.0.7", 5978, "tcp", True),
    ((DOCS,), "db", "10.0.0.7", 80, "tcp", False),
    ((DOCS,), "db", "10.0.1.7", 5978, "tcp", False),
    ((DOCS,), "db", "web", 80, "tcp", False),
    ((DOCS,), "client", "web", 80, "tcp", True),  # web is not selected: untouched
    ((DOCS,), "alice-db", "far", 80, "tcp", True),  # role=db of another namespace: not selected
    # allow app=client on port 80 only (over a default deny)
    ((DENY_INGRESS, ALLOW_CLIENT_80), "client", "web", 80, "tcp", True),
    ((DENY_INGRESS, ALLOW_CLIENT_80), "client", "web", 81, "tcp", False),
    ((DENY_INGRESS, ALLOW_CLIENT_80), "client", "web", 80, "udp", False),
    ((DENY_INGRESS, ALLOW_CLIENT_80), "other", "web", 80, "tcp", False),
    ((DENY_INGRESS, ALLOW_CLIENT_80), "client", "db", 80, "tcp", False),  # db is only default-denied
    ((ALLOW_CLIENT_80,), "client", "db", 80, "tcp", True),  # db selected by no policy
    # namespaceSelector AND podSelector in one peer: role=client pods of alice's namespaces only
    ((AND_PEER,), "alice-client", "db", 5432, "tcp", True),
    ((AND_PEER,), "alice-db", "db", 5432, "tcp", False),
    ((AND_PEER,), "client", "db", 5432, "tcp", False),
    # ... as two peers: any pod of alice's namespaces, or role=client of the policy's own namespace
    ((OR_PEERS,), "alice-client", "db", 5432, "tcp", True),
    ((OR_PEERS,), "alice-db", "db", 5432, "tcp", True),
    ((OR_PEERS,), "client", "db", 5432, "tcp", True),
    ((OR_PEERS,), "other", "db", 5432, "tcp", False),
    ((OR_PEERS,), "far-frontend", "db", 5432, "tcp", False),
    # endPort: a range, both ends included
    ((END_PORT,), "db", "10.0.0.1", 32000, "tcp", True),
    ((END_PORT,), "db", "10.0.0.1", 32768, "tcp", True),
    ((END_PORT,), "db", "10.0.0.1", 32400, "tcp", True),
    ((END_PORT,), "db", "10.0.0.1", 31999, "tcp", False),
    ((END_PORT,), "db", "10.0.0.1", 32769, "tcp", False),
    ((END_PORT,), "db", "10.0.0.1", 32000, "udp", False),
])
def test_upstream_examples(policies: tuple[Any, ...], src: str, dst: str, port: int, protocol: str,
                           allowed: bool) -> None:
    assert can(compiled(*policies), src, dst, port, protocol) is allowed


def test_named_port_resolves_on_each_destination_pod() -> None:
    ingress = np("named-in", {"podSelector": {"matchLabels": {"app": "web"}},
                              "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                                           "ports": [{"port": "http"}]}]})
    rules = compiled(ingress)
    assert can(rules, "client", "web", 80) and not can(rules, "client", "web", 8080)
    assert can(rules, "client", "web2", 8080) and not can(rules, "client", "web2", 80)
    assert not can(rules, "client", "web", 80, "udp")  # the port's protocol must match the container port's
    egress = np("named-out", {"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"],
                              "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                                          "ports": [{"port": "http"}]}]})
    rules = compiled(egress)
    assert can(rules, "client", "web", 80) and can(rules, "client", "web2", 8080)
    assert not can(rules, "client", "web2", 80) and not can(rules, "client", "db", 80)
    # an ipBlock holds no named port (it is not a pod), except the pods inside it
    block = np("named-block", {"podSelector": {"matchLabels": {"app": "client"}}, "policyTypes": ["Egress"],
                               "egress": [{"to": [{"ipBlock": {"cidr": "10.42.0.0/24"}}, {"ipBlock": {"cidr": "8.8.8.0/24"}}],
                                           "ports": [{"port": "http"}]}]})
    rules = compiled(block)
    assert can(rules, "client", "web", 80) and not can(rules, "client", "8.8.8.8", 80)
    assert not can(rules, "client", "far", 80)  # 10.42.3.0/24: outside the block


def test_ports_combine_as_or_and_protocol_alone_means_every_port() -> None:
    p = np("ports", {"podSelector": {"matchLabels": {"app": "web"}},
                     "ingress": [{"ports": [{"port": 80}, {"port": 443}, {"port": 8000, "endPort": 8100},
                                            {"protocol": "UDP"}, {"protocol": "SCTP", "port": 9}]}]})
    rules = compiled(p)
    for port, proto, want in [(80, "tcp", True), (443, "tcp", True), (8050, "tcp", True), (81, "tcp", False),
                              (53, "udp", True), (9999, "udp", True), (9, "sctp", True), (10, "sctp", False)]:
        assert can(rules, "far", "web", port, proto) is want, (port, proto)


def test_rules_of_one_policy_combine_as_or_and_policies_as_union() -> None:
    a = np("a", {"podSelector": {"matchLabels": {"app": "web"}},
                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}], "ports": [{"port": 80}]},
                             {"from": [{"podSelector": {"matchLabels": {"app": "other"}}}], "ports": [{"port": 22}]}]})
    b = np("b", {"podSelector": {"matchLabels": {"app": "web"}},
                 "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}], "ports": [{"port": 443}]}]})
    rules = compiled(a, b)
    assert can(rules, "client", "web", 80) and can(rules, "client", "web", 443) and can(rules, "other", "web", 22)
    assert not can(rules, "client", "web", 22) and not can(rules, "other", "web", 80)


def test_peers_that_select_nobody_allow_nothing() -> None:
    p = np("nobody", {"podSelector": {"matchLabels": {"app": "web"}},
                      "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "ghost"}}}]}]})
    rules = compiled(p)
    assert not can(rules, "client", "web") and not can(rules, "far", "web")
    assert rules.chains[rules.ingress[ip("web")][0]].rules == ()


def test_empty_from_and_empty_namespace_selector_mean_everyone() -> None:
    any_ns = np("any-ns", {"podSelector": {"matchLabels": {"app": "web"}},
                           "ingress": [{"from": [{"namespaceSelector": {}}]}]})
    rules = compiled(any_ns)
    assert can(rules, "far", "web") and can(rules, "alice-db", "web") and not can(rules, "8.8.8.8", "web")
    any_pod_here = np("pods-here", {"podSelector": {"matchLabels": {"app": "web"}},
                                    "ingress": [{"from": [{"podSelector": {}}]}]})
    rules = compiled(any_pod_here)
    assert can(rules, "client", "web") and not can(rules, "far", "web")


def test_namespace_selector_by_metadata_name_label() -> None:
    p = np("by-name", {"podSelector": {}, "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {NS_LABEL: "other"}}}]}]})
    rules = compiled(p)
    assert can(rules, "far", "web") and not can(rules, "mp", "web")


def test_each_node_enforces_only_for_its_own_pods() -> None:
    pods = [pod("default", "a", "10.42.0.5", "n1", app="a"), pod("default", "b", "10.42.1.5", "n2", app="b"),
            pod("default", "c", "10.42.1.6", "n2", app="c")]
    deny_b_from_c = np("b", {"podSelector": {"matchLabels": {"app": "b"}},
                             "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "a"}}}]}]})
    a_out = np("a", {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"],
                     "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "c"}}}]}]})
    n1 = compiled(deny_b_from_c, a_out, pods=pods, node="n1")
    n2 = compiled(deny_b_from_c, a_out, pods=pods, node="n2")
    assert set(n1.ingress) == set() and set(n1.egress) == {"10.42.0.5"}
    assert set(n2.ingress) == {"10.42.1.5"} and set(n2.egress) == set()

    def cluster(src: str, dst: str) -> bool:  # a packet between nodes passes the sender's node, then the receiver's
        return allows(n1, src, dst) and allows(n2, src, dst)

    assert cluster("10.42.0.5", "10.42.1.6")  # a -> c: a's egress allows c; c is not isolated
    assert not cluster("10.42.0.5", "10.42.1.5")  # a -> b: b accepts a, but a may only send to c
    assert not cluster("10.42.1.6", "10.42.1.5")  # c -> b: b accepts only a
    assert cluster("10.42.1.5", "10.42.1.6")


def test_policies_selecting_no_local_pod_leave_no_rules() -> None:
    assert compiled(ALLOW_CLIENT_80, node="elsewhere").size() == {
        "isolated_ingress": 0, "isolated_egress": 0, "chains": 0, "rules": 0, "sets": 0, "set_elements": 0}


def test_pods_selected_by_the_same_policies_share_one_set_and_chain() -> None:
    rules = compiled(DENY_INGRESS, ALLOW_CLIENT_80)
    assert rules.ingress[ip("web")] == rules.ingress[ip("web2")]
    assert len(rules.ingress[ip("web")]) == 2 and len(rules.ingress[ip("db")]) == 1
    script = policynft.render(rules, "t")
    assert script.count("\tchain in-c") == 2  # two classes: web pods, and every other pod of the namespace


def test_ip_block_except_holes_and_ipv6_blocks() -> None:
    p = np("blocks", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "192.168.0.0/16"]}},
        {"ipBlock": {"cidr": "2001:db8::/64"}}]}]})
    rules = compiled(p)
    assert can(rules, "8.8.8.8", "web") and can(rules, "11.0.0.1", "web") and can(rules, "192.169.0.1", "web")
    assert not can(rules, "10.1.2.3", "web") and not can(rules, "192.168.5.5", "web")
    assert not can(rules, "client", "web")  # a pod IP inside an except is not let in by the block


def test_block_and_pod_peer_union_covers_an_except() -> None:
    p = np("union", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"from": [
        {"ipBlock": {"cidr": "10.42.0.0/16", "except": ["10.42.0.0/24"]}},
        {"podSelector": {"matchLabels": {"app": "client"}}}]}]})
    rules = compiled(p)
    assert can(rules, "client", "web") and can(rules, "far", "web") and not can(rules, "other", "web")


# ---- views of API objects ----------------------------------------------------------------------
def _pod(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [
            {"containerPort": 80, "name": "http"}, {"containerPort": 53, "name": "dns", "protocol": "UDP"},
            {"containerPort": 9090}]}]},
        "status": {"phase": "Running", "podIP": "10.42.0.9"},
    }
    for k, v in over.items():
        base[k] = {**base[k], **v}
    return base


def test_pod_view() -> None:
    assert pod_view(_pod()) == PodView("ns", "p", "10.42.0.9", {"app": "web"}, "n1",
                                       (NamedPort("http", "tcp", 80), NamedPort("dns", "udp", 53)))
    assert pod_view(_pod(status={"podIP": ""})) is None
    assert pod_view(_pod(status={"podIP": "fd00::1"})) is None
    assert pod_view(_pod(status={"phase": "Succeeded"})) is None
    assert pod_view(_pod(spec={"hostNetwork": True})) is None


def test_namespace_view_always_carries_its_name_label() -> None:
    assert namespace_view({"metadata": {"name": "x", "labels": {"a": "b"}}}) == NamespaceView(
        "x", {NS_LABEL: "x", "a": "b"})


def test_render_accepts_replies_before_any_lookup() -> None:
    script = policynft.render(compiled(DENY_ALL, ALLOW_CLIENT_80), "t")
    for chain in ("egress", "egress-to-node", "ingress"):
        body = script.split(f"\tchain {chain} {{\n", 1)[1].split("\t}", 1)[0].splitlines()
        assert body[1].strip() == "ct state established,related accept", body
        assert "vmap @" in body[2]
    assert "hook forward priority filter;" in script and "hook input priority filter;" in script
    assert "hook output" not in script  # the node reaches its pods whatever their policy


def test_render_is_deterministic() -> None:
    one = policynft.render(compiled(DOCS, DENY_INGRESS, ALLOW_CLIENT_80, END_PORT), "t")
    two = policynft.render(compiled(END_PORT, ALLOW_CLIENT_80, DENY_INGRESS, DOCS), "t")
    assert one == two


# ---- any valid policy compiles -------------------------------------------------------------------
_labels = st.dictionaries(st.sampled_from(["app", "role", "team"]), st.sampled_from(["web", "db", "client", "x"]),
                          max_size=2)
_selector = st.one_of(st.just({}), st.builds(lambda m: {"matchLabels": m}, _labels), st.builds(
    lambda k, op, vs: {"matchExpressions": [{"key": k, "operator": op, **({"values": vs} if vs else {})}]},
    st.sampled_from(["app", "role"]), st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
    st.lists(st.sampled_from(["web", "db"]), max_size=2)))
_cidr = st.builds(lambda a, b, n: f"{a}.{b}.0.0/{n}", st.sampled_from([0, 10, 172, 255]), st.integers(0, 255),
                  st.integers(0, 32))
_peer = st.one_of(
    st.builds(lambda s: {"podSelector": s}, _selector),
    st.builds(lambda s: {"namespaceSelector": s}, _selector),
    st.builds(lambda a, b: {"podSelector": a, "namespaceSelector": b}, _selector, _selector),
    st.builds(lambda c, ex: {"ipBlock": {"cidr": c, "except": ex}}, _cidr, st.lists(_cidr, max_size=2)),
)
_port = st.one_of(
    st.builds(lambda p: {"protocol": p}, st.sampled_from(["TCP", "UDP", "SCTP"])),
    st.builds(lambda p, n: {"protocol": p, "port": n}, st.sampled_from(["TCP", "UDP", "SCTP"]), st.integers(1, 65535)),
    st.builds(lambda n, w: {"port": n, "endPort": min(65535, n + w)}, st.integers(1, 65535), st.integers(0, 70000)),
    st.builds(lambda n: {"port": n}, st.sampled_from(["http", "dns", "metrics"])),
)
_rule = st.fixed_dictionaries({}, optional={"ports": st.lists(_port, max_size=3), "peers": st.lists(_peer, max_size=3)})
_spec = st.builds(
    lambda sel, ins, outs, types: {
        "podSelector": sel,
        "ingress": [{**({"ports": r["ports"]} if "ports" in r else {}), **({"from": r["peers"]} if "peers" in r else {})}
                    for r in ins],
        "egress": [{**({"ports": r["ports"]} if "ports" in r else {}), **({"to": r["peers"]} if "peers" in r else {})}
                   for r in outs],
        **({"policyTypes": types} if types else {})},
    _selector, st.lists(_rule, max_size=3), st.lists(_rule, max_size=3),
    st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]))


@settings(max_examples=200, deadline=None)
@given(st.lists(_spec, min_size=1, max_size=4), st.sampled_from(["tcp", "udp", "sctp"]), st.integers(1, 65535))
def test_any_valid_policy_compiles_renders_and_evaluates(specs: list[dict[str, Any]], protocol: str,
                                                         port: int) -> None:
    from shoal.api import validation

    policies = [np(f"p{i}", s) for i, s in enumerate(specs)]
    assume(all(not validation.validate(p) for p in policies))
    rules = compiled(*policies)
    script = policynft.render(rules, "t")
    assert script.count("{") == script.count("}")
    for src, dst in (("client", "web"), ("web", "far"), ("8.8.8.8", "db"), ("alice-db", "10.0.0.1")):
        allows(rules, ip(src), ip(dst), protocol, port)  # evaluates without error
