"""``x-kubernetes-validations``: CEL rules of a structural schema, compiled once, evaluated per write.

The expressions run on ``common-expression-language`` (the Rust CEL
implementation's Python bindings: a compiled program evaluates in a few
microseconds). ``attach`` compiles every rule of a schema tree when a CRD
version is installed (and reports rules that do not compile, for the CRD's own
validation); ``evaluate`` walks an object beside its schema and runs the rules
of each node that holds a value, with ``self`` bound to that value and, for
transition rules (those that name ``oldSelf``), ``oldSelf`` bound to the
stored object's value at the same place. As upstream, a transition rule runs
only on an update where the old value exists (object properties and map
values correlate by key, ``x-kubernetes-list-type: map`` items by their keys).

Failures read as upstream's: ``spec: Invalid value: "object": failed rule:
self.replicas <= self.maxReplicas``, or the rule's ``message`` /
``messageExpression`` instead of ``failed rule: ...``; ``fieldPath`` moves the
error to a field below, ``reason`` picks the error type.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import cel

from shoal.api.crd.schema import Node
from shoal.api.validation_base import FieldError, forbidden, invalid, required

# "there is no old value here" (a create, or a field the stored object does not have)
NO_OLD: Any = object()


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled ``x-kubernetes-validations`` entry."""

    rule: str
    program: cel.Program
    message: str
    message_program: cel.Program | None
    field_path: str  # relative to the node, without a leading dot
    reason: str
    transition: bool  # names oldSelf: runs only on updates with an old value here
    optional_old_self: bool
    # the fields of ``self`` / ``oldSelf`` the rule reads, when it reads only ``self.<field>`` (else None):
    # the rule then gets an object of those fields alone, so a big object is not converted whole per rule
    fields: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class CompileProblem:
    """A rule that cannot be used: where it is in the schema and why (for the CRD's 422)."""

    path: str
    value: Any
    detail: str


def _compile(expr: str) -> cel.Program:
    return cel.compile(expr)


_USE = re.compile(r"\b(self|oldSelf)\b(?:\.([A-Za-z_][A-Za-z0-9_]*)\b(\s*\()?)?")


def fields_read(*exprs: str) -> frozenset[str] | None:
    """The field names an expression reads of ``self``/``oldSelf`` if it reads nothing else of them
    (every use is ``self.<field>``, not a method call or ``self`` itself); None otherwise."""
    out: set[str] = set()
    for expr in exprs:
        for m in _USE.finditer(expr):
            if m.group(2) is None or m.group(3) is not None:
                return None
            out.add(m.group(2))
    return frozenset(out)


def compile_rules(raw: Any, path: str) -> tuple[list[Rule], list[CompileProblem]]:
    """The rules of one schema node's ``x-kubernetes-validations`` (at schema path ``path``)."""
    rules: list[Rule] = []
    problems: list[CompileProblem] = []
    if not isinstance(raw, list):
        return rules, problems
    for i, r in enumerate(raw):
        at = f"{path}.x-kubernetes-validations[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("rule"), str) or not r["rule"].strip():
            problems.append(CompileProblem(f"{at}.rule", "", "Required value"))
            continue
        text = r["rule"]
        try:
            program = _compile(text)
        except Exception as e:  # the library raises ValueError on a parse error
            problems.append(CompileProblem(f"{at}.rule", text, f"compilation failed: {e}"))
            continue
        msg_program = None
        mexpr = r.get("messageExpression")
        if isinstance(mexpr, str) and mexpr.strip():
            try:
                msg_program = _compile(mexpr)
            except Exception as e:
                problems.append(CompileProblem(f"{at}.messageExpression", mexpr,
                                               f"messageExpression compilation failed: {e}"))
                continue
        variables = set(program.variables())
        fp = r["fieldPath"] if isinstance(r.get("fieldPath"), str) else ""
        reason = r["reason"] if isinstance(r.get("reason"), str) else "FieldValueInvalid"
        rules.append(Rule(
            rule=text.strip(), program=program,
            message=(r.get("message") or "").strip() if isinstance(r.get("message"), str) else "",
            message_program=msg_program, field_path=fp.lstrip("."),
            reason=reason,
            transition="oldSelf" in variables, optional_old_self=bool(r.get("optionalOldSelf")),
            fields=fields_read(text, mexpr if isinstance(mexpr, str) else ""),
        ))
    return rules, problems


def attach(root: Node, path: str) -> list[CompileProblem]:
    """Compile the rules of every node below ``root`` onto it; return the rules that failed."""
    problems: list[CompileProblem] = []
    _attach(root, path, problems)
    return problems


