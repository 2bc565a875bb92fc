"""The cluster DNS server answers Swarm's network-scoped names (aliases, ``<stack>_<service>``) on the wire,
for two stacks that share a network (the objects of ``tests/formats/test_swarm_aliases.py``)."""

from __future__ import annotations

from dnslib import RCODE

from shoal.network.dns import ClusterDNS
from tests.formats.test_swarm_aliases import index
from tests.network.test_dns import free_port, udp_query


async def test_server_answers_aliases_and_full_names() -> None:
    dns = ClusterDNS(index(), upstreams=[])
    port = free_port()
    await dns.start("127.0.0.1", port)
    try:
        for name, want in (("api.shop.svc.cluster.local", ["10.43.1.1"]),
                           ("shop_web.billing.svc.cluster.local", ["10.43.1.1"]),  # an underscore: on the wire
                           ("db.shop.svc.cluster.local", ["10.88.0.7"])):  # the Service, not cache's alias
            r = await udp_query(port, name)
            assert r.header.rcode == RCODE.NOERROR and [str(rr.rdata) for rr in r.rr] == want, name
        r = await udp_query(port, "api.billing.svc.cluster.local")
        assert r.header.rcode == RCODE.NXDOMAIN  # billing is not on front
        r = await udp_query(port, "shop_web.billing.svc.cluster.local", "AAAA")
        assert r.header.rcode == RCODE.NOERROR and not r.rr  # the name exists, with no IPv6 address
    finally:
        await dns.stop()
