"""``shoal user add``: a kubeconfig whose client certificate the cluster CA signed.

The server URL is the admin kubeconfig's (the server writes it at every
start); the certificate says who the user is (CN) and which groups they are
in (one O each), which is all the API server needs to know: what they may do
is up to RBAC (``kubectl create rolebinding ... --user NAME`` or
``--group G``). The certificate is not stored: the kubeconfig printed is the
only copy.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shoal import kubeconfig
from shoal.apiserver.authn.x509 import issue_client_cert
from shoal.datadir import DataDir


class UserError(Exception):
    pass


def _issue(dd: DataDir, name: str, groups: Sequence[str], days: int) -> tuple[bytes, bytes, bytes]:
    """(CA PEM, certificate PEM, key PEM) for user ``name``."""
    if not name or name.startswith("system:"):
        raise UserError(f"{name!r}: a user name may not be empty or start with 'system:'")
    if not (dd.ca_crt.exists() and dd.ca_key.exists() and dd.admin_kubeconfig.exists()):
        raise UserError(f"no cluster CA in {dd.root}: start `shoal server` first")
    ca_pem = dd.ca_crt.read_bytes()
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(dd.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise UserError("the cluster CA key is not an EC key")
    cert, key = issue_client_cert(ca_cert, ca_key, name, groups, days=days)
    return ca_pem, cert, key


def user_kubeconfig(dd: DataDir, name: str, groups: Sequence[str], *, days: int = 365) -> str:
    ca_pem, cert, key = _issue(dd, name, groups, days)
    admin = yaml.safe_load(dd.admin_kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]["server"]
    return kubeconfig.render(server=server, ca_pem=ca_pem, user=name, client_cert=cert, client_key=key)


def user_docker_certs(dd: DataDir, name: str, groups: Sequence[str], out: Path, *, days: int = 365) -> None:
    """The same certificate in the docker CLI's layout (``DOCKER_CERT_PATH``: ca.pem, cert.pem, key.pem)."""
    ca_pem, cert, key = _issue(dd, name, groups, days)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ca.pem").write_bytes(ca_pem)
    (out / "cert.pem").write_bytes(cert)
    fd = os.open(out / "key.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
