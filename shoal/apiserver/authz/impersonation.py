"""Impersonation: ``Impersonate-User``/``-Group``/``-Uid``/``-Extra-*`` headers (``kubectl --as``).

As upstream's impersonation filter: each thing asked for is authorized as the
verb ``impersonate`` on ``users``, ``groups`` (core group), a service account
(``serviceaccounts`` in its namespace, for ``system:serviceaccount:NS:NAME``),
``uids`` or ``userextras/KEY`` (``authentication.k8s.io``); if all are
allowed, the request continues as the impersonated user, who is in
``system:authenticated`` (and a service account, without groups asked for, in
its fixed groups). ``plan`` is pure: the checks to make and the user that
results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from shoal.apiserver import errors
from shoal.apiserver.authn.user import User
from shoal.apiserver.authz.attributes import Attributes

SA_PREFIX = "system:serviceaccount:"
AUTHENTICATED = "system:authenticated"
ANONYMOUS = "system:anonymous"
_EXTRA = "impersonate-extra-"


@dataclass(frozen=True, slots=True)
class Plan:
    checks: tuple[Attributes, ...]
    user: User


def wanted(headers: Mapping[str, str]) -> bool:
    """Whether a request asks to impersonate (any ``Impersonate-*`` header)."""
    return any(k.lower().startswith("impersonate-") for k in headers)


def plan(actor: User, name: str, groups: Sequence[str], uid: str,
         extra: Mapping[str, Sequence[str]]) -> Plan:
    """What ``actor`` must be allowed to do to act as the user the headers describe, and that user."""
    if not name:
        raise errors.bad_request("requested impersonation of groups, a uid or extra without impersonating a user")
    checks: list[Attributes] = []
    out_groups = list(dict.fromkeys(groups))
    if name.startswith(SA_PREFIX) and name.count(":") == 3:
        _, _, ns, sa = name.split(":")
        checks.append(Attributes(actor, "impersonate", True, resource="serviceaccounts", namespace=ns, name=sa))
        if not groups:
            out_groups = ["system:serviceaccounts", f"system:serviceaccounts:{ns}"]
    else:
        checks.append(Attributes(actor, "impersonate", True, resource="users", name=name))
    for g in dict.fromkeys(groups):
        checks.append(Attributes(actor, "impersonate", True, resource="groups", name=g))
    if uid:
        checks.append(Attributes(actor, "impersonate", True, group="authentication.k8s.io", resource="uids", name=uid))
    for key, values in sorted(extra.items()):
        for v in values:
            checks.append(Attributes(actor, "impersonate", True, group="authentication.k8s.io", resource="userextras",
                                     subresource=key, name=v))
    if name != ANONYMOUS and AUTHENTICATED not in out_groups:
        out_groups.append(AUTHENTICATED)
    user = User(name, tuple(out_groups), uid, tuple((k, tuple(v)) for k, v in sorted(extra.items())))
    return Plan(tuple(checks), user)


def from_headers(actor: User, headers: Mapping[str, str], all_values: Sequence[tuple[str, str]]) -> Plan:
    """The plan for a request's headers; ``all_values`` lists every (name, value), repeated names included."""
    groups = [v for k, v in all_values if k.lower() == "impersonate-group"]
    extra: dict[str, list[str]] = {}
    for k, v in all_values:
        if k.lower().startswith(_EXTRA):
            extra.setdefault(unquote(k[len(_EXTRA):]).lower(), []).append(v)
    return plan(actor, headers.get("Impersonate-User", ""), groups, headers.get("Impersonate-Uid", ""), extra)
