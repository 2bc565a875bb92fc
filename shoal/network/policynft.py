"""A node's NetworkPolicy filter as one nft script. Pure: ``NodeRules`` in, text out.

One table per node, ``inet shoal-policy_<node>``, apart from the services'
``ip shoal_<node>`` and replaced whole in one ``nft -f`` transaction, so a
packet meets either the old rules or the new ones, never half of each.

Where packets are judged:

* ``forward`` (priority ``filter``, after the services' DNAT at ``prerouting``
  -100, so a connection to a VIP is judged by the pod it reaches): traffic
  between pods, bridged on ``shoal0`` (br_netfilter hands bridged IPv4 to
  these hooks) or routed between nodes. Two base chains: ``egress`` asks
  whether the sending pod may send, ``ingress`` whether the receiving pod may
  receive. An ``accept`` ends only its own base chain, so a packet must pass
  both; a ``drop`` in either is final;
* ``input``: what a pod sends to this node itself (the cluster DNS here, a
  NodePort, the API) is the pod's egress too, as upstream, where DNS is a
  pod behind a VIP: an egress default deny blocks DNS unless a rule allows
  port 53;
* nothing on ``output``: the node reaches its pods whatever their policy
  (upstream: "traffic from the pod's node is allowed"; probes need it).

Each base chain first accepts conntrack ``established,related`` (replies of
allowed connections), then looks the pod IP up in a verdict map: a pod not in
it is not isolated and passes; an isolated pod goes to the chain of its
*class* (the pods that the same policies select share one), which jumps to
each policy's chain, whose rules ``accept``, and ends in ``drop``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from shoal.network import nftrules
from shoal.network.policy import Allow, NodeRules, PolicyChain, PortMatch

PREFIX = "shoal-policy"
ADDRESS = "ipv4_addr"
ADDRESS_PORT = "ipv4_addr . inet_proto . inet_service"


def table_name(node_name: str, cluster_id: str = "") -> str:
    """``shoal-policy_<node>`` (``shoal-policy_<cluster id8>_<node>``), named as the services' table."""
    return PREFIX + nftrules.table_name(node_name, cluster_id)[len(nftrules.TABLE):]


def is_policy_table(name: str) -> bool:
    return name == PREFIX or name.startswith(PREFIX + "_")


def _ports(m: PortMatch) -> str:
    if not m.ranges:
        return f"meta l4proto {m.protocol}"
    items = [str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in m.ranges]
    spec = items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"
    return f"meta l4proto {m.protocol} th dport {spec}"


def _rule(a: Allow, peer_field: str) -> str:
    parts = []
    if a.peers is not None:
        parts.append(f"ip {peer_field} @{a.peers}")
    if a.port is not None:
        parts.append(_ports(a.port))
    if a.named is not None:
        parts.append(f"ip daddr . meta l4proto . th dport @{a.named}")
    parts.append("accept")
    return " ".join(parts)


def _policy_chain(ch: PolicyChain) -> str:
    peer_field = "saddr" if ch.direction == "ingress" else "daddr"
    body = "".join(f"\t\t{_rule(a, peer_field)}\n" for a in ch.rules)
    return f"\tchain {ch.name} {{\n\t\tcomment \"{ch.policy} {ch.direction}\"\n{body}\t}}"


def _classes(pods: Mapping[str, tuple[str, ...]], tag: str) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Pod IP -> class chain, and class chain -> its policy chains: pods selected by the same policies share one."""
    by_pod: dict[str, str] = {}
    classes: dict[str, tuple[str, ...]] = {}
    for ip, chains in pods.items():
        name = f"{tag}-c" + hashlib.sha1(" ".join(chains).encode()).hexdigest()[:12]
        classes[name] = chains
        by_pod[ip] = name
    return by_pod, classes


def _elements(items: list[str]) -> str:
    return "\t\telements = { " + ",\n\t\t\t".join(items) + " }\n" if items else ""


def render(rules: NodeRules, table: str) -> str:
    """The nft script that replaces ``inet <table>`` with this node's filter."""
    out = [f"table inet {table} {{}}", f"delete table inet {table}", f"table inet {table} {{",
           '\tcomment "shoal network policy"']
    for name, addrs in rules.address_sets.items():
        out.append(f"\tset {name} {{\n\t\ttype {ADDRESS}\n\t\tflags interval\n{_elements(list(addrs))}\t}}")
    for name, elems in rules.port_sets.items():
        items = [f"{ip} . {proto} . {port}" for ip, proto, port in elems]
        out.append(f"\tset {name} {{\n\t\ttype {ADDRESS_PORT}\n{_elements(items)}\t}}")
    class_chains: list[str] = []
    for direction, pods in (("ingress", rules.ingress), ("egress", rules.egress)):
        tag = "in" if direction == "ingress" else "eg"
        by_pod, classes = _classes(pods, tag)
        items = [f"{ip} : goto {cls}" for ip, cls in by_pod.items()]
        out.append(f"\tmap {direction}-pods {{\n\t\ttype {ADDRESS} : verdict\n{_elements(items)}\t}}")
        for cls, chains in sorted(classes.items()):
            jumps = "".join(f"\t\tjump {c}\n" for c in chains)
            class_chains.append(f"\tchain {cls} {{\n{jumps}\t\tdrop\n\t}}")
    established = "\t\tct state established,related accept\n"
    out += [
        "\tchain egress {\n\t\ttype filter hook forward priority filter; policy accept;\n"
        f"{established}\t\tip saddr vmap @egress-pods\n\t}}",
        "\tchain egress-to-node {\n\t\ttype filter hook input priority filter; policy accept;\n"
        f"{established}\t\tip saddr vmap @egress-pods\n\t}}",
        "\tchain ingress {\n\t\ttype filter hook forward priority filter + 10; policy accept;\n"
        f"{established}\t\tip daddr vmap @ingress-pods\n\t}}",
    ]
    out += class_chains
    out += [_policy_chain(ch) for ch in rules.chains.values()]
    out.append("}")
    return "\n".join(out) + "\n"


def render_delete(table: str) -> str:
    return f"table inet {table} {{}}\ndelete table inet {table}\n"
