"""A server joining another: both sides of the exchange, over the joined server's HTTPS API.

The server token (``<data-dir>/server-token``, ``shoal token --server``) is
``K10<sha256 of the cluster CA>::server:<secret>``, k3s's shape: it names the
CA it belongs to, so a joining server can check whom it talks to before it
sends the secret.

1. ``GET /shoal/v1/cacert`` (public, TLS unverified: the joiner has no CA yet)
   answers the CA; its hash must be the token's, else the join stops: "the
   server's CA is not the one the token names".
2. ``POST /shoal/v1/join`` over TLS verified with that CA, the token as bearer
   (the joined server knows it as a ``system:masters`` user: a server holds the
   CA's key anyway), with the new member's name and URLs. The joined server
   adds the member through etcd's cluster API and answers the cluster's
   secrets (CA, service-account key, tokens) and the initial cluster.
A wrong token is a 401 from step 2: "the token was refused".
"""

from __future__ import annotations

import hashlib
import hmac
import ssl
from collections.abc import Awaitable, Callable
from typing import cast

import aiohttp
import msgspec
from aiohttp import web

from shoal.etcdmember.plan import JoinAnswer, JoinRequest

CACERT_PATH = "/shoal/v1/cacert"
JOIN_PATH = "/shoal/v1/join"
_PREFIX = "K10"


class JoinError(Exception):
    """A join that cannot go on; the message says why, for the user."""


def ca_hash(ca_pem: bytes) -> str:
    return hashlib.sha256(ca_pem).hexdigest()


def make_token(ca_pem: bytes, secret: str) -> str:
    return f"{_PREFIX}{ca_hash(ca_pem)}::server:{secret}"


def parse_token(token: str) -> str:
    """The CA hash a server token names; JoinError for a token of another shape."""
    head, sep, _ = token.strip().partition("::server:")
    if not sep or not head.startswith(_PREFIX) or len(head) != len(_PREFIX) + 64:
        raise JoinError("--token is not a server token (K10<ca hash>::server:<secret>; `shoal token --server` "
                        "on the first server prints it)")
    return head[len(_PREFIX):]


async def fetch_bootstrap(url: str, token: str, req: JoinRequest, *, timeout: float = 60.0) -> JoinAnswer:
    """Steps 1 and 2 of the module docstring, from the joining side."""
    want = parse_token(token)
    base = url.rstrip("/")
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    t = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=t) as s:
        try:
            async with s.get(base + CACERT_PATH, ssl=insecure) as r:
                if r.status != 200:
                    raise JoinError(f"{base} did not give its CA ({r.status}): is it a shoal server?")
                ca = await r.read()
        except aiohttp.ClientError as e:
            raise JoinError(f"cannot reach {base}: {e}") from None
        if not hmac.compare_digest(ca_hash(ca), want):
            raise JoinError(f"the server's CA (sha256 {ca_hash(ca)[:16]}...) is not the one the token names "
                            f"(sha256 {want[:16]}...): a token of another cluster, or another server at {base}")
        verified = ssl.create_default_context(cadata=ca.decode())
        try:
            async with s.post(base + JOIN_PATH, ssl=verified, json=req,
                              headers={"Authorization": f"Bearer {token.strip()}"}) as r:
                body = await r.read()
                if r.status == 401:
                    raise JoinError(f"{base} refused the token: it is not this cluster's server token")
                if r.status != 200:
                    raise JoinError(f"{base} refused the join ({r.status}): {body[:300].decode(errors='replace')}")
        except aiohttp.ClientError as e:
            raise JoinError(f"joining through {base}: {e}") from None
    answer = cast(JoinAnswer, msgspec.json.decode(body))
    if answer.get("caCert", "").encode() != ca:
        raise JoinError("the server answered with another CA than it serves with")
    return answer


def routes(server_token: Callable[[], str],
           answer: Callable[[JoinRequest], Awaitable[JoinAnswer]]) -> list[tuple[str, str, Callable[
               [web.Request], Awaitable[web.StreamResponse]]]]:
    """The joined side's handler (the API's authentication has admitted the request already)."""

    async def join(request: web.Request) -> web.Response:
        given = (request.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), server_token().encode()):
            return web.Response(status=403, text="only the server token may join a server")
        try:
            req = msgspec.json.decode(await request.read(), type=dict[str, str])
            jr = JoinRequest(name=req["name"], peerURL=req["peerURL"], clientURL=req["clientURL"])
        except (msgspec.DecodeError, KeyError) as e:
            return web.Response(status=400, text=f"a join request needs name, peerURL and clientURL: {e}")
        try:
            body = await answer(jr)
        except Exception as e:  # the member could not be added: say why
            return web.Response(status=503, text=f"could not add the etcd member: {e}")
        return web.Response(body=msgspec.json.encode(body), content_type="application/json")

    return [("POST", JOIN_PATH, join)]  # GET CACERT_PATH is every server's (shoal.apiserver.authn.nodejoin)
