"""Label selectors and field selectors, parsed once and matched many times.

Label selectors come in two shapes: the string form of ``?labelSelector=`` and
``kubectl get -l`` (``app=web,tier in (a,b),!canary``), and the structured
``metav1.LabelSelector`` of Deployments, Services and friends (``matchLabels``
plus ``matchExpressions``). Both become one ``Selector``; the grammar, the
validation of keys and values, and the error texts follow apimachinery's
``labels`` package so clients see the messages they expect
(``unable to parse requirement: found '(', expected: identifier``).

Two "no selector" meanings exist upstream and both are named here: an *empty*
selector (``""`` or ``{}``) matches everything, while a *missing* structured
selector (``None``) matches nothing (``from_label_selector``);
``from_label_selector_or_everything`` is for the few places where a missing
selector means "all".

Matching is the hot path (an informer filters thousands of objects): the
equality requirements are checked in one C-level ``items() <=`` subset test and
only the rest run requirement by requirement.

Field selectors (``?fieldSelector=spec.nodeName=n1,status.phase!=Failed``) read
dotted paths in the object dict; values compare as strings, a missing field
reads as ``""`` (so ``spec.nodeName=`` selects unscheduled pods), as upstream.
Which fields a kind allows is the server's business: ``requirements`` exposes
them so it can refuse the others with a 400.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import msgspec

from shoal.api.validation_base import label_value, qualified_name

__all__ = [
    "SelectorError",
    "Requirement",
    "Selector",
    "EVERYTHING",
    "NOTHING",
    "parse_selector",
    "from_set",
    "from_label_selector",
    "from_label_selector_or_everything",
    "selector_to_string",
    "validate_label_key",
    "validate_label_value",
    "FieldRequirement",
    "FieldSelector",
    "parse_field_selector",
    "field_value",
]


class SelectorError(ValueError):
    """A label or field selector that cannot be parsed or is invalid."""


# ---------------------------------------------------------------- validation

# label keys and values are checked by the same rules, with the same messages, as object metadata
_qualified_name_errors = qualified_name
_label_value_errors = label_value


def validate_label_key(key: str) -> None:
    """Raise SelectorError unless ``key`` is a valid label key (``[prefix/]name``)."""
    errors = _qualified_name_errors(key)
    if errors:
        raise SelectorError(f'key: Invalid value: "{key}": {"; ".join(errors)}')


def validate_label_value(value: str) -> None:
    """Raise SelectorError unless ``value`` is a valid label value."""
    errors = _label_value_errors(value)
    if errors:
        raise SelectorError(f'values[0]: Invalid value: "{value}": {"; ".join(errors)}')


# -------------------------------------------------------------- requirements

IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "in", "notin", "=", "==", "!="
EXISTS, DOES_NOT_EXIST, GREATER_THAN, LESS_THAN = "exists", "!", "gt", "lt"
_EMPTY: Mapping[str, str] = {}


class Requirement:
    """One ``key op values`` term; build it with ``Requirement.new`` to validate."""

    __slots__ = ("key", "operator", "values", "_set")

    def __init__(self, key: str, operator: str, values: Iterable[str] = ()) -> None:
        self.key = key
        self.operator = operator
        self.values: tuple[str, ...] = tuple(sorted(set(values)))
        self._set = frozenset(self.values)

    @classmethod
    def new(cls, key: str, operator: str, values: Iterable[str] = ()) -> Requirement:
        """A validated requirement (apimachinery's ``NewRequirement``)."""
        vals = sorted(set(values))
        errors: list[str] = []
        key_errors = _qualified_name_errors(key)
        if key_errors:
            errors.append(f'key: Invalid value: "{key}": {"; ".join(key_errors)}')
        if operator in (IN, NOT_IN):
            if not vals:
                errors.append(
                    "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
                )
        elif operator in (EQUALS, DOUBLE_EQUALS, NOT_EQUALS):
            if len(vals) != 1:
                errors.append(
                    f"values: Invalid value: {vals}: exact-match compatibility requires one single value"
                )
        elif operator in (EXISTS, DOES_NOT_EXIST):
            if vals:
                errors.append(
                    f"values: Invalid value: {vals}: values set must be empty for exists and does not exist"
                )
        elif operator in (GREATER_THAN, LESS_THAN):
            if len(vals) != 1:
                errors.append(
                    f"values: Invalid value: {vals}: for 'Gt', 'Lt' operators, exactly one value is required"
                )
            for i, v in enumerate(vals):
                if not re.fullmatch(r"[-+]?[0-9]+", v):
                    errors.append(
                        f"values[{i}]: Invalid value: \"{v}\": for 'Gt', 'Lt' operators, the value must be an integer"
                    )
        else:
            errors.append(f'operator: Unsupported value: "{operator}"')
        for i, v in enumerate(vals):
            value_errors = _label_value_errors(v)
            if value_errors:
                errors.append(
                    f'values[{i}][{key}]: Invalid value: "{v}": {"; ".join(value_errors)}'
                )
        if errors:
            joined = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
            raise SelectorError(joined)
        return cls(key, operator, vals)

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        value = labels.get(self.key)
        if op in (EQUALS, DOUBLE_EQUALS, IN):
            return value is not None and value in self._set
        if op in (NOT_EQUALS, NOT_IN):
            return value is None or value not in self._set
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if value is None:
            return False
        try:
            have, want = int(value), int(self.values[0])
        except (ValueError, IndexError):
            return False
        return have > want if op == GREATER_THAN else have < want

    def __str__(self) -> str:
        op = self.operator
        if op == EXISTS:
            return self.key
        if op == DOES_NOT_EXIST:
            return "!" + self.key
        joined = ",".join(self.values)
        if op in (IN, NOT_IN):
            return f"{self.key} {op} ({joined})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(op, op)
        return f"{self.key}{symbol}{joined}"

    def __repr__(self) -> str:
        return f"Requirement({self.key!r}, {self.operator!r}, {list(self.values)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Requirement):
            return NotImplemented
        return (self.key, self.operator, self.values) == (other.key, other.operator, other.values)

    def __hash__(self) -> int:
        return hash((self.key, self.operator, self.values))


class Selector:
    """A conjunction of requirements; ``matches`` is true when all hold."""

    __slots__ = (
        "requirements",
        "_nothing",
        "_equal",
        "_absent",
        "_present",
        "_in",
        "_notin",
        "_rest",
    )

    def __init__(self, requirements: Iterable[Requirement] = (), *, matches_nothing: bool = False):
        self.requirements: tuple[Requirement, ...] = tuple(
            sorted(requirements, key=lambda r: r.key)
        )
        self._nothing = matches_nothing
        # Requirements pre-sorted by kind so that matching is a few tight loops.
        equal: dict[str, str] = {}
        absent: list[str] = []
        present: list[str] = []
        within: list[tuple[str, frozenset[str]]] = []
        outside: list[tuple[str, frozenset[str]]] = []
        rest: list[Requirement] = []
        for r in self.requirements:
            op = r.operator
            if op in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1 and r.key not in equal:
                equal[r.key] = r.values[0]
            elif op in (EQUALS, DOUBLE_EQUALS, IN):
                within.append((r.key, frozenset(r.values)))
            elif op in (NOT_EQUALS, NOT_IN):
                outside.append((r.key, frozenset(r.values)))
            elif op == EXISTS:
                present.append(r.key)
            elif op == DOES_NOT_EXIST:
                absent.append(r.key)
            else:
                rest.append(r)
        self._equal = equal.items()
        self._absent = tuple(absent)
        self._present = tuple(present)
        self._in = tuple(within)
        self._notin = tuple(outside)
        self._rest = tuple(rest)

    @property
    def empty(self) -> bool:
        """True for the match-everything selector (no requirements)."""
        return not self._nothing and not self.requirements

    @property
    def matches_nothing(self) -> bool:
        return self._nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self._nothing:
            return False
        if labels is None:
            labels = _EMPTY
        if self._equal and not self._equal <= labels.items():
            return False
        for key in self._absent:
            if key in labels:
                return False
        for key in self._present:
            if key not in labels:
                return False
        for key, allowed in self._in:
            value = labels.get(key)
            if value is None or value not in allowed:
                return False
        for key, refused in self._notin:
            value = labels.get(key)
            if value is not None and value in refused:
                return False
        return not self._rest or all(r.matches(labels) for r in self._rest)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value ``key`` must have, if the selector pins one (for indexes)."""
        for r in self.requirements:
            if r.key == key and r.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(r.values) == 1:
                return r.values[0]
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        if self._nothing:
            return "Selector(<nothing>)"
        return f"Selector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Selector):
            return NotImplemented
        return (self._nothing, self.requirements) == (other._nothing, other.requirements)

    def __hash__(self) -> int:
        return hash((self._nothing, self.requirements))


EVERYTHING = Selector()
NOTHING = Selector(matches_nothing=True)


# --------------------------------------------------------- string form parser

_ERROR, _EOS, _CLOSE, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPEN = range(14)
_SYMBOLS = {
    ")": _CLOSE,
    ",": _COMMA,
    "!": _NOT,
    "==": _DEQ,
    "=": _EQ,
    ">": _GT,
    "<": _LT,
    "!=": _NEQ,
    "(": _OPEN,
}
_KEYWORDS = {"in": _IN, "notin": _NOTIN}
_SPECIAL = frozenset("=!(),><")
_SPACE = frozenset(" \t\r\n")
_BINARY = {_IN: IN, _NOTIN: NOT_IN, _EQ: EQUALS, _DEQ: DOUBLE_EQUALS, _NEQ: NOT_EQUALS}
_BINARY |= {_GT: GREATER_THAN, _LT: LESS_THAN}


def _lex(text: str) -> list[tuple[int, str]]:
    tokens: list[tuple[int, str]] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _SPACE:
            i += 1
        if i >= n:
            tokens.append((_EOS, ""))
            return tokens
        if text[i] in _SPECIAL:
            # longest run of special characters that is still a known symbol
            j = i + 1
            while j < n and text[j] in _SPECIAL and text[i : j + 1] in _SYMBOLS:
                j += 1
            tokens.append((_SYMBOLS[text[i:j]], text[i:j]))
            i = j
        else:
            j = i
            while j < n and text[j] not in _SPECIAL and text[j] not in _SPACE:
                j += 1
            word = text[i:j]
            tokens.append((_KEYWORDS.get(word, _ID), word))
            i = j


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def lookahead(self, values: bool) -> tuple[int, str]:
        tok, lit = self.tokens[self.pos]
        if values and tok in (_IN, _NOTIN):
            tok = _ID  # 'in' and 'notin' are plain words where a value is expected
        return tok, lit

    def consume(self, values: bool) -> tuple[int, str]:
        result = self.lookahead(values)
        if self.pos < len(self.tokens) - 1:
            self.pos += 1
        return result

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead(True)
            if tok in (_ID, _NOT):
                try:
                    requirements.append(self.requirement())
                except SelectorError as exc:
                    raise SelectorError(f"unable to parse requirement: {exc}") from None
                tok, lit = self.consume(True)
                if tok == _EOS:
                    return requirements
                if tok != _COMMA:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
                tok2, lit2 = self.lookahead(True)
                if tok2 not in (_ID, _NOT):
                    raise SelectorError(f"found '{lit2}', expected: identifier after ','")
            elif tok == _EOS:
                return requirements
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        operator = ""
        tok, key = self.consume(True)
        if tok == _NOT:
            operator = DOES_NOT_EXIST
            tok, key = self.consume(True)
        if tok != _ID:
            raise SelectorError(f"found '{key}', expected: identifier")
        validate_label_key(key)
        if self.lookahead(True)[0] in (_EOS, _COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        if operator in (EXISTS, DOES_NOT_EXIST):
            return Requirement.new(key, operator)
        tok, lit = self.consume(False)
        if tok not in _BINARY:
            raise SelectorError(f"found '{lit}', expected: in, notin, =, ==, !=, gt, lt")
        operator = _BINARY[tok]
        values = self.set_values() if operator in (IN, NOT_IN) else self.exact_value()
        return Requirement.new(key, operator, values)

    def set_values(self) -> list[str]:
        tok, lit = self.consume(True)
        if tok != _OPEN:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead(True)
        if tok == _CLOSE:
            self.consume(True)
            return [""]
        if tok not in (_ID, _COMMA):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifiers()
        tok, close = self.consume(True)
        if tok != _CLOSE:
            raise SelectorError(f"found '{close}', expected: ')'")
        return values

    def identifiers(self) -> list[str]:
        values: list[str] = []
        while True:
            tok, lit = self.consume(True)
            if tok == _ID:
                values.append(lit)
                tok2, lit2 = self.lookahead(True)
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSE:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:  # "(,a" or "a,,b" or "a,)": an empty value
                if not values:
                    values.append("")
                tok2, _ = self.lookahead(True)
                if tok2 == _CLOSE:
                    values.append("")
                    return values
                if tok2 == _COMMA:
                    self.consume(True)
                    values.append("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> list[str]:
        tok, lit = self.lookahead(True)
        if tok in (_EOS, _COMMA):
            return [""]
        tok, lit = self.consume(True)
        if tok == _ID:
            return [lit]
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_selector(text: str) -> Selector:
    """Parse the string form (``a=b,c in (x,y),!d``); ``""`` matches everything."""
    return Selector(_Parser(text).parse())


# ------------------------------------------------------- structured selectors


def from_set(labels: Mapping[str, str] | None) -> Selector:
    """Exactly these labels (a Service's ``spec.selector``); empty or None matches everything."""
    if not labels:
        return EVERYTHING
    return Selector(Requirement.new(k, EQUALS, [v]) for k, v in labels.items())


_EXPRESSION_OPERATORS = {
    "In": IN,
    "NotIn": NOT_IN,
    "Exists": EXISTS,
    "DoesNotExist": DOES_NOT_EXIST,
}


def _as_dict(selector: Any) -> dict[str, Any]:
    if isinstance(selector, Mapping):
        return dict(selector)
    if isinstance(selector, msgspec.Struct):
        built = msgspec.to_builtins(selector)
        if isinstance(built, dict):
            return built
    raise SelectorError(f"a label selector must be an object, got {type(selector).__name__}")


def from_label_selector(selector: Any) -> Selector:
    """A ``metav1.LabelSelector`` (dict or model) as a Selector.

    As upstream's ``LabelSelectorAsSelector``: ``None`` matches **nothing**, an
    empty selector (``{}``) matches **everything**.
    """
    if selector is None:
        return NOTHING
    data = _as_dict(selector)
    match_labels = data.get("matchLabels") or {}
    expressions = data.get("matchExpressions") or []
    if not isinstance(match_labels, Mapping):
        raise SelectorError("matchLabels must be an object")
    if not isinstance(expressions, list):
        raise SelectorError("matchExpressions must be a list")
    if not match_labels and not expressions:
        return EVERYTHING
    requirements = []
    for key, value in match_labels.items():
        if not isinstance(value, str):
            raise SelectorError(f"matchLabels[{key}]: value must be a string")
        requirements.append(Requirement.new(key, EQUALS, [value]))
    for expression in expressions:
        expr = _as_dict(expression)
        op = _EXPRESSION_OPERATORS.get(expr.get("operator", ""))
        if op is None:
            raise SelectorError(f'"{expr.get("operator")}" is not a valid label selector operator')
        values = expr.get("values") or []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise SelectorError(f"matchExpressions[{expr.get('key')}]: values must be strings")
        requirements.append(Requirement.new(str(expr.get("key", "")), op, values))
    return Selector(requirements)


def from_label_selector_or_everything(selector: Any) -> Selector:
    """Like ``from_label_selector`` but a missing selector (``None``) matches everything."""
    return EVERYTHING if selector is None else from_label_selector(selector)


def selector_to_string(selector: Any) -> str:
    """The string form of a ``metav1.LabelSelector`` (e.g. for ``Scale.status.selector``)."""
    return str(from_label_selector(selector))


# ------------------------------------------------------------- field selectors


class FieldRequirement(NamedTuple):
    """``field op value`` with op one of ``=``, ``==``, ``!=``."""

    field: str
    operator: str
    value: str

    def matches(self, obj: Mapping[str, Any]) -> bool:
        equal = field_value(obj, self.field) == self.value
        return not equal if self.operator == NOT_EQUALS else equal

    def __str__(self) -> str:
        return f"{self.field}{self.operator}{_escape_field_value(self.value)}"


class FieldSelector:
    """A conjunction of field requirements over an object dict."""

    __slots__ = ("requirements",)

    def __init__(self, requirements: Iterable[FieldRequirement] = ()) -> None:
        self.requirements: tuple[FieldRequirement, ...] = tuple(sorted(requirements))

    @property
    def empty(self) -> bool:
        return not self.requirements

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(r.field for r in self.requirements)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all(r.matches(obj) for r in self.requirements)

    def requires_exact_match(self, field: str) -> str | None:
        for r in self.requirements:
            if r.field == field and r.operator in (EQUALS, DOUBLE_EQUALS):
                return r.value
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self.requirements == other.requirements

    def __hash__(self) -> int:
        return hash(self.requirements)


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """The value at dotted ``path`` as a field selector sees it (missing -> ``""``)."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return ""
        node = node.get(part)
    if node is None or isinstance(node, Mapping | list):
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if escaped:
        current.append("\\")
    parts.append("".join(current))
    return parts


def _unescape_field_value(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,=":
                raise SelectorError(
                    f"invalid field selector value {value!r}: invalid escape sequence"
                )
            out.append(value[i + 1])
            i += 2
            continue
        if ch in ",=":
            raise SelectorError(f"invalid field selector value {value!r}: unescaped {ch!r}")
        out.append(ch)
        i += 1
    return "".join(out)


def _escape_field_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


_FIELD_OPERATORS = (NOT_EQUALS, DOUBLE_EQUALS, EQUALS)


def parse_field_selector(text: str) -> FieldSelector:
    """Parse ``metadata.name=x,status.phase!=Failed``; ``""`` matches everything."""
    requirements = []
    for term in _split_unescaped(text, ","):
        if not term.strip():
            continue
        for i in range(len(term)):
            op = next((o for o in _FIELD_OPERATORS if term.startswith(o, i)), None)
            if op is not None:
                field, value = term[:i].strip(), term[i + len(op) :].strip()
                break
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        if not field:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        requirements.append(FieldRequirement(field, op, _unescape_field_value(value)))
    return FieldSelector(requirements)
