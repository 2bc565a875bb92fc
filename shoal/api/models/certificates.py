"""certificates.k8s.io/v1 CertificateSigningRequest: a PEM request, approved or denied, then signed.

A client creates the request (the server records who asked: ``spec.username``,
``uid``, ``groups``, ``extra``); an approver adds an ``Approved`` or ``Denied``
condition through the ``/approval`` subresource; the signer named by
``spec.signerName`` writes ``status.certificate`` through ``/status``.
``request`` and ``certificate`` are bytes, base64 on the wire as every
``[]byte`` field.
"""

from __future__ import annotations

from typing import Annotated

from shoal.api.base import Model, merge_key
from shoal.api.meta import ObjectMeta


class CertificateSigningRequestSpec(Model):
    request: str  # base64 of a PEM "CERTIFICATE REQUEST"
    signer_name: str
    expiration_seconds: int | None = None
    usages: list[str] | None = None
    username: str | None = None
    uid: str | None = None
    groups: list[str] | None = None
    extra: dict[str, list[str]] | None = None


class CertificateSigningRequestCondition(Model):
    type: str  # Approved, Denied or Failed
    status: str
    reason: str | None = None
    message: str | None = None
    last_update_time: str | None = None
    last_transition_time: str | None = None


class CertificateSigningRequestStatus(Model):
    conditions: Annotated[list[CertificateSigningRequestCondition], merge_key("type")] | None = None
    certificate: str | None = None  # base64 of the PEM chain


class CertificateSigningRequest(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: CertificateSigningRequestSpec | None = None
    status: CertificateSigningRequestStatus | None = None
