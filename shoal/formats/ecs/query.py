"""ECS's cluster query language: ``memberOf`` constraints and ``ListContainerInstances --filter``.

``parse`` reads an expression (``attribute:ecs.instance-type =~ t2.* and
not(attribute:ecs.availability-zone in [us-east-1a, us-east-1b])``) into a
small tree; ``evaluate`` decides it for one container instance's attributes;
``node_affinity`` turns it into required node-affinity terms: negations are
pushed down to the comparisons (De Morgan), the tree is put in disjunctive
normal form, and each conjunction is one ``NodeSelectorTerm`` (terms are ORed
by Kubernetes, the expressions inside one ANDed).

Attributes onto node labels: ``ecs.availability-zone`` is
``topology.kubernetes.io/zone``, ``ecs.instance-type``
``node.kubernetes.io/instance-type``, ``ecs.os-type`` ``kubernetes.io/os``,
``ecs.cpu-architecture`` ``kubernetes.io/arch``; any other ``attribute:X`` the
label ``X``; ``ec2InstanceId`` the node's name. ``==``/``!=``/``in``/``!in``
become In/NotIn, ``exists``/``!exists`` Exists/DoesNotExist, ``>``/``<`` (and
``>=``/``<=`` on integers) Gt/Lt; a regular expression (``=~``, ``!~``) has no
node-affinity form, so it is resolved against the values the nodes have now
(``known``) into an In/NotIn list. ``registeredAt``, ``runningTasksCount``,
``agentConnected``, ``agentVersion`` and ``task:group`` are not node properties
a scheduler term can name: a ``memberOf`` with one is refused, a filter
evaluates them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from shoal.formats.ecs.errors import invalid

ATTRIBUTE_LABELS = {"ecs.availability-zone": "topology.kubernetes.io/zone",
                    "ecs.instance-type": "node.kubernetes.io/instance-type",
                    "ecs.os-type": "kubernetes.io/os", "ecs.cpu-architecture": "kubernetes.io/arch"}
NODE_NAME = "ec2InstanceId"
_OPS = {"==": "==", "equals": "==", "!=": "!=", "not_equals": "!=", ">": ">", "greater_than": ">",
        ">=": ">=", "greater_than_equal": ">=", "<": "<", "less_than": "<", "<=": "<=", "less_than_equal": "<=",
        "in": "in", "not_in": "!in", "=~": "=~", "matches": "=~", "!~": "!~", "not_matches": "!~",
        "exists": "exists", "not_exists": "!exists"}
_NEGATED = {"==": "!=", "!=": "==", ">": "<=", "<=": ">", "<": ">=", ">=": "<", "in": "!in", "!in": "in",
            "=~": "!~", "!~": "=~", "exists": "!exists", "!exists": "exists"}
_TOKEN = re.compile(r"\s*(?:(&&|\|\||!~|!=|==|=~|>=|<=|[()\[\],<>!])|([^\s()\[\],!=<>~&|]+))")
_MAX_TERMS = 64


@dataclass(frozen=True, slots=True)
class Cmp:
    subject: str
    op: str  # a canonical key of _NEGATED
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Not:
    inner: Expr


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Expr, ...]


Expr = Union[Cmp, Not, And, Or]  # noqa: UP007 (a runtime alias of dataclasses)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise invalid(f"Invalid expression: unexpected character at position {pos} of '{text}'")
        out.append(m.group(1) or m.group(2))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        t = self.peek()
        if t is None:
            raise invalid(f"Invalid expression: '{self.text}' ends too early")
        self.i += 1
        return t

    def expect(self, tok: str) -> None:
        t = self.take()
        if t != tok:
            raise invalid(f"Invalid expression: expected '{tok}' but found '{t}' in '{self.text}'")

    def expr(self) -> Expr:
        parts = [self.conj()]
        while self.peek() in ("||", "or"):
            self.take()
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def conj(self) -> Expr:
        parts = [self.unary()]
        while self.peek() in ("&&", "and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Expr:
        t = self.peek()
        if t in ("!", "not"):
            self.take()
            return Not(self.unary())
        if t == "(":
            self.take()
            e = self.expr()
            self.expect(")")
            return e
        return self.comparison()

    def comparison(self) -> Expr:
        subject = self.take()
        if subject in _OPS or subject in ("(", ")", "[", "]", ","):
            raise invalid(f"Invalid expression: expected an attribute but found '{subject}' in '{self.text}'")
        op = self.take()
        if op == "!":  # !exists, !in
            op = "!" + self.take()
            op = {"!exists": "not_exists", "!in": "not_in"}.get(op, op)
        canon = _OPS.get(op)
        if canon is None:
            raise invalid(f"Invalid expression: unknown operator '{op}' in '{self.text}'")
        if canon in ("exists", "!exists"):
            return Cmp(subject, canon)
        if canon in ("in", "!in"):
            self.expect("[")
            values = [self.take()]
            while self.peek() == ",":
                self.take()
                values.append(self.take())
            self.expect("]")
            return Cmp(subject, canon, tuple(values))
        value = self.take()
        if value in ("(", ")", "[", "]", ","):
            raise invalid(f"Invalid expression: expected a value after '{op}' in '{self.text}'")
        return Cmp(subject, canon, (value,))


def parse(text: object) -> Expr:
    if not isinstance(text, str) or not text.strip():
        raise invalid("An expression must be specified for a memberOf constraint.")
    if len(text) > 2000:
        raise invalid("The expression is too long (at most 2000 characters).")
    p = _Parser(text)
    e = p.expr()
    if p.peek() is not None:
        raise invalid(f"Invalid expression: unexpected '{p.peek()}' in '{text}'")
    return e


# --- evaluation -------------------------------------------------------------------------------------
def _num(s: str) -> float | None:
    try:
        return float(s)
    except ValueError:
        return None


def _compare(c: Cmp, have: str | None) -> bool:
    if c.op == "exists":
        return have is not None
    if c.op == "!exists":
        return have is None
    if c.op in ("!=", "!in", "!~") and have is None:
        return True
    if have is None:
        return False
    if c.op == "==":
        return have == c.values[0]
    if c.op == "!=":
        return have != c.values[0]
    if c.op == "in":
        return have in c.values
    if c.op == "!in":
        return have not in c.values
    if c.op in ("=~", "!~"):
        try:
            hit = re.fullmatch(c.values[0], have) is not None
        except re.error:
            raise invalid(f"Invalid regular expression '{c.values[0]}'") from None
        return hit if c.op == "=~" else not hit
    a, b = _num(have), _num(c.values[0])
    x: Any = (a, b) if a is not None and b is not None else (have, c.values[0])  # dates compare as text
    return bool({">": x[0] > x[1], ">=": x[0] >= x[1], "<": x[0] < x[1], "<=": x[0] <= x[1]}[c.op])


def evaluate(e: Expr, attrs: Mapping[str, str]) -> bool:
    """``e`` for one container instance; ``attrs`` maps subjects (``attribute:ecs.os-type``,
    ``ec2InstanceId``, ``runningTasksCount`` ...) to their values."""
    if isinstance(e, Cmp):
        return _compare(e, attrs.get(e.subject))
    if isinstance(e, Not):
        return not evaluate(e.inner, attrs)
    if isinstance(e, And):
        return all(evaluate(p, attrs) for p in e.parts)
    return any(evaluate(p, attrs) for p in e.parts)


# --- onto node affinity -----------------------------------------------------------------------------
def _push_not(e: Expr, negate: bool = False) -> Expr:
    if isinstance(e, Cmp):
        return Cmp(e.subject, _NEGATED[e.op], e.values) if negate else e
    if isinstance(e, Not):
        return _push_not(e.inner, not negate)
    parts = tuple(_push_not(p, negate) for p in e.parts)
    if isinstance(e, And):
        return Or(parts) if negate else And(parts)
    return And(parts) if negate else Or(parts)


def _dnf(e: Expr) -> list[list[Cmp]]:
    if isinstance(e, Cmp):
        return [[e]]
    if isinstance(e, Or):
        return [t for p in e.parts for t in _dnf(p)]
    assert isinstance(e, And)
    terms: list[list[Cmp]] = [[]]
    for p in e.parts:
        terms = [a + b for a in terms for b in _dnf(p)]
        if len(terms) > _MAX_TERMS:
            raise invalid("The expression is too complex: it expands to more than 64 alternatives.")
    return terms


def _target(subject: str) -> tuple[str, str]:
    """("label" | "field", key) a subject names on a node."""
    if subject == NODE_NAME:
        return "field", "metadata.name"
    if subject.startswith("attribute:") and len(subject) > len("attribute:"):
        attr = subject[len("attribute:"):]
        return "label", ATTRIBUTE_LABELS.get(attr, attr)
    raise invalid(f"Unsupported attribute '{subject}' in a memberOf expression: shoal places tasks by node "
                  "attributes (attribute:*) and ec2InstanceId.")


def _requirement(c: Cmp, known: Mapping[str, set[str]]) -> dict[str, Any]:
    _, key = _target(c.subject)
    op = c.op
    if op in ("==", "in"):
        return {"key": key, "operator": "In", "values": list(c.values)}
    if op in ("!=", "!in"):
        return {"key": key, "operator": "NotIn", "values": list(c.values)}
    if op in ("exists", "!exists"):
        return {"key": key, "operator": "Exists" if op == "exists" else "DoesNotExist"}
    if op in ("=~", "!~"):
        hits = sorted(v for v in known.get(c.subject, set()) if _compare(Cmp(c.subject, "=~", c.values), v))
        if op == "=~":
            return {"key": key, "operator": "In", "values": hits or ["<none>"]}
        return {"key": key, "operator": "NotIn", "values": hits or ["<none>"]}
    v = c.values[0]
    if not re.fullmatch(r"-?\d+", v):
        raise invalid(f"'{c.subject} {op} {v}': shoal compares node attributes as integers only.")
    n = int(v)
    if op == ">":
        return {"key": key, "operator": "Gt", "values": [str(n)]}
    if op == ">=":
        return {"key": key, "operator": "Gt", "values": [str(n - 1)]}
    if op == "<":
        return {"key": key, "operator": "Lt", "values": [str(n)]}
    return {"key": key, "operator": "Lt", "values": [str(n + 1)]}


def node_affinity(e: Expr, known: Mapping[str, set[str]] | None = None) -> list[dict[str, Any]]:
    """Required node-affinity terms (ORed) for ``e``; ``known`` maps subjects to the values nodes have now."""
    terms = []
    for conj in _dnf(_push_not(e)):
        term: dict[str, Any] = {}
        for c in conj:
            where, _ = _target(c.subject)
            req = _requirement(c, known or {})
            if where == "field" and req["operator"] not in ("In", "NotIn"):
                raise invalid(f"'{c.subject}' can only be compared with ==, !=, in and !in.")
            term.setdefault("matchFields" if where == "field" else "matchExpressions", []).append(req)
        terms.append(term)
    return terms


def and_terms(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conjunction of two ORed term lists (the cross product), for several memberOf constraints."""
    if not a:
        return b
    if not b:
        return a
    out = []
    for x in a:
        for y in b:
            t: dict[str, Any] = {}
            for k in ("matchExpressions", "matchFields"):
                merged = [*(x.get(k) or []), *(y.get(k) or [])]
                if merged:
                    t[k] = merged
            out.append(t)
    if len(out) > _MAX_TERMS:
        raise invalid("The placement constraints are too complex: more than 64 alternatives.")
    return out
