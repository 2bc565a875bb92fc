"""Join tokens that pin the cluster's CA: ``K10<sha256 of the CA>::<kind>:<secret>``, k3s's shape.

A node (kind ``node``) or a server (kind ``server``, ``shoal.etcdmember.join``)
joining a cluster has at first nothing but the server's URL and this token. It
fetches the CA from the public ``/shoal/v1/cacert`` without verifying TLS (it
cannot yet), and trusts that CA only if its SHA-256 is the one the token names
(as kubeadm's ``--discovery-token-ca-cert-hash`` does). The hash is over the CA
file's PEM bytes exactly as the server serves them (``<data-dir>/ca.crt``), the
server token's convention.

Only the secret authenticates: the server looks the secret up (``secret``),
whatever hash is in front of it, so a bare secret (the token before this form
existed, what ``<data-dir>/node-token`` holds) keeps working too. The hash
protects the joiner, not the server.

Everything here is pure: strings and bytes in, strings out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

PREFIX = "K10"
_SHAPE = re.compile(r"^K10([0-9a-f]{64})::(node|server):(.+)$")


@dataclass(frozen=True, slots=True)
class Parsed:
    ca_hash: str  # 64 lowercase hex digits
    kind: str  # "node" or "server"
    secret: str


def ca_hash(ca_pem: bytes) -> str:
    return hashlib.sha256(ca_pem).hexdigest()


def make(ca_pem: bytes, kind: str, secret: str) -> str:
    return f"{PREFIX}{ca_hash(ca_pem)}::{kind}:{secret}"


def parse(token: str) -> Parsed | None:
    """The parts of a ``K10`` token; None for a token of another shape (a bare secret)."""
    m = _SHAPE.match(token.strip())
    return Parsed(m.group(1), m.group(2), m.group(3)) if m else None


def secret(token: str) -> str:
    """What authenticates a node token: its secret (a bare token is all secret)."""
    p = parse(token)
    return p.secret if p is not None and p.kind == "node" else token.strip()


def ca_mismatch(ca_pem: bytes, want: str) -> str | None:
    """Why the CA a server served is not the one the token names (None: it is)."""
    got = ca_hash(ca_pem)
    if hmac.compare_digest(got, want):
        return None
    return (f"the server's CA does not match the token's hash (the server's is sha256 {got[:16]}..., the token "
            f"names {want[:16]}...): the token is another cluster's, or another server answers at that address")
