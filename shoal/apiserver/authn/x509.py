"""Client certificates: users the cluster CA vouches for (CN = user name, O = groups).

The API server's TLS asks for a client certificate and checks it against the
cluster CA (a certificate the CA did not sign fails the handshake); a
connection without one falls back to bearer tokens. ``user_from_peercert``
reads the verified certificate as ``ssl`` reports it (pure).
``issue_client_cert`` is what ``shoal user add`` calls: a key and a
certificate for one user, signed by the CA in the data dir.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.apiserver.authn.user import User

AUTHENTICATED = "system:authenticated"


def user_from_peercert(peercert: Any) -> User | None:
    """The user of a verified peer certificate (``SSLObject.getpeercert()``), if it names one."""
    if not isinstance(peercert, dict):
        return None
    name = ""
    groups: list[str] = []
    for rdn in peercert.get("subject") or ():
        for key, value in rdn:
            if key == "commonName" and not name:
                name = value
            elif key == "organizationName":
                groups.append(value)
    if not name:
        return None
    if AUTHENTICATED not in groups:
        groups.append(AUTHENTICATED)
    return User(name, tuple(dict.fromkeys(groups)))


def issue_client_cert(ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, user: str,
                      groups: Sequence[str], *, days: int = 365) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for ``user`` in ``groups``, valid ``days`` days."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups),
                         x509.NameAttribute(NameOID.COMMON_NAME, user)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
