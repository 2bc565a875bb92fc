"""The service dataplane as an nftables ruleset. Pure: objects in, nft script out.

One table per node, ``ip shoal_<node>``, replaced atomically on every change
(``nft -f`` runs the whole script as one transaction, so traffic never sees
half a ruleset). Two nodes on one machine each keep their own table with the
same rules; whichever DNAT runs first wins, and the other table never sees a
second NAT decision for that connection, so they do not disturb each other.

* a verdict map from ``VIP . protocol . port`` to a per-service-port chain
  (VIPs, externalIPs and LoadBalancer ingress IPs), consulted from
  ``prerouting`` (traffic from pods and other machines) and ``output``
  (traffic from this host); one from ``protocol . nodePort``, and one from
  ``protocol . port`` of LoadBalancer services, both for addresses local to
  this node (``fib daddr type local``, loopback excepted), as k3s's ServiceLB
  opens a LoadBalancer's port on every node's address;
* each service-port chain picks an endpoint: ``numgen random`` spreads
  connections evenly, ``jhash ip saddr`` pins a client to one endpoint for
  ``sessionAffinity: ClientIP``; conntrack keeps a connection on its endpoint;
* each endpoint chain DNATs, and marks for masquerade the hairpin case (a pod
  reaching itself through its Service) and traffic from this host, so replies
  come back through the host's conntrack;
* traffic arriving from outside (node ports, LoadBalancer ports, externalIPs
  and ingress IPs) enters a service port's ``-ext`` chain: with
  ``externalTrafficPolicy: Cluster`` it is marked for masquerade (its endpoint
  may be on another node, whose reply must come back through this one) and
  spread over every endpoint; with ``Local`` it goes only to this node's
  endpoints, unmasqueraded, so the pod sees the client's address. A VIP with
  ``internalTrafficPolicy: Local`` picks among this node's endpoints only. A
  port with no endpoint to pick gets no map element: the connection is refused
  on this node (upstream drops it; a refusal says sooner what is wrong).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeGuard

from shoal.api import views as v
from shoal.api.views import Body, EndpointSubset

TABLE = "shoal"
MASQ_MARK = 0x4000


def table_name(node_name: str, cluster_id: str = "") -> str:
    """``shoal_<node>``: the node name with what nft identifiers cannot hold replaced by ``_``; with the cluster's
    ID, ``shoal_<first 8 hex digits>_<node>`` (two clusters on one machine may name their nodes alike)."""
    clean = re.sub(r"[^a-z0-9_]", "_", node_name.lower())
    if len(clean) > 40:
        clean = clean[:31] + "_" + hashlib.sha1(node_name.encode()).hexdigest()[:8]
    if cluster_id:
        clean = f"{cluster_id.replace('-', '')[:8]}_{clean}"
    return f"{TABLE}_{clean}" if clean else TABLE


def is_shoal_table(name: str) -> bool:
    return name == TABLE or name.startswith(TABLE + "_")


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
    # a LoadBalancer whose ingress is assigned: its port is open on this node's addresses
    load_balancer: bool = False
    ingress_ips: tuple[str, ...] = ()
    # the traffic policies: "Local" keeps traffic on this node (the endpoints whose nodeName is it)
    local_endpoints: tuple[tuple[str, int], ...] = ()
    external_local: bool = False
    internal_local: bool = False

    @property
    def chain(self) -> str:
        h = hashlib.sha1(f"{self.namespace}/{self.name}/{self.port_name}/{self.protocol}".encode()).hexdigest()
        return f"svc-{h[:12]}"


def _ipv4(value: object) -> TypeGuard[str]:
    try:
        return isinstance(value, str) and isinstance(ipaddress.ip_address(value), ipaddress.IPv4Address)
    except ValueError:
        return False


def _port(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and 1 <= value <= 65535


def _backends(subsets: list[EndpointSubset], port_name: str, proto: str,
              node: str = "") -> tuple[tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]:
    """The (address, port) pairs of the Endpoints for one Service port, sorted; and those on ``node``."""
    backends: list[tuple[str, int]] = []
    local: list[tuple[str, int]] = []
    for sub in subsets:
        num = next((sp.get("port") for sp in sub.get("ports") or []
                    if (sp.get("name") or "") == port_name and v.port_protocol(sp).lower() == proto), None)
        if not _port(num):
            continue
        for a in sub.get("addresses") or []:
            if _ipv4(a.get("ip")):
                backends.append((str(a["ip"]), int(num)))
                if node and a.get("nodeName") == node:
                    local.append((str(a["ip"]), int(num)))
    return tuple(sorted(backends)), tuple(sorted(local))


def _ingress_ips(svc: Body) -> tuple[str, ...]:
    """A LoadBalancer's assigned ingress addresses (none for other types)."""
    if v.service_spec(svc).get("type") != "LoadBalancer":
        return ()
    return tuple(i["ip"] for i in v.load_balancer_ingress(svc) if _ipv4(i.get("ip")))


