"""A node's own credential, issued when it joins: the join token exchanged for a client certificate.

Upstream's kubelet TLS bootstrapping, in one request: the agent makes a key
and a certificate request for ``CN=system:node:<name>, O=system:nodes`` and
``POST``s it to ``/shoal/v1/node-join`` with the join token (whose user is a
bootstrapper: ``system:bootstrap:node-token`` in ``system:bootstrappers``);
the server approves it as upstream's csrapproving controller does (a new
node's request when the requester may ``create``
``certificatesigningrequests/nodeclient``, a renewal when a node asks for its
own name and may ``create`` ``.../selfnodeclient``), signs it with the
cluster CA as the ``kubernetes.io/kube-apiserver-client-kubelet`` signer
would, and answers the certificate. The key never leaves the node. Why an
endpoint rather than a CertificateSigningRequest object: docs/decisions.md.

An agent simulating many nodes (``--simulate-nodes``) asks instead for
``CN=system:shoal:simulated-nodes:<name>, O=system:shoal:simulated-nodes``:
one identity for all its hollow nodes, bound by RBAC to the node roles and not
restricted by the Node authorizer (a scale-test tool; its join token could
mint any node's certificate anyway, as a bootstrap token can upstream).

The same endpoint renews: a running agent posts a new request authenticated
by its current certificate (``shoal.agent.certrenewal``), which is the
``selfnodeclient`` case; a node asking for another node's name is the
``nodeclient`` case, which ``system:nodes`` may not create (403, nothing
signed). Certificates last a year (``LIFETIME``); ``shoal server
--node-cert-lifetime`` (hidden, for tests) makes them short, and a short one
is backdated by at most a tenth of its lifetime so that the agent's rotation
point (70-90 % from notBefore) still lies ahead of its issue.

``check_request`` is pure: the parsed request, or a 403/400 naming why.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.apiserver import errors
from shoal.apiserver.auth import USER_KEY
from shoal.apiserver.authn.components import NODE_PREFIX, NODES
from shoal.apiserver.authn.user import User

PATH = "/shoal/v1/node-join"
CACERT_PATH = "/shoal/v1/cacert"  # public (shoal.apiserver.auth): the CA a K10 token pins
SIMULATED_PREFIX = "system:shoal:simulated-nodes:"
SIMULATED_GROUP = "system:shoal:simulated-nodes"
LIFETIME = dt.timedelta(days=365)  # kube-controller-manager's --cluster-signing-duration
BACKDATE = dt.timedelta(minutes=5)

# may(user, subresource): whether ``user`` may create certificatesigningrequests/<subresource>
May = Callable[[User, str], bool]


def _subject(csr: x509.CertificateSigningRequest) -> tuple[list[str], list[str]]:
    cns = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return cns, orgs


def check_request(pem: str, user: User, may: May) -> x509.CertificateSigningRequest:
    """The certificate request ``user`` sent, if it is a node client request they may have signed."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as e:
        raise errors.bad_request(f"csr: not a PEM certificate request: {e}") from None
    if not csr.is_signature_valid:
        raise errors.bad_request("csr: the request's signature does not verify")
    cns, orgs = _subject(csr)
    if len(cns) != 1 or not (cns[0].startswith(NODE_PREFIX) and orgs == [NODES] or
                             cns[0].startswith(SIMULATED_PREFIX) and orgs == [SIMULATED_GROUP]):
        raise errors.bad_request(f'csr: the subject must be CN={NODE_PREFIX}<node name>, O={NODES}')
    try:
        csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        raise errors.bad_request("csr: a node client certificate names no DNS names, addresses or URIs")
    except x509.ExtensionNotFound:
        pass
    renewal = cns[0] == user.name
    sub = "selfnodeclient" if renewal else "nodeclient"
    if not may(user, sub):
        raise errors.forbidden(f'User "{user.name}" cannot create resource "certificatesigningrequests/{sub}" in '
                               f'API group "certificates.k8s.io" at the cluster scope: not approved for a node '
                               f'client certificate for "{cns[0]}"')
    return csr


def sign(csr: x509.CertificateSigningRequest, ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
         now: dt.datetime, *, lifetime: dt.timedelta = LIFETIME) -> bytes:
    """The client certificate for ``csr`` (its subject as asked; client auth only), PEM."""
    not_after = min(now + lifetime, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca_cert.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - min(BACKDATE, lifetime / 10))
        .not_valid_after(not_after)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def routes(ca: Callable[[], tuple[bytes, bytes]], may: May, *, lifetime: dt.timedelta = LIFETIME
           ) -> list[tuple[str, str, Callable[[web.Request], Any]]]:
    """``POST /shoal/v1/node-join``: ``{"csr": PEM}`` in, ``{"certificate": PEM, "caCert": PEM}`` out.
    ``ca``: the cluster CA's certificate and key, PEM (read when a node joins); ``lifetime``: the
    certificates'."""

    async def join(request: web.Request) -> web.Response:
        user = request.get(USER_KEY)
        if user is None:
            raise errors.ApiError(401, "Unauthorized", "Unauthorized")
        try:
            body = msgspec.json.decode(await request.read(), type=dict[str, str])
        except msgspec.DecodeError as e:
            raise errors.bad_request(f"a node join request is {{\"csr\": PEM}}: {e}") from None
        csr = check_request(body.get("csr", ""), user, may)
        ca_pem, key_pem = ca()
        ca_cert = x509.load_pem_x509_certificate(ca_pem)
        ca_key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise errors.ApiError(500, "InternalError", "the cluster CA key is not an EC key")
        cert = sign(csr, ca_cert, ca_key, dt.datetime.now(dt.UTC), lifetime=lifetime)
        out = {"certificate": cert.decode(), "caCert": ca_pem.decode()}
        return web.Response(body=msgspec.json.encode(out), content_type="application/json")

    async def cacert(request: web.Request) -> web.Response:
        """The CA alone, public: a joiner checks its hash against its K10 token (``shoal.jointoken``)."""
        return web.Response(body=ca()[0], content_type="application/x-pem-file")

    return [("POST", PATH, join), ("GET", CACERT_PATH, cacert)]
