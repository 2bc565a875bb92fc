"""What the request pipeline calls to audit a request (upstream's ``WithAudit`` filters).

``begin`` when a request arrives (its audit ID: the client's ``Audit-ID``
header, else a new UUID, answered in the response's ``Audit-ID`` header);
``received`` once its user is known (the policy decides the level on the
authenticated user, before impersonation, as upstream; the RequestReceived
event); ``authorized`` with the authorizer's decision (the
``authorization.k8s.io/decision`` and ``reason`` annotations); ``started``
when a long-running answer (a watch, a log stream, an exec) sends its head
(ResponseStarted); ``finish`` when the answer is complete (ResponseComplete,
or Panic for a failure that was not an API error). ``refused`` is a request
whose credentials were refused (401): it is evaluated as a request of no user
and its event says why.

Admission adds annotations to the event of the request it admits with
``annotate`` (upstream's ``audit.AddAuditAnnotation``): the request's record is
in the ``CURRENT`` context variable, set with the request's user, in the task
that runs its handler.

A request of level None costs its ``begin`` and one policy decision (kept per
user, method and path: ``Auditor.decide``); a logged one hands (record, stage,
time) to the backend, which makes each event's line and writes it at once
(blocking mode) or later, in batches (batch mode; ``logfile``).
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import msgspec

from shoal.apiserver.audit import event
from shoal.apiserver.audit.policy import Decision, Level, Policy, evaluate
from shoal.apiserver.authn.user import User
from shoal.apiserver.authz.attributes import Attributes, request_attributes

AuditRequest = event.Request
NOBODY = User("")
_LONG_RUNNING_SUBRESOURCES = frozenset({"log", "exec", "attach", "portforward", "proxy"})
_WRITES = frozenset({"POST", "PUT", "PATCH"})
_VERBS = {m: m.lower() for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")}
DECISIONS_KEPT = 4096  # (user, method, path, watch) -> (attributes, decision) kept (see ``Auditor.decide``)


CURRENT: contextvars.ContextVar[event.Request | None] = contextvars.ContextVar("shoal_audit_request", default=None)


def logged() -> bool:
    """Whether the request being served has an audit event to annotate (spare the work otherwise)."""
    r = CURRENT.get()
    return r is not None and r.level is not Level.NONE


def annotate(annotations: Mapping[str, str]) -> None:
    """Add ``annotations`` to the audit event of the request being served (nothing if it is not logged)."""
    r = CURRENT.get()
    if r is None or r.level is Level.NONE or not annotations:
        return
    if r.added is None:
        r.added = {}
    r.added.update(annotations)


def log_request_object(body: Any) -> None:
    """upstream's ``audit.LogRequestObject``, for the reference: a create or update names in its body what its
    path may not (a create's name), and its events after RequestReceived name it too (``event.object_ref``)."""
    r = CURRENT.get()
    if r is not None and r.level is not Level.NONE:
        r.sent = event.request_meta(body)


# an event to write: the request's record, the stage and its Unix time (the writer builds the Event)
Pending = tuple[event.Request, str, float]


class Backend(Protocol):
    async def start(self) -> None: ...

    def emit(self, ev: Pending) -> None: ...  # hands the event on; never waits (the log backend's modes)

    async def stop(self) -> None: ...


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


class _Ids:
    """Random (version 4) UUIDs, their randomness read 256 at a time (one ``urandom`` call per 256 requests)."""

    def __init__(self) -> None:
        self._pool = b""

    def __call__(self) -> str:
        if not self._pool:
            self._pool = os.urandom(16 * 256)
        h, self._pool = self._pool[:16].hex(), self._pool[16:]
        # version 4, variant 10xx (RFC 4122), as uuid.UUID(bytes=..., version=4) sets them
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


new_id = _Ids()


def long_running(attrs: Attributes | None) -> bool:
    return attrs is not None and (attrs.verb == "watch" or attrs.subresource in _LONG_RUNNING_SUBRESOURCES)


class Auditor:
    def __init__(self, policy: Policy, backend: Backend, *, clock: Callable[[], float] = time.time) -> None:
        self.policy = policy
        self.backend = backend
        self.clock = clock
        self._decisions: dict[tuple[User, str, str, str], tuple[Attributes, Decision]] = {}

    async def start(self) -> None:
        await self.backend.start()

    async def stop(self) -> None:
        await self.backend.stop()

    def begin(self, *, method: str, path: str, query_string: str, headers: Mapping[str, str],
              remote: str | None) -> AuditRequest:
        get = headers.get
        # positional: audit_id, received, request_uri, verb, remote, forwarded_for, user_agent, level
        return AuditRequest(get("Audit-ID") or new_id(), self.clock(),
                            f"{path}?{query_string}" if query_string else path,
                            _VERBS.get(method) or method.lower(), remote, get("X-Forwarded-For"),
                            get("User-Agent", ""), Level.NONE)


    def decide(self, user: User, method: str, path: str, watch: str) -> tuple[Attributes, Decision]:
        """The attributes of a request and what the policy logs of it, kept per (user, method, path, watch).

        Both are pure functions of these four (the path is parsed without the kind registry; the policy
        does not change while the server runs), and clients repeat them: every create of a kind in a
        namespace is one path. A hit is a dict look-up instead of parsing the path and matching the rules
        (~4 us at one rule; a longer policy costs more). At ``DECISIONS_KEPT`` the cache starts over, so
        requests that never repeat (a get of each of many names) cost one insert each, not a growing dict."""
        key = (user, method, path, watch)
        hit = self._decisions.get(key)
        if hit is None:
            attrs = request_attributes(user, method, path, watch)
            hit = (attrs, evaluate(self.policy, attrs))
            if len(self._decisions) >= DECISIONS_KEPT:
                self._decisions.clear()
            self._decisions[key] = hit
        return hit

    def received(self, r: AuditRequest, user: User, *, method: str, path: str, watch: str,
                 impersonated: User | None = None) -> None:
        attrs, decision = self.decide(user, method, path, watch)
        r.user, r.attrs, r.impersonated, r.level = user, attrs, impersonated, decision.level
        r.omit = decision.omit_stages
        if r.level is not Level.NONE and "RequestReceived" not in r.omit:
            self.backend.emit((r, "RequestReceived", self.clock()))

    def authorized(self, r: AuditRequest, allowed: bool, reason: str = "") -> None:
        r.allowed, r.reason = allowed, reason

    def refused(self, r: AuditRequest, *, method: str, path: str, watch: str, why: str) -> None:
        self.received(r, NOBODY, method=method, path=path, watch=watch)
        r.user = None
        self.finish(r, 401, {"status": "Failure", "reason": "Unauthorized",
                             "message": f"Authentication failed, reason: {why}" if why else
                             "Authentication failed"})

    def started(self, r: AuditRequest, code: int) -> None:
        if long_running(r.attrs):
            r.code = code
            if r.level is not Level.NONE and "ResponseStarted" not in r.omit:
                self.backend.emit((r, "ResponseStarted", self.clock()))

    def finish(self, r: AuditRequest, code: int, status: dict[str, Any] | None = None, *,
               method: str = "", request_body: bytes | None = None, response_body: bytes | None = None,
               panic: bool = False) -> None:
        if r.level is Level.NONE or r.done:
            return
        r.done = True
        r.code = code
        r.status = status
        if r.level >= Level.REQUEST and request_body and method in _WRITES:
            r.request_object = request_body  # decoded by the writer (see logfile.encode)
        if r.level >= Level.REQUEST_RESPONSE and response_body:
            r.response_object = response_body
        stage = "Panic" if panic else "ResponseComplete"
        if stage not in r.omit:
            self.backend.emit((r, stage, self.clock()))


def status_of(code: int, body: bytes | None, content_type: str | None) -> dict[str, Any] | None:
    """The Status of a failed answer (its message and reason), from its JSON body."""
    if code < 300 or not body or not content_type or "json" not in content_type:
        return None
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    return doc if isinstance(doc, dict) else None
