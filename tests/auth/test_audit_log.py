"""The audit log backend: rotation by size, the bounded buffer's two modes, the Event's shape."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from shoal.apiserver.audit.event import Request, event, source_ips, timestamp
from shoal.apiserver.audit.logfile import LogBackend, RotatingFile, backup_name, backups, encode
from shoal.apiserver.audit.policy import Level, parse
from shoal.apiserver.audit.recorder import CURRENT, Auditor, annotate
from shoal.apiserver.audit.recorder import logged as logged_now
from shoal.apiserver.authn.user import User


def test_backup_name_is_lumberjacks() -> None:
    when = datetime(2026, 12, 1, 10, 0, 5, 123456, tzinfo=UTC)
    assert backup_name(Path("/l/audit.log"), when) == Path("/l/audit-2026-12-01T10-00-05.123.log")


def test_rotation_keeps_max_backups(tmp_path: Path) -> None:
    t = [datetime(2026, 12, 1, tzinfo=UTC)]

    def now() -> datetime:
        t[0] += timedelta(seconds=1)
        return t[0]

    f = RotatingFile(str(tmp_path / "audit.log"), max_size_mb=1, max_backups=2, now=now)
    line = b"x" * 1023 + b"\n"
    for _ in range(4 * 1024 + 10):  # a little over 4 MB: four rotations, two kept
        f.write(line)
    f.close()
    olds = backups(tmp_path / "audit.log")
    assert [p.name for p in olds] == ["audit-2026-12-01T00-00-03.000.log", "audit-2026-12-01T00-00-04.000.log"]
    assert all(p.stat().st_size == 1024 * 1024 for p in olds)  # each held exactly the lines that fit
    assert (tmp_path / "audit.log").stat().st_size == 10 * 1024


def test_reopened_file_counts_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(b"y" * (1024 * 1024 - 10))
    f = RotatingFile(str(path), max_size_mb=1)
    f.write(b"z" * 20)
    f.close()
    assert len(backups(path)) == 1 and path.read_bytes() == b"z" * 20


def _ev(i: int) -> dict[str, Any]:
    return {"kind": "Event", "n": i}


async def test_blocking_mode_waits_and_loses_nothing(tmp_path: Path) -> None:
    backend = LogBackend(RotatingFile(str(tmp_path / "a.log")), mode="blocking", buffer_size=5, batch_max=2)
    await backend.start()
    for i in range(200):
        backend.emit(_ev(i))
    await backend.stop()
    lines = (tmp_path / "a.log").read_text().splitlines()
    assert [json.loads(x)["n"] for x in lines] == list(range(200))
    assert backend.dropped == 0


async def test_blocking_mode_writes_a_loop_turns_events_when_it_ends(tmp_path: Path) -> None:
    """The events emitted in one turn of the event loop (with the responses sent in it) are in the file once the
    turn ends, in one write; nothing waits for a timer."""
    sink = RotatingFile(str(tmp_path / "a.log"))
    writes: list[bytes] = []
    write = sink.write
    sink.write = lambda data: (writes.append(data), write(data))[1]  # type: ignore[method-assign]
    backend = LogBackend(sink, mode="blocking")
    await backend.start()
    for turn in range(2):
        for i in range(3):
            backend.emit(_ev(3 * turn + i))
        await asyncio.sleep(0)  # the turn ends
        assert [json.loads(x)["n"] for x in (tmp_path / "a.log").read_text().splitlines()] == list(range(3 * turn + 3))
    assert len(writes) == 2
    await backend.stop()


async def test_batch_mode_drops_when_full(tmp_path: Path) -> None:
    backend = LogBackend(RotatingFile(str(tmp_path / "a.log")), mode="batch", buffer_size=5)
    for i in range(8):  # the writer is not running: the buffer fills
        backend.emit(_ev(i))
    assert backend.dropped == 3
    await backend.start()
    await backend.flush()
    await backend.stop()
    assert [json.loads(x)["n"] for x in (tmp_path / "a.log").read_text().splitlines()] == [0, 1, 2, 3, 4]


def test_bodies_are_kept_as_sent_and_dropped_if_not_json() -> None:
    r = Request("x", 0.0, "/api/v1/namespaces/a/pods", "post", None, None, "", level=Level.REQUEST_RESPONSE,
                request_object=b'{"a": 1}', response_object=b"kind: Pod\n", code=201)
    ev = json.loads(encode((r, "ResponseComplete", 0.0)))
    assert ev["requestObject"] == {"a": 1} and "responseObject" not in ev


def test_source_ips() -> None:
    assert source_ips(None, "10.0.0.5") == ["10.0.0.5"]
    assert source_ips("1.2.3.4, 10.0.0.1", "10.0.0.5") == ["1.2.3.4", "10.0.0.1", "10.0.0.5"]
    assert source_ips(None, None) == ["127.0.0.1"]  # the Unix socket


class _Collect:
    def __init__(self) -> None:
        self.pending: list[Any] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def emit(self, pending: Any) -> None:
        self.pending.append(pending)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The Events, built as the writer builds them: after the request has ended."""
        return [json.loads(msgspec.json.encode(event(*p))) for p in self.pending]


