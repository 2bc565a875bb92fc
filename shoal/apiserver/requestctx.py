"""Who is asking, for the few rules that depend on it (upstream's ``request.UserFrom(ctx)``).

The authentication step records the request's user here; a strategy that must
stamp the requester into an object (a CertificateSigningRequest's
``spec.username``) reads it back. A context variable, so each request (each
task) sees its own, and nothing else in the pipeline has to pass it along.
"""

from __future__ import annotations

from contextvars import ContextVar

from shoal.apiserver.auth import User

_current: ContextVar[User | None] = ContextVar("shoal_request_user", default=None)


def set_user(user: User | None) -> None:
    _current.set(user)


def user() -> User | None:
    """The authenticated user of the request being served (None: the in-process, unauthenticated path)."""
    return _current.get()
