"""A CRD version's structural schema, compiled once: validation, defaulting and pruning of its objects.

Upstream validates custom resources with kube-openapi's JSON Schema validator
and reports its errors as field errors (``kubeOpenAPIResultToFieldErrors``);
clients match those texts, so the messages here are kube-openapi's, with the
value that upstream puts before them:

``spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"``

``compile_schema`` turns the ``openAPIV3Schema`` dict into a tree of ``Node``
objects once per CRD version (regular expressions compiled, enum values
frozen, formats resolved to functions, CEL programs compiled by
``shoal.api.crd.rules``), so a write costs one walk over the object and the
nodes its fields reach; no schema dict is read per request.

The three passes, in upstream's order for a write:

* ``prune``: fields the schema does not specify are dropped (unless
  ``x-kubernetes-preserve-unknown-fields``), and their paths returned, for
  ``fieldValidation=Strict`` (refused) and ``Warn`` (warnings); a ``null``
  where the schema is not ``nullable`` is dropped too, so a default fills it;
* ``apply_defaults``: ``default`` values fill absent fields, deepest last;
* ``validate``: every violation, each with its field path, in one list.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from shoal.api.validation_base import FieldError, invalid, required, unsupported

# the root of a custom resource always keeps these, whatever the schema says
ROOT_FIELDS = ("apiVersion", "kind", "metadata")
IN = "in body"


def type_name(value: Any) -> str:
    """The JSON type of ``value`` as kube-openapi names it (an integral float is an integer)."""
    if value is None:
        return "null"
    t = type(value)
    if t is bool:
        return "boolean"
    if t is int:
        return "integer"
    if t is float:
        return "integer" if value.is_integer() else "number"
    if t is str:
        return "string"
    if t is dict:
        return "object"
    if t is list:
        return "array"
    return t.__name__


def go_number(n: Any) -> str:
    """A schema limit as Go's ``%v`` prints a float64 (``1``, not ``1.0``)."""
    if isinstance(n, float) and n.is_integer() and abs(n) < 1e21:
        return str(int(n))
    return str(n)


# ---- formats ------------------------------------------------------------------------------

_HOSTNAME = re.compile(r"^([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*\.?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_MAC = re.compile(r"^([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w))+$")
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _ok_datetime(s: str) -> bool:
    try:
        dt.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in s.upper() or " " in s


def _ok_date(s: str) -> bool:
    if not _DATE.match(s):
        return False
    try:
        dt.date.fromisoformat(s)
    except ValueError:
        return False
    return True


def _ok_ip(version: int) -> Callable[[str], bool]:
    def check(s: str) -> bool:
        try:
            return ipaddress.ip_address(s).version == version
        except ValueError:
            return False
    return check


def _ok_cidr(s: str) -> bool:
    try:
        ipaddress.ip_network(s, strict=False)
    except ValueError:
        return False
    return "/" in s


def _ok_uuid(s: str) -> bool:
    try:
        uuid.UUID(s)
    except ValueError:
        return False
    return len(s) == 36


def _ok_byte(s: str) -> bool:
    try:
        base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


# string formats kube-openapi checks (the others, e.g. ``password``, are documentation)
STRING_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _ok_datetime,
    "datetime": _ok_datetime,
    "date": _ok_date,
    "byte": _ok_byte,
    "uuid": _ok_uuid,
    "uuid3": _ok_uuid,
    "uuid4": _ok_uuid,
    "uuid5": _ok_uuid,
    "email": lambda s: bool(_EMAIL.match(s)),
    "hostname": lambda s: bool(_HOSTNAME.match(s)) and len(s) <= 255,
    "ipv4": _ok_ip(4),
    "ipv6": _ok_ip(6),
    "cidr": _ok_cidr,
    "mac": lambda s: bool(_MAC.match(s)),
    "duration": lambda s: bool(_DURATION.match(s)),
    "uri": lambda s: bool(_URI.match(s)),
}


class SchemaError(ValueError):
    """The schema cannot be compiled (a bad pattern); CRD validation reports it first."""


