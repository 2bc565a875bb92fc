"""The CSR signer: issues certificates for approved requests to ``kubernetes.io/kube-apiserver-client``.

As kube-controller-manager's ``csrsigning`` controller with the cluster CA
(``--cluster-signing-cert-file``/``-key-file``; ``shoal server`` passes its
own CA): a request that is Approved (not Denied), not yet issued and not
Failed, for a signer this controller serves, is checked against the signer's
rules and then signed, and the PEM certificate written through ``/status``;
a request that breaks the rules gets a ``Failed`` condition (reason
``SignerValidationFailure``) instead.

``plan_signing`` (what to do) and ``sign`` (the certificate: the request's
subject and names, client-auth key usages, a random 128-bit serial, valid from
five minutes ago, as upstream backdates, for ``expirationSeconds`` or a year,
never past the CA's own expiry) are pure; the controller class reads the CA
files once and does the writes.

Signers served: ``kubernetes.io/kube-apiserver-client`` (any subject; usages
among digital signature, key encipherment, client auth, which is required) and
``kubernetes.io/kube-apiserver-client-kubelet`` (also: the common name is
``system:node:<name>`` and the organization exactly ``system:nodes``).
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.api.views import Body, conditions, format_time, name, spec, status
from shoal.client import ApiException
from shoal.controllers.base import Controller

log = logging.getLogger(__name__)

CLIENT = "kubernetes.io/kube-apiserver-client"
KUBELET_CLIENT = "kubernetes.io/kube-apiserver-client-kubelet"
SIGNERS = (CLIENT, KUBELET_CLIENT)
CLIENT_USAGES = frozenset({"digital signature", "key encipherment", "client auth"})
DEFAULT_TTL = dt.timedelta(days=365)  # kube-controller-manager's --cluster-signing-duration
MIN_TTL = dt.timedelta(minutes=10)
BACKDATE = dt.timedelta(minutes=5)

CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class Sign:
    request: x509.CertificateSigningRequest
    usages: frozenset[str]
    ttl: dt.timedelta


@dataclass(frozen=True, slots=True)
class Fail:
    message: str


def _has(csr: Body, type_: str) -> bool:
    return any(c.get("type") == type_ and c.get("status", "True") == "True" for c in conditions(csr))


def plan_signing(csr: Body) -> Sign | Fail | None:
    """What to do with ``csr``: nothing (None), sign it, or mark it failed."""
    s = spec(csr)
    if s.get("signerName") not in SIGNERS or status(csr).get("certificate"):
        return None
    if not _has(csr, "Approved") or _has(csr, "Denied") or _has(csr, "Failed"):
        return None
    try:
        request = x509.load_pem_x509_csr(base64.b64decode(str(s.get("request") or "")))
    except ValueError as e:
        return Fail(f"unable to parse csr: {e}")
    if not request.is_signature_valid:
        return Fail("the request's signature does not verify")
    usages = frozenset(str(u) for u in s.get("usages") or [])
    bad = sorted(usages - CLIENT_USAGES)
    if bad:
        return Fail(f"invalid usage for client certificate: {bad[0]}")
    if "client auth" not in usages:
        return Fail("missing required usages: client auth")
    if s.get("signerName") == KUBELET_CLIENT:
        cns = [a.value for a in request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        orgs = [a.value for a in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if len(cns) != 1 or not str(cns[0]).startswith("system:node:"):
            return Fail('subject common name does not begin with "system:node:"')
        if orgs != ["system:nodes"]:
            return Fail('subject organization is not system:nodes')
    seconds = s.get("expirationSeconds")
    ttl = DEFAULT_TTL
    if isinstance(seconds, int) and not isinstance(seconds, bool):
        ttl = max(MIN_TTL, min(ttl, dt.timedelta(seconds=seconds)))
    return Sign(request, usages, ttl)


def sign(plan: Sign, ca_cert: x509.Certificate, ca_key: CaKey, now: dt.datetime) -> bytes:
    """The PEM certificate for ``plan``'s request, issued by the CA."""
    req = plan.request
    not_after = min(now + plan.ttl, ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(req.subject)
        .issuer_name(ca_cert.subject)
        .public_key(req.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment="key encipherment" in plan.usages, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False,
                                     decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    try:
        sans = req.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        builder = builder.add_extension(sans, critical=False)
    except x509.ExtensionNotFound:
        pass
    algorithm = None if isinstance(ca_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(ca_key, algorithm).public_bytes(serialization.Encoding.PEM)


def failed_condition(message: str, now: dt.datetime) -> dict[str, str]:
    stamp = format_time(now)
    return {"type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": message,
            "lastUpdateTime": stamp, "lastTransitionTime": stamp}


def load_ca(cert_file: str, key_file: str) -> tuple[x509.Certificate, CaKey]:
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"{key_file}: unsupported CA key type {type(key).__name__}")
    return cert, key


class CSRSigningController(Controller):
    name = "csrsigning"
    workers = 2

    def setup(self) -> None:
        opts = self.ctx.options
        cert_file, key_file = opts.get("cluster_signing_cert_file"), opts.get("cluster_signing_key_file")
        self.ca: tuple[x509.Certificate, CaKey] | None = None
        if cert_file and key_file:
            try:
                self.ca = load_ca(str(cert_file), str(key_file))
            except (OSError, ValueError) as e:
                log.error("csrsigning: cannot load the cluster signing CA: %s", e)
        self.csrs = self.ctx.factory.informer("certificatesigningrequests")
        self.csrs.add_handler(on_add=lambda o: self.queue.add(name(o)),
                              on_update=lambda _o, n: self.queue.add(name(n)))

    async def reconcile(self, key: Hashable) -> None:
        csr = self.csrs.get(str(key))
        if csr is None or self.ca is None:
            return
        plan = plan_signing(csr)
        if plan is None:
            return
        now = self.clock()
        st = dict(status(csr))
        if isinstance(plan, Fail):
            st["conditions"] = [*conditions(csr), failed_condition(plan.message, now)]
        else:
            st["certificate"] = base64.b64encode(sign(plan, self.ca[0], self.ca[1], now)).decode()
        try:
            await self.client.update_status("certificatesigningrequests", {**csr, "status": st})
        except ApiException as e:
            if e.status not in (404, 409):  # gone, or changed: the next event plans again
                raise


__all__ = ["CSRSigningController", "Fail", "Sign", "plan_signing", "sign"]

