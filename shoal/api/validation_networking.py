"""Validation of networking.k8s.io NetworkPolicy objects, with upstream's rules and messages.

What a node cannot enforce must not be stored: a CIDR the dataplane cannot
parse, an ``except`` outside its block, a port range upside down. Each is a
422 naming the field, as upstream's ``ValidateNetworkPolicy`` words it.
``parse_cidr`` reads a CIDR as Go's ``net.ParseCIDR`` (sloppy about leading
zeros, strict about the ``/prefix``), and the policy compiler reads blocks
with it, so the two never disagree about what a block holds.
"""

from __future__ import annotations

import ipaddress
import re

from shoal.api.models.networking import (
    IPBlock,
    NetworkPolicy,
    NetworkPolicyPeer,
    NetworkPolicyPort,
)
from shoal.api.validation_base import (
    FieldError,
    child,
    forbidden,
    iana_svc_name,
    index,
    invalid,
    port_number,
    required,
    unsupported,
    validate_label_selector,
)

PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")
INVALID_CIDR = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_PREFIX = re.compile(r"[0-9]{1,3}")
_OCTET = re.compile(r"[0-9]{1,3}")


def parse_cidr(text: str) -> Network | None:
    """``addr/prefix`` as a network (host bits cleared), or None; IPv4 octets may have leading zeros."""
    addr, sep, bits = text.partition("/")
    if not sep or not _PREFIX.fullmatch(bits):
        return None
    if ":" not in addr:
        octets = addr.split(".")
        if len(octets) != 4 or not all(_OCTET.fullmatch(o) for o in octets):
            return None
        addr = ".".join(str(int(o)) for o in octets)
    try:
        return ipaddress.ip_network(f"{addr}/{int(bits)}", strict=False)
    except ValueError:
        return None


def validate_ip_block(block: IPBlock, path: str) -> list[FieldError]:
    if not block.cidr:
        return [required(child(path, "cidr"))]
    net = parse_cidr(block.cidr)
    if net is None:
        return [invalid(child(path, "cidr"), block.cidr, INVALID_CIDR)]
    errs: list[FieldError] = []
    for i, text in enumerate(block.except_ or []):
        at = index(child(path, "except"), i)
        exc = parse_cidr(text)
        if exc is None:
            errs.append(invalid(at, text, INVALID_CIDR))
        elif exc.version != net.version or exc.network_address not in net or exc.prefixlen <= net.prefixlen:
            errs.append(invalid(at, text, "must be a strict subset of `cidr`"))
    return errs


def validate_peer(peer: NetworkPolicyPeer, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    count = 0
    if peer.pod_selector is not None:
        count += 1
        errs += validate_label_selector(peer.pod_selector, child(path, "podSelector"))
    if peer.namespace_selector is not None:
        count += 1
        errs += validate_label_selector(peer.namespace_selector, child(path, "namespaceSelector"))
    if peer.ip_block is not None:
        count += 1
        errs += validate_ip_block(peer.ip_block, child(path, "ipBlock"))
    if count == 0:
        errs.append(required(path, "must specify a peer"))
    elif count > 1 and peer.ip_block is not None:
        errs.append(forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


def validate_port(port: NetworkPolicyPort, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if port.protocol is not None and port.protocol not in PROTOCOLS:
        errs.append(unsupported(child(path, "protocol"), port.protocol, PROTOCOLS))
    end_path = child(path, "endPort")
    if isinstance(port.port, int):
        errs += port_number(child(path, "port"), port.port)
        if port.end_port is not None:
            if port.end_port < port.port:
                errs.append(invalid(end_path, port.port, "must be greater than or equal to `port`"))
            errs += port_number(end_path, port.end_port)
    elif isinstance(port.port, str):
        if port.end_port is not None:
            errs.append(invalid(end_path, port.end_port, "may not be specified when `port` is non-numeric"))
        errs += [invalid(child(path, "port"), port.port, msg) for msg in iana_svc_name(port.port)]
    elif port.end_port is not None:
        errs.append(invalid(end_path, port.end_port, "may not be specified when `port` is not specified"))
    return errs


def _rule(ports: list[NetworkPolicyPort] | None, peers: list[NetworkPolicyPeer] | None, path: str,
          peers_field: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for j, port in enumerate(ports or []):
        errs += validate_port(port, index(child(path, "ports"), j))
    for j, peer in enumerate(peers or []):
        errs += validate_peer(peer, index(child(path, peers_field), j))
    return errs


def validate_network_policy(np: NetworkPolicy) -> list[FieldError]:
    spec = np.spec
    if spec is None:
        return []
    errs = validate_label_selector(spec.pod_selector, "spec.podSelector")
    for i, ingress in enumerate(spec.ingress or []):
        errs += _rule(ingress.ports, ingress.from_, index("spec.ingress", i), "from")
    for i, egress in enumerate(spec.egress or []):
        errs += _rule(egress.ports, egress.to, index("spec.egress", i), "to")
    types = spec.policy_types or []
    if len(types) > len(POLICY_TYPES):
        errs.append(invalid("spec.policyTypes", types, "may not specify more than two policyTypes"))
        return errs
    for i, t in enumerate(types):
        if t not in POLICY_TYPES:
            errs.append(unsupported(index("spec.policyTypes", i), t, POLICY_TYPES))
    return errs