# ---- the compiled tree ----------------------------------------------------------------------


class Node:
    """One schema node, with everything a write needs precomputed."""

    __slots__ = (
        "accept", "accept_any", "accept_integral", "additional", "all_of", "cel_below", "has_checks", "any_of", "default", "embedded", "enum", "enum_text", "exclusive_maximum",
        "exclusive_minimum", "format", "format_check", "has_default", "int_or_string", "items", "list_map_keys",
        "list_type", "max_items", "max_length", "max_properties", "maximum", "min_items", "min_length",
        "min_properties", "minimum", "multiple_of", "not_", "nullable", "one_of", "pattern", "pattern_text",
        "preserve", "properties", "raw", "required", "rules", "type",
    )

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.type: str = raw.get("type") or ""
        self.nullable = bool(raw.get("nullable"))
        self.int_or_string = bool(raw.get("x-kubernetes-int-or-string"))
        self.preserve = bool(raw.get("x-kubernetes-preserve-unknown-fields"))
        self.embedded = bool(raw.get("x-kubernetes-embedded-resource"))
        props = raw.get("properties")
        self.properties: dict[str, Node] | None = (
            {k: Node(v) for k, v in props.items() if isinstance(v, dict)} if isinstance(props, dict) else None
        )
        ap = raw.get("additionalProperties")
        # a schema for map values, True (anything), or None (not given, or false)
        self.additional: Node | bool | None = Node(ap) if isinstance(ap, dict) else (True if ap is True else None)
        it = raw.get("items")
        self.items: Node | None = Node(it) if isinstance(it, dict) else None
        req = raw.get("required")
        self.required: tuple[str, ...] = tuple(r for r in req if isinstance(r, str)) if isinstance(req, list) else ()
        enum = raw.get("enum")
        self.enum: tuple[Any, ...] | None = tuple(enum) if isinstance(enum, list) else None
        self.enum_text = (
            [e if isinstance(e, str) else json.dumps(e) for e in self.enum] if self.enum is not None else []
        )
        pat = raw.get("pattern")
        self.pattern_text: str = pat if isinstance(pat, str) else ""
        try:
            self.pattern = re.compile(self.pattern_text) if self.pattern_text else None
        except re.error as e:
            raise SchemaError(f"pattern {self.pattern_text!r}: {e}") from None
        self.format: str = raw.get("format") or ""
        self.format_check = STRING_FORMATS.get(self.format)
        self.minimum = _num(raw.get("minimum"))
        self.maximum = _num(raw.get("maximum"))
        self.exclusive_minimum = bool(raw.get("exclusiveMinimum"))
        self.exclusive_maximum = bool(raw.get("exclusiveMaximum"))
        self.multiple_of = _num(raw.get("multipleOf"))
        self.min_length = _int(raw.get("minLength"))
        self.max_length = _int(raw.get("maxLength"))
        self.min_items = _int(raw.get("minItems"))
        self.max_items = _int(raw.get("maxItems"))
        self.min_properties = _int(raw.get("minProperties"))
        self.max_properties = _int(raw.get("maxProperties"))
        self.has_default = "default" in raw
        self.default = raw.get("default")
        self.all_of = [Node(s) for s in raw.get("allOf") or [] if isinstance(s, dict)]
        self.any_of = [Node(s) for s in raw.get("anyOf") or [] if isinstance(s, dict)]
        self.one_of = [Node(s) for s in raw.get("oneOf") or [] if isinstance(s, dict)]
        n = raw.get("not")
        self.not_: Node | None = Node(n) if isinstance(n, dict) else None
        self.list_type: str = raw.get("x-kubernetes-list-type") or ""
        keys = raw.get("x-kubernetes-list-map-keys")
        self.list_map_keys: tuple[str, ...] = tuple(keys) if isinstance(keys, list) else ()
        # the Python types a value here may have (JSON decodes to these exactly; bool is not an int here)
        self.accept: frozenset[type] = _ACCEPT.get("int-or-string" if self.int_or_string else self.type, frozenset())
        self.accept_any = not self.type and not self.int_or_string
        self.accept_integral = self.type == "integer" or self.int_or_string  # 2.0 is an integer, as in Go
        self.has_checks = bool(
            self.enum is not None or self.pattern is not None or self.format_check is not None
            or self.minimum is not None or self.maximum is not None or self.multiple_of is not None
            or self.min_length is not None or self.max_length is not None or self.min_items is not None
            or self.max_items is not None or self.min_properties is not None or self.max_properties is not None
            or self.all_of or self.any_of or self.one_of or self.not_ is not None)
        # CEL rules, compiled by shoal.api.crd.rules.attach (kept apart: this module has no CEL)
        self.rules: list[Any] = []
        self.cel_below = False  # whether this node or one below it has rules (set by rules.attach)

    def child(self, name: str) -> Node | None:
        """The schema of field ``name`` of an object here (a property, or a map value)."""
        if self.properties is not None and name in self.properties:
            return self.properties[name]
        if isinstance(self.additional, Node):
            return self.additional
        return None

    def walk(self) -> list[Node]:
        """This node and every structural node below it (not the value-validation junctors)."""
        out = [self]
        for p in (self.properties or {}).values():
            out += p.walk()
        if isinstance(self.additional, Node):
            out += self.additional.walk()
        if self.items is not None:
            out += self.items.walk()
        return out


