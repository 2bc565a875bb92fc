"""An audit event's line made in pieces (``line.line``) is byte for byte the encoded ``event.Event``."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.apiserver.audit.event import Request, event
from shoal.apiserver.audit.line import line
from shoal.apiserver.audit.policy import STAGES, Level
from shoal.apiserver.authn.user import User
from shoal.apiserver.authz.attributes import request_attributes


def _reference(r: Request, stage: str, now: float) -> bytes:
    return msgspec.json.encode(event(r, stage, now)) + b"\n"


ALICE = User("alice", ("dev", "system:authenticated"), uid="u-1", extra=(("scopes", ("a", "b")),))
T0 = 1_796_000_000.123456


def _request(**kw: object) -> Request:
    base: dict[str, object] = {"audit_id": "5a0c-id", "received": T0, "request_uri": "/api/v1/namespaces/a/pods",
                               "verb": "post", "remote": "10.0.0.5", "forwarded_for": None, "user_agent": "kubectl"}
    base.update(kw)
    return Request(**base)  # type: ignore[arg-type]


CASES = {
    "a create at Metadata": _request(
        user=ALICE, attrs=request_attributes(ALICE, "POST", "/api/v1/namespaces/a/pods"), allowed=True, code=201),
    "nothing known yet": _request(remote=None, user_agent=""),
    "a refused request (no user)": _request(code=401, status={"status": "Failure", "reason": "Unauthorized",
                                                            "message": "Authentication failed, reason: \"x\"\n"}),
    "a denied request with impersonation": _request(
        user=User("bob"), impersonated=ALICE, allowed=False, reason='User "bob" cannot ...', code=403,
        attrs=request_attributes(User("bob"), "GET", "/apis/apps/v1/namespaces/b/deployments/web/scale"),
        status={"status": "Failure", "message": "forbidden", "reason": "Forbidden"}, forwarded_for="1.2.3.4, 5.6.7.8"),
    "a non-resource request": _request(user=ALICE, attrs=request_attributes(ALICE, "GET", "/version"), code=200,
                                       request_uri="/version?timeout=32s", allowed=True),
    "bodies at RequestResponse": _request(
        user=ALICE, attrs=request_attributes(ALICE, "PUT", "/api/v1/namespaces/a/configmaps/c"), code=200,
        level=Level.REQUEST_RESPONSE, request_object=b' {"kind": "ConfigMap"} ', response_object=b'{"a":[1,2]}',
        allowed=True, added={"pod-security.kubernetes.io/enforce-policy": "baseline:latest"}),
    "a body that is not JSON": _request(level=Level.REQUEST, request_object=b"kind: Pod\n", code=201),
    "annotations without a decision": _request(added={"k": "v\u00e9"}, code=500,
                                              status={"status": "Failure", "message": "APIServer panic'd"}),
    "odd strings": _request(audit_id='q"uote\\', request_uri="/api/v1/pods?labelSelector=a%3Db&x=\u2603",
                            user_agent="agent\t\u0001", user=User("\u00fcser")),
    "a 204 without a body": _request(code=204, status={"status": "Success"}),
    "a create naming its object in the body": _request(
        user=ALICE, attrs=request_attributes(ALICE, "POST", "/api/v1/namespaces/a/pods"), allowed=True, code=201,
        sent=("a", "web-0", "", "")),
    "an update sending uid and resourceVersion": _request(
        user=ALICE, attrs=request_attributes(ALICE, "PUT", "/api/v1/namespaces/a/pods/web-0"), allowed=True,
        code=200, sent=("other", "ignored", "u-9", "41")),
    "a non-resource request with a body": _request(
        user=ALICE, attrs=request_attributes(ALICE, "POST", "/shoal/v1/x"), code=200, sent=("a", "b", "", "")),
}


def test_the_sent_object_completes_the_reference_after_the_request_is_received() -> None:
    """upstream's LogRequestObject runs in the handler: RequestReceived has the path's reference, later stages
    the path's fields with the rest from the object sent (the path wins where it names one)."""
    import json

    create, update = CASES["a create naming its object in the body"], CASES["an update sending uid and resourceVersion"]
    ref = {s: json.loads(line(create, s, T0))["objectRef"] for s in ("RequestReceived", "ResponseComplete")}
    assert ref["RequestReceived"] == {"resource": "pods", "namespace": "a", "apiVersion": "v1"}
    assert ref["ResponseComplete"] == {"resource": "pods", "namespace": "a", "name": "web-0", "apiVersion": "v1"}
    assert json.loads(line(update, "ResponseComplete", T0))["objectRef"] == {
        "resource": "pods", "namespace": "a", "name": "web-0", "uid": "u-9", "apiVersion": "v1",
        "resourceVersion": "41"}


