"""Who a request is from: a user name, groups, a uid and extra attributes (upstream's user.Info).

Plain data, importable by the pure decision modules without the HTTP stack.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (key, values), sorted by key


ADMIN = User("admin", ("system:masters", "system:authenticated"))
ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))
