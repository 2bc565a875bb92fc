"""The authenticators in order, as one: a request's user, ``None`` (anonymous), or a 401.

Order, as upstream's union: the TLS client certificate, then the bearer token
(static tokens first: one dict lookup, so the admin's and the components'
requests cost nothing more than before; then a JWT goes to whoever its
unverified ``iss`` names: this server's service-account issuer or the OIDC
issuer). A bearer token no authenticator accepts is a 401 (never anonymous),
and so is any other ``Authorization`` scheme. Why a token was refused is
logged, not told to the client.

A service-account token is accepted only while its account exists with the
uid the token names (so deleting the account revokes its tokens); the result
of that lookup is cached for ``SA_CACHE_SECONDS``, as upstream caches token
authentication.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from shoal.apiserver import errors
from shoal.apiserver.auth import TokenAuthenticator, User
from shoal.apiserver.authn import jwt
from shoal.apiserver.authn.oidc import OidcAuthenticator
from shoal.apiserver.authn.serviceaccount import ServiceAccountTokens, user_from_claims
from shoal.apiserver.authn.x509 import user_from_peercert

log = logging.getLogger(__name__)

SA_CACHE_SECONDS = 10.0
_SA_CACHE_LIMIT = 10_000

class TokenRefused(errors.ApiError):
    """upstream's 401, carrying why (for the audit log; the client is told only "Unauthorized")."""

    def __init__(self, why: str) -> None:
        super().__init__(401, "Unauthorized", "Unauthorized")
        self.why = why


# (namespace, name) -> the service account's uid, or None if it does not exist
AccountLookup = Callable[[str, str], Awaitable[str | None]]


class Authenticator:
    def __init__(self, tokens: TokenAuthenticator, *, service_accounts: ServiceAccountTokens | None = None,
                 account_uid: AccountLookup | None = None, oidc: OidcAuthenticator | None = None) -> None:
        self.tokens = tokens
        self.service_accounts = service_accounts
        self.account_uid = account_uid
        self.oidc = oidc
        self._sa_cache: dict[str, tuple[User, float]] = {}

    async def authenticate(self, authorization: str | None, peercert: Any = None) -> User | None:
        if peercert:
            user = user_from_peercert(peercert)
            if user is not None:
                return user
        if not authorization:
            return None
        if not authorization.startswith("Bearer "):
            raise TokenRefused("the Authorization header is not a bearer token")
        token = authorization[7:].strip()
        user = self.tokens.lookup(token)
        if user is not None:
            return user
        return await self.authenticate_token(token)

    async def authenticate_token(self, token: str) -> User:
        """The user of a JWT bearer token; a 401 ``ApiError`` if none accepts it."""
        iss = jwt.peek_issuer(token)
        try:
            if self.service_accounts is not None and iss == self.service_accounts.issuer:
                return await self._service_account(token)
            if self.oidc is not None and iss == self.oidc.opts.issuer_url:
                return await self.oidc.authenticate(token)
        except jwt.JwtError as e:
            log.info("a bearer token was refused: %s", e)
            raise TokenRefused(str(e)) from None
        log.info("a bearer token was refused: no authenticator knows it (issuer %r)", iss)
        raise TokenRefused(f"no authenticator knows the token (issuer {iss!r})" if iss else "invalid bearer token")

    async def _service_account(self, token: str) -> User:
        now = time.monotonic()
        hit = self._sa_cache.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        assert self.service_accounts is not None
        claims = self.service_accounts.verify(token)
        user = user_from_claims(claims)
        if self.account_uid is not None:
            ns = str(claims["kubernetes.io"].get("namespace") or "")
            name = str(claims["kubernetes.io"]["serviceaccount"].get("name") or "")
            uid = await self.account_uid(ns, name)
            if uid is None:
                raise jwt.JwtError(f"service account {ns}/{name} does not exist")
            if uid != user.uid:
                raise jwt.JwtError(f"service account {ns}/{name} was recreated (uid {uid}, token for {user.uid})")
        if len(self._sa_cache) >= _SA_CACHE_LIMIT:
            self._sa_cache.clear()
        self._sa_cache[token] = (user, now + SA_CACHE_SECONDS)
        return user
