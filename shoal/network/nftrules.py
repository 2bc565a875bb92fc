"""The service dataplane as an nftables ruleset. Pure: objects in, nft script out.

One table, ``ip shoal``, replaced atomically on every change (``nft -f`` runs
the whole script as one transaction, so traffic never sees half a ruleset):

* a verdict map from ``VIP . protocol . port`` to a per-service-port chain,
  consulted from ``prerouting`` (traffic from pods and other machines) and
  ``output`` (traffic from this host), and one from ``protocol . nodePort``
  for addresses local to this node;
* each service-port chain picks an endpoint: ``numgen random`` spreads
  connections evenly, ``jhash ip saddr`` pins a client to one endpoint for
  ``sessionAffinity: ClientIP``; conntrack keeps a connection on its endpoint;
* each endpoint chain DNATs, and marks for masquerade the hairpin case (a pod
  reaching itself through its Service) and traffic from this host, so replies
  come back through the host's conntrack.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

TABLE = "shoal"
MASQ_MARK = 0x4000
Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ServicePort:
    namespace: str
    name: str
    port_name: str
    protocol: str  # tcp | udp | sctp
    vip: str | None
    port: int
    node_port: int | None
    affinity: bool
    endpoints: tuple[tuple[str, int], ...] = field(default=())
    external_ips: tuple[str, ...] = ()

    @property
    def chain(self) -> str:
        h = hashlib.sha1(f"{self.namespace}/{self.name}/{self.port_name}/{self.protocol}".encode()).hexdigest()
        return f"svc-{h[:12]}"


def service_ports(services: list[Obj], endpoints: dict[tuple[str, str], Obj]) -> list[ServicePort]:
    """Flatten Services and their Endpoints into the ports the dataplane serves."""
    out: list[ServicePort] = []
    for svc in services:
        md, spec = svc.get("metadata") or {}, svc.get("spec") or {}
        ns, name = md.get("namespace") or "", md.get("name") or ""
        if spec.get("type") == "ExternalName":
            continue
        vip = spec.get("clusterIP")
        vip = vip if vip and vip != "None" else None
        ep = endpoints.get((ns, name)) or {}
        for p in spec.get("ports") or []:
            proto = (p.get("protocol") or "TCP").lower()
            pname = p.get("name") or ""
            backends: list[tuple[str, int]] = []
            for sub in ep.get("subsets") or []:
                num = next((int(sp["port"]) for sp in sub.get("ports") or []
                            if (sp.get("name") or "") == pname and (sp.get("protocol") or "TCP").lower() == proto),
                           None)
                if num is None:
                    continue
                backends += [(a["ip"], num) for a in sub.get("addresses") or [] if a.get("ip")]
            if vip is None and not p.get("nodePort"):
                continue  # headless: DNS only
            out.append(ServicePort(
                ns, name, pname, proto, vip, int(p.get("port") or 0),
                int(p["nodePort"]) if p.get("nodePort") else None,
                spec.get("sessionAffinity") == "ClientIP", tuple(sorted(backends)),
                tuple(spec.get("externalIPs") or ()),
            ))
    return out


def render(ports: list[ServicePort], table: str = TABLE) -> str:
    """The nft script that replaces table ``ip <table>`` with these service ports."""
    lines = [f"table ip {table} {{}}", f"delete table ip {table}", f"table ip {table} {{"]
    vip_elems: list[str] = []
    np_elems: list[str] = []
    chains: list[str] = []
    for sp in ports:
        if not sp.endpoints:
            continue  # no rule: the VIP is local, so the connection is refused on this machine
        for addr in (sp.vip, *sp.external_ips):
            if addr:
                vip_elems.append(f"{addr} . {sp.protocol} . {sp.port} : goto {sp.chain}")
        if sp.node_port:
            np_elems.append(f"{sp.protocol} . {sp.node_port} : goto {sp.chain}")
        n = len(sp.endpoints)
        pick = "jhash ip saddr mod" if sp.affinity else "numgen random mod"
        if n == 1:
            body = [f"\t\tgoto {sp.chain}-0"]
        else:
            vm = ", ".join(f"{i} : goto {sp.chain}-{i}" for i in range(n))
            body = [f"\t\t{pick} {n} vmap {{ {vm} }}"]
        chains.append(f"\tchain {sp.chain} {{\n" + "\n".join(body) + "\n\t}")
        for i, (ip, port) in enumerate(sp.endpoints):
            chains.append(
                f"\tchain {sp.chain}-{i} {{\n"
                f"\t\tip saddr {ip} jump mark-masq\n"
                f"\t\tmeta l4proto {sp.protocol} dnat to {ip}:{port}\n\t}}"
            )
    lines.append("\tmap service-ips {\n\t\ttype ipv4_addr . inet_proto . inet_service : verdict")
    if vip_elems:
        lines.append("\t\telements = { " + ",\n\t\t\t".join(vip_elems) + " }")
    lines.append("\t}")
    lines.append("\tmap service-nodeports {\n\t\ttype inet_proto . inet_service : verdict")
    if np_elems:
        lines.append("\t\telements = { " + ",\n\t\t\t".join(np_elems) + " }")
    lines.append("\t}")
    lines += [
        "\tchain mark-masq {\n\t\tmeta mark set meta mark | " + hex(MASQ_MARK) + "\n\t}",
        "\tchain services {\n"
        "\t\tip daddr . meta l4proto . th dport vmap @service-ips\n"
        "\t\tip daddr != 127.0.0.0/8 fib daddr type local meta l4proto . th dport vmap @service-nodeports\n\t}",
        "\tchain prerouting {\n\t\ttype nat hook prerouting priority -100; policy accept;\n\t\tjump services\n\t}",
        "\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n"
        "\t\tip daddr . meta l4proto . th dport @service-ips-keys jump mark-masq\n"
        "\t\tjump services\n\t}",
        "\tchain postrouting {\n\t\ttype nat hook postrouting priority 100; policy accept;\n"
        f"\t\tmeta mark & {hex(MASQ_MARK)} == {hex(MASQ_MARK)} masquerade\n\t}}",
    ]
    keys = sorted({e.split(" : ")[0] for e in vip_elems})
    lines.insert(3, "\tset service-ips-keys {\n\t\ttype ipv4_addr . inet_proto . inet_service"
                 + (("\n\t\telements = { " + ", ".join(keys) + " }") if keys else "") + "\n\t}")
    lines += chains
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_delete(table: str = TABLE) -> str:
    return f"table ip {table} {{}}\ndelete table ip {table}\n"
