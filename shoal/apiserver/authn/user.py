"""Who a request is from: a user name, groups, a uid and extra attributes (upstream's user.Info).

Plain data, importable by the pure decision modules without the HTTP stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (key, values), sorted by key


ADMIN = User("admin", ("system:masters", "system:authenticated"))
ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


def user_info(user: User) -> dict[str, Any]:
    """The user as an ``authentication.k8s.io/v1 UserInfo`` (reviews, whoami, AdmissionReview requests)."""
    info: dict[str, Any] = {"username": user.name}
    if user.uid:
        info["uid"] = user.uid
    if user.groups:
        info["groups"] = list(user.groups)
    if user.extra:
        info["extra"] = {k: list(v) for k, v in user.extra}
    return info
