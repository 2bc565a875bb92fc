"""The RBAC decision and upstream's Forbidden message. Pure.

``system:masters`` is allowed everything before any rule is looked at (as
upstream's privileged-group authorizer in front of RBAC), so the admin's
requests cost one set lookup. Anyone else is allowed what one of the rules
bound to them in the request's namespace (or cluster-wide) allows; nothing
else. A denial is answered with upstream's exact sentence, e.g.
``pods is forbidden: User "alice" cannot list resource "pods" in API group ""
in the namespace "team-b"``.
"""

from __future__ import annotations

from collections.abc import Sequence

from shoal.apiserver import errors
from shoal.apiserver.authn.user import User
from shoal.apiserver.authz.attributes import Attributes
from shoal.apiserver.authz.rules import Rule, any_allows

MASTERS = "system:masters"


def is_master(user: User) -> bool:
    return MASTERS in user.groups


def decide(a: Attributes, rules: Sequence[Rule]) -> bool:
    """Whether ``a`` is allowed, given the rules bound to its user where it acts."""
    return is_master(a.user) or any_allows(rules, a)


def why_denied(a: Attributes) -> str:
    """Upstream's reason: ``User "alice" cannot list resource "pods" in API group "" in the namespace "x"``."""
    who = f'User "{a.user.name}"'
    if not a.resource_request:
        return f'{who} cannot {a.verb} path "{a.path}"'
    resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    return f'{who} cannot {a.verb} resource "{resource}" in API group "{a.group}" {where}'


def forbidden(resource: str, group: str, name: str, why: str) -> errors.ApiError:
    """Upstream's ``NewForbidden``: ``deployments.apps "web" is forbidden: <why>``."""
    if not resource:
        return errors.ApiError(403, "Forbidden", f"forbidden: {why}")
    qual = f"{resource}.{group}" if group else resource
    message = f'{qual} "{name}" is forbidden: {why}' if name else f"{qual} is forbidden: {why}"
    details = {"kind": resource, **({"name": name} if name else {}), **({"group": group} if group else {})}
    return errors.ApiError(403, "Forbidden", message, details=details)


def denied(a: Attributes, reason: str = "") -> errors.ApiError:
    """The 403 for a denied request; ``reason``: an authorizer's why (the Node authorizer's), appended."""
    why = f"{why_denied(a)}: {reason}" if reason else why_denied(a)
    if not a.resource_request:
        return forbidden("", "", "", why)
    return forbidden(a.resource, a.group, a.name, why)