@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("name", CASES)
def test_line_is_the_encoded_event(name: str, stage: str) -> None:
    r = CASES[name]
    assert line(r, stage, T0 + 0.5) == _reference(r, stage, T0 + 0.5)


def test_the_shared_part_follows_the_record() -> None:
    """A refused request's user is dropped after its first event: the next one is made without it."""
    r = _request(user=ALICE, code=401, status={"status": "Failure", "message": "no"})
    assert b'"alice"' in line(r, "RequestReceived", T0)
    r.user = None
    assert line(r, "ResponseComplete", T0) == _reference(r, "ResponseComplete", T0)
    assert b'"alice"' not in line(r, "ResponseComplete", T0)


@pytest.mark.parametrize("change", [
    {"request_uri": "/api/v1/namespaces/b/pods"}, {"verb": "put"}, {"user": User("carol")},
    {"impersonated": User("dave")}, {"attrs": request_attributes(ALICE, "POST", "/api/v1/namespaces/b/pods")},
    {"forwarded_for": "9.9.9.9"}, {"remote": "10.0.0.6"}, {"user_agent": "curl"}])
def test_requests_that_differ_in_one_part_do_not_share_it(change: dict[str, object]) -> None:
    """What every stage shares is kept across requests (``line._who``): two requests alike but for one of
    the things it is made of must each get their own."""
    attrs = None if "verb" in change else request_attributes(ALICE, "POST", "/api/v1/namespaces/a/pods")
    alike: dict[str, object] = {"user": ALICE, "attrs": attrs, "code": 201}  # (the verb shows without attributes)
    first = _request(**alike)
    assert line(first, "ResponseComplete", T0) == _reference(first, "ResponseComplete", T0)  # now kept
    other = _request(**{**alike, **change})
    assert line(other, "ResponseComplete", T0) == _reference(other, "ResponseComplete", T0)
    assert line(first, "RequestReceived", T0) == _reference(first, "RequestReceived", T0)


def test_the_decision_annotations_follow_the_record() -> None:
    """The authorizer's decision's annotations are kept per (allowed, reason): each record gets its own."""
    for allowed, reason in ((True, ""), (False, "no"), (True, 'RBAC: allowed by "x"'), (None, ""), (True, "")):
        r = _request(allowed=allowed, reason=reason, code=200)
        assert line(r, "ResponseComplete", T0) == _reference(r, "ResponseComplete", T0)


_text = st.text(max_size=12)
_users = st.none() | st.builds(User, _text, st.tuples(_text) | st.just(()), _text)


@settings(max_examples=300, deadline=None)
@given(user=_users, impersonated=_users, method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
       path=st.sampled_from(["/api/v1/pods", "/api/v1/namespaces/x/pods/p/log", "/apis/apps/v1/namespaces/y/deployments",
                             "/healthz", "/api/v1/namespaces/z"]) | st.text(max_size=20),
       level=st.sampled_from([Level.METADATA, Level.REQUEST, Level.REQUEST_RESPONSE]),
       code=st.sampled_from([0, 200, 201, 301, 404, 500]), status=st.none() | st.dictionaries(
           st.sampled_from(["status", "message", "reason", "code"]), _text | st.integers()),
       allowed=st.none() | st.booleans(), reason=_text, added=st.none() | st.dictionaries(_text, _text, max_size=2),
       agent=_text, audit_id=_text, forwarded=st.none() | _text, remote=st.none() | _text,
       body=st.none() | st.binary(max_size=8) | st.just(b'{"a": [1, "\\u00e9"]}'), stage=st.sampled_from(STAGES),
       now=st.floats(min_value=0, max_value=4e9),
       sent=st.none() | st.tuples(_text, _text, _text, _text))
def test_line_is_the_encoded_event_for_any_record(
        user: User | None, impersonated: User | None, method: str, path: str, level: Level, code: int,
        status: dict[str, object] | None, allowed: bool | None, reason: str, added: dict[str, str] | None, agent: str,
        audit_id: str, forwarded: str | None, remote: str | None, body: bytes | None, stage: str, now: float,
        sent: tuple[str, str, str, str] | None) -> None:
    attrs = request_attributes(user, method, path) if user is not None else None
    r = _request(user=user, impersonated=impersonated, attrs=attrs, level=level, code=code, status=status,
                 allowed=allowed, reason=reason, added=added, user_agent=agent, audit_id=audit_id,
                 forwarded_for=forwarded, remote=remote, request_object=body, response_object=body, received=now,
                 sent=sent)
    assert line(r, stage, now) == _reference(r, stage, now)