def _attach(node: Node, path: str, problems: list[CompileProblem]) -> bool:
    rules, bad = compile_rules(node.raw.get("x-kubernetes-validations"), path)
    node.rules = rules
    problems += bad
    below = bool(rules)
    for k, sub in (node.properties or {}).items():
        below = _attach(sub, f"{path}.properties[{k}]", problems) or below
    if isinstance(node.additional, Node):
        below = _attach(node.additional, f"{path}.additionalProperties", problems) or below
    if node.items is not None:
        below = _attach(node.items, f"{path}.items", problems) or below
    node.cel_below = below
    return below


# ---- evaluation --------------------------------------------------------------------------------


def evaluate(value: Any, node: Node, old: Any = NO_OLD, path: str = "") -> list[FieldError]:
    """Every failed rule for ``value`` (and ``old``, the stored object, on an update)."""
    errs: list[FieldError] = []
    if node.cel_below:
        _eval(value, node, old, path, errs)
    return errs


def _schema_type(node: Node) -> str:
    return "integer-or-string" if node.int_or_string else (node.type or "object")


def _eval(value: Any, node: Node, old: Any, path: str, errs: list[FieldError]) -> None:
    if value is None:
        return
    for rule in node.rules:
        if rule.transition and old is NO_OLD and not rule.optional_old_self:
            continue
        _run(rule, value, old, node, path, errs)
    t = type(value)
    if t is dict:
        props = node.properties
        add = node.additional if isinstance(node.additional, Node) else None
        old_d = old if type(old) is dict else None
        for k, v in value.items():
            sub = props.get(k) if props is not None else None
            if sub is None:
                sub = add
            if sub is None or not sub.cel_below:
                continue
            o = old_d.get(k, NO_OLD) if old_d is not None else NO_OLD
            _eval(v, sub, o, f"{path}.{k}" if path else k, errs)
    elif t is list and node.items is not None and node.items.cel_below:
        items = node.items
        olds = _correlate_list(value, old, node)
        for i, v in enumerate(value):
            _eval(v, items, olds[i], f"{path}[{i}]", errs)


def _correlate_list(value: list[Any], old: Any, node: Node) -> list[Any]:
    """The old item of each item: by map keys for ``x-kubernetes-list-type: map``, else none."""
    if type(old) is not list or node.list_type != "map" or not node.list_map_keys:
        return [NO_OLD] * len(value)
    keys = node.list_map_keys

    def key(item: Any) -> str | None:
        return json.dumps([item.get(k) for k in keys]) if type(item) is dict else None

    by_key = {key(o): o for o in old if type(o) is dict}
    return [by_key.get(key(v), NO_OLD) for v in value]


def _run(rule: Rule, value: Any, old: Any, node: Node, path: str, errs: list[FieldError]) -> None:
    at = f"{path}.{rule.field_path}" if path and rule.field_path else (rule.field_path or path)
    fields = rule.fields
    if fields is not None and type(value) is dict:
        value = {k: v for k, v in value.items() if k in fields}
        if type(old) is dict:
            old = {k: v for k, v in old.items() if k in fields}
    context: dict[str, Any] = {"self": value}
    if rule.transition:
        context["oldSelf"] = old if old is not NO_OLD else None
    try:
        result = rule.program.execute(context)
    except KeyError as e:
        errs.append(invalid(at, _schema_type(node), f"{rule.rule}: no such key: {e.args[0] if e.args else e}"))
        return
    except Exception as e:  # a runtime error of the expression (no such overload, division by zero...)
        errs.append(invalid(at, _schema_type(node), f"{rule.rule}: {e}"))
        return
    if result is True:
        return
    if result is not False:
        errs.append(invalid(at, _schema_type(node), f"{rule.rule}: rule did not evaluate to a bool"))
        return
    message = _message(rule, context)
    if rule.reason == "FieldValueForbidden":
        errs.append(forbidden(at, message))
    elif rule.reason == "FieldValueRequired":
        errs.append(required(at, message))
    else:
        errs.append(invalid(at, _schema_type(node), message))


def _message(rule: Rule, context: dict[str, Any]) -> str:
    if rule.message_program is not None:
        try:
            out = rule.message_program.execute(context)
        except Exception:
            out = None
        if isinstance(out, str) and out.strip() and "\n" not in out:
            return out.strip()
    if rule.message:
        return rule.message
    return f"failed rule: {rule.rule}"
