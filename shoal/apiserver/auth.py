"""Who a request is from (``User``), and the static bearer tokens.

Two static tokens exist from the first start: the admin token (in
``admin.kubeconfig``) and the node join token (``node-token``). The other ways
in (client certificates, a token file, service-account tokens, OIDC) are in
``shoal.apiserver.authn``; what a user may do is decided in
``shoal.apiserver.authz``. ``CURRENT_USER`` carries the authenticated user of
the request being served to the admission code that needs it (RBAC's
escalation check), which runs in the same task.
"""

from __future__ import annotations

import contextvars
import hashlib
from dataclasses import dataclass, field

from aiohttp import web

from shoal import jointoken
from shoal.apiserver.authn.user import ADMIN, ANONYMOUS, User

__all__ = ["ADMIN", "ANONYMOUS", "CURRENT_USER", "PUBLIC_PATHS", "USER_KEY", "TokenAuthenticator", "User"]

# answered to anyone, as upstream's system:public-info-viewer and service-account-issuer-discovery allow
PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/version", "/version/", "/livez/", "/readyz/",
                          "/healthz/", "/.well-known/openid-configuration", "/openid/v1/jwks",
                          "/shoal/v1/cacert"})  # the cluster CA, which a joining server checks against its token


# where the authentication middleware leaves the request's user
USER_KEY: web.RequestKey[User] = web.RequestKey("user", User)

# the user of the request being served (set by the API server before its handler runs)
CURRENT_USER: contextvars.ContextVar[User | None] = contextvars.ContextVar("shoal_current_user", default=None)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass
class TokenAuthenticator:
    """Maps bearer tokens to users.

    Tokens are looked up by their SHA-256 digest: one dict lookup whatever the
    number of tokens (a token file may hold thousands), and the time a lookup
    takes says nothing about how much of a guess was right."""

    tokens: dict[bytes, User] = field(default_factory=dict)

    def add(self, token: str, user: User) -> None:
        self.tokens[_digest(token)] = user

    def lookup(self, token: str) -> User | None:
        user = self.tokens.get(_digest(token))
        if user is None and token.startswith(jointoken.PREFIX):  # K10<ca hash>::node:<secret>: the secret counts
            user = self.tokens.get(_digest(jointoken.secret(token)))
        return user

    def authenticate(self, header: str | None) -> User | None:
        if not header or not header.startswith("Bearer "):
            return None
        return self.lookup(header[7:].strip())
