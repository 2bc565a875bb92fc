"""OpenID Connect: ID tokens from an external issuer (single sign-on), as upstream's ``--oidc-*`` flags.

The issuer's keys are found the standard way: its discovery document
(``ISSUER/.well-known/openid-configuration``) names the ``jwks_uri``; keys are
fetched once and again when a token names a key id not yet seen (at most
every ``REFRESH_EVERY`` seconds, so junk tokens cannot make the server hammer
the issuer). A token is accepted if one of those keys signed it, its ``iss``
is the issuer, its ``aud`` holds the client id, and it has not expired.

The user is upstream's: the ``--oidc-username-claim`` (default ``sub``)
prefixed by ``--oidc-username-prefix`` (default: the issuer URL and ``#``,
unless the claim is ``email``; ``-`` for none); an ``email`` claim needs
``email_verified`` not false. Groups come from ``--oidc-groups-claim`` (a
string or a list), each prefixed by ``--oidc-groups-prefix``. The issuer must
be HTTPS, except on a loopback address (tests run their own issuer there).
``check_claims`` and ``user_from_claims`` are pure.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import aiohttp

from shoal.apiserver.authn import jwt
from shoal.apiserver.authn.user import User

REFRESH_EVERY = 10.0


@dataclass(frozen=True, slots=True)
class OidcOptions:
    issuer_url: str
    client_id: str
    username_claim: str = "sub"
    username_prefix: str | None = None  # None: upstream's default
    groups_claim: str = ""
    groups_prefix: str = ""
    ca_file: str | None = None

    def check(self) -> None:
        """Refuse options upstream refuses (``ValueError``)."""
        u = urlparse(self.issuer_url)
        if u.scheme != "https" and not (u.scheme == "http" and _loopback(u.hostname or "")):
            raise ValueError("--oidc-issuer-url must use https (http only on a loopback address)")
        if not self.client_id:
            raise ValueError("--oidc-client-id is required with --oidc-issuer-url")

    @property
    def prefix(self) -> str:
        if self.username_prefix == "-":
            return ""
        if self.username_prefix is not None:
            return self.username_prefix
        return "" if self.username_claim == "email" else f"{self.issuer_url}#"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_claims(opts: OidcOptions, claims: Mapping[str, Any], now: float) -> None:
    if claims.get("iss") != opts.issuer_url:
        raise jwt.JwtError("wrong issuer")
    if opts.client_id not in jwt.audiences(claims):
        raise jwt.JwtError("wrong audience")
    jwt.check_times(claims, now)


def user_from_claims(opts: OidcOptions, claims: Mapping[str, Any]) -> User:
    name = claims.get(opts.username_claim)
    if not isinstance(name, str) or not name:
        raise jwt.JwtError(f"claim {opts.username_claim!r} is missing or not a string")
    if opts.username_claim == "email" and claims.get("email_verified") is False:
        raise jwt.JwtError("email not verified")
    groups: list[str] = []
    if opts.groups_claim:
        raw = claims.get(opts.groups_claim)
        values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        groups = [opts.groups_prefix + g for g in values if isinstance(g, str)]
    return User(opts.prefix + name, (*dict.fromkeys(groups), "system:authenticated"))


class OidcAuthenticator:
    """Verifies ID tokens against the issuer's published keys (fetched over HTTP, cached)."""

    def __init__(self, opts: OidcOptions) -> None:
        opts.check()
        self.opts = opts
        self._keys: list[tuple[str, jwt.PublicKey]] = []
        self._fetched = 0.0
        self._lock = asyncio.Lock()

    def _ssl(self) -> ssl.SSLContext | bool:
        if self.opts.ca_file:
            return ssl.create_default_context(cafile=self.opts.ca_file)
        return True

    async def _fetch_keys(self) -> None:
        url = self.opts.issuer_url.rstrip("/") + "/.well-known/openid-configuration"
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as s:
            async with s.get(url, ssl=self._ssl()) as r:
                r.raise_for_status()
                doc = await r.json(content_type=None)
            jwks_uri = doc.get("jwks_uri") if isinstance(doc, dict) else None
            if not isinstance(jwks_uri, str):
                raise jwt.JwtError("the issuer's discovery document has no jwks_uri")
            async with s.get(jwks_uri, ssl=self._ssl()) as r:
                r.raise_for_status()
                jwks = await r.json(content_type=None)
        keys: list[tuple[str, jwt.PublicKey]] = []
        for k in (jwks.get("keys") if isinstance(jwks, dict) else None) or []:
            if isinstance(k, dict):
                key = jwt.from_jwk(k)
                if key is not None:
                    keys.append((str(k.get("kid") or ""), key))
        self._keys = keys

    async def _keys_for(self, kid: str) -> list[tuple[str, jwt.PublicKey]]:
        known = any(k == kid for k, _ in self._keys) if kid else bool(self._keys)
        if not known and time.monotonic() - self._fetched >= REFRESH_EVERY:
            async with self._lock:
                if time.monotonic() - self._fetched >= REFRESH_EVERY:
                    self._fetched = time.monotonic()
                    try:
                        await self._fetch_keys()
                    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
                        raise jwt.JwtError(f"fetching the issuer's keys failed: {e}") from None
        return self._keys

    async def authenticate(self, token: str) -> User:
        header, _, _, _ = jwt.split(token)
        keys = await self._keys_for(str(header.get("kid") or ""))
        claims = jwt.verify(token, keys)
        check_claims(self.opts, claims, time.time())
        return user_from_claims(self.opts, claims)
