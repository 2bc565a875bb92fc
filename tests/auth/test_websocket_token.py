"""The bearer token in a WebSocket subprotocol (upstream's ``websocket`` authenticator), as a table."""

from __future__ import annotations

import base64

import pytest

from shoal.apiserver.authn.websocket import PREFIX, ProtocolTokenError, bearer_token


def enc(token: str) -> str:
    return PREFIX + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


@pytest.mark.parametrize(("upgrade", "protocols", "want"), [
    ("websocket", [f"v5.channel.k8s.io, {enc('abc')}"], "abc"),
    ("WebSocket", ["v4.channel.k8s.io", enc("tök/en+=?")], "tök/en+=?"),
    ("websocket", ["v5.channel.k8s.io"], None),
    (None, [f"v5.channel.k8s.io, {enc('abc')}"], None),  # not an upgrade: not looked at
    ("h2c", [f"v5.channel.k8s.io, {enc('abc')}"], None),
    ("websocket", [f"v5.channel.k8s.io, {PREFIX}"], None),  # empty token: as if none
])
def test_bearer_token(upgrade: str | None, protocols: list[str], want: str | None) -> None:
    assert bearer_token(upgrade, protocols) == want


@pytest.mark.parametrize(("protocols", "why"), [
    ([enc("abc")], "missing additional subprotocol"),
    ([f"v5.channel.k8s.io, {enc('a')}, {enc('b')}"], "multiple"),
    ([f"v5.channel.k8s.io, {PREFIX}!!!"], "encoding"),
    (["v5.channel.k8s.io, " + PREFIX + base64.urlsafe_b64encode(bytes([0xFF, 0xFE])).decode()], "encoding"),
])
def test_refused(protocols: list[str], why: str) -> None:
    with pytest.raises(ProtocolTokenError, match=why):
        bearer_token("websocket", protocols)
