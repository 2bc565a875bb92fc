"""The K10 join token: its parts, the secret that authenticates, and the CA check."""

from __future__ import annotations

import pytest

from shoal import jointoken
from shoal.apiserver.auth import TokenAuthenticator
from shoal.apiserver.authn.user import User

CA = b"-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"
H = jointoken.ca_hash(CA)


@pytest.mark.parametrize(("token", "want"), [
    (f"K10{H}::node:shoal-node-abc", jointoken.Parsed(H, "node", "shoal-node-abc")),
    (f"K10{H}::server:s3cret\n", jointoken.Parsed(H, "server", "s3cret")),
    ("shoal-node-abc", None),  # the bare token of before
    (f"K10{H[:-1]}::node:x", None),  # a hash too short
    (f"K10{H.upper()}::node:x", None),  # hex is lowercase
    (f"K10{H}::agent:x", None),  # an unknown kind
    (f"K10{H}::node:", None),  # no secret
])
def test_parse(token: str, want: jointoken.Parsed | None) -> None:
    assert jointoken.parse(token) == want


@pytest.mark.parametrize(("token", "want"), [
    (f"K10{H}::node:shoal-node-abc", "shoal-node-abc"),
    ("shoal-node-abc", "shoal-node-abc"),
    (f"K10{H}::server:s3cret", f"K10{H}::server:s3cret"),  # a server token is compared whole
])
def test_secret(token: str, want: str) -> None:
    assert jointoken.secret(token) == want


def test_make_round_trips() -> None:
    assert jointoken.parse(jointoken.make(CA, "node", "x")) == jointoken.Parsed(H, "node", "x")


@pytest.mark.parametrize(("served", "ok"), [(CA, True), (CA + b"\n", False), (b"", False)])
def test_ca_mismatch(served: bytes, ok: bool) -> None:
    why = jointoken.ca_mismatch(served, H)
    assert (why is None) == ok
    if not ok:
        assert why is not None and "the server's CA does not match the token's hash" in why


def test_the_server_authenticates_the_secret_whatever_the_hash() -> None:
    node = User("system:bootstrap:node-token", ("system:bootstrappers",))
    tokens = TokenAuthenticator()
    tokens.add("shoal-node-abc", node)
    assert tokens.lookup("shoal-node-abc") == node
    assert tokens.lookup(f"K10{H}::node:shoal-node-abc") == node
    assert tokens.lookup(f"K10{'0' * 64}::node:shoal-node-abc") == node  # the hash protects the joiner only
    assert tokens.lookup(f"K10{H}::node:shoal-node-abd") is None
    assert tokens.lookup(f"K10{H}::server:shoal-node-abc") is None
