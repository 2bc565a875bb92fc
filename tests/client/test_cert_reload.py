"""``renew_connections``: after a node's certificate files are replaced, its transports open new connections
with the new certificate, and the connections opened with the old one end after the grace period."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shoal.client.failover import FailoverTransport
from shoal.client.httptransport import HttpTransport
from tests.etcd_fixture import free_port

NOW = dt.datetime.now(dt.UTC)


def issue(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None, cn: str, serial: int, *,
          server: bool = False) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(ca[0].subject if ca else name)
         .public_key(key.public_key()).serial_number(serial)
         .not_valid_before(NOW - dt.timedelta(hours=1)).not_valid_after(NOW + dt.timedelta(hours=1)))
    if ca is None:
        b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    elif server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return b.sign(ca[1] if ca else key, hashes.SHA256()), key


def write_pair(d: Path, stem: str, pair: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> tuple[str, str]:
    (d / f"{stem}.crt").write_bytes(pair[0].public_bytes(serialization.Encoding.PEM))
    (d / f"{stem}.key").write_bytes(pair[1].private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return str(d / f"{stem}.crt"), str(d / f"{stem}.key")


async def whoami(request: web.Request) -> web.StreamResponse:
    """The serial of the client certificate this connection was opened with; ``?stream=1``: held open."""
    assert request.transport is not None
    serial = request.transport.get_extra_info("peercert")["serialNumber"]
    if not request.query.get("stream"):
        return web.Response(text=str(int(serial, 16)))
    resp = web.StreamResponse()
    await resp.prepare(request)
    await resp.write(f"{int(serial, 16)}\n".encode())
    await asyncio.sleep(30)
    return resp


@pytest.fixture
async def tls(tmp_path: Path) -> AsyncIterator[tuple[Path, list[str]]]:
    """Two servers that require a client certificate from the test CA; the CA is ``ca.crt`` in the dir."""
    ca = issue(None, "test-ca", 1)
    (tmp_path / "ca.crt").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    crt, key = write_pair(tmp_path, "server", issue(ca, "localhost", 2, server=True))
    write_pair(tmp_path, "ca", ca)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=str(tmp_path / "ca.crt"))
    runners, urls = [], []
    for _ in range(2):
        app = web.Application()
        app.router.add_get("/whoami", whoami)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
        runners.append(runner)
        urls.append(f"https://localhost:{port}")
    yield tmp_path, urls
    for r in runners:
        await r.cleanup()


def node_pair(d: Path, serial: int) -> tuple[str, str]:
    ca_key = serialization.load_pem_private_key((d / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = (x509.load_pem_x509_certificate((d / "ca.crt").read_bytes()), ca_key)
    return write_pair(d, "node", issue(ca, "system:node:n1", serial))


async def serial_of(t: HttpTransport | FailoverTransport) -> int:
    status, body = await t.request("GET", "/whoami")
    assert status == 200, body
    return int(body)


async def test_new_connections_use_the_renewed_certificate(tls: tuple[Path, list[str]]) -> None:
    d, urls = tls
    files = node_pair(d, 100)
    t = HttpTransport(urls[0], ca_file=str(d / "ca.crt"), client_cert=files)
    try:
        assert await serial_of(t) == 100
        async with t.stream("GET", "/whoami", params={"stream": "1"}) as watch:  # a watch opened with the old one
            chunks = watch.chunks()
            assert int(await anext(chunks)) == 100
            node_pair(d, 200)  # the files replaced (as nodecert.store does)
            assert await serial_of(t) == 100  # the connection kept alive still speaks for the old certificate
            t.renew_connections(0.5)
            assert await serial_of(t) == 200  # a new connection, with the new certificate
            # the old connection ends after the grace period: the watch's reader sees its end
            start = asyncio.get_running_loop().time()
            with pytest.raises(aiohttp.ClientPayloadError, match="not completed"):
                async with asyncio.timeout(5):
                    async for _ in chunks:
                        pass
            assert 0.3 < asyncio.get_running_loop().time() - start < 5
        assert await serial_of(t) == 200
    finally:
        await t.close()


async def test_a_balancer_renews_every_servers_connections(tls: tuple[Path, list[str]]) -> None:
    d, urls = tls
    files = node_pair(d, 300)
    t = FailoverTransport(urls, ca_file=str(d / "ca.crt"), client_cert=files)
    try:
        assert await serial_of(t) == 300
        t.set_servers(urls, 1)
        assert await serial_of(t) == 300
        node_pair(d, 400)
        t.renew_connections(0.0)
        assert await serial_of(t) == 400
        t.set_servers(urls, 0)
        assert await serial_of(t) == 400
    finally:
        await t.close()


async def test_closing_a_transport_closes_the_retired_connections_at_once(tls: tuple[Path, list[str]]) -> None:
    d, urls = tls
    t = HttpTransport(urls[0], ca_file=str(d / "ca.crt"), client_cert=node_pair(d, 500))
    assert await serial_of(t) == 500
    old = t.session
    t.renew_connections(60.0)
    async with asyncio.timeout(5):
        await t.close()
    assert old.closed
