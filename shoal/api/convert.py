"""Between JSON-shaped values and models, with Kubernetes-style type errors.

msgspec reports a type error as ``Expected `int`, got `str` - at
`$.spec.replicas```; clients expect ``spec.replicas: Invalid value: "abc":
expected int``. ``decode`` translates, so the API returns a proper 422 whose
cause names the field. Unknown fields are ignored here; ``shoal.api.fields``
finds them when the request asks for strict field validation.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from msgspec import inspect as mi

from shoal.api.fields import for_value, struct_fields, type_info
from shoal.api.validation_base import INVALID, OMIT, FieldError, InvalidError, invalid, required

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_EXPECTED = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")


def decode(data: Any, model: type[T]) -> T:
    """Convert a decoded JSON value to ``model``; raises ``InvalidError`` on a type error."""
    try:
        return msgspec.convert(data, model, str_keys=True)
    except msgspec.ValidationError as exc:
        raise InvalidError([field_error(str(exc), data=data, model=model)]) from None


def decode_json(raw: bytes | str, model: type[T]) -> T:
    """Decode JSON text straight to ``model`` (faster than ``json.loads`` + ``decode``).

    Malformed JSON raises ``msgspec.DecodeError`` (a 400, not a 422).
    """
    try:
        return msgspec.json.decode(raw, type=model)
    except msgspec.ValidationError as exc:
        data = msgspec.json.decode(raw)
        raise InvalidError([field_error(str(exc), data=data, model=model)]) from None


def to_dict(obj: Any) -> dict[str, Any]:
    """The object as JSON-shaped builtins (camelCase names, ``None`` fields omitted)."""
    value = msgspec.to_builtins(obj)
    if not isinstance(value, dict):
        raise TypeError(f"{type(obj).__name__} does not encode to an object")
    return value


def encode(obj: Any) -> bytes:
    return _ENCODER.encode(obj)


def field_error(message: str, *, data: Any, model: type) -> FieldError:
    """Translate one msgspec validation message into a Kubernetes field error."""
    m = _AT.match(message)
    text, raw_path = (m.group("msg"), m.group("path") or "") if m else (message, "")
    segments = [s or i for s, i in _SEGMENT.findall(raw_path)]
    segments = _resolve_wildcards(segments, data, model)
    path = render_path(segments)
    if missing := _MISSING.match(text):
        name = missing.group("field")
        return required(f"{path}.{name}" if path else name)
    value = _lookup(data, segments)
    if expected := _EXPECTED.match(text):
        want = expected.group("want").replace(" | null", "")
        detail = f"expected {want}"
    else:
        detail = text[:1].lower() + text[1:]
    return invalid(path, value, detail) if value is not OMIT else FieldError(path, INVALID, detail)


def render_path(segments: list[str]) -> str:
    out = ""
    for seg in segments:
        if seg.startswith("["):
            out += seg
        elif seg.isdigit() and out:
            out += f"[{seg}]"
        else:
            out = f"{out}.{seg}" if out else seg
    return out


def _lookup(data: Any, segments: list[str]) -> Any:
    for seg in segments:
        if isinstance(data, list) and seg.isdigit() and int(seg) < len(data):
            data = data[int(seg)]
        elif isinstance(data, dict):
            key = seg[1:-1] if seg.startswith("[") else seg
            if key not in data:
                return OMIT
            data = data[key]
        else:
            return OMIT
    return data


def _resolve_wildcards(segments: list[str], data: Any, model: type) -> list[str]:
    """Replace msgspec's ``[...]`` (some map key) with the key that holds the bad value."""
    if "..." not in segments:
        return segments
    out: list[str] = []
    t: mi.Type | None = type_info(model)
    value = data
    for n, seg in enumerate(segments):
        resolved = for_value(t, value) if t is not None else None
        if seg == "..." and isinstance(value, dict):
            vt = resolved.value_type if isinstance(resolved, mi.DictType) else None
            rest = segments[n + 1 :]
            key = _bad_key(value, vt, rest)
            out.append(f"[{key}]")
            value, t = value.get(key), vt
            continue
        out.append(seg)
        if isinstance(resolved, mi.StructType):
            t = struct_fields(resolved).get(seg)
        elif isinstance(resolved, mi.ListType):
            t = resolved.item_type
        else:
            t = None
        value = _lookup(value, [seg])
    return out


def _bad_key(mapping: dict[Any, Any], vt: mi.Type | None, rest: list[str]) -> str:
    for key, item in mapping.items():
        if rest:
            if _lookup(item, rest) is not OMIT:
                return str(key)
        elif vt is not None and not _fits(item, vt):
            return str(key)
    return str(next(iter(mapping), "..."))


def _fits(value: Any, t: mi.Type) -> bool:
    """A shallow check of a JSON value against a type (enough to find a bad map entry)."""
    while isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        return any(_fits(value, m) for m in t.types)
    checks: list[tuple[type[mi.Type], bool]] = [
        (mi.AnyType, True),
        (mi.NoneType, value is None),
        (mi.BoolType, isinstance(value, bool)),
        (mi.IntType, isinstance(value, int) and not isinstance(value, bool)),
        (mi.FloatType, isinstance(value, int | float) and not isinstance(value, bool)),
        (mi.StrType, isinstance(value, str)),
        (mi.DictType, isinstance(value, dict)),
        (mi.StructType, isinstance(value, dict)),
        (mi.ListType, isinstance(value, list)),
    ]
    for kind, ok in checks:
        if isinstance(t, kind):
            return ok
    return True
