"""Escalation prevention: no one grants, through a role or a binding, what they do not hold. Pure.

Upstream's rule: writing a Role or ClusterRole is allowed if the writer holds
every permission it lists (in its namespace, or cluster-wide for a
ClusterRole), or may ``escalate`` roles; writing a binding is allowed if the
writer holds every permission of the role it refers to (in the binding's
namespace), or may ``bind`` that role. ``system:masters`` holds everything.
A refusal names the permissions missing, in upstream's words:

    roles.rbac.authorization.k8s.io "r" is forbidden: user "alice" (groups=["dev" "system:authenticated"])
    is attempting to grant RBAC permissions not currently held:
    {APIGroups:[""], Resources:["secrets"], Verbs:["get"]}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from shoal.apiserver import errors
from shoal.apiserver.authn.user import User
from shoal.apiserver.authz.rbac import forbidden
from shoal.apiserver.authz.rules import Rule, compact_string, go_quote_list, uncovered

GROUP = "rbac.authorization.k8s.io"
# what a ClusterRole with an aggregationRule asks of its writer: it can gather anything
FULL_AUTHORITY = (Rule(frozenset({"*"}), frozenset({"*"}), frozenset({"*"})),
                  Rule(frozenset({"*"}), urls=frozenset({"*"})))


def escalation_reason(user: User, owner: Sequence[Rule], wanted: Iterable[Rule]) -> str:
    """Why granting ``wanted`` is an escalation for a user holding ``owner`` ("" when it is not)."""
    missing = uncovered(owner, wanted)
    if not missing:
        return ""
    lines = sorted({compact_string(r) for r in missing})
    return (f'user "{user.name}" (groups={go_quote_list(user.groups)}) is attempting to grant RBAC permissions '
            "not currently held:\n" + "\n".join(lines))


def refuse_escalation(resource: str, name: str, user: User, owner: Sequence[Rule],
                      wanted: Iterable[Rule]) -> errors.ApiError | None:
    """The 403 for writing ``resource`` ``name`` that grants ``wanted``, if it is an escalation."""
    why = escalation_reason(user, owner, wanted)
    return forbidden(resource, GROUP, name, why) if why else None