_ACCEPT: dict[str, frozenset[type]] = {
    "object": frozenset({dict}), "array": frozenset({list}), "string": frozenset({str}),
    "integer": frozenset({int}), "number": frozenset({int, float}), "boolean": frozenset({bool}),
    "int-or-string": frozenset({int, str}),
}


def _num(v: Any) -> float | int | None:
    return v if isinstance(v, int | float) and not isinstance(v, bool) else None


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def compile_schema(schema: dict[str, Any] | None) -> Node:
    """The compiled tree of ``openAPIV3Schema`` (no schema: anything goes, as preserve-unknown-fields)."""
    if not schema:
        return Node({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    return Node(schema)


def _child_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ---- pruning ------------------------------------------------------------------------------------


def prune(obj: dict[str, Any], root: Node) -> list[str]:
    """Drop what ``root`` does not specify from ``obj`` in place; return the dropped fields' paths.

    At the root ``apiVersion``, ``kind`` and ``metadata`` stay (metadata is the server's to check).
    """
    dropped: list[str] = []
    _prune_object(obj, root, "", dropped, root_level=True)
    return dropped


def _prune_value(value: Any, node: Node, path: str, dropped: list[str]) -> None:
    t = type(value)
    if t is dict:
        _prune_object(value, node, path, dropped, root_level=node.embedded)
    elif t is list and node.items is not None:
        items = node.items
        for i, v in enumerate(value):
            if type(v) in (dict, list):
                _prune_value(v, items, f"{path}[{i}]", dropped)


def _prune_object(obj: dict[str, Any], node: Node, path: str, dropped: list[str], *, root_level: bool) -> None:
    props = node.properties
    additional = node.additional
    for k in list(obj):
        v = obj[k]
        if root_level and k in ROOT_FIELDS:
            continue
        sub = props.get(k) if props is not None else None
        if sub is None and isinstance(additional, Node):
            sub = additional
        if sub is None:
            if node.preserve or additional is True:
                continue
            del obj[k]
            dropped.append(_child_path(path, k))
            continue
        if v is None and not sub.nullable:
            del obj[k]  # pruned before defaulting, as upstream: a default fills it
            continue
        if type(v) in (dict, list):
            _prune_value(v, sub, _child_path(path, k), dropped)


# ---- defaulting ---------------------------------------------------------------------------------


def apply_defaults(value: Any, node: Node) -> None:
    """Fill ``default`` values into absent fields of ``value`` (in place), at every depth."""
    t = type(value)
    if t is dict:
        props = node.properties
        if props is not None:
            for k, sub in props.items():
                if k not in value:
                    if sub.has_default:
                        value[k] = json.loads(json.dumps(sub.default))
                    else:
                        continue
                v = value[k]
                if type(v) in (dict, list):
                    apply_defaults(v, sub)
        if isinstance(node.additional, Node):
            sub = node.additional
            for k, v in value.items():
                if props is not None and k in props:
                    continue
                if type(v) in (dict, list):
                    apply_defaults(v, sub)
    elif t is list and node.items is not None:
        for v in value:
            if type(v) in (dict, list):
                apply_defaults(v, node.items)


# ---- validation ----------------------------------------------------------------------------------


def validate(value: Any, node: Node, path: str = "") -> list[FieldError]:
    """Every schema violation of ``value`` (an object's root or any value below), with field paths."""
    errs: list[FieldError] = []
    _validate(value, node, path, errs)
    return errs


def blocks_rules(errs: list[FieldError]) -> bool:
    """Whether ``errs`` hold a type error or an unsupported value, after which upstream does not run CEL
    rules (they would only fail on the wrong types)."""
    return any(e.type == "Unsupported value" or (e.type == "Invalid value" and " must be of type " in e.detail)
               for e in errs)


BLOCKED_RULES = "some validation rules were not checked because the object was invalid; " \
    "correct the existing errors to complete validation"


def _type_ok(value: Any, node: Node) -> bool:
    want = node.type
    t = type(value)
    if node.int_or_string:
        return t is int or t is str or (t is float and value.is_integer())
    if not want:
        return True
    if want == "object":
        return t is dict
    if want == "string":
        return t is str
    if want == "integer":
        return t is int or (t is float and value.is_integer())
    if want == "number":
        return t is int or t is float
    if want == "boolean":
        return t is bool
    if want == "array":
        return t is list
    return True


def _validate(value: Any, node: Node, path: str, errs: list[FieldError]) -> None:
    t = type(value)
    if t not in node.accept and not (t is float and node.accept_integral and value.is_integer()):
        if node.accept_any and value is not None:
            pass
        elif value is None:
            if node.nullable or node.accept_any:
                return
            want = "integer,string" if node.int_or_string else node.type
            errs.append(invalid(path, "null", f"{path or '.'} {IN} must be of type {want}: \"null\""))
            return
        else:
            want = "integer,string" if node.int_or_string else node.type
            got = type_name(value)
            errs.append(invalid(path, got, f"{path or '.'} {IN} must be of type {want}: \"{got}\""))
            return
    if node.has_checks:
        _value_checks(value, node, path, errs)
    if t is dict:
        _validate_object(value, node, path, errs)
    elif t is list:
        items = node.items
        if items is not None:
            for i, v in enumerate(value):
                _validate(v, items, f"{path}[{i}]", errs)
        if node.list_type in ("set", "map"):
            _check_list_uniqueness(value, node, path, errs)


def _validate_object(value: dict[str, Any], node: Node, path: str, errs: list[FieldError]) -> None:
    for r in node.required:
        if r not in value:
            errs.append(required(_child_path(path, r)))
    props = node.properties
    additional = node.additional
    for k, v in value.items():
        sub = props.get(k) if props is not None else None
        if sub is None and isinstance(additional, Node):
            sub = additional
        if sub is not None:
            _validate(v, sub, _child_path(path, k), errs)
    if node.embedded:
        for f in ("apiVersion", "kind"):
            if not value.get(f):
                errs.append(required(_child_path(path, f), "must not be empty"))


def _check_list_uniqueness(value: list[Any], node: Node, path: str, errs: list[FieldError]) -> None:
    seen: set[str] = set()
    for i, v in enumerate(value):
        if node.list_type == "map" and isinstance(v, dict):
            key = json.dumps([v.get(k) for k in node.list_map_keys], sort_keys=True)
            shown: Any = {k: v.get(k) for k in node.list_map_keys if k in v}
        else:
            key = json.dumps(v, sort_keys=True)
            shown = v
        if key in seen:
            errs.append(FieldError(f"{path}[{i}]", "Duplicate value", "", shown))
        seen.add(key)


def _value_checks(value: Any, node: Node, path: str, errs: list[FieldError]) -> None:
    """Enum, bounds, lengths, pattern, format and the junctors (allOf/anyOf/oneOf/not) at one value."""
    name = path or "."
    t = type(value)
    if node.enum is not None and value not in node.enum:
        errs.append(unsupported(path, value, node.enum_text))
    if t is str:
        if node.max_length is not None and len(value) > node.max_length:
            errs.append(FieldError(path, "Too long", f"may not be more than {node.max_length} bytes"))
        if node.min_length is not None and len(value) < node.min_length:
            errs.append(invalid(path, value, f"{name} {IN} should be at least {node.min_length} chars long"))
        if node.pattern is not None and not node.pattern.search(value):
            errs.append(invalid(path, value, f"{name} {IN} should match '{node.pattern_text}'"))
        if node.format_check is not None and not node.format_check(value):
            errs.append(invalid(path, value, f"{name} {IN} must be of type {node.format}: {json.dumps(value)}"))
    elif (t is int or t is float) and t is not bool:
        mn, mx = node.minimum, node.maximum
        if mn is not None and (value <= mn if node.exclusive_minimum else value < mn):
            word = "greater than" if node.exclusive_minimum else "greater than or equal to"
            errs.append(invalid(path, value, f"{name} {IN} should be {word} {go_number(mn)}"))
        if mx is not None and (value >= mx if node.exclusive_maximum else value > mx):
            word = "less than" if node.exclusive_maximum else "less than or equal to"
            errs.append(invalid(path, value, f"{name} {IN} should be {word} {go_number(mx)}"))
        mo = node.multiple_of
        if mo and (value / mo) % 1 != 0:
            errs.append(invalid(path, value, f"{name} {IN} should be a multiple of {go_number(mo)}"))
    elif t is list:
        n = len(value)
        if node.max_items is not None and n > node.max_items:
            errs.append(FieldError(path, "Too many", f"must have at most {node.max_items} items", n))
        if node.min_items is not None and n < node.min_items:
            errs.append(invalid(path, n, f"{name} {IN} should have at least {node.min_items} items"))
    elif t is dict:
        n = len(value)
        if node.max_properties is not None and n > node.max_properties:
            errs.append(FieldError(path, "Too many", f"must have at most {node.max_properties} items", node.max_properties))
        if node.min_properties is not None and n < node.min_properties:
            errs.append(invalid(path, node.min_properties,
                                f"{name} {IN} should have at least {node.min_properties} properties"))
    for sub in node.all_of:
        _value_checks_deep(value, sub, path, errs)
    if node.any_of and not any(_passes(value, s, path) for s in node.any_of):
        errs.append(invalid(path, value, f"{name} {IN} must validate at least one schema (anyOf)"))
    if node.one_of and sum(1 for s in node.one_of if _passes(value, s, path)) != 1:
        errs.append(invalid(path, value, f"{name} {IN} must validate one and only one schema (oneOf)"))
    if node.not_ is not None and _passes(value, node.not_, path):
        errs.append(invalid(path, value, f"{name} {IN} must not validate the schema (not)"))


def _value_checks_deep(value: Any, node: Node, path: str, errs: list[FieldError]) -> None:
    """A junctor's schema: value checks here and in the properties/items it names."""
    _value_checks(value, node, path, errs)
    if type(value) is dict:
        for r in node.required:
            if r not in value:
                errs.append(required(_child_path(path, r)))
        for k, sub in (node.properties or {}).items():
            if k in value and value[k] is not None:
                _value_checks_deep(value[k], sub, _child_path(path, k), errs)
    elif type(value) is list and node.items is not None:
        for i, v in enumerate(value):
            if v is not None:
                _value_checks_deep(v, node.items, f"{path}[{i}]", errs)


def _passes(value: Any, node: Node, path: str) -> bool:
    errs: list[FieldError] = []
    if node.type and not _type_ok(value, node):
        return False
    _value_checks_deep(value, node, path, errs)
    return not errs
