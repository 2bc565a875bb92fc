"""TLS material for the proxy: a Secret's key pair checked, and the proxy's own default certificate.

HAProxy refuses to start (or reload) on a PEM whose key does not match its
certificate, so every Secret is checked here first: one bad Secret must cost
its host the real certificate (it is served with the default one, and an
Event names the Secret), never the whole proxy. Pure but for the clock the
default certificate's validity starts at.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def secret_pem(secret: Mapping[str, Any]) -> tuple[str | None, str]:
    """(cert chain + key as one PEM, "") for a valid ``kubernetes.io/tls`` Secret, else (None, why not)."""
    data = secret.get("data") or {}
    try:
        crt = base64.b64decode(data.get("tls.crt") or "", validate=True)
        key = base64.b64decode(data.get("tls.key") or "", validate=True)
    except (binascii.Error, TypeError, ValueError):
        return None, "tls.crt or tls.key is not base64"
    if not crt or not key:
        return None, "it has no tls.crt and tls.key"
    try:
        certs = x509.load_pem_x509_certificates(crt)
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as e:
        return None, f"its key pair cannot be read ({e})"
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.PEM
    if certs[0].public_key().public_bytes(enc, pub) != private.public_key().public_bytes(enc, pub):
        return None, "tls.key is not the key of tls.crt"
    key_pem = private.private_bytes(enc, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return "".join(c.public_bytes(enc).decode() for c in certs) + key_pem.decode(), ""


def self_signed(common_name: str, *, hosts: tuple[str, ...] = (), now: dt.datetime | None = None,
                days: int = 3650) -> tuple[str, str]:
    """A self-signed certificate and its key, as PEM: the proxy's default certificate, and tests' Secrets."""
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=days)))
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    enc = serialization.Encoding.PEM
    key_pem = key.private_bytes(enc, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(enc).decode(), key_pem.decode()
