"""Node IPAM, the decision: which pod CIDR a Node gets. Pure: nodes in, one action out.

As kube-controller-manager's range allocator (``--allocate-node-cidrs``), the
cluster CIDR (``--cluster-cidr``, 10.42.0.0/16 as k3s) is cut into subnets of
``--node-cidr-mask-size`` bits (/24: 256 nodes of 254 pods each). A Node
without ``spec.podCIDR`` gets the lowest subnet that no other Node holds and no
assignment still in flight claims; a Node's podCIDR never changes (the API
refuses it, as upstream), and it is free again once the Node is deleted.

"Held" is computed from the Nodes the controller sees, so two controllers (two
servers on one etcd) could pick the same subnet for two Nodes at once. The
store settles that: the API reserves every Node's podCIDR under a key of its
own (``shoal.apiserver.podcidrs``) with the store's atomic create, so the
second write is refused and its controller plans again.

A full range is not an error of the controller: the Node gets the condition
``NetworkUnavailable=True`` (reason ``NoPodCIDRAvailable``, a message saying
how many subnets are in use) and the controller tries again when a Node goes.
A condition the controller set is cleared (``False``, ``PodCIDRAssigned``) once
the Node has a range.

``check_ranges`` is the start-up check of ``shoal server``: a cluster CIDR that
overlaps the service CIDR would hand pods addresses the service proxy takes for
VIPs, so the server refuses to start and says which ranges meet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from shoal.api.views import Body, condition, name, pod_cidrs

DEFAULT_CLUSTER_CIDR = "10.42.0.0/16"
DEFAULT_NODE_MASK = 24
CONDITION = "NetworkUnavailable"
REASON_FULL = "NoPodCIDRAvailable"
REASON_ASSIGNED = "PodCIDRAssigned"
MAX_SUBNETS = 1 << 16  # a cluster CIDR cut into more subnets than this is surely a mistake


@dataclass(frozen=True, slots=True)
class IpamConfig:
    cluster: ipaddress.IPv4Network
    mask: int

    @property
    def size(self) -> int:
        return 1 << (self.mask - self.cluster.prefixlen)

    def subnet(self, index: int) -> ipaddress.IPv4Network:
        step = 1 << (32 - self.mask)
        return ipaddress.IPv4Network((int(self.cluster.network_address) + index * step, self.mask))


def parse_config(cluster_cidr: str, mask: int) -> IpamConfig:
    """The checked configuration; ``ValueError`` with a message naming the option otherwise."""
    try:
        net = ipaddress.ip_network(cluster_cidr, strict=True)
    except ValueError as e:
        raise ValueError(f"--cluster-cidr {cluster_cidr!r}: {e}") from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise ValueError(f"--cluster-cidr {cluster_cidr!r}: only IPv4 is supported")
    if not net.prefixlen <= mask <= 30:
        raise ValueError(f"--node-cidr-mask-size {mask}: must be between the cluster CIDR's prefix "
                         f"({net.prefixlen}) and 30")
    if mask - net.prefixlen > 16:
        raise ValueError(f"--node-cidr-mask-size {mask}: cuts {cluster_cidr} into more than {MAX_SUBNETS} subnets")
    return IpamConfig(net, mask)


def check_ranges(cluster_cidr: str, service_cidr: str) -> str | None:
    """Why these two ranges cannot be used together (None when they can)."""
    try:
        cluster = ipaddress.ip_network(cluster_cidr, strict=False)
        service = ipaddress.ip_network(service_cidr, strict=False)
    except ValueError as e:
        return str(e)
    if cluster.version == service.version and cluster.overlaps(service):  # type: ignore[arg-type]
        return (f"--cluster-cidr {cluster} and --service-cidr {service} overlap: pods and Services need "
                "separate address ranges (k3s's defaults are 10.42.0.0/16 and 10.43.0.0/16)")
    return None


def held_networks(cidrs: Iterable[str]) -> list[ipaddress.IPv4Network]:
    out = []
    for c in cidrs:
        try:
            net = ipaddress.ip_network(c, strict=False)
        except ValueError:
            continue  # the API validates podCIDRs; a bad one holds nothing
        if isinstance(net, ipaddress.IPv4Network):
            out.append(net)
    return out


def first_free(cfg: IpamConfig, held: Iterable[ipaddress.IPv4Network]) -> ipaddress.IPv4Network | None:
    """The lowest subnet overlapping nothing in ``held`` (which may hold ranges of any size, or outside)."""
    shift = 32 - cfg.mask
    base = int(cfg.cluster.network_address)
    top = int(cfg.cluster.broadcast_address)
    taken: set[int] = set()
    for h in held:
        lo, hi = max(int(h.network_address), base), min(int(h.broadcast_address), top)
        if lo > hi:
            continue  # outside the cluster CIDR
        taken.update(range((lo - base) >> shift, ((hi - base) >> shift) + 1))
    for i in range(cfg.size):
        if i not in taken:
            return cfg.subnet(i)
    return None


@dataclass(frozen=True, slots=True)
class Assign:
    node: str
    cidr: str


@dataclass(frozen=True, slots=True)
class MarkUnavailable:
    node: str
    message: str


@dataclass(frozen=True, slots=True)
class ClearUnavailable:
    node: str


Action = Assign | MarkUnavailable | ClearUnavailable


def marked_full(node: Body) -> bool:
    c = condition(node, CONDITION)
    return c is not None and c.get("status") == "True" and c.get("reason") == REASON_FULL


def decide(cfg: IpamConfig, node: Body, others: Iterable[str]) -> Action | None:
    """What to do for ``node``, given the pod CIDRs every other Node holds or is being given."""
    node_name = name(node)
    if pod_cidrs(node):
        return ClearUnavailable(node_name) if marked_full(node) else None
    held = held_networks(others)
    free = first_free(cfg, held)
    if free is not None:
        return Assign(node_name, str(free))
    if marked_full(node):
        return None
    in_use = sum(1 for h in held if h.overlaps(cfg.cluster))
    return MarkUnavailable(node_name, f"no free /{cfg.mask} left in the cluster CIDR {cfg.cluster} "
                                      f"({in_use} of {cfg.size} in use); the node's pods have no addresses")


__all__ = ["CONDITION", "DEFAULT_CLUSTER_CIDR", "DEFAULT_NODE_MASK", "REASON_ASSIGNED", "REASON_FULL", "Action",
           "Assign", "ClearUnavailable", "IpamConfig", "MarkUnavailable", "check_ranges", "decide", "first_free",
           "held_networks", "marked_full", "parse_config"]
