"""Validation of admissionregistration.k8s.io/v1 objects, as upstream's ``ValidateValidatingWebhookConfiguration`` and kin.

A webhook needs a fully qualified name unique in its configuration, exactly
one of ``url`` (https, no fragment or query) and ``service``, a supported
``sideEffects`` and an ``admissionReviewVersions`` that includes ``v1``; a rule
names operations, groups, versions and resources; timeouts lie in 1..30 s;
match conditions and policy expressions must compile as CEL (compiled here
with the same library the API server runs them with). A binding names its
policy and at least one of Deny, Warn, Audit (never Deny and Warn together).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlsplit

import cel

from shoal.api.models.admissionregistration import (
    MatchCondition,
    MatchResources,
    MutatingWebhook,
    MutatingWebhookConfiguration,
    RuleWithOperations,
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
    ValidatingWebhook,
    ValidatingWebhookConfiguration,
)
from shoal.api.validation_base import (
    FieldError,
    check,
    child,
    dns1123_label,
    dns1123_subdomain,
    duplicate,
    forbidden,
    index,
    invalid,
    one_of,
    qualified_name,
    required,
    unsupported,
    validate_label_selector,
)

OPERATIONS = ("*", "CONNECT", "CREATE", "DELETE", "UPDATE")
SCOPES = ("*", "Cluster", "Namespaced")
FAILURE_POLICIES = ("Fail", "Ignore")
MATCH_POLICIES = ("Equivalent", "Exact")
SIDE_EFFECTS = ("None", "NoneOnDryRun")
REINVOCATION = ("IfNeeded", "Never")
ACTIONS = ("Audit", "Deny", "Warn")
REVIEW_VERSIONS = ("v1", "v1beta1")


def compile_error(expr: str) -> str | None:
    """Why ``expr`` does not compile as CEL (None: it does)."""
    try:
        cel.compile(expr)
    except Exception as e:  # the library raises ValueError on a parse error
        return str(e).splitlines()[0]
    return None


def _fully_qualified(name: str) -> list[str]:
    out = dns1123_subdomain(name)
    if not out and name.count(".") < 2:
        out = ["should be a domain with at least three segments separated by dots"]
    return out


def _rule(r: RuleWithOperations, path: str, *, subresources: bool = True) -> list[FieldError]:
    errs: list[FieldError] = []
    for field, values in (("operations", r.operations), ("apiGroups", r.api_groups),
                          ("apiVersions", r.api_versions), ("resources", r.resources)):
        if not values:
            errs.append(required(child(path, field)))
    for i, op in enumerate(r.operations or []):
        if op not in OPERATIONS:
            errs.append(unsupported(index(child(path, "operations"), i), op, OPERATIONS))
    if len(r.operations or []) > 1 and "*" in (r.operations or []):
        errs.append(invalid(child(path, "operations"), r.operations, "if '*' is present, must not specify other operations"))
    for i, res in enumerate(r.resources or []):
        at = index(child(path, "resources"), i)
        if not res:
            errs.append(required(at))
        elif res.count("/") > 1 or res.endswith("/") or res.startswith("/"):
            errs.append(invalid(at, res, "must be of the form 'resource', 'resource/subresource', '*', '*/*' or 'resource/*'"))
    errs += one_of(child(path, "scope"), r.scope, SCOPES)
    return errs


def _conditions(conds: list[MatchCondition] | None, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, c in enumerate(conds or []):
        at = index(path, i)
        if not c.name:
            errs.append(required(child(at, "name")))
        else:
            errs += check(child(at, "name"), c.name, qualified_name)
            if c.name in seen:
                errs.append(duplicate(child(at, "name"), c.name))
            seen.add(c.name)
        errs += _expression(c.expression, child(at, "expression"))
    return errs


def _expression(expr: str | None, path: str) -> list[FieldError]:
    if not expr or not expr.strip():
        return [required(path)]
    why = compile_error(expr)
    return [invalid(path, expr, f"compilation failed: {why}")] if why else []


def _client_config(w: ValidatingWebhook | MutatingWebhook, path: str) -> list[FieldError]:
    cc = w.client_config
    errs: list[FieldError] = []
    if (cc.url is None) == (cc.service is None):
        return [required(path, "exactly one of url or service is required")]
    if cc.url is not None:
        u = urlsplit(cc.url)
        at = child(path, "url")
        if u.scheme != "https":
            errs.append(invalid(at, cc.url, "'https' is the only allowed URL scheme"))
        if not u.hostname:
            errs.append(invalid(at, cc.url, "host must be specified"))
        if u.username or u.password:
            errs.append(invalid(at, cc.url, "user information is not permitted in the URL"))
        if u.fragment or cc.url.endswith("#"):
            errs.append(invalid(at, cc.url, "fragments are not permitted in the URL"))
        if u.query:
            errs.append(invalid(at, cc.url, "query parameters are not permitted in the URL"))
    if cc.service is not None:
        s, at = cc.service, child(path, "service")
        if not s.name:
            errs.append(required(child(at, "name")))
        else:
            errs += check(child(at, "name"), s.name, dns1123_label)
        if not s.namespace:
            errs.append(required(child(at, "namespace")))
        else:
            errs += check(child(at, "namespace"), s.namespace, dns1123_label)
        if s.path is not None and not s.path.startswith("/"):
            errs.append(invalid(child(at, "path"), s.path, "must start with a '/'"))
        if s.port is not None and not 1 <= s.port <= 65535:
            errs.append(invalid(child(at, "port"), s.port, "port is not valid: must be between 1 and 65535, inclusive"))
    if cc.ca_bundle:
        try:
            base64.b64decode(cc.ca_bundle, validate=True)
        except (binascii.Error, ValueError):
            errs.append(invalid(child(path, "caBundle"), "<bytes>", "must be base64"))
    return errs


def _webhook(w: ValidatingWebhook | MutatingWebhook, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not w.name:
        errs.append(required(child(path, "name")))
    else:
        errs += check(child(path, "name"), w.name, _fully_qualified)
    errs += _client_config(w, child(path, "clientConfig"))
    for i, r in enumerate(w.rules or []):
        errs += _rule(r, index(child(path, "rules"), i))
    errs += one_of(child(path, "failurePolicy"), w.failure_policy, FAILURE_POLICIES)
    errs += one_of(child(path, "matchPolicy"), w.match_policy, MATCH_POLICIES)
    if w.side_effects is None:
        errs.append(required(child(path, "sideEffects"), "must specify one of None, NoneOnDryRun"))
    else:
        errs += one_of(child(path, "sideEffects"), w.side_effects, SIDE_EFFECTS)
    if w.timeout_seconds is not None and not 1 <= w.timeout_seconds <= 30:
        errs.append(invalid(child(path, "timeoutSeconds"), w.timeout_seconds,
                            "the timeout value must be between 1 and 30 seconds"))
    versions = w.admission_review_versions or []
    if not versions:
        errs.append(required(child(path, "admissionReviewVersions"),
                             "must specify one of v1, v1beta1"))
    elif not any(v in REVIEW_VERSIONS for v in versions):
        errs.append(invalid(child(path, "admissionReviewVersions"), versions,
                            "must include at least one of v1, v1beta1"))
    errs += validate_label_selector(w.namespace_selector, child(path, "namespaceSelector"))
    errs += validate_label_selector(w.object_selector, child(path, "objectSelector"))
    if isinstance(w, MutatingWebhook):
        errs += one_of(child(path, "reinvocationPolicy"), w.reinvocation_policy, REINVOCATION)
    errs += _conditions(w.match_conditions, child(path, "matchConditions"))
    return errs


def validate_webhook_configuration(c: ValidatingWebhookConfiguration | MutatingWebhookConfiguration) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    hooks: list[ValidatingWebhook | MutatingWebhook] = list(c.webhooks or [])
    for i, w in enumerate(hooks):
        at = index("webhooks", i)
        errs += _webhook(w, at)
        if w.name in seen:
            errs.append(duplicate(child(at, "name"), w.name))
        seen.add(w.name)
    return errs


def _match_resources(m: MatchResources | None, path: str, *, need_rules: bool) -> list[FieldError]:
    if m is None:
        return [required(path)] if need_rules else []
    errs: list[FieldError] = []
    if need_rules and not m.resource_rules:
        errs.append(required(child(path, "resourceRules")))
    for name, rules in (("resourceRules", m.resource_rules), ("excludeResourceRules", m.exclude_resource_rules)):
        for i, r in enumerate(rules or []):
            errs += _rule(r, index(child(path, name), i))
    errs += one_of(child(path, "matchPolicy"), m.match_policy, MATCH_POLICIES)
    errs += validate_label_selector(m.namespace_selector, child(path, "namespaceSelector"))
    errs += validate_label_selector(m.object_selector, child(path, "objectSelector"))
    return errs


def validate_policy(p: ValidatingAdmissionPolicy) -> list[FieldError]:
    spec = p.spec
    if spec is None:
        return [required("spec")]
    errs: list[FieldError] = []
    if spec.param_kind is not None:
        if not spec.param_kind.kind:
            errs.append(required("spec.paramKind.kind"))
        if not spec.param_kind.api_version:
            errs.append(required("spec.paramKind.apiVersion"))
    errs += _match_resources(spec.match_constraints, "spec.matchConstraints", need_rules=True)
    if not spec.validations and not spec.audit_annotations:
        errs.append(required("spec.validations", "validations or auditAnnotations must contain at least one item"))
    for i, v in enumerate(spec.validations or []):
        at = index("spec.validations", i)
        errs += _expression(v.expression, child(at, "expression"))
        if v.message_expression:
            errs += _expression(v.message_expression, child(at, "messageExpression"))
        if v.message is not None and "\n" in v.message:
            errs.append(invalid(child(at, "message"), v.message, "message must not contain line breaks"))
        errs += one_of(child(at, "reason"), v.reason,
                       ("Forbidden", "Invalid", "RequestEntityTooLarge", "Unauthorized"))
    for i, a in enumerate(spec.audit_annotations or []):
        errs += _expression(a.value_expression, child(index("spec.auditAnnotations", i), "valueExpression"))
    errs += one_of("spec.failurePolicy", spec.failure_policy, FAILURE_POLICIES)
    errs += _conditions(spec.match_conditions, "spec.matchConditions")
    for i, var in enumerate(spec.variables or []):
        at = index("spec.variables", i)
        if not var.name:
            errs.append(required(child(at, "name")))
        errs += _expression(var.expression, child(at, "expression"))
    return errs


def validate_binding(b: ValidatingAdmissionPolicyBinding) -> list[FieldError]:
    spec = b.spec
    if spec is None:
        return [required("spec")]
    errs: list[FieldError] = []
    if not spec.policy_name:
        errs.append(required("spec.policyName"))
    else:
        errs += check("spec.policyName", spec.policy_name, dns1123_subdomain)
    actions = spec.validation_actions or []
    if not actions:
        errs.append(required("spec.validationActions"))
    seen: set[str] = set()
    for i, a in enumerate(actions):
        at = index("spec.validationActions", i)
        if a not in ACTIONS:
            errs.append(unsupported(at, a, ACTIONS))
        elif a in seen:
            errs.append(duplicate(at, a))
        seen.add(a)
    if {"Deny", "Warn"} <= seen:
        errs.append(invalid("spec.validationActions", actions,
                            "must not contain both Deny and Warn (repeating the same validation failure information "
                            "in the API response and headers serves no purpose)"))
    ref = spec.param_ref
    if ref is not None:
        if (ref.name is None) == (ref.selector is None):
            errs.append(forbidden("spec.paramRef", "one of name or selector must be specified"))
        errs += one_of("spec.paramRef.parameterNotFoundAction", ref.parameter_not_found_action, ("Allow", "Deny"))
    errs += _match_resources(spec.match_resources, "spec.matchResources", need_rules=False)
    return errs


RULES: dict[type, Any] = {
    ValidatingWebhookConfiguration: validate_webhook_configuration,
    MutatingWebhookConfiguration: validate_webhook_configuration,
    ValidatingAdmissionPolicy: validate_policy,
    ValidatingAdmissionPolicyBinding: validate_binding,
}
