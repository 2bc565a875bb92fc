"""The strategies of the four RBAC kinds: escalation prevention at admission.

Each write of a role or binding asks, for the user making it (``CURRENT_USER``,
set by the API server for the request being served): may they ``escalate``
(roles) or ``bind`` (bindings), and if not, do they hold every permission the
object grants (``escalation``)? A write with no user (the server's own
reconciling of default roles) or by ``system:masters`` passes. A binding to a
role that does not exist is refused to a user without ``bind`` (there is
nothing to compare with), and accepted from one with it, granting nothing.
"""

from __future__ import annotations

from typing import Any

from shoal.api.registry import ResourceInfo
from shoal.apiserver import errors
from shoal.apiserver.auth import CURRENT_USER
from shoal.apiserver.authz.authorizer import Authorizer
from shoal.apiserver.authz.escalation import FULL_AUTHORITY, GROUP, refuse_escalation
from shoal.apiserver.authz.rbac import forbidden, is_master
from shoal.apiserver.authz.rules import compile_rules
from shoal.apiserver.strategies.base import DefaultStrategy

_GC_FIELDS = ("ownerReferences", "finalizers", "resourceVersion", "managedFields", "deletionTimestamp",
              "deletionGracePeriodSeconds")


def _name_ns(obj: dict[str, Any]) -> tuple[str, str]:
    md = obj.get("metadata") or {}
    return str(md.get("name") or ""), str(md.get("namespace") or "")


def _only_gc_fields_changed(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """Upstream's IsOnlyMutatingGCFields: owner references and finalizers alone need no escalation check."""
    def strip(o: dict[str, Any]) -> dict[str, Any]:
        md = {k: v for k, v in (o.get("metadata") or {}).items() if k not in _GC_FIELDS}
        return {**o, "metadata": md}
    return strip(new) == strip(old)


class _EscalationChecked(DefaultStrategy):
    """A kind whose creates and updates (but those touching only GC fields) pass ``_admit``."""

    def __init__(self, info: ResourceInfo, authorizer: Authorizer) -> None:
        super().__init__(info)
        self.authorizer = authorizer

    def _admit(self, obj: dict[str, Any]) -> None:
        raise NotImplementedError

    async def admit_create(self, ns: str | None, obj: dict[str, Any], data: dict[str, Any]) -> None:
        self._admit(obj)

    async def admit_update(self, obj: dict[str, Any], old: dict[str, Any]) -> None:
        if not _only_gc_fields_changed(obj, old):
            self._admit(obj)


class RoleStrategy(_EscalationChecked):
    """Role and ClusterRole: the writer holds what the role lists, or may ``escalate``."""

    def _admit(self, obj: dict[str, Any]) -> None:
        user = CURRENT_USER.get()
        if user is None or is_master(user):
            return
        name, ns = _name_ns(obj)
        if self.authorizer.may(user, "escalate", group=GROUP, resource=self.info.plural, namespace=ns, name=name):
            return
        owner = self.authorizer.index.rules_for(user, ns)
        refusal = refuse_escalation(self.info.plural, name, user, owner, compile_rules(obj.get("rules")))
        if refusal is not None:
            raise refusal
        if obj.get("aggregationRule") and refuse_escalation(self.info.plural, name, user, owner, FULL_AUTHORITY):
            raise forbidden(self.info.plural, GROUP, name, "must have cluster-admin privileges to use the aggregationRule")


class BindingStrategy(_EscalationChecked):
    """RoleBinding and ClusterRoleBinding: the writer holds what the role grants, or may ``bind`` it."""

    def _admit(self, obj: dict[str, Any]) -> None:
        user = CURRENT_USER.get()
        if user is None or is_master(user):
            return
        name, ns = _name_ns(obj)
        ref = obj.get("roleRef") or {}
        kind, role = str(ref.get("kind") or ""), str(ref.get("name") or "")
        role_resource = "clusterroles" if kind == "ClusterRole" else "roles"
        if self.authorizer.may(user, "bind", group=GROUP, resource=role_resource, namespace=ns, name=role):
            return
        rules = self.authorizer.index.role_rules(kind, role, ns)
        if rules is None:
            missing = errors.not_found(role_resource, role, GROUP)
            raise forbidden(self.info.plural, GROUP, name, missing.message)
        refusal = refuse_escalation(self.info.plural, name, user, self.authorizer.index.rules_for(user, ns), rules)
        if refusal is not None:
            raise refusal
