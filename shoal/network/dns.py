"""The cluster DNS server (UDP and TCP), answering from informer caches.

Names in the cluster domain are answered from ``RecordIndex`` (A, SRV, and
NXDOMAIN for unknown names); every other name is forwarded to the host's own
resolvers (from ``/etc/resolv.conf``), so pods resolve the outside world as the
host does. Replies are built with dnslib; the sockets are plain asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from pathlib import Path

from dnslib import QTYPE, RCODE, RR, SRV, A, DNSRecord  # type: ignore[import-untyped]

from shoal.network.dnsrecords import RecordIndex

log = logging.getLogger(__name__)
TTL = 5


def _hostport(server: str) -> tuple[str, int]:
    """``1.2.3.4`` or ``1.2.3.4:5353`` (tests run upstreams on other ports)."""
    if server.count(":") == 1:
        h, p = server.split(":")
        return h, int(p)
    return server, 53


def host_resolvers(path: str = "/etc/resolv.conf", *, exclude: set[str] | None = None) -> list[str]:
    out: list[str] = []
    try:
        for line in Path(path).read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver" and parts[1] not in (exclude or set()):
                out.append(parts[1])
    except OSError:
        pass
    return out


class _Once(asyncio.DatagramProtocol):
    """Takes the first datagram as the answer."""

    def __init__(self, fut: asyncio.Future[bytes]) -> None:
        self.fut = fut

    def datagram_received(self, data: bytes, addr: object) -> None:
        if not self.fut.done():
            self.fut.set_result(data)


class ClusterDNS:
    def __init__(self, index: RecordIndex, *, upstreams: list[str] | None = None, timeout: float = 2.0) -> None:
        self.index = index
        self.upstreams = upstreams if upstreams is not None else host_resolvers()
        self.timeout = timeout
        self._transports: list[asyncio.BaseTransport] = []
        self._servers: list[asyncio.base_events.Server] = []

    # ---- answering ---------------------------------------------------------------------
    async def answer(self, data: bytes) -> bytes | None:
        try:
            req = DNSRecord.parse(data)
        except Exception:
            return None
        if not req.questions:
            return None
        q = req.q
        qname = str(q.qname)
        if not self.index.in_domain(qname):
            fwd = await self.forward(data)
            if fwd is not None:
                return fwd
            reply = req.reply()
            reply.header.rcode = RCODE.SERVFAIL
            return bytes(reply.pack())
        reply = req.reply()
        reply.header.aa = 1
        ans = self.index.lookup(qname)
        if not ans.exists:
            reply.header.rcode = RCODE.NXDOMAIN
            return bytes(reply.pack())
        if q.qtype in (QTYPE.A, QTYPE.ANY):
            for ip in ans.a:
                reply.add_answer(RR(q.qname, QTYPE.A, ttl=TTL, rdata=A(ip)))
        if q.qtype in (QTYPE.SRV, QTYPE.ANY):
            for s in ans.srv:
                reply.add_answer(RR(q.qname, QTYPE.SRV, ttl=TTL,
                                    rdata=SRV(priority=s.priority, weight=s.weight, port=s.port, target=s.target)))
                for ip in self.index.lookup(s.target).a:
                    reply.add_ar(RR(s.target, QTYPE.A, ttl=TTL, rdata=A(ip)))
        return bytes(reply.pack())

    async def forward(self, data: bytes) -> bytes | None:
        loop = asyncio.get_running_loop()
        for server in self.upstreams:
            fut: asyncio.Future[bytes] = loop.create_future()
            transport = None
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda f=fut: _Once(f), remote_addr=_hostport(server))  # type: ignore[misc]
                transport.sendto(data)
                return await asyncio.wait_for(fut, self.timeout)
            except (OSError, TimeoutError):
                continue
            finally:
                if transport is not None:
                    transport.close()
        return None

    # ---- serving -----------------------------------------------------------------------
    async def start(self, host: str, port: int = 53) -> None:
        loop = asyncio.get_running_loop()
        dns = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                async def reply() -> None:
                    out = await dns.answer(data)
                    if out is not None:
                        self.transport.sendto(out, addr)  # type: ignore[attr-defined]

                loop.create_task(reply())

        transport, _ = await loop.create_datagram_endpoint(Udp, local_addr=(host, port))
        self._transports.append(transport)

        async def tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readexactly(2)
                    (n,) = struct.unpack("!H", head)
                    out = await dns.answer(await reader.readexactly(n))
                    if out is None:
                        break
                    writer.write(struct.pack("!H", len(out)) + out)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        self._servers.append(await asyncio.start_server(tcp, host, port))
        log.info("cluster DNS serving on %s:%d (udp, tcp)", host, port)

    async def stop(self) -> None:
        for t in self._transports:
            t.close()
        for s in self._servers:
            s.close()
            with contextlib.suppress(Exception):
                await s.wait_closed()
        self._transports.clear()
        self._servers.clear()
