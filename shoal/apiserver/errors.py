"""API errors as Kubernetes ``Status`` objects.

Every failure that reaches a client crosses the HTTP boundary as one of these:
a ``Status`` with the code and reason Kubernetes would use, and a message that
names the object or field. Handlers raise ``ApiError``; the error middleware
turns it (and any unexpected exception, as a last resort) into JSON.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shoal.api.patch_errors import PatchError, UnsupportedPatchError


class ApiError(Exception):
    """An error answered to the client as a ``metav1.Status``."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        """The ``Status``, its fields in upstream's order (clients compare error bodies byte for byte)."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # a Status returned as a result (the eviction's 500) has none
            body["reason"] = self.reason
        if self.details:
            body["details"] = ordered_details(self.details)
        body["code"] = self.code
        return body

    def body(self) -> bytes:
        return msgspec.json.encode(self.status())


# Go's field order of metav1.StatusDetails and metav1.StatusCause, which encoding/json keeps
_DETAILS_ORDER = ("name", "group", "kind", "uid", "causes", "retryAfterSeconds")
_CAUSE_ORDER = ("reason", "message", "field")


def _in_order(d: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    out = {k: d[k] for k in order if k in d}
    out.update((k, v) for k, v in d.items() if k not in out)
    return out


def ordered_details(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` (and its causes) with their fields in upstream's order: name, group, kind, uid, ..."""
    out = _in_order(details, _DETAILS_ORDER)
    causes = out.get("causes")
    if isinstance(causes, list):
        out["causes"] = [_in_order(c, _CAUSE_ORDER) if isinstance(c, dict) else c for c in causes]
    return out


def _details(kind: str, name: str | None, group: str = "") -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    d["kind"] = kind
    return d


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    qual = f"{resource}.{group}" if group else resource
    return ApiError(404, "NotFound", f'{qual} "{name}" not found', details=_details(resource, name, group))


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    qual = f"{resource}.{group}" if group else resource
    return ApiError(409, "AlreadyExists", f'{qual} "{name}" already exists', details=_details(resource, name, group))


def conflict(resource: str, name: str, group: str = "", why: str | None = None) -> ApiError:
    qual = f"{resource}.{group}" if group else resource
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409, "Conflict", f'Operation cannot be fulfilled on {qual} "{name}": {why}', details=_details(resource, name, group)
    )


def forbidden_object(resource: str, name: str, group: str, why: str) -> ApiError:
    """403 for one object, worded as upstream's ``NewForbidden``: ``pods "web" is forbidden: ...``."""
    qual = f"{resource}.{group}" if group else resource
    return ApiError(403, "Forbidden", f'{qual} "{name}" is forbidden: {why}', details=_details(resource, name, group))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def invalid(kind: str, name: str, causes: list[dict[str, str]], group: str = "") -> ApiError:
    """422 Invalid, with one cause per field error (``field``, ``reason``, ``message``)."""
    qual = f"{kind}.{group}" if group else kind
    parts = [f"{c['field']}: {c['message']}" if c.get("field") else c["message"] for c in causes]
    if len(parts) == 1:
        text = f'{qual} "{name}" is invalid: {parts[0]}'
    else:
        text = f'{qual} "{name}" is invalid: [{", ".join(parts)}]'
    details = _details(kind, name, group)
    details["causes"] = causes
    return ApiError(422, "Invalid", text, details=details)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def too_large_resource_version(asked: int, current: int) -> ApiError:
    """A list at a revision the store has not reached: upstream's 504 Timeout, which clients
    (client-go's reflector) recognise by the ``ResourceVersionTooLarge`` cause and relist."""
    return ApiError(
        504, "Timeout", f"Too large resource version: {asked}, current: {current}",
        details={"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                 "retryAfterSeconds": 1},
    )


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def forbidden(message: str) -> ApiError:
    return ApiError(403, "Forbidden", message)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"the request body exceeds the limit of {limit} bytes")


def unsupported_media(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {content_type!r})")


def patch_refused(e: ValueError, content_type: str) -> ApiError:
    """The ``Status`` for a patch that could not be applied: the one place patch errors become answers.

    A ``PatchError`` carries its own status and reason (400 BadRequest, 422 Invalid for a failed
    ``test``); an unsupported patch type is 415; any other ``ValueError`` from applying a patch is
    a malformed patch (400).
    """
    if isinstance(e, UnsupportedPatchError):
        return unsupported_media(content_type)
    if isinstance(e, PatchError):
        return ApiError(e.status_code, e.reason, str(e))
    return bad_request(str(e))


_REASONS = {
    400: ("BadRequest", "the request is invalid"),
    404: ("NotFound", "the server could not find the requested resource"),
    405: ("MethodNotAllowed", "the server does not allow this method on the requested resource"),
    413: ("RequestEntityTooLarge", "the request is too large"),
    415: ("UnsupportedMediaType", "the body of the request was in an unknown format"),
}


def from_http_status(code: int, phrase: str) -> ApiError:
    """A ``Status`` for an HTTP refusal that did not come from a handler (e.g. the router's 404)."""
    reason, message = _REASONS.get(code, (phrase.replace(" ", "") or "Unknown", phrase or f"HTTP {code}"))
    return ApiError(code, reason, message)