def service_ports(services: Iterable[Body], endpoints: Mapping[tuple[str, str], Body],
                  node: str = "") -> list[ServicePort]:
    """Flatten Services and their Endpoints into the ports the dataplane of ``node`` serves.

    What nft cannot hold (an address that is not IPv4, a port out of 1-65535: hand-written
    Endpoints, a status written by another controller) is left out here, since one bad
    element would make nft reject the whole ruleset, every Service's.
    """
    out: list[ServicePort] = []
    for svc in services:
        spec = v.service_spec(svc)
        if spec.get("type") == "ExternalName":
            continue
        ns, name = v.namespace(svc), v.name(svc)
        vip: str | None = v.cluster_ip(svc)
        vip = vip if _ipv4(vip) else None
        ep = endpoints.get((ns, name))
        subsets = v.subsets(ep) if ep is not None else []
        ingress = _ingress_ips(svc)
        external = tuple(ip for ip in spec.get("externalIPs") or () if _ipv4(ip))
        for p in v.service_ports(svc):
            proto = v.port_protocol(p).lower()
            pname = p.get("name") or ""
            node_port = p.get("nodePort")
            if vip is None and not node_port:
                continue  # headless: DNS only
            if not _port(p.get("port")) or proto not in ("tcp", "udp", "sctp"):
                continue
            backends, local = _backends(subsets, pname, proto, node)
            out.append(ServicePort(
                ns, name, pname, proto, vip, int(p["port"]), int(node_port) if _port(node_port) else None,
                spec.get("sessionAffinity") == "ClientIP", backends, external,
                load_balancer=bool(ingress), ingress_ips=ingress, local_endpoints=local,
                external_local=spec.get("externalTrafficPolicy") == "Local"
                and spec.get("type") in ("NodePort", "LoadBalancer"),
                internal_local=spec.get("internalTrafficPolicy") == "Local",
            ))
    return out


def cidr_comment(cidr: str) -> str:
    return f"shoal service-cidr {cidr}"


def internal_picks(sp: ServicePort) -> list[int]:
    """Indexes (in ``sp.endpoints``) of the endpoints a VIP's connections go to."""
    if not sp.internal_local:
        return list(range(len(sp.endpoints)))
    local = set(sp.local_endpoints)
    return [i for i, ep in enumerate(sp.endpoints) if ep in local]


def external_picks(sp: ServicePort) -> list[int]:
    """Indexes of the endpoints that connections from outside (node ports, external addresses) go to."""
    if not sp.external_local:
        return list(range(len(sp.endpoints)))
    local = set(sp.local_endpoints)
    return [i for i, ep in enumerate(sp.endpoints) if ep in local]


def internal_endpoints(sp: ServicePort) -> tuple[tuple[str, int], ...]:
    """The endpoints a VIP's connections go to (``internalTrafficPolicy``): every dataplane's one answer."""
    return tuple(sp.endpoints[i] for i in internal_picks(sp))


def external_endpoints(sp: ServicePort) -> tuple[tuple[str, int], ...]:
    """The endpoints connections from outside go to (``externalTrafficPolicy``): every dataplane's one answer."""
    return tuple(sp.endpoints[i] for i in external_picks(sp))


def _pick(sp: ServicePort, picks: list[int]) -> str:
    if len(picks) == 1:
        return f"\t\tgoto {sp.chain}-{picks[0]}"
    how = "jhash ip saddr mod" if sp.affinity else "numgen random mod"
    vm = ", ".join(f"{n} : goto {sp.chain}-{i}" for n, i in enumerate(picks))
    return f"\t\t{how} {len(picks)} vmap {{ {vm} }}"


def _chains(sp: ServicePort) -> list[str]:
    """A service port's chains that pick an endpoint (for a VIP; ``-ext`` for traffic from outside,
    marked for masquerade unless the policy is Local) and one chain per endpoint, which DNATs to it."""
    chain = sp.chain
    out = []
    internal, external = internal_picks(sp), external_picks(sp)
    if internal:
        out.append(f"\tchain {chain} {{\n{_pick(sp, internal)}\n\t}}")
    if external:
        masq = "" if sp.external_local else "\t\tjump mark-masq\n"
        out.append(f"\tchain {chain}-ext {{\n{masq}{_pick(sp, external)}\n\t}}")
    for i, (ip, port) in enumerate(sp.endpoints):
        out.append(
            f"\tchain {chain}-{i} {{\n"
            f"\t\tip saddr {ip} jump mark-masq\n"
            f"\t\tmeta l4proto {sp.protocol} dnat to {ip}:{port}\n\t}}"
        )
    return out


