"""Validation and defaults of the rbac.authorization.k8s.io/v1 kinds, with upstream's rules and messages.

Role and binding names are path segments, not DNS names (``system:basic-user``
is a valid name), so they get their own name check. A rule names either
resources (with at least one API group and one resource) or non-resource URLs
(cluster roles only), never both. Verbs are free text: a role granting a verb
no resource has is accepted, as upstream. A binding's ``roleRef`` is fixed
once written (a binding that changed what it grants would surprise whoever
approved it); a ClusterRoleBinding may refer to a ClusterRole only. A subject
is a User, a Group or a ServiceAccount; the first two default their
``apiGroup`` to ``rbac.authorization.k8s.io``.
"""

from __future__ import annotations

from typing import Any

from shoal.api.models.rbac import (
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    Role,
    RoleBinding,
    Subject,
)
from shoal.api.validation_base import (
    FieldError,
    check,
    child,
    dns1123_subdomain,
    index,
    invalid,
    required,
    unsupported,
    validate_label_selector,
)

GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def path_segment_name(value: str) -> list[str]:
    """Upstream's ``path.IsValidPathSegmentName``: anything that stays one segment of a URL path."""
    if value in (".", ".."):
        return [f'may not be {value!r}']
    msgs = [f"may not contain {c!r}" for c in ("/", "%") if c in value]
    return msgs


def _rule(rule: PolicyRule, at: str, *, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    if not rule.verbs:
        errs.append(required(child(at, "verbs"), "verbs must contain at least one value"))
    if rule.non_resource_urls:
        if namespaced:
            errs.append(invalid(child(at, "nonResourceURLs"), rule.non_resource_urls,
                                "namespaced rules cannot apply to non-resource URLs"))
        if rule.api_groups or rule.resources or rule.resource_names:
            errs.append(invalid(child(at, "nonResourceURLs"), rule.non_resource_urls,
                                "rules cannot apply to both regular resources and non-resource URLs"))
        return errs
    if not rule.api_groups:
        errs.append(required(child(at, "apiGroups"), "resource rules must supply at least one api group"))
    if not rule.resources:
        errs.append(required(child(at, "resources"), "resource rules must supply at least one resource"))
    return errs


def validate_role(role: Role) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, rule in enumerate(role.rules or []):
        errs += _rule(rule, index("rules", i), namespaced=True)
    return errs


def validate_cluster_role(role: ClusterRole) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, rule in enumerate(role.rules or []):
        errs += _rule(rule, index("rules", i), namespaced=False)
    agg = role.aggregation_rule
    if agg is not None:
        if not agg.cluster_role_selectors:
            errs.append(required("aggregationRule.clusterRoleSelectors",
                                 "at least one clusterRoleSelector required if aggregationRule is non-nil"))
        for i, sel in enumerate(agg.cluster_role_selectors or []):
            errs += validate_label_selector(sel, index("aggregationRule.clusterRoleSelectors", i))
    return errs


def _subject(s: Subject, at: str, *, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    if not s.name:
        errs.append(required(child(at, "name")))
    if s.kind == "ServiceAccount":
        if s.name:
            errs += check(child(at, "name"), s.name, dns1123_subdomain)
        if s.api_group:
            errs.append(unsupported(child(at, "apiGroup"), s.api_group, [""]))
        if not namespaced and not s.namespace:
            errs.append(required(child(at, "namespace")))
    elif s.kind in ("User", "Group"):
        if s.api_group != GROUP:
            errs.append(unsupported(child(at, "apiGroup"), s.api_group or "", [GROUP]))
    else:
        errs.append(unsupported(child(at, "kind"), s.kind or "", SUBJECT_KINDS))
    return errs


def _binding(b: RoleBinding | ClusterRoleBinding, kinds: tuple[str, ...], *, namespaced: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    ref = b.role_ref
    if ref is None:
        return [required("roleRef")]
    if ref.api_group != GROUP:
        errs.append(unsupported("roleRef.apiGroup", ref.api_group or "", [GROUP]))
    if ref.kind not in kinds:
        errs.append(unsupported("roleRef.kind", ref.kind or "", kinds))
    if not ref.name:
        errs.append(required("roleRef.name"))
    else:
        errs += check("roleRef.name", ref.name, path_segment_name)
    for i, s in enumerate(b.subjects or []):
        errs += _subject(s, index("subjects", i), namespaced=namespaced)
    return errs


def validate_role_binding(b: RoleBinding) -> list[FieldError]:
    return _binding(b, ("Role", "ClusterRole"), namespaced=True)


def validate_cluster_role_binding(b: ClusterRoleBinding) -> list[FieldError]:
    return _binding(b, ("ClusterRole",), namespaced=False)


def _plain_ref(b: RoleBinding | ClusterRoleBinding) -> dict[str, Any]:
    ref = b.role_ref
    return {} if ref is None else {"apiGroup": ref.api_group, "kind": ref.kind, "name": ref.name}


def validate_binding_update(new: RoleBinding | ClusterRoleBinding, old: RoleBinding | ClusterRoleBinding,
                            ) -> list[FieldError]:
    if new.role_ref != old.role_ref:
        return [invalid("roleRef", _plain_ref(new), "cannot change roleRef")]
    return []


def default_subjects(b: RoleBinding | ClusterRoleBinding) -> None:
    """Users and groups default their ``apiGroup`` to rbac.authorization.k8s.io (upstream's SetDefaults_Subject)."""
    for s in b.subjects or []:
        if not s.api_group and s.kind in ("User", "Group"):
            s.api_group = GROUP