async def test_auditor_stages_and_event_fields() -> None:
    t0 = datetime(2026, 12, 1, 10, 0, 0, 5, tzinfo=UTC).timestamp()
    sink = _Collect()
    auditor = Auditor(parse({"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Request"}]}),
                      sink, clock=lambda: t0)
    r = auditor.begin(method="POST", path="/api/v1/namespaces/a/configmaps", query_string="fieldManager=x",
                      headers={"User-Agent": "kubectl/v1.31", "Audit-ID": "abc"}, remote="10.1.1.1")
    bob = User("bob", ("dev",))
    auditor.received(r, User("alice", ("system:masters",)), method="POST",
                     path="/api/v1/namespaces/a/configmaps", watch="", impersonated=bob)
    auditor.authorized(r, True, "")
    auditor.finish(r, 201, None, method="POST", request_body=b'{"kind":"ConfigMap"}',
                   response_body=b'{"kind":"ConfigMap","metadata":{"uid":"u"}}')
    auditor.finish(r, 201, None)  # a second finish (the middleware after dispatch's) logs nothing
    received, complete = sink.events
    assert received["stage"] == "RequestReceived" and "responseStatus" not in received
    # not decided yet when it arrived, nor read: though built after the request ended
    assert "annotations" not in received and "requestObject" not in received
    assert complete == {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request", "auditID": "abc",
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/a/configmaps?fieldManager=x",
        "verb": "create", "user": {"username": "alice", "groups": ["system:masters"]},
        "impersonatedUser": {"username": "bob", "groups": ["dev"]}, "sourceIPs": ["10.1.1.1"],
        "userAgent": "kubectl/v1.31",
        "objectRef": {"resource": "configmaps", "namespace": "a", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 201},
        "requestObject": {"kind": "ConfigMap"},  # the response is not logged at Request
        "requestReceivedTimestamp": "2026-12-01T10:00:00.000005Z", "stageTimestamp": "2026-12-01T10:00:00.000005Z",
        "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
    }
    assert r.level == Level.REQUEST


async def test_refused_request_says_why() -> None:
    sink = _Collect()
    auditor = Auditor(parse({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                             "rules": [{"level": "Metadata", "omitStages": ["RequestReceived"]}]}), sink)
    r = auditor.begin(method="GET", path="/api/v1/pods", query_string="", headers={}, remote=None)
    auditor.refused(r, method="GET", path="/api/v1/pods", watch="", why="token is expired")
    (ev,) = sink.events
    assert ev["user"] == {} and ev["responseStatus"]["code"] == 401
    assert ev["responseStatus"]["message"] == "Authentication failed, reason: token is expired"
    assert msgspec.to_builtins(event(Request("x", 0.0, "/", "get", None, None, ""), "RequestReceived", 0.0))["user"] \
        == {}


def test_timestamps_are_microtime() -> None:
    t = datetime(2026, 12, 1, 10, 0, 5, 120034, tzinfo=UTC).timestamp()
    assert timestamp(t) == "2026-12-01T10:00:05.120034Z"


def test_timestamps_of_other_seconds_between() -> None:
    """The text of the last second is kept: going to another second and back gives each its own."""
    a = datetime(2026, 12, 1, 10, 0, 5, 999999, tzinfo=UTC).timestamp()
    b = datetime(2027, 1, 2, 3, 4, 6, 7, tzinfo=UTC).timestamp()
    assert [timestamp(t) for t in (a, b, a, a + 1e-6)] == [
        "2026-12-01T10:00:05.999999Z", "2027-01-02T03:04:06.000007Z", "2026-12-01T10:00:05.999999Z",
        "2026-12-01T10:00:06.000000Z"]


def test_append_writes_all_of_it_and_says_why_it_could_not(tmp_path: Path) -> None:
    import errno
    import os

    from shoal.apiserver.audit.logfile import append

    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    assert append(fd, b"one\n") == 4 and append(fd, b"two\n" * 5000) == 20_000
    os.close(fd)
    assert (tmp_path / "f").read_bytes() == b"one\n" + b"two\n" * 5000
    try:
        append(fd, b"x")
    except OSError as e:
        assert e.errno == errno.EBADF
    else:
        raise AssertionError("a write to a closed descriptor succeeded")


def test_audit_ids_are_distinct_v4_uuids() -> None:
    import uuid

    from shoal.apiserver.audit.recorder import new_id

    ids = [new_id() for _ in range(600)]
    assert len(set(ids)) == 600 and all(uuid.UUID(i).version == 4 for i in ids)


async def test_admission_annotates_the_current_requests_event() -> None:
    sink = _Collect()
    auditor = Auditor(parse({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                             "rules": [{"level": "None", "resources": [{"resources": ["configmaps"]}]},
                                       {"level": "Metadata", "omitStages": ["RequestReceived"]}]}), sink)
    annotate({"x/not-served": "1"})  # no request being served: nothing to annotate, nothing fails
    for path, logged in (("/api/v1/namespaces/a/pods", True), ("/api/v1/namespaces/a/configmaps", False)):
        r = auditor.begin(method="POST", path=path, query_string="", headers={}, remote=None)
        auditor.received(r, User("alice"), method="POST", path=path, watch="")
        token = CURRENT.set(r)
        try:
            assert logged_now() is logged
            annotate({"pod-security.kubernetes.io/enforce-policy": "baseline:latest"})
            auditor.authorized(r, True, "")
        finally:
            CURRENT.reset(token)
        auditor.finish(r, 201, None)
    (ev,) = sink.events
    assert ev["annotations"] == {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "",
                                 "pod-security.kubernetes.io/enforce-policy": "baseline:latest"}


def test_request_meta_takes_strings_from_an_objects_metadata_only() -> None:
    from shoal.apiserver.audit.event import request_meta

    assert request_meta({"metadata": {"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7"}}) == \
        ("n", "a", "u", "7")
    assert request_meta({"metadata": {"generateName": "a-"}}) is None  # nothing to complete with
    assert request_meta({"metadata": {"name": 5, "namespace": ["x"], "uid": "u"}}) == ("", "", "u", "")
    for body in (None, [], "x", {"metadata": "m"}, {"kind": "Pod"}):
        assert request_meta(body) is None
