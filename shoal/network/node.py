"""The per-node network component: the service proxy and the cluster DNS.

Runs on every node beside the node agent (embedded in ``shoal server``, or in
``shoal agent`` on other machines), with its own informers on Services and
Endpoints. The DNS listens on the well-known ClusterIP (``<cidr>.10``), which
is local on every node once the proxy has routed the service CIDR locally, so
each node answers its own pods' queries.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from shoal.client import ApiClient, InformerFactory
from shoal.network.dns import ClusterDNS, host_resolvers
from shoal.network.dnsrecords import RecordIndex
from shoal.network.proxy import ServiceProxy

log = logging.getLogger(__name__)


def cluster_dns_ip(service_cidr: str) -> str:
    return str(ipaddress.ip_network(service_cidr, strict=False).network_address + 10)


class NetworkNode:
    def __init__(self, client: ApiClient, *, service_cidr: str = "10.43.0.0/16", mode: str = "auto",
                 domain: str = "cluster.local", dns_port: int = 53) -> None:
        self.client = client
        self.factory = InformerFactory(client)
        self.proxy = ServiceProxy(self.factory, service_cidr=service_cidr, mode=mode)
        self.index = RecordIndex(domain)
        self.dns_ip = cluster_dns_ip(service_cidr)
        self.dns_port = dns_port
        self.dns = ClusterDNS(self.index, upstreams=host_resolvers(exclude={self.dns_ip}))
        svc, eps = self.proxy.services, self.proxy.endpoints
        svc.add_handler(on_add=self.index.set_service, on_update=lambda o, n: self.index.set_service(n),
                        on_delete=self.index.del_service)
        eps.add_handler(on_add=self.index.set_endpoints, on_update=lambda o, n: self.index.set_endpoints(n),
                        on_delete=self.index.del_endpoints)
        self.dns_serving = False

    async def start(self) -> None:
        self.factory.start()
        await self.proxy.start()
        await self.factory.wait_synced(30)
        if self.proxy.mode == "nftables":
            try:
                await self.dns.start(self.dns_ip, self.dns_port)
                self.dns_serving = True
            except OSError as e:
                log.warning("cluster DNS cannot listen on %s:%d: %s", self.dns_ip, self.dns_port, e)
        else:
            log.warning("cluster DNS needs the kernel service proxy (root); pods fall back to the host's DNS")

    async def stop(self) -> None:
        await self.dns.stop()
        await self.proxy.stop()
        await self.factory.stop()

    def info(self) -> dict[str, Any]:
        return {"mode": self.proxy.mode, "dns": f"{self.dns_ip}:{self.dns_port}" if self.dns_serving else None}
