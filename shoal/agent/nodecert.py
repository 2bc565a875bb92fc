"""The node's own credential: a client certificate from the cluster CA, got once with the join token.

At its first start the agent makes a private key (it never leaves the data
dir), a certificate request for ``CN=system:node:<name>, O=system:nodes``
(``CN=system:shoal:simulated-nodes:<name>`` for an agent of hollow nodes) and
sends it with the join token to the server's ``/shoal/v1/node-join``
(``shoal.apiserver.authn.nodejoin``); the certificate that comes back is what
it uses from then on, for everything (the join token is only a bootstrap
credential). At later starts the certificate in the data dir is used as long
as it names this node, was signed by the CA the agent trusts, and has more than
``RENEW_BEFORE`` left; else it asks again (with the token it was given).

A running agent renews it before it expires, with the certificate itself
(``shoal.agent.certrenewal``); ``store`` is the one writer of the pair.

``usable`` is pure (the stored files and a time in, a yes or a why-not out).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shoal.client import ApiClient
from shoal.datadir import write_private

log = logging.getLogger(__name__)

JOIN_PATH = "/shoal/v1/node-join"
RENEW_BEFORE = dt.timedelta(days=30)
CERT_FILE, KEY_FILE = "node.crt", "node.key"


@dataclass(frozen=True, slots=True)
class Subject:
    common_name: str
    organization: str


def subject(node_name: str, *, simulated: bool) -> Subject:
    if simulated:
        return Subject(f"system:shoal:simulated-nodes:{node_name}", "system:shoal:simulated-nodes")
    return Subject(f"system:node:{node_name}", "system:nodes")


def usable(cert_pem: bytes, want: Subject, ca_pem: bytes | None, now: dt.datetime, *,
           renew_before: dt.timedelta = RENEW_BEFORE) -> str | None:
    """Why the stored certificate will not do (None: it will): at a start, one with less than
    ``renew_before`` left is asked for again with the join token."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as e:
        return f"unreadable ({e})"
    cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if cns != [want.common_name]:
        return f"it names {cns}, not {want.common_name}"
    if cert.not_valid_after_utc - now < renew_before or cert.not_valid_after_utc <= now:
        return f"it expires {cert.not_valid_after_utc:%Y-%m-%d}"
    if ca_pem is not None:
        ca = x509.load_pem_x509_certificate(ca_pem)
        if cert.issuer != ca.subject:
            return "another CA signed it"
        try:
            cert.verify_directly_issued_by(ca)
        except (InvalidSignature, ValueError, TypeError) as e:
            return f"the CA's signature does not verify ({type(e).__name__})"
    return None


def request_pem(key: ec.EllipticCurvePrivateKey, want: Subject) -> str:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, want.organization),
                                    x509.NameAttribute(NameOID.COMMON_NAME, want.common_name)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def key_matches(cert_pem: bytes, key_pem: bytes) -> bool:
    """Whether the private key in ``key_pem`` is the one ``cert_pem`` certifies."""
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        cert = x509.load_pem_x509_certificate(cert_pem)
    except (ValueError, TypeError):
        return False
    return bool(cert.public_key() == key.public_key())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def store(data_dir: Path, key: ec.EllipticCurvePrivateKey, cert_pem: str) -> tuple[str, str]:
    """Write the node's key and certificate into ``data_dir`` (each file replaced atomically, the key first:
    a crash between the two leaves a pair ``ensure`` will not use, never a half-written file)."""
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    write_private(key_path, key_pem(key))
    write_private(cert_path, cert_pem, mode=0o644)
    return str(cert_path), str(key_path)


async def ensure(bootstrap: ApiClient, data_dir: Path, want: Subject, ca_file: str | None) -> tuple[str, str]:
    """(certificate file, key file) of this node's credential, asked for with ``bootstrap`` if needed."""
    cert_path, key_path = data_dir / CERT_FILE, data_dir / KEY_FILE
    ca_pem = Path(ca_file).read_bytes() if ca_file else None
    if cert_path.exists() and key_path.exists():
        cert_pem = cert_path.read_bytes()
        why = usable(cert_pem, want, ca_pem, dt.datetime.now(dt.UTC))
        if why is None and not key_matches(cert_pem, key_path.read_bytes()):
            why = f"{KEY_FILE} is not its key"
        if why is None:
            return str(cert_path), str(key_path)
        log.info("agent: the node certificate in %s will not do (%s): asking for another", data_dir, why)
    key = ec.generate_private_key(ec.SECP256R1())
    answer = await bootstrap.request("POST", JOIN_PATH, body={"csr": request_pem(key, want)})
    files = store(data_dir, key, str(answer["certificate"]))
    log.info("agent: joined as %s (certificate in %s)", want.common_name, cert_path)
    return files
