"""The decisions of the plain SPDY upgrade, without I/O: which stream protocol is negotiated (the client's first
the server accepts), the refusals worded as upstream's ``httpstream.Handshake``, which streams an exec waits for,
what its error stream carries per protocol version, and terminal sizes out of the resize stream."""

from __future__ import annotations

import json

import pytest

from shoal.apiserver import spdy, spdyexec

V5, V4, V3, V2 = (f"v{n}.channel.k8s.io" for n in (5, 4, 3, 2))


@pytest.mark.parametrize(("offered", "want"), [
    ([V5, V4, V3, V2], V5),
    ([V4, V5], V4),  # the client's order, not the server's
    (["v1.channel.k8s.io", V2], V2),
    (["channel.k8s.io"], None),
    ([], None),
])
def test_negotiate(offered: list[str], want: str | None) -> None:
    assert spdy.negotiate(offered, spdyexec.ACCEPTED) == want


def test_handshake_errors() -> None:
    assert spdy.handshake_error([V4], spdyexec.ACCEPTED) is None
    assert spdy.handshake_error([], spdyexec.ACCEPTED) == (
        400, "unable to upgrade: X-Stream-Protocol-Version is required")
    assert spdy.handshake_error(["x", "y"], ("portforward.k8s.io",)) == (
        403, "unable to upgrade: unable to negotiate protocol: client supports [x y], server accepts "
             "[portforward.k8s.io]")


@pytest.mark.parametrize(("opts", "protocol", "want"), [
    ({"stdout": True, "stderr": True}, V5, {"error", "stdout", "stderr"}),
    ({"stdin": True, "stdout": True}, V4, {"error", "stdin", "stdout"}),
    ({"stdin": True, "stdout": True, "tty": True}, V3, {"error", "stdin", "stdout", "resize"}),
    ({"stdin": True, "stdout": True, "tty": True}, V2, {"error", "stdin", "stdout"}),  # v2 has no resize
])
def test_expected_streams(opts: dict[str, bool], protocol: str, want: set[str]) -> None:
    assert spdyexec.expected_streams(opts, protocol) == want


def test_error_stream_body_per_version() -> None:
    ok = {"metadata": {}, "status": "Success"}
    bad = {"metadata": {}, "status": "Failure", "message": "command terminated with non-zero exit code: x",
           "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}
    assert json.loads(spdyexec.error_stream_body(bad, V4)) == bad
    assert json.loads(spdyexec.error_stream_body(ok, V5)) == ok
    assert spdyexec.error_stream_body(ok, V3) == b""
    assert spdyexec.error_stream_body(bad, V2) == b"command terminated with non-zero exit code: x"


@pytest.mark.parametrize(("buf", "sizes", "rest"), [
    (b'{"Width":80,"Height":24}\n', [(80, 24)], b""),
    (b'{"Width":80,"Height":24}\n{"Width":100,', [(80, 24)], b'{"Width":100,'),
    (b'{"Width":80,"Height":24}{"Width":120,"Height":40}\n', [(80, 24), (120, 40)], b""),
    (b'garbage\n{"Width":0,"Height":24}\n{"Width":"a"}\n[1]\n{"width":9,"height":3}\n', [(9, 3)], b""),
])
def test_take_sizes(buf: bytes, sizes: list[tuple[int, int]], rest: bytes) -> None:
    assert spdyexec.take_sizes(buf) == (sizes, rest)
