"""The cluster CA and the API server's serving certificate.

Created on first start with ``cryptography`` (ECDSA P-256: small and quick to
make) and reused afterwards, so kubeconfigs handed out stay valid. The serving
certificate is re-issued when the set of names it must cover changes.
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

from shoal.datadir import DataDir, write_private

_TEN_YEARS = dt.timedelta(days=3650)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def ensure_ca(dd: DataDir) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    if dd.ca_crt.exists() and dd.ca_key.exists():
        return x509.load_pem_x509_certificate(dd.ca_crt.read_bytes()), _load_key(dd.ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shoal-ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _TEN_YEARS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    write_private(dd.ca_key, _key_pem(key))
    write_private(dd.ca_crt, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert, key


def _wanted_names(extra_hosts: list[str]) -> tuple[set[str], set[str]]:
    dns = {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", socket.gethostname()}
    ips = {"127.0.0.1", "::1"}
    for h in extra_hosts:
        if not h or h in ("0.0.0.0", "::"):
            continue
        try:
            ips.add(str(ipaddress.ip_address(h)))
        except ValueError:
            dns.add(h)
    return dns, ips


def ensure_serving_cert(dd: DataDir, *, hosts: list[str]) -> tuple[Path, Path]:
    """Return (cert, key) paths of a serving certificate covering ``hosts``."""
    ca_cert, ca_key = ensure_ca(dd)
    dns, ips = _wanted_names(hosts)
    if dd.server_crt.exists() and dd.server_key.exists():
        cert = x509.load_pem_x509_certificate(dd.server_crt.read_bytes())
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            have_dns = set(san.get_values_for_type(x509.DNSName))
            have_ips = {str(i) for i in san.get_values_for_type(x509.IPAddress)}
            fresh = cert.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
            if dns <= have_dns and ips <= have_ips and fresh:
                return dd.server_crt, dd.server_key
        except x509.ExtensionNotFound:
            pass
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    alt: list[x509.GeneralName] = [x509.DNSName(d) for d in sorted(dns)]
    alt += [x509.IPAddress(ipaddress.ip_address(i)) for i in sorted(ips)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shoal-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _TEN_YEARS)
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    write_private(dd.server_key, _key_pem(key))
    write_private(dd.server_crt, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return dd.server_crt, dd.server_key
