"""The ``admission.k8s.io/v1 AdmissionReview`` a webhook receives, and the reading of its answer.

``request_body`` is what is posted; ``read_response`` holds the answer to
upstream's ``VerifyAdmissionResponse`` (the same uid, the v1 kind, a patch only
from a mutating webhook and only with ``patchType: JSONPatch``) and returns a
``Verdict``; an answer that breaks a rule raises ``BadResponse`` with
upstream's sentence, which the dispatcher reports as a failed call (so the
webhook's ``failurePolicy`` decides). ``denial`` is upstream's ``ToStatusErr``:
the webhook's own Status, its message prefixed with who denied the request.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import msgspec

from shoal.apiserver import errors
from shoal.apiserver.webhooks.attributes import Attributes

API_VERSION = "admission.k8s.io/v1"
GVK_V1 = "admission.k8s.io/v1, Kind=AdmissionReview"


class BadResponse(Exception):
    """A webhook's answer that is not a valid AdmissionReview response."""


class Undecodable(BadResponse):
    """An answer that is not JSON at all (upstream's client fails to decode it: "failed to call webhook")."""


@dataclass(slots=True)
class Verdict:
    allowed: bool
    status: dict[str, Any] | None = None
    patch: list[Any] | None = None
    warnings: list[str] = field(default_factory=list)
    audit_annotations: dict[str, str] = field(default_factory=dict)


def admission_request(attrs: Attributes, uid: str) -> dict[str, Any]:
    """The ``request`` of an AdmissionReview (also CEL's ``request`` variable)."""
    req: dict[str, Any] = {
        "uid": uid,
        "kind": attrs.gvk(),
        "resource": attrs.gvr(),
    }
    if attrs.subresource:
        req["subResource"] = attrs.subresource
    req["requestKind"] = attrs.gvk()
    req["requestResource"] = attrs.gvr()
    if attrs.subresource:
        req["requestSubResource"] = attrs.subresource
    if attrs.name:
        req["name"] = attrs.name
    if attrs.namespace:
        req["namespace"] = attrs.namespace
    req["operation"] = attrs.operation
    req["userInfo"] = attrs.user_info()
    req["object"] = attrs.obj
    req["oldObject"] = attrs.old
    req["dryRun"] = attrs.dry_run
    req["options"] = attrs.options_object()
    return req


def request_body(attrs: Attributes, uid: str) -> bytes:
    return msgspec.json.encode({"kind": "AdmissionReview", "apiVersion": API_VERSION,
                                "request": admission_request(attrs, uid)})


def _gvk_string(review: dict[str, Any]) -> str:
    av = review.get("apiVersion")
    av = av if isinstance(av, str) else ""
    group, _, version = av.rpartition("/")
    kind = review.get("kind")
    return f"{group}/{version}, Kind={kind if isinstance(kind, str) else ''}"


def read_response(raw: bytes, uid: str, *, mutating: bool) -> Verdict:
    try:
        review = msgspec.json.decode(raw)
    except msgspec.DecodeError as e:
        raise Undecodable(f"couldn't get version/kind; json parse error: {e}") from None
    if not isinstance(review, dict):
        raise Undecodable("couldn't get version/kind; json parse error: the response is not a JSON object")
    resp = review.get("response")
    if not isinstance(resp, dict):
        raise BadResponse("webhook response was absent")
    if resp.get("uid") != uid:
        got = resp.get("uid")
        raise BadResponse(f'expected response.uid="{uid}", got "{got if isinstance(got, str) else ""}"')
    if _gvk_string(review) != GVK_V1:
        raise BadResponse(f"expected webhook response of {GVK_V1}, got {_gvk_string(review)}")
    patch_type = resp.get("patchType") or ""
    raw_patch = resp.get("patch") or ""
    if not mutating and (patch_type or raw_patch):
        raise BadResponse("validating webhook may not return response.patch or response.patchType")
    if raw_patch and not patch_type:
        raise BadResponse("webhook returned response.patch but not response.patchType")
    if patch_type and not raw_patch:
        raise BadResponse("webhook returned response.patchType but not response.patch")
    if patch_type and patch_type != "JSONPatch":
        raise BadResponse(f'webhook returned invalid response.patchType of "{patch_type}"')
    patch = None
    if raw_patch:
        try:
            patch = msgspec.json.decode(base64.b64decode(raw_patch, validate=True))
        except (binascii.Error, ValueError, TypeError, msgspec.DecodeError) as e:
            raise BadResponse(f"invalid response.patch: {e}") from None
        if not isinstance(patch, list):
            raise BadResponse("invalid response.patch: a JSON patch must be an array of operations")
    allowed = resp.get("allowed")
    if not isinstance(allowed, bool):
        raise BadResponse("json: cannot unmarshal response.allowed: a boolean is required")
    status = resp.get("status")
    warnings = resp.get("warnings")
    audit = resp.get("auditAnnotations")
    return Verdict(
        allowed=allowed,
        status=status if isinstance(status, dict) else None,
        patch=patch,
        warnings=[w for w in warnings if isinstance(w, str)] if isinstance(warnings, list) else [],
        audit_annotations={k: v for k, v in audit.items() if isinstance(v, str)} if isinstance(audit, dict) else {},
    )


def denial(webhook: str, status: dict[str, Any] | None) -> errors.ApiError:
    """Upstream's ``ToStatusErr``: the webhook's Status (at least 400, Failure), named in the message."""
    st = status or {}
    code = st.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) and code >= 400 else 400
    denied_by = f'admission webhook "{webhook}" denied the request'
    message, reason = st.get("message"), st.get("reason")
    if isinstance(message, str) and message:
        text = f"{denied_by}: {message}"
    elif isinstance(reason, str) and reason:
        text = f"{denied_by}: {reason}"
    else:
        text = f"{denied_by} without explanation"
    details = st.get("details")
    return errors.ApiError(code, reason if isinstance(reason, str) else "", text,
                           details=details if isinstance(details, dict) else None)
