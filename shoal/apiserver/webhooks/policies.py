"""ValidatingAdmissionPolicy: CEL validations run in the API server, put in force by bindings.

A policy is compiled once per change (``compile_policy``); for a request,
every binding whose policy's ``matchConstraints`` (and the binding's own
``matchResources``) match is evaluated: ``matchConditions`` first (all must
hold), then the ``variables`` in order, then each validation with ``object``,
``oldObject``, ``request``, ``params``, ``namespaceObject`` and ``variables``
bound. A validation that is false, or that cannot be evaluated under
``failurePolicy: Fail``, is a failure; the binding's ``validationActions``
say what a failure does: Deny refuses the request (upstream's Status:
``<resource> "<name>" is forbidden: ValidatingAdmissionPolicy '<p>' with
binding '<b>' denied request: <message>``, with the validation's reason,
Invalid by default), Warn adds a ``Warning`` header, Audit logs it.

``evaluate`` is pure: parameters and the namespace are looked up by the
caller (``chain``) and passed in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from shoal.apiserver import errors
from shoal.apiserver.webhooks import celexpr, matching
from shoal.apiserver.webhooks.attributes import Attributes

log = logging.getLogger(__name__)

REASON_CODES = {"Unauthorized": 401, "Forbidden": 403, "Invalid": 422, "RequestEntityTooLarge": 413}


@dataclass(frozen=True, slots=True)
class Check:
    expr: celexpr.Expr
    message: str
    reason: str
    message_expr: celexpr.Expr | None


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    param_kind: tuple[str, str] | None  # (apiVersion, kind)
    constraints: dict[str, Any]
    fail_open: bool
    conditions: tuple[tuple[str, celexpr.Expr], ...]
    variables: tuple[tuple[str, celexpr.Expr], ...]
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class Binding:
    name: str
    policy: str
    param_ref: dict[str, Any] | None
    match_resources: dict[str, Any] | None
    actions: frozenset[str]


@dataclass(slots=True)
class Outcome:
    """What the policies decided for one request."""

    denied: errors.ApiError | None = None
    warnings: list[str] = field(default_factory=list)
    audit: list[str] = field(default_factory=list)


def compile_policy(obj: dict[str, Any]) -> Policy:
    spec = obj.get("spec") or {}
    pk = spec.get("paramKind")
    checks = tuple(
        Check(celexpr.compile_expr(str(v.get("expression") or "")), str(v.get("message") or ""),
              str(v.get("reason") or "Invalid"),
              celexpr.compile_expr(v["messageExpression"]) if isinstance(v.get("messageExpression"), str)
              and v["messageExpression"] else None)
        for v in spec.get("validations") or [] if isinstance(v, dict))
    return Policy(
        name=str((obj.get("metadata") or {}).get("name") or ""),
        param_kind=(str(pk.get("apiVersion") or ""), str(pk.get("kind") or "")) if isinstance(pk, dict) else None,
        constraints=spec.get("matchConstraints") or {},
        fail_open=spec.get("failurePolicy") == "Ignore",
        conditions=tuple((str(m.get("name")), celexpr.compile_expr(str(m.get("expression") or "")))
                         for m in spec.get("matchConditions") or [] if isinstance(m, dict)),
        variables=tuple((str(v.get("name")), celexpr.compile_expr(str(v.get("expression") or "")))
                        for v in spec.get("variables") or [] if isinstance(v, dict)),
        checks=checks,
    )


def compile_binding(obj: dict[str, Any]) -> Binding:
    spec = obj.get("spec") or {}
    return Binding(
        name=str((obj.get("metadata") or {}).get("name") or ""),
        policy=str(spec.get("policyName") or ""),
        param_ref=spec.get("paramRef") if isinstance(spec.get("paramRef"), dict) else None,
        match_resources=spec.get("matchResources") if isinstance(spec.get("matchResources"), dict) else None,
        actions=frozenset(a for a in spec.get("validationActions") or [] if isinstance(a, str)),
    )


def resources_match(m: dict[str, Any], attrs: Attributes, ns_labels: dict[str, str] | None, *,
                    need_rules: bool) -> bool:
    """``MatchResources``: the rules (when given, or required), not the excluded ones, the selectors."""
    policy = m.get("matchPolicy")
    rules = m.get("resourceRules") or []
    if (rules or need_rules) and not matching.named_rules_match(rules, attrs, match_policy=policy):
        return False
    if matching.named_rules_match(m.get("excludeResourceRules") or [], attrs, match_policy=policy):
        return False
    if not matching.namespace_matches(m.get("namespaceSelector"), attrs, ns_labels):
        return False
    return matching.object_matches(m.get("objectSelector"), attrs)


def policy_matches(p: Policy, attrs: Attributes) -> bool:
    """The rules of the policy alone (cheap: whether a request needs a closer look)."""
    c = p.constraints
    policy = c.get("matchPolicy")
    return matching.named_rules_match(c.get("resourceRules") or [], attrs, match_policy=policy) and \
        not matching.named_rules_match(c.get("excludeResourceRules") or [], attrs, match_policy=policy)


def _message(check: Check, context: dict[str, Any]) -> str:
    if check.message_expr is not None:
        try:
            out = celexpr.run(check.message_expr, context)
        except celexpr.EvalError:
            out = None
        if isinstance(out, str) and out.strip() and "\n" not in out:
            return out.strip()
    return check.message or f"failed expression: {check.expr.text}"


def evaluate(p: Policy, b: Binding, attrs: Attributes, *, request: dict[str, Any], params: Any,
             namespace: dict[str, Any] | None, outcome: Outcome) -> None:
    """Run ``p`` as bound by ``b`` for one parameter object (None without one); record into ``outcome``."""
    context: dict[str, Any] = {"object": attrs.obj, "oldObject": attrs.old, "request": request,
                               "params": params, "namespaceObject": namespace}
    for name, expr in p.conditions:
        try:
            if not celexpr.run_bool(expr, context):
                return
        except celexpr.EvalError as e:
            if p.fail_open:
                return
            _fail(p, b, attrs, f"failed to evaluate match condition '{name}': {e}", "Invalid", outcome)
            return
    variables: dict[str, Any] = {}
    context["variables"] = variables
    for name, expr in p.variables:
        try:
            variables[name] = celexpr.run(expr, context)
        except celexpr.EvalError:
            continue  # a validation that reads it fails to evaluate, and the failure policy decides
    for check in p.checks:
        try:
            ok = celexpr.run_bool(check.expr, context)
        except celexpr.EvalError as e:
            if p.fail_open:
                continue
            _fail(p, b, attrs, f"expression '{check.expr.text}' resulted in error: {e}", check.reason, outcome)
            continue
        if not ok:
            _fail(p, b, attrs, _message(check, context), check.reason, outcome)


def _fail(p: Policy, b: Binding, attrs: Attributes, message: str, reason: str, outcome: Outcome) -> None:
    if "Deny" in b.actions and outcome.denied is None:
        outcome.denied = denial(p.name, b.name, attrs, message, reason)
    if "Warn" in b.actions:
        outcome.warnings.append(
            f"Validation failed for ValidatingAdmissionPolicy '{p.name}' with binding '{b.name}': {message}")
    if "Audit" in b.actions:
        outcome.audit.append(f"{p.name}/{b.name}: {message}")
        log.info("ValidatingAdmissionPolicy '%s' with binding '%s' audit: %s", p.name, b.name, message)


def denial(policy: str, binding: str, attrs: Attributes, message: str, reason: str) -> errors.ApiError:
    text = f"ValidatingAdmissionPolicy '{policy}' with binding '{binding}' denied request: {message}"
    qual = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    details: dict[str, Any] = {"name": attrs.name, "group": attrs.group, "kind": attrs.resource,
                               "causes": [{"message": text}]}
    if not attrs.group:
        del details["group"]
    reason = reason if reason in REASON_CODES else "Invalid"
    return errors.ApiError(REASON_CODES[reason], reason, f'{qual} "{attrs.name}" is forbidden: {text}',
                           details=details)
