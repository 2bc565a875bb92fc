"""upstream's ``audit.k8s.io/v1`` Event, one per request and stage. Pure.

An event names the request (``auditID``, ``requestURI``, ``verb``), who made
it (``user``, and ``impersonatedUser`` when it acted as someone else;
``sourceIPs``, ``userAgent``), what it was about (``objectRef``: resource,
namespace, name, apiGroup, apiVersion, subresource), how it ended
(``responseStatus``: the code, and for a failure the Status' status, reason
and message), the request and response bodies at the levels that log them,
and ``annotations`` (``authorization.k8s.io/decision`` and ``reason``).
Timestamps are upstream's: RFC 3339 with microseconds, in UTC.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from shoal.apiserver.audit.policy import Level
from shoal.apiserver.authn.user import User
from shoal.apiserver.authz.attributes import Attributes

API_VERSION = "audit.k8s.io/v1"


@functools.lru_cache(maxsize=8)
def _second(s: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))


_last: tuple[int, str] = (-1, "")  # the second last formatted, and its text (every event of a second shares it)


def timestamp(t: float) -> str:
    """``2026-12-01T10:00:00.123456Z`` (upstream's MicroTime) of a Unix time."""
    global _last
    s = int(t)
    us = round((t - s) * 1e6)
    if us >= 1_000_000:
        s, us = s + 1, 0
    if _last[0] != s:
        _last = (s, _second(s))
    return f"{_last[1]}.{us:06d}Z"


class UserInfo(msgspec.Struct, omit_defaults=True):
    username: str = ""
    uid: str = ""
    groups: list[str] = []
    extra: dict[str, list[str]] = {}


class ObjectReference(msgspec.Struct, omit_defaults=True, rename={
        "api_group": "apiGroup", "api_version": "apiVersion", "resource_version": "resourceVersion"}):
    resource: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""
    api_group: str = ""
    api_version: str = ""
    resource_version: str = ""
    subresource: str = ""


class ResponseStatus(msgspec.Struct, omit_defaults=True):
    metadata: dict[str, Any]
    status: str = ""
    message: str = ""
    reason: str = ""
    code: int = 0


class Event(msgspec.Struct, omit_defaults=True, rename={
        "api_version": "apiVersion", "audit_id": "auditID", "request_uri": "requestURI",
        "impersonated_user": "impersonatedUser", "source_ips": "sourceIPs", "user_agent": "userAgent",
        "object_ref": "objectRef", "response_status": "responseStatus", "request_object": "requestObject",
        "response_object": "responseObject", "request_received_timestamp": "requestReceivedTimestamp",
        "stage_timestamp": "stageTimestamp"}):
    """upstream's Event, its fields in upstream's order (absent ones left out)."""

    kind: str
    api_version: str
    level: str
    audit_id: str
    stage: str
    request_uri: str
    verb: str
    user: UserInfo
    impersonated_user: UserInfo | None = None
    source_ips: list[str] = []
    user_agent: str = ""
    object_ref: ObjectReference | None = None
    response_status: ResponseStatus | None = None
    request_object: msgspec.Raw | None = None
    response_object: msgspec.Raw | None = None
    request_received_timestamp: str = ""
    stage_timestamp: str = ""
    annotations: dict[str, str] | None = None


@functools.lru_cache(maxsize=1024)
def user_info(user: User) -> UserInfo:
    return UserInfo(username=user.name, uid=user.uid, groups=list(user.groups),
                    extra={k: list(v) for k, v in user.extra})


RequestMeta = tuple[str, str, str, str]  # (namespace, name, uid, resourceVersion) of the object a request sent


def object_ref(a: Attributes, sent: RequestMeta | None = None) -> ObjectReference | None:
    """The request's object reference from its path; completed, where the path leaves them out, with the
    namespace, name, uid and resourceVersion of the object the request sent (``sent``), as upstream's
    ``LogRequestObject`` does for a create or an update (a create's name is only in its body)."""
    if not a.resource_request:
        return None
    if sent is None:
        return ObjectReference(resource=a.resource, namespace=a.namespace, name=a.name, api_group=a.group,
                               api_version=a.version, subresource=a.subresource)
    return ObjectReference(resource=a.resource, namespace=a.namespace or sent[0], name=a.name or sent[1],
                           uid=sent[2], api_group=a.group, api_version=a.version, resource_version=sent[3],
                           subresource=a.subresource)


def request_meta(body: Any) -> RequestMeta | None:
    """What ``object_ref`` completes the reference with, from a decoded request body (None if it has none)."""
    meta = body.get("metadata") if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        return None
    ns, name, uid, rv = meta.get("namespace"), meta.get("name"), meta.get("uid"), meta.get("resourceVersion")
    got = (ns if isinstance(ns, str) else "", name if isinstance(name, str) else "",
           uid if isinstance(uid, str) else "", rv if isinstance(rv, str) else "")
    return None if got == _NOTHING_SENT else got


_NOTHING_SENT = ("", "", "", "")


def response_status(code: int, status: dict[str, Any] | None) -> ResponseStatus:
    """``{"metadata": {}, "code": 200}``; for a failure also the Status' ``status``, ``reason``, ``message``."""
    if code < 300 or not status:
        return ResponseStatus(metadata={}, code=code)
    return ResponseStatus(metadata={}, status=str(status.get("status") or ""), message=str(status.get("message") or ""),
                          reason=str(status.get("reason") or ""), code=code)


def source_ips(forwarded_for: str | None, remote: str | None) -> list[str]:
    """Upstream's SourceIPs: the ``X-Forwarded-For`` chain, then the peer (a Unix socket's peer is local)."""
    ips = [ip.strip() for ip in forwarded_for.split(",") if ip.strip()] if forwarded_for else []
    peer = remote or "127.0.0.1"
    if peer not in ips:
        ips.append(peer)
    return ips


def json_body(raw: bytes | None) -> msgspec.Raw | None:
    """A body as it is, if it is JSON (a YAML, protobuf or malformed one is left out)."""
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw, type=msgspec.Raw)
    except msgspec.DecodeError:
        return None


