"""rbac.authorization.k8s.io/v1: Role, ClusterRole, RoleBinding, ClusterRoleBinding.

A Role (namespaced) or ClusterRole lists ``rules``: verbs allowed on resources
of API groups (optionally only some ``resourceNames``), or on non-resource
URLs. A binding grants one role (``roleRef``, fixed once written) to
``subjects``: users, groups or service accounts. A ClusterRole with an
``aggregationRule`` has its rules written by the server: the union of the
rules of the ClusterRoles its selectors match. The authorizer reads these
objects as typed rules (``shoal.apiserver.authz.rules``).
"""

from __future__ import annotations

import msgspec

from shoal.api.base import Model
from shoal.api.meta import LabelSelector, ObjectMeta


class PolicyRule(Model):
    verbs: list[str] | None = None
    api_groups: list[str] | None = None
    resources: list[str] | None = None
    resource_names: list[str] | None = None
    non_resource_urls: list[str] | None = msgspec.field(default=None, name="nonResourceURLs")


class AggregationRule(Model):
    cluster_role_selectors: list[LabelSelector] | None = None


class Role(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    rules: list[PolicyRule] | None = None


class ClusterRole(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    rules: list[PolicyRule] | None = None
    aggregation_rule: AggregationRule | None = None


class Subject(Model):
    kind: str | None = None  # User, Group or ServiceAccount
    api_group: str | None = None
    name: str | None = None
    namespace: str | None = None


class RoleRef(Model):
    api_group: str | None = None
    kind: str | None = None
    name: str | None = None


class RoleBinding(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    subjects: list[Subject] | None = None
    role_ref: RoleRef | None = None


class ClusterRoleBinding(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    subjects: list[Subject] | None = None
    role_ref: RoleRef | None = None
