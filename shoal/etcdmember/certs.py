"""The embedded etcd member's certificate: signed by the cluster CA, for serving, peering and as a client.

One certificate per member, with both the server and the client usage, covers
what etcd asks of a member (serve clients, serve peers, be a peer's client)
and what the API server shows etcd when it connects. Its names are the
member's host, localhost and 127.0.0.1. It is made again when the names change.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.apiserver.certs import ensure_ca
from shoal.datadir import DataDir, write_private
from shoal.etcdmember.plan import CertPaths


def ensure_member_cert(dd: DataDir, etcd_dir: Path, *, name: str, host: str) -> CertPaths:
    ca_cert, ca_key = ensure_ca(dd)
    etcd_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    paths = CertPaths(ca=dd.ca_crt, cert=etcd_dir / "member.crt", key=etcd_dir / "member.key")
    dns = {"localhost", socket.gethostname()}
    ips = {"127.0.0.1"}
    try:
        ips.add(str(ipaddress.ip_address(host)))
    except ValueError:
        dns.add(host)
    if paths.cert.exists() and paths.key.exists():
        cert = x509.load_pem_x509_certificate(paths.cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        fresh = cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        same_ca = cert.issuer == ca_cert.subject
        if fresh and same_ca and dns <= set(san.get_values_for_type(x509.DNSName)) and \
                ips <= {str(i) for i in san.get_values_for_type(x509.IPAddress)}:
            return paths
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    alt: list[x509.GeneralName] = [x509.DNSName(d) for d in sorted(dns)]
    alt += [x509.IPAddress(ipaddress.ip_address(i)) for i in sorted(ips)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"etcd-{name}")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write_private(paths.key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    write_private(paths.cert, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return paths


def tls_bytes(paths: CertPaths) -> tuple[bytes, bytes, bytes]:
    """(CA, key, certificate) as the store's TLS channel takes them."""
    return paths.ca.read_bytes(), paths.key.read_bytes(), paths.cert.read_bytes()