@dataclass(slots=True)
class Request:
    """What is known of one audited request, as it goes on; its stages' Events are made from it."""

    audit_id: str
    received: float  # Unix time
    request_uri: str
    verb: str
    remote: str | None
    forwarded_for: str | None
    user_agent: str
    level: Level = Level.METADATA
    user: User | None = None
    impersonated: User | None = None
    attrs: Attributes | None = None
    allowed: bool | None = None  # the authorizer's decision, once made
    reason: str = ""
    request_object: bytes | None = None
    response_object: bytes | None = None
    code: int = 0
    status: dict[str, Any] | None = None
    omit: frozenset[str] = frozenset()
    done: bool = False  # ResponseComplete or Panic was emitted
    added: dict[str, str] | None = None  # annotations admission added (Pod Security's audit mode, ...)
    sent: RequestMeta | None = None  # of the object a create or update sent (``object_ref``; not in RequestReceived)
    # the encoded parts every stage's line shares, with the user, impersonated user, attributes and level
    # they were made from (``line.shared``)
    encoded: tuple[User | None, User | None, Attributes | None, Level,
                   tuple[bytes, bytes, bytes, tuple[bytes, bytes] | None, bytes]] | None = None


def event(r: Request, stage: str, now: float) -> Event:
    """The Event of ``r`` at ``stage``.

    Built by the log writer, after the request may have gone on: so what a stage did not know yet is
    left out by stage (RequestReceived: no answer, no decision, no bodies; ResponseStarted: no bodies)."""
    received = stage == "RequestReceived"
    complete = stage in ("ResponseComplete", "Panic")
    return Event(
        kind="Event", api_version=API_VERSION, level=r.level.text, audit_id=r.audit_id, stage=stage,
        request_uri=r.request_uri, verb=r.attrs.verb if r.attrs else r.verb,
        user=user_info(r.user) if r.user is not None else UserInfo(),
        impersonated_user=user_info(r.impersonated) if r.impersonated is not None else None,
        source_ips=source_ips(r.forwarded_for, r.remote), user_agent=r.user_agent,
        object_ref=object_ref(r.attrs, None if received else r.sent) if r.attrs is not None else None,
        response_status=response_status(r.code, r.status) if r.code and not received else None,
        request_object=json_body(r.request_object) if complete and r.level >= Level.REQUEST else None,
        response_object=json_body(r.response_object) if complete and r.level >= Level.REQUEST_RESPONSE else None,
        request_received_timestamp=timestamp(r.received), stage_timestamp=timestamp(now),
        annotations=None if received else annotations_of(r))


def annotations_of(r: Request) -> dict[str, str] | None:
    """The authorizer's decision and what admission added (upstream's ``audit.AddAuditAnnotation``)."""
    if r.allowed is None and not r.added:
        return None
    out = {} if r.allowed is None else {"authorization.k8s.io/decision": "allow" if r.allowed else "forbid",
                                         "authorization.k8s.io/reason": r.reason}
    if r.added:
        out.update(r.added)
    return out
