"""``shoal user add``: a kubeconfig whose client certificate the cluster CA signed.

The server URL is the admin kubeconfig's (the server writes it at every
start); the certificate says who the user is (CN) and which groups they are
in (one O each), which is all the API server needs to know: what they may do
is up to RBAC (``kubectl create rolebinding ... --user NAME`` or
``--group G``). The certificate is not stored: the kubeconfig printed is the
only copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shoal import kubeconfig
from shoal.apiserver.authn.x509 import issue_client_cert
from shoal.datadir import DataDir


class UserError(Exception):
    pass


def user_kubeconfig(dd: DataDir, name: str, groups: Sequence[str], *, days: int = 365) -> str:
    if not name or name.startswith("system:"):
        raise UserError(f"{name!r}: a user name may not be empty or start with 'system:'")
    if not (dd.ca_crt.exists() and dd.ca_key.exists() and dd.admin_kubeconfig.exists()):
        raise UserError(f"no cluster CA in {dd.root}: start `shoal server` first")
    ca_pem = dd.ca_crt.read_bytes()
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(dd.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise UserError("the cluster CA key is not an EC key")
    admin = yaml.safe_load(dd.admin_kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]["server"]
    cert, key = issue_client_cert(ca_cert, ca_key, name, groups, days=days)
    return kubeconfig.render(server=server, ca_pem=ca_pem, user=name, client_cert=cert, client_key=key)
