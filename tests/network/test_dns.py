"""Cluster DNS: records from objects, and a real UDP/TCP server answering them."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from shoal.network.dns import ClusterDNS
from shoal.network.dnsrecords import RecordIndex


def index() -> RecordIndex:
    idx = RecordIndex()
    idx.set_service({"metadata": {"name": "web", "namespace": "default"},
                     "spec": {"clusterIP": "10.43.0.50", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
    idx.set_service({"metadata": {"name": "db", "namespace": "prod"},
                     "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}})
    idx.set_endpoints({"metadata": {"name": "db", "namespace": "prod"}, "subsets": [
        {"addresses": [{"ip": "10.88.0.5", "hostname": "db-0"}, {"ip": "10.88.0.6"}],
         "notReadyAddresses": [{"ip": "10.88.0.7"}], "ports": [{"name": "pg", "port": 5432}]}]})
    return idx


def test_records() -> None:
    idx = index()
    assert idx.lookup("web.default.svc.cluster.local.").a == ["10.43.0.50"]
    assert idx.lookup("db.prod.svc.cluster.local").a == ["10.88.0.5", "10.88.0.6"]  # ready only
    assert idx.lookup("db-0.db.prod.svc.cluster.local").a == ["10.88.0.5"]
    srv = idx.lookup("_http._tcp.web.default.svc.cluster.local").srv
    assert [(s.port, s.target) for s in srv] == [(80, "web.default.svc.cluster.local.")]
    assert len(idx.lookup("_pg._tcp.db.prod.svc.cluster.local").srv) == 2
    assert idx.lookup("10-88-0-9.prod.pod.cluster.local").a == ["10.88.0.9"]
    for missing in ("nope.default.svc.cluster.local", "web.other.svc.cluster.local",
                    "_x._tcp.web.default.svc.cluster.local", "1-2-3.prod.pod.cluster.local", "cluster.local"):
        assert not idx.lookup(missing).exists, missing
    assert not idx.in_domain("example.com")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def udp_query(port: int, name: str, qtype: str = "A") -> DNSRecord:
    loop = asyncio.get_running_loop()
    data = DNSRecord.question(name, qtype).pack()
    return DNSRecord.parse(await loop.run_in_executor(None, lambda: _udp(port, data)))


def _udp(port: int, data: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(data, ("127.0.0.1", port))
        return s.recv(4096)


def _tcp(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(struct.pack("!H", len(data)) + data)
        n = struct.unpack("!H", s.recv(2))[0]
        buf = b""
        while len(buf) < n:
            buf += s.recv(n - len(buf))
        return buf


class FakeUpstream(asyncio.DatagramProtocol):
    """A stand-in for the host's resolver (no real resolver is reachable from tests)."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        req = DNSRecord.parse(data)
        reply = req.reply()
        reply.add_answer(RR(req.q.qname, QTYPE.A, rdata=A("192.0.2.44")))
        self.transport.sendto(reply.pack(), addr)


async def test_server_answers_udp_tcp_and_forwards() -> None:
    loop = asyncio.get_running_loop()
    up_port = free_port()
    up, _ = await loop.create_datagram_endpoint(FakeUpstream, local_addr=("127.0.0.1", up_port))
    dns = ClusterDNS(index(), upstreams=[f"127.0.0.1:{up_port}"])
    port = free_port()
    await dns.start("127.0.0.1", port)
    try:
        r = await udp_query(port, "web.default.svc.cluster.local")
        assert [str(rr.rdata) for rr in r.rr] == ["10.43.0.50"] and r.header.aa == 1
        r = await udp_query(port, "nope.default.svc.cluster.local")
        assert r.header.rcode == RCODE.NXDOMAIN
        r = await udp_query(port, "_http._tcp.web.default.svc.cluster.local", "SRV")
        assert r.rr[0].rdata.port == 80 and [str(a.rdata) for a in r.ar] == ["10.43.0.50"]
        raw = await loop.run_in_executor(
            None, lambda: _tcp(port, DNSRecord.question("db.prod.svc.cluster.local").pack()))
        assert sorted(str(rr.rdata) for rr in DNSRecord.parse(raw).rr) == ["10.88.0.5", "10.88.0.6"]
        r = await udp_query(port, "example.com")
        assert [str(rr.rdata) for rr in r.rr] == ["192.0.2.44"]
        # garbage is ignored, the server keeps serving
        await loop.run_in_executor(None, lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
            b"\x00garbage", ("127.0.0.1", port)))
        r = await udp_query(port, "web.default.svc.cluster.local")
        assert r.rr
    finally:
        await dns.stop()
        up.close()


async def test_no_upstream_gives_servfail() -> None:
    dns = ClusterDNS(RecordIndex(), upstreams=[])
    port = free_port()
    await dns.start("127.0.0.1", port)
    try:
        r = await udp_query(port, "example.com")
        assert r.header.rcode == RCODE.SERVFAIL
    finally:
        await dns.stop()
