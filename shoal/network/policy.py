"""NetworkPolicy as one node's filter: policies, pods and namespaces in, typed rules out. Pure.

Each node enforces policy for its own pods, by pod IP, as Calico and
kube-router do: the node a pod runs on checks what reaches it (ingress) and
what it sends (egress). Traffic between two pods on different nodes is thus
checked twice, once for each direction, and needs no rule anywhere else.
Peers are matched cluster-wide (any pod's IP, any namespace's labels).

Upstream's semantics, which the compiled rules keep:

* a pod selected by any policy that names a direction in ``policyTypes`` is
  *isolated* for that direction; what it may then send or receive is the
  union of the rules of every policy selecting it (default deny either way is
  a policy with no rules); a pod no policy selects is untouched;
* a rule matches when its peers do (``from``/``to``; absent or empty: any
  address) and its ports do (absent or empty: any protocol and port);
  peers OR together, ports OR together;
* a peer with ``podSelector`` alone selects pods of the policy's namespace,
  ``namespaceSelector`` alone every pod of the selected namespaces, both
  together the selected pods *of* the selected namespaces (one peer, AND);
  ``ipBlock`` is its CIDR less its ``except`` blocks;
* a port is a protocol (default TCP) and a number, a range (``endPort``) or a
  container port name, resolved on the *destination* pod: for ingress the
  selected pod, for egress the peer pod (so an ``ipBlock`` matches no named
  port);
* replies of allowed connections pass (the renderer accepts conntrack
  ``established,related`` before any rule).

The output, ``NodeRules``, says which local pod IPs are isolated in each
direction and by which policies, each policy's rules as ``Allow`` entries over
named address sets and (address, protocol, port) sets. ``policynft`` turns it
into one nft transaction; ``allows`` evaluates it in Python, so the table
tests check upstream's examples against exactly what the kernel gets.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shoal.api import convert, defaults
from shoal.api import views as v
from shoal.api.models.networking import NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort
from shoal.api.selectors import Selector, SelectorError, from_label_selector
from shoal.api.validation_networking import parse_cidr

Direction = Literal["ingress", "egress"]
PROTOCOLS = ("tcp", "udp", "sctp")
NS_NAME_LABEL = "kubernetes.io/metadata.name"


# ---- inputs ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NamedPort:
    """A container port with a name: what a policy's named port resolves to on a pod."""

    name: str
    protocol: str  # tcp | udp | sctp
    port: int


@dataclass(frozen=True, slots=True)
class PodView:
    """What policy needs of a pod: where it is, its IPv4 address, labels and named ports."""

    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str]
    node: str = ""
    ports: tuple[NamedPort, ...] = ()


@dataclass(frozen=True, slots=True)
class NamespaceView:
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)


