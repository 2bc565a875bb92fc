"""Authentication (bearer tokens) and the authorization hook.

Two static tokens exist from the first start: the admin token (in
``admin.kubeconfig``) and the node join token (``node-token``). A request with
no or a wrong token gets 401, except the unauthenticated health and version
endpoints. ``authorize`` is the single place where RBAC will plug in; today it
lets every authenticated user do everything.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from aiohttp import web

PUBLIC_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/version", "/livez/", "/readyz/", "/healthz/", "/version/"})


@dataclass(frozen=True, slots=True)
class User:
    name: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RequestAttributes:
    """What authorization decides on: who does which verb to which resource."""

    user: User
    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


# where the authentication middleware leaves the request's user
USER_KEY: web.RequestKey[User] = web.RequestKey("user", User)

ADMIN = User("admin", ("system:masters", "system:authenticated"))
ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


@dataclass
class TokenAuthenticator:
    """Maps bearer tokens to users, compared in constant time."""

    tokens: dict[str, User] = field(default_factory=dict)

    def add(self, token: str, user: User) -> None:
        self.tokens[token] = user

    def authenticate(self, header: str | None) -> User | None:
        if not header or not header.startswith("Bearer "):
            return None
        presented = header[7:].strip().encode()
        for token, user in self.tokens.items():
            if hmac.compare_digest(presented, token.encode()):
                return user
        return None


def authorize(attrs: RequestAttributes) -> bool:
    """Allow or deny a request. RBAC goes here; today every authenticated user may act."""
    return "system:authenticated" in attrs.user.groups or attrs.user.name != ANONYMOUS.name
