"""One audit Event as a JSON line, in pieces: the same bytes as encoding ``event.event``, for less. Pure.

Why: at Metadata for everything every request is two events, and building
each as an ``event.Event`` (18 fields, its user, object reference and
response status as Structs, its source IPs as a list, two timestamps) and
then encoding it cost ~4.5 us per event in-process, ~9 us per create
(measured in docs/benchmarks.md, "Audit log at Metadata, made cheaper"). Most of an event
is the same at every stage of a request: its level and audit ID; who
(``requestURI``, ``verb``, ``user``, ``impersonatedUser``, ``sourceIPs``,
``userAgent``) and what (``objectRef``), between the stage and the response;
and when it was received. Those parts are encoded once per request (the
middle one by msgspec, as an ``Event`` with only those fields set, so its
escaping and left-out fields are the Event's) and kept on the request's
record; each line is then those parts, the stage, and the few fields of the
stage (``responseStatus``, the bodies, ``stageTimestamp``, the annotations),
joined as bytes.

``line(r, stage, now) == msgspec.json.encode(event.event(r, stage, now)) + b"\\n"``
for every record (tests/auth/test_audit_line.py compares them over a table and
random records): ``event.Event`` stays the definition of the shape, this is
only a faster way to the same bytes.
"""

from __future__ import annotations

import msgspec

from shoal.apiserver.audit.event import (
    API_VERSION,
    Event,
    Request,
    UserInfo,
    annotations_of,
    json_body,
    object_ref,
    response_status,
    source_ips,
    timestamp,
    user_info,
)
from shoal.apiserver.audit.policy import STAGES, Level

_encode = msgspec.json.Encoder().encode


# an Event with only its shared fields set encodes as this, then them (its other fields are left out)
_BLANK = b'{"kind":"","apiVersion":"","level":"","auditID":"","stage":"",'
_HEADS = {level: b'{"kind":"Event","apiVersion":' + _encode(API_VERSION) + b',"level":' + _encode(level.text)
          + b',"auditID":' for level in Level}
_STAGES = {stage: b',"stage":' + _encode(stage) + b"," for stage in STAGES}


_WHO: dict[tuple[object, ...], tuple[bytes, bytes, tuple[bytes, bytes] | None]] = {}
WHO_KEPT = 4096
_NAMED = "\x00shoal-name\x00"  # a name no object has, where a create's name goes in its reference (``_who``)


def _who(r: Request) -> tuple[bytes, bytes, tuple[bytes, bytes] | None]:
    """``"requestURI":...`` to ``userAgent``'s end; ``,"objectRef":{...}`` of the path (or nothing); and, for a
    path that names no object (a create), that reference cut where the name of the object sent goes. The
    same for every request a client repeats (each create of a kind in a namespace by one client is one), so
    kept by what they are made of (at ``WHO_KEPT`` the cache starts over: requests that never repeat cost
    one insert each, not a growing dict)."""
    key = (r.request_uri, r.verb, r.user, r.impersonated, r.attrs, r.forwarded_for, r.remote, r.user_agent)
    who = _WHO.get(key)
    if who is None:
        encoded = _encode(Event(
            kind="", api_version="", level="", audit_id="", stage="",
            request_uri=r.request_uri, verb=r.attrs.verb if r.attrs else r.verb,
            user=user_info(r.user) if r.user is not None else UserInfo(),
            impersonated_user=user_info(r.impersonated) if r.impersonated is not None else None,
            source_ips=source_ips(r.forwarded_for, r.remote), user_agent=r.user_agent))
        assert encoded.startswith(_BLANK)
        ref = object_ref(r.attrs) if r.attrs is not None else None
        cut = None
        if ref is not None and r.attrs is not None and not r.attrs.name:
            head, _, tail = _encode(object_ref(r.attrs, ("", _NAMED, "", ""))).partition(_encode(_NAMED))
            cut = (b',"objectRef":' + head, tail)
        who = (encoded[len(_BLANK):-1], b"" if ref is None else b',"objectRef":' + _encode(ref), cut)
        if len(_WHO) >= WHO_KEPT:
            _WHO.clear()
        _WHO[key] = who
    return who