def _ipv4(value: object) -> str | None:
    try:
        return str(ipaddress.IPv4Address(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def pod_view(pod: v.Body) -> PodView | None:
    """The pod as policy sees it; None when policy has nothing to do with it: no IPv4 address yet,
    finished (its address may go to another pod), or on the host's network (policy never applies)."""
    spec = v.spec(pod)
    if spec.get("hostNetwork") or v.is_terminal(pod):
        return None
    ip = _ipv4(v.pod_ip(pod))
    if ip is None:
        return None
    ports: list[NamedPort] = []
    for c in v.containers(pod) + v.containers(pod, init=True):
        for p in c.get("ports") or []:
            num, name = p.get("containerPort"), p.get("name")
            if isinstance(name, str) and name and isinstance(num, int) and 1 <= num <= 65535:
                ports.append(NamedPort(name, str(p.get("protocol") or "TCP").lower(), num))
    return PodView(v.namespace(pod), v.name(pod), ip, v.labels(pod), v.node_name(pod), tuple(ports))


def namespace_view(ns: v.Body) -> NamespaceView:
    name = v.name(ns)
    return NamespaceView(name, {NS_NAME_LABEL: name, **v.labels(ns)})


def policy_of(obj: Mapping[str, Any]) -> NetworkPolicy:
    """A stored policy as the typed model, defaulted (raises ``InvalidError`` on a body that is not one)."""
    np = convert.decode(obj, NetworkPolicy)
    defaults.apply_defaults(np)
    return np


# ---- output ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PortMatch:
    """A protocol and, unless ``ranges`` is empty (every port), the destination port ranges it allows."""

    protocol: str
    ranges: tuple[tuple[int, int], ...] = ()

    def matches(self, protocol: str, port: int) -> bool:
        return protocol == self.protocol and (not self.ranges or any(lo <= port <= hi for lo, hi in self.ranges))


@dataclass(frozen=True, slots=True)
class Allow:
    """One accepting rule: the peer's address is in ``peers`` (None: any), the protocol and destination port
    match ``port`` (None: any), and (destination address, protocol, port) is in ``named`` (if set)."""

    peers: str | None = None
    port: PortMatch | None = None
    named: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyChain:
    """One policy's rules for one direction; an empty chain allows nothing (default deny)."""

    name: str
    direction: Direction
    policy: str  # namespace/name
    rules: tuple[Allow, ...]


@dataclass(frozen=True, slots=True)
class NodeRules:
    """One node's policy filter: for each isolated local pod IP the chains whose union it may use."""

    ingress: Mapping[str, tuple[str, ...]]
    egress: Mapping[str, tuple[str, ...]]
    chains: Mapping[str, PolicyChain]
    address_sets: Mapping[str, tuple[str, ...]]  # name -> IPv4 addresses and CIDRs, disjoint, sorted
    port_sets: Mapping[str, tuple[tuple[str, str, int], ...]]  # name -> (address, protocol, port)

    def size(self) -> dict[str, int]:
        """How big the rule set is (for logs and the benchmark)."""
        return {
            "isolated_ingress": len(self.ingress), "isolated_egress": len(self.egress),
            "chains": len(self.chains), "rules": sum(len(c.rules) for c in self.chains.values()),
            "sets": len(self.address_sets) + len(self.port_sets),
            "set_elements": sum(map(len, self.address_sets.values())) + sum(map(len, self.port_sets.values())),
        }


EMPTY = NodeRules({}, {}, {}, {}, {})


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:12]


Interval = tuple[int, int]  # IPv4 addresses as integers, both ends included


def _int(ip: str) -> int:
    return int(ipaddress.IPv4Address(ip))


def _block(cidr: str, excepts: Iterable[str]) -> list[Interval]:
    """An ipBlock's IPv4 addresses as disjoint intervals (an IPv6 block holds none of this node's traffic)."""
    net = parse_cidr(cidr)
    if not isinstance(net, ipaddress.IPv4Network):
        return []
    spans = [(int(net.network_address), int(net.broadcast_address))]
    for text in excepts:
        exc = parse_cidr(text)
        if not isinstance(exc, ipaddress.IPv4Network):
            continue
        lo, hi = int(exc.network_address), int(exc.broadcast_address)
        rest: list[Interval] = []
        for a, b in spans:
            if b < lo or a > hi:
                rest.append((a, b))
                continue
            if a < lo:
                rest.append((a, lo - 1))
            if b > hi:
                rest.append((hi + 1, b))
        spans = rest
    return spans


def _merge(spans: Iterable[Interval]) -> list[Interval]:
    """Sorted, with overlapping and adjacent intervals joined (addresses or ports alike)."""
    out: list[Interval] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _elements(spans: Iterable[Interval]) -> tuple[str, ...]:
    """Disjoint intervals as nft set elements: an address, or ``first-last``."""
    return tuple(_text(lo) if lo == hi else f"{_text(lo)}-{_text(hi)}" for lo, hi in _merge(spans))


def _text(value: int) -> str:
    """An IPv4 address from its integer (without an ``ipaddress`` object per address: thousands per sync)."""
    return f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"


def _within(value: int, spans: list[Interval]) -> bool:
    return any(lo <= value <= hi for lo, hi in spans)


class _Compiler:
    """One compilation: pods and namespaces indexed once, selections memoised across policies."""

    def __init__(self, pods: Iterable[PodView], namespaces: Iterable[NamespaceView], node: str | None) -> None:
        self.node = node
        self.by_ns: dict[str, list[PodView]] = {}
        by_ip: dict[str, PodView] = {}
        for p in sorted(pods, key=lambda p: (p.namespace, p.name)):
            self.by_ns.setdefault(p.namespace, []).append(p)
            by_ip.setdefault(p.ip, p)
        self.all_pods = list(by_ip.values())
        self.ints = {ip: _int(ip) for ip in by_ip}
        self.ns_labels = {n.name: n.labels for n in namespaces}
        self._pods_memo: dict[tuple[str, Selector], list[PodView]] = {}
        self._ns_memo: dict[Selector, list[str]] = {}
        self.address_sets: dict[str, tuple[str, ...]] = {}
        self.port_sets: dict[str, tuple[tuple[str, str, int], ...]] = {}

    def labels_of_ns(self, name: str) -> Mapping[str, str]:
        return self.ns_labels.get(name) or {NS_NAME_LABEL: name}

    def select_pods(self, namespace: str, sel: Selector) -> list[PodView]:
        key = (namespace, sel)
        hit = self._pods_memo.get(key)
        if hit is None:
            hit = [p for p in self.by_ns.get(namespace, ()) if sel.matches(p.labels)]
            self._pods_memo[key] = hit
        return hit

    def select_namespaces(self, sel: Selector) -> list[str]:
        hit = self._ns_memo.get(sel)
        if hit is None:
            names = sorted(set(self.by_ns) | set(self.ns_labels))
            hit = [n for n in names if sel.matches(self.labels_of_ns(n))]
            self._ns_memo[sel] = hit
        return hit

    def is_local(self, pod: PodView) -> bool:
        return self.node is None or pod.node == self.node

    # -- peers and ports --
    def peers(self, namespace: str, peers: list[NetworkPolicyPeer]
              ) -> tuple[list[PodView], list[Interval]]:
        """The pods a rule's peers select, and the address blocks they name."""
        pods: list[PodView] = []
        blocks: list[Interval] = []
        for peer in peers:
            if peer.ip_block is not None:
                blocks += _block(peer.ip_block.cidr, peer.ip_block.except_ or ())
                continue
            pod_sel = _selector(peer.pod_selector, everything_if_none=True)
            if peer.namespace_selector is None:
                spaces = [namespace]
            else:
                spaces = self.select_namespaces(_selector(peer.namespace_selector))
            for ns in spaces:
                pods += self.select_pods(ns, pod_sel)
        return pods, blocks

    def address_set(self, elements: tuple[str, ...]) -> str:
        name = "a" + _digest(",".join(elements))
        self.address_sets[name] = elements
        return name

    def port_set(self, elements: tuple[tuple[str, str, int], ...]) -> str:
        name = "n" + _digest(",".join(f"{a}.{p}.{n}" for a, p, n in elements))
        self.port_sets[name] = elements
        return name

    def allows(self, ports: list[NetworkPolicyPort], peers: str | None,
               destinations: Iterable[PodView] | None) -> list[Allow]:
        """The Allow entries of one rule's ports; ``destinations`` are the pods a named port may resolve on."""
        if not ports:
            return [Allow(peers)]
        numeric: dict[str, list[tuple[int, int]]] = {}
        whole: set[str] = set()
        named: list[tuple[str, str]] = []
        for p in ports:
            proto = (p.protocol or "TCP").lower()
            if proto not in PROTOCOLS:
                continue
            if p.port is None:
                whole.add(proto)
            elif isinstance(p.port, int):
                if 1 <= p.port <= 65535:
                    end = p.end_port if p.end_port is not None and p.end_port >= p.port else p.port
                    numeric.setdefault(proto, []).append((p.port, min(end, 65535)))
            else:
                named.append((p.port, proto))
        out: list[Allow] = []
        for proto in PROTOCOLS:
            if proto in whole:
                out.append(Allow(peers, PortMatch(proto)))
            elif proto in numeric:
                out.append(Allow(peers, PortMatch(proto, tuple(_merge(numeric[proto])))))
        if named:
            dests = list(destinations if destinations is not None else self.all_pods)
            for port_name, proto in named:
                elems = tuple(sorted({(d.ip, proto, np.port) for d in dests for np in d.ports
                                      if np.name == port_name and np.protocol == proto}))
                if elems:
                    out.append(Allow(peers, None, self.port_set(elems)))
        return out

    # -- one policy --
    def chain(self, np: NetworkPolicy, direction: Direction, targets: list[PodView]) -> PolicyChain:
        ns, name = _ns_name(np)
        rules: list[Allow] = []
        for ports, peers_spec in _rules(np, direction):
            peers: str | None = None
            dests: list[PodView] | None = targets if direction == "ingress" else None
            if peers_spec:
                pods, blocks = self.peers(ns, peers_spec)
                ints = self.ints
                elements = _elements([*blocks, *((ints[p.ip], ints[p.ip]) for p in pods)])
                if not elements:
                    continue  # its peers are nobody: the rule allows nothing
                peers = self.address_set(elements)
                if direction == "egress" and any(isinstance(p.port, str) for p in ports):
                    # a named port resolves on the destination: the peer pods, and pods inside its blocks
                    inside = [p for p in self.all_pods if blocks and _within(self.ints[p.ip], blocks)]
                    dests = list({p.ip: p for p in [*pods, *inside]}.values())
            rules += self.allows(ports, peers, dests)
        tag = "in" if direction == "ingress" else "eg"
        return PolicyChain(f"{tag}-{_digest(f'{ns}/{name}')}", direction, f"{ns}/{name}", tuple(dict.fromkeys(rules)))


def _rules(np: NetworkPolicy, direction: Direction
           ) -> list[tuple[list[NetworkPolicyPort], list[NetworkPolicyPeer] | None]]:
    """A policy's rules of one direction as (ports, peers)."""
    spec = np.spec
    if spec is None:
        return []
    if direction == "ingress":
        return [(r.ports or [], r.from_) for r in spec.ingress or []]
    return [(r.ports or [], r.to) for r in spec.egress or []]


def _ns_name(np: NetworkPolicy) -> tuple[str, str]:
    md = np.metadata
    return (md.namespace or "default", md.name or "") if md is not None else ("default", "")


def _selector(sel: Any, *, everything_if_none: bool = False) -> Selector:
    """A label selector; one that cannot be read selects nothing (validation refuses those anyway)."""
    if sel is None and everything_if_none:
        return from_label_selector({})
    try:
        return from_label_selector(sel)
    except SelectorError:
        return from_label_selector(None)


def policy_types(np: NetworkPolicy) -> tuple[Direction, ...]:
    """The directions a policy isolates: its ``policyTypes``, or upstream's default when unset."""
    spec = np.spec
    types = spec.policy_types if spec is not None else None
    if not types:
        return ("ingress", "egress") if spec is not None and spec.egress else ("ingress",)
    out: list[Direction] = []
    if "Ingress" in types:
        out.append("ingress")
    if "Egress" in types:
        out.append("egress")
    return tuple(out)


def compile_node(policies: Iterable[NetworkPolicy], pods: Iterable[PodView], namespaces: Iterable[NamespaceView],
                 *, node: str | None = None) -> NodeRules:
    """The filter of ``node`` (None: every pod counts as local, one filter for the whole cluster)."""
    c = _Compiler(pods, namespaces, node)
    isolated: dict[Direction, dict[str, list[str]]] = {"ingress": {}, "egress": {}}
    chains: dict[str, PolicyChain] = {}
    for np in sorted(policies, key=_ns_name):
        ns, _ = _ns_name(np)
        targets = [p for p in c.select_pods(ns, _selector(np.spec.pod_selector if np.spec else None,
                                                          everything_if_none=True)) if c.is_local(p)]
        if not targets:
            continue  # selects no pod of this node: nothing to enforce here
        for direction in policy_types(np):
            ch = c.chain(np, direction, targets)
            chains[ch.name] = ch
            for p in targets:
                names = isolated[direction].setdefault(p.ip, [])
                if ch.name not in names:
                    names.append(ch.name)
    used_addr = {a.peers for ch in chains.values() for a in ch.rules if a.peers}
    used_ports = {a.named for ch in chains.values() for a in ch.rules if a.named}
    return NodeRules(
        ingress={ip: tuple(n) for ip, n in sorted(isolated["ingress"].items())},
        egress={ip: tuple(n) for ip, n in sorted(isolated["egress"].items())},
        chains=chains,
        address_sets={k: e for k, e in sorted(c.address_sets.items()) if k in used_addr},
        port_sets={k: e for k, e in sorted(c.port_sets.items()) if k in used_ports},
    )


# ---- evaluation ----------------------------------------------------------------------------------
def _in_set(elements: tuple[str, ...], ip: str) -> bool:
    value = _int(ip)
    for e in elements:
        lo, _, hi = e.partition("-")
        if _int(lo) <= value <= _int(hi or lo):
            return True
    return False


def _chain_allows(rules: NodeRules, chain: PolicyChain, peer: str, dst: str, protocol: str, port: int) -> bool:
    for a in chain.rules:
        if a.peers is not None and not _in_set(rules.address_sets[a.peers], peer):
            continue
        if a.port is not None and not a.port.matches(protocol, port):
            continue
        if a.named is not None and (dst, protocol, port) not in rules.port_sets[a.named]:
            continue
        return True
    return False


def allows(rules: NodeRules, src: str, dst: str, protocol: str = "tcp", port: int = 80) -> bool:
    """Whether this node lets a new connection from ``src`` to ``dst`` through (both checks it makes)."""
    for direction, isolated_ip, peer in (("egress", src, dst), ("ingress", dst, src)):
        names = (rules.egress if direction == "egress" else rules.ingress).get(isolated_ip)
        if names is not None and not any(_chain_allows(rules, rules.chains[n], peer, dst, protocol, port)
                                         for n in names):
            return False
    return True
