"""The per-node network component: the service proxy, the cluster DNS and NetworkPolicy.

Runs on every node beside the node agent (embedded in ``shoal server``, or in
``shoal agent`` on other machines), with its own informers on Services and
Endpoints, and (given ``OverlaySettings``) the overlay that routes the other
nodes' pod CIDRs to them (``overlaynode``). The DNS listens on the well-known ClusterIP (``<cidr>.10``), which
is local on every node once the proxy has routed the service CIDR locally, so
each node answers its own pods' queries. Where the proxy runs in the kernel
(root and nft), the node also enforces NetworkPolicy for its own pods
(``policysync``), in a table of its own beside the proxy's.

Several nodes may share one machine (a test bed, or ``shoal agent`` beside
``shoal server``): each proxy keeps its own nft table (``shoal_<cluster id8>_<node>``), and
only one process can hold the DNS address. Nodes of another cluster on the
same machine must not share it: a node refuses to start when a live cluster
there serves an overlapping service CIDR (``shoal.network.machine``), so a
node that finds the DNS address taken knows it is its own cluster's. A node that finds it taken logs so,
leaves it to the process that holds it (that one serves the whole machine from
the same cluster state) and tries again now and then, to take over if that
process stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
from dataclasses import dataclass
from typing import TypedDict

from shoal.client import ApiClient, InformerFactory
from shoal.network import netlink, nftrules, policynft
from shoal.network.backends import make_backend
from shoal.network.dns import ClusterDNS, host_resolvers
from shoal.network.dnsrecords import RecordIndex
from shoal.network.overlay import pod_mtu
from shoal.network.overlaynode import NodeOverlay
from shoal.network.policysync import PolicyEnforcer
from shoal.network.proxy import ServiceProxy

log = logging.getLogger(__name__)


class NetworkInfo(TypedDict):
    """What the node's network runs: the proxy mode, its nft table, and the cluster DNS address if usable."""

    mode: str
    table: str | None
    dns: str | None
    dns_here: bool
    policy_table: str | None


@dataclass(frozen=True, slots=True)
class OverlaySettings:
    """The overlay of this node: its backend (``vxlan``, ``host-gw``, ``none``) and underlay address."""

    backend: str
    node_ip: str
    vni: int = 1
    port: int = 8472


def cluster_dns_ip(service_cidr: str) -> str:
    return str(ipaddress.ip_network(service_cidr, strict=False).network_address + 10)


def default_node_name() -> str:
    """The node agent's default (the short host name), for callers that name no node."""
    return socket.gethostname().split(".")[0].lower() or "node"


class NetworkNode:
    def __init__(self, client: ApiClient, *, node_name: str | None = None, service_cidr: str = "10.43.0.0/16",
                 mode: str = "auto", domain: str = "cluster.local", dns_port: int = 53,
                 dns_retry: float = 10.0, overlay: OverlaySettings | None = None, cluster_id: str = "") -> None:
        self.client = client
        self.node_name = node_name or default_node_name()
        self.factory = InformerFactory(client)
        self.proxy = ServiceProxy(self.factory, service_cidr=service_cidr, mode=mode,
                                  table=nftrules.table_name(self.node_name, cluster_id), node_name=self.node_name,
                                  cluster_id=cluster_id)
        # NetworkPolicy needs nft (its informers are made now, so the factory starts them with the others)
        self.policy = PolicyEnforcer(self.factory, node_name=self.node_name,
                                     table=policynft.table_name(self.node_name, cluster_id)) \
            if self.proxy.mode == "nftables" else None
        self.index = RecordIndex(domain)
        self.dns_ip = cluster_dns_ip(service_cidr)
        self.dns_port = dns_port
        self.dns_retry = dns_retry
        self.dns = ClusterDNS(self.index, upstreams=host_resolvers(exclude={self.dns_ip}))
        svc, eps = self.proxy.services, self.proxy.endpoints
        svc.add_handler(on_add=self.index.set_service, on_update=lambda o, n: self.index.set_service(n),
                        on_delete=self.index.del_service)
        eps.add_handler(on_add=self.index.set_endpoints, on_update=lambda o, n: self.index.set_endpoints(n),
                        on_delete=self.index.del_endpoints)
        self.dns_serving = False
        self.dns_shared = False  # another process on this machine serves the cluster DNS address
        self._dns_task: asyncio.Task[None] | None = None
        self.overlay_settings = overlay
        self.overlay = NodeOverlay(client, self.factory, node_name=self.node_name,
                                   node_ip=overlay.node_ip) if overlay is not None else None
        self.pod_mtu = 0  # the MTU pods' interfaces get (0: the kernel's default), known once started

    @property
    def dns_available(self) -> bool:
        """Pods of this node can use ``dns_ip``: this node serves it, or another process on the machine does."""
        return self.dns_serving or self.dns_shared

    async def start(self) -> None:
        await self.proxy.check_machine(self.dns_ip)  # before anything: another cluster may own these addresses
        self.factory.start()
        if self.overlay is not None and self.overlay_settings is not None:
            o = self.overlay_settings
            under = await netlink.underlay(o.node_ip)
            if under is not None and under.dev == "lo":
                under = None  # a loopback address is no underlay
            backend = make_backend(o.backend, under, vni=o.vni, port=o.port)
            self.pod_mtu = pod_mtu(under.mtu, backend.name) if under is not None else 0
            await self.overlay.start(backend)
        await self.proxy.start()
        if self.policy is not None:
            await self.policy.start()
        else:
            log.warning("network policy is not enforced on node %s: it needs root and nft", self.node_name)
        await self.factory.wait_synced(30)
        if not self.proxy.route_local:
            log.warning("cluster DNS needs the service CIDR routed locally (root); pods fall back to the host's DNS")
            return
        if not await self._try_dns():
            return
        if self.dns_shared:
            log.info("cluster DNS: %s:%d is already served on this machine by another shoal node; "
                     "node %s's pods use that one", self.dns_ip, self.dns_port, self.node_name)
            self._dns_task = asyncio.create_task(self._take_over_dns(), name="cluster-dns-takeover")

    async def _try_dns(self) -> bool:
        """Bind the DNS address; False on an error other than "in use" (logged)."""
        try:
            await self.dns.start(self.dns_ip, self.dns_port)
        except OSError as e:
            await self.dns.stop()  # the UDP socket may be bound when TCP is not
            if e.errno == errno.EADDRINUSE:
                self.dns_shared = True
                return True
            log.warning("cluster DNS cannot listen on %s:%d: %s", self.dns_ip, self.dns_port, e)
            return False
        self.dns_serving, self.dns_shared = True, False
        return True

    async def _take_over_dns(self) -> None:
        while not self.dns_serving:
            await asyncio.sleep(self.dns_retry)
            if not await self._try_dns():
                return
        log.info("cluster DNS: node %s took over %s:%d", self.node_name, self.dns_ip, self.dns_port)

    async def stop(self) -> None:
        if self._dns_task is not None:
            self._dns_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._dns_task
        await self.dns.stop()
        if self.policy is not None:
            await self.policy.stop()
        if self.overlay is not None:
            await self.overlay.stop()
        await self.proxy.stop()
        await self.factory.stop()

    def info(self) -> NetworkInfo:
        return {"mode": self.proxy.mode, "table": self.proxy.table if self.proxy.mode == "nftables" else None,
                "dns": f"{self.dns_ip}:{self.dns_port}" if self.dns_available else None,
                "dns_here": self.dns_serving,
                "policy_table": self.policy.table if self.policy is not None else None}