def shared(r: Request) -> tuple[bytes, bytes, bytes, tuple[bytes, bytes] | None, bytes]:
    """What every stage's line of ``r`` has: its start to ``"auditID"``'s value; ``"requestURI":...`` to
    ``userAgent``'s end; the path's ``objectRef`` (and it cut for a name, ``_who``); and
    ``,"requestReceivedTimestamp":"...","stageTimestamp":"``.

    Kept on ``r`` with the user, impersonated user, attributes and level they were made from, and made again
    if any of them changed since (a refused request's user is dropped after its RequestReceived)."""
    made = r.encoded
    if made is not None and made[0] is r.user and made[1] is r.impersonated and made[2] is r.attrs and \
            made[3] is r.level:
        return made[4]
    who, ref, cut = _who(r)
    parts = (_HEADS[r.level] + _encode(r.audit_id), who, ref, cut,
             b',"requestReceivedTimestamp":"' + timestamp(r.received).encode() + b'","stageTimestamp":"')
    r.encoded = (r.user, r.impersonated, r.attrs, r.level, parts)
    return parts


_DECISIONS: dict[tuple[bool | None, str], bytes] = {}  # (allowed, reason) -> its "annotations" member
_DECISIONS_KEPT = 256


def _decision(allowed: bool | None, reason: str) -> bytes:
    """``,"annotations":{...}`` of a request whose only annotations are the authorizer's decision: the same
    few (allowed, reason) pairs recur on every request, so each is encoded once (at most ``_DECISIONS_KEPT``
    kept; the reasons name bindings, which are few)."""
    made = _DECISIONS.get((allowed, reason))
    if made is None:
        made = b',"annotations":' + _encode(annotations_of(Request(
            audit_id="", received=0.0, request_uri="", verb="", remote=None, forwarded_for=None, user_agent="",
            allowed=allowed, reason=reason)))
        if len(_DECISIONS) < _DECISIONS_KEPT:
            _DECISIONS[(allowed, reason)] = made
    return made


def line(r: Request, stage: str, now: float) -> bytes:
    """The Event of ``r`` at ``stage`` (at Unix time ``now``) as one JSON line (see the module's docstring)."""
    head, who, ref, cut, received_at = shared(r)
    received = stage == "RequestReceived"
    sent = r.sent
    if sent is not None and not received and r.attrs is not None and r.attrs.resource_request:
        # the reference completed with what the request sent: a create's name goes into the cut one
        if cut is not None and not sent[2] and not sent[3] and (r.attrs.namespace or not sent[0]):
            if sent[1]:
                ref = cut[0] + _encode(sent[1]) + cut[1]
        else:
            ref = b',"objectRef":' + _encode(object_ref(r.attrs, sent))
    parts = [head, _STAGES[stage], who, ref]
    if r.code and not received:
        parts.append(b',"responseStatus":{"metadata":{},"code":%d}' % r.code if r.code < 300 or not r.status
                     else b',"responseStatus":' + _encode(response_status(r.code, r.status)))
    if r.level >= Level.REQUEST and stage in ("ResponseComplete", "Panic"):
        body = json_body(r.request_object)
        if body is not None:
            parts += (b',"requestObject":', _encode(body))
        if r.level >= Level.REQUEST_RESPONSE:
            body = json_body(r.response_object)
            if body is not None:
                parts += (b',"responseObject":', _encode(body))
    parts += (received_at, timestamp(now).encode(), b'"')
    if not received and (r.allowed is not None or r.added):
        parts.append(_decision(r.allowed, r.reason) if not r.added else
                     b',"annotations":' + _encode(annotations_of(r)))
    parts.append(b"}\n")
    return b"".join(parts)