def _base_chains(cidr: str) -> list[str]:
    """The chains every table has: the hooks, the lookups in the maps, and masquerading."""
    # node ports are not served on loopback (DNAT out of it needs route_localnet) nor on the service
    # CIDR, which is local too: the cluster DNS there must not be taken by a LoadBalancer on port 53
    not_node = "{ 127.0.0.0/8, " + cidr + " }" if cidr else "127.0.0.0/8"
    return [
        "\tchain mark-masq {\n\t\tmeta mark set meta mark | " + hex(MASQ_MARK) + "\n\t}",
        "\tchain services {\n"
        "\t\tip daddr . meta l4proto . th dport vmap @service-ips\n"
        f"\t\tip daddr != {not_node} fib daddr type local meta l4proto . th dport vmap @service-nodeports\n"
        f"\t\tip daddr != {not_node} fib daddr type local meta l4proto . th dport vmap @service-lbports\n\t}}",
        "\tchain prerouting {\n\t\ttype nat hook prerouting priority -100; policy accept;\n\t\tjump services\n\t}",
        "\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n"
        "\t\tip daddr . meta l4proto . th dport @service-ips-keys jump mark-masq\n"
        "\t\tjump services\n\t}",
        "\tchain postrouting {\n\t\ttype nat hook postrouting priority 100; policy accept;\n"
        f"\t\tmeta mark & {hex(MASQ_MARK)} == {hex(MASQ_MARK)} masquerade\n\t}}",
    ]


def render(ports: list[ServicePort], table: str = TABLE, *, cidr: str = "", comment: str = "") -> str:
    """The nft script that replaces table ``ip <table>`` with these service ports.

    The table's comment (``comment``, else ``cidr_comment(cidr)``) names the service CIDR it serves, so a
    node stopping on a machine can tell whether another node still needs the CIDR's local route, and (see
    ``shoal.network.machine``) the cluster and process that own it.
    """
    lines = [f"table ip {table} {{}}", f"delete table ip {table}", f"table ip {table} {{",
             f'\tcomment "{comment or cidr_comment(cidr)}"']
    # key -> element; the first claim of a key wins (nft rejects a map with a key twice, and two
    # Services may claim one externalIP or LoadBalancer port until the ServiceLB controller decides)
    vip_elems: dict[str, str] = {}
    np_elems: dict[str, str] = {}
    lb_elems: dict[str, str] = {}
    chains: list[str] = []
    for sp in ports:
        if not sp.endpoints:
            continue  # no rule: the VIP is local, so the connection is refused on this machine
        if sp.vip and internal_picks(sp):
            vip_elems.setdefault(f"{sp.vip} . {sp.protocol} . {sp.port}", f"goto {sp.chain}")
        if external_picks(sp):
            ext = f"goto {sp.chain}-ext"
            for addr in (*sp.external_ips, *sp.ingress_ips):
                vip_elems.setdefault(f"{addr} . {sp.protocol} . {sp.port}", ext)
            if sp.node_port:
                np_elems.setdefault(f"{sp.protocol} . {sp.node_port}", ext)
            if sp.load_balancer:
                lb_elems.setdefault(f"{sp.protocol} . {sp.port}", ext)
        chains += _chains(sp)
    for map_name, typ, elems in (("service-ips", "ipv4_addr . inet_proto . inet_service", vip_elems),
                                 ("service-nodeports", "inet_proto . inet_service", np_elems),
                                 ("service-lbports", "inet_proto . inet_service", lb_elems)):
        lines.append(f"\tmap {map_name} {{\n\t\ttype {typ} : verdict")
        if elems:
            lines.append("\t\telements = { " + ",\n\t\t\t".join(f"{k} : {v}" for k, v in elems.items()) + " }")
        lines.append("\t}")
    lines += _base_chains(cidr)
    keys = sorted(vip_elems)
    lines.insert(4, "\tset service-ips-keys {\n\t\ttype ipv4_addr . inet_proto . inet_service"
                 + (("\n\t\telements = { " + ", ".join(keys) + " }") if keys else "") + "\n\t}")
    lines += chains
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_delete(table: str = TABLE) -> str:
    return f"table ip {table} {{}}\ndelete table ip {table}\n"
