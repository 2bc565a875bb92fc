"""Validation of CertificateSigningRequests and APIServices, as upstream's.

A CSR's request must be one PEM ``CERTIFICATE REQUEST`` block, its signer a
``domain/path`` name, its usages known key usages, its duration at least ten
minutes. Its conditions follow upstream's rules: ``Approved`` and ``Denied``
exclude each other, are only ever ``True``, and once there are never removed;
an issued certificate is PEM ``CERTIFICATE`` blocks and is never replaced.
The PEM checks are about framing only (pure, no crypto): the signer parses the
request itself and marks it ``Failed`` if it cannot.

An APIService is named ``<version>.<group>``, with priorities in upstream's
ranges; a local one (no ``service``) takes no CA bundle.
"""

from __future__ import annotations

import base64
import binascii
import re

from shoal.api.models.apiregistration import APIService
from shoal.api.models.certificates import CertificateSigningRequest
from shoal.api.validation_base import (
    INVALID,
    FieldError,
    check,
    dns1035_label,
    dns1123_subdomain,
    duplicate,
    forbidden,
    index,
    invalid,
    required,
    unsupported,
)

KEY_USAGES = (
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any",
    "server auth", "client auth", "code signing", "email protection", "s/mime", "ipsec end system",
    "ipsec tunnel", "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc",
)
CONDITION_TYPES = ("Approved", "Denied", "Failed")
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END \1-----")


def pem_blocks(data: bytes) -> list[str]:
    """The types of the PEM blocks in ``data``, in order (an empty list if there are none)."""
    out = []
    for m in _PEM_BLOCK.finditer(data):
        try:
            base64.b64decode(b"".join(m.group(2).split()), validate=True)
        except (binascii.Error, ValueError):
            return []
        out.append(m.group(1).decode())
    return out


def _bytes_field(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _signer_name(value: str) -> list[FieldError]:
    path = "spec.signerName"
    if not value:
        return [required(path)]
    domain, slash, rest = value.partition("/")
    if not slash or not rest:
        return [invalid(path, value, "must be a fully qualified domain and path of the form 'example.com/signer-name'")]
    return check(path, domain, dns1123_subdomain)


def validate_csr(csr: CertificateSigningRequest) -> list[FieldError]:
    spec = csr.spec
    if spec is None:
        return [required("spec")]
    errs: list[FieldError] = []
    raw = _bytes_field(spec.request)
    if not spec.request:
        errs.append(required("spec.request"))
    elif raw is None or pem_blocks(raw) != ["CERTIFICATE REQUEST"]:
        errs.append(FieldError("spec.request", INVALID, "PEM block type must be CERTIFICATE REQUEST"))
    errs += _signer_name(spec.signer_name)
    if spec.expiration_seconds is not None and spec.expiration_seconds < 600:
        errs.append(invalid("spec.expirationSeconds", spec.expiration_seconds,
                            "may not specify a duration less than 600 seconds (10 minutes)"))
    for i, usage in enumerate(spec.usages or []):
        if usage not in KEY_USAGES:
            errs.append(unsupported(index("spec.usages", i), usage, KEY_USAGES))
    errs += _conditions(csr)
    return errs


def _conditions(csr: CertificateSigningRequest) -> list[FieldError]:
    errs: list[FieldError] = []
    st = csr.status
    if st is None:
        return errs
    seen: set[str] = set()
    for i, c in enumerate(st.conditions or []):
        at = index("status.conditions", i)
        if not c.type:
            errs.append(required(at + ".type"))
            continue
        if c.type in ("Approved", "Denied"):
            if c.status != "True":
                errs.append(unsupported(at + ".status", c.status, ("True",)))
            other = "Denied" if c.type == "Approved" else "Approved"
            if other in seen:
                errs.append(invalid(at + ".type", c.type, "Approved and Denied conditions are mutually exclusive"))
        elif c.status not in ("True", "False", "Unknown"):
            errs.append(unsupported(at + ".status", c.status, ("True", "False", "Unknown")))
        if c.type in seen:
            errs.append(duplicate(at + ".type", c.type))
        seen.add(c.type)
    if st.certificate:
        cert = _bytes_field(st.certificate)
        blocks = pem_blocks(cert) if cert is not None else []
        if not blocks or any(b != "CERTIFICATE" for b in blocks):
            errs.append(FieldError("status.certificate", INVALID, "must contain at least one CERTIFICATE PEM block"))
    return errs


def validate_csr_update(new: CertificateSigningRequest, old: CertificateSigningRequest) -> list[FieldError]:
    errs: list[FieldError] = []
    old_types = {c.type for c in (old.status.conditions if old.status else None) or []}
    new_types = {c.type for c in (new.status.conditions if new.status else None) or []}
    for t in ("Approved", "Denied"):
        if t in old_types and t not in new_types:
            errs.append(forbidden("status.conditions", f'updates may not remove a condition of type "{t}"'))
    old_cert = old.status.certificate if old.status else None
    new_cert = new.status.certificate if new.status else None
    if old_cert and new_cert != old_cert:
        errs.append(forbidden("status.certificate", "updates may not modify existing certificate content"))
    return errs


def validate_api_service(svc: APIService) -> list[FieldError]:
    spec = svc.spec
    if spec is None:
        return [required("spec")]
    errs: list[FieldError] = []
    name = svc.metadata.name if svc.metadata else None
    group, version = spec.group or "", spec.version or ""
    if not version:
        errs.append(required("spec.version"))
    else:
        errs += check("spec.version", version, dns1035_label)
    if group:
        errs += check("spec.group", group, dns1123_subdomain)
    elif version and version != "v1":
        errs.append(required("spec.group", "only v1 may have an empty group and it better be legacy kube"))
    if name and version and name != f"{version}.{group}":
        errs.append(invalid("metadata.name", name, f'must be "{version}.{group}"'))
    if not 0 < spec.group_priority_minimum <= 20000:
        errs.append(invalid("spec.groupPriorityMinimum", spec.group_priority_minimum,
                            "must be positive and less than 20000"))
    if not 0 < spec.version_priority <= 1000:
        errs.append(invalid("spec.versionPriority", spec.version_priority, "must be positive and less than 1000"))
    if spec.service is None:
        if spec.ca_bundle:
            errs.append(invalid("spec.caBundle", f"{len(spec.ca_bundle)} bytes", "local APIServices may not have a caBundle"))
        if spec.insecure_skip_tls_verify:
            errs.append(invalid("spec.insecureSkipTLSVerify", True,
                                "local APIServices may not have insecureSkipTLSVerify"))
    else:
        if not spec.service.namespace:
            errs.append(required("spec.service.namespace"))
        if not spec.service.name:
            errs.append(required("spec.service.name"))
        if spec.service.port is not None and not 0 < spec.service.port <= 65535:
            errs.append(invalid("spec.service.port", spec.service.port, "must be a valid port number"))
        if spec.insecure_skip_tls_verify and spec.ca_bundle:
            errs.append(invalid("spec.insecureSkipTLSVerify", True,
                                "may not be true if caBundle is present"))
    return errs
