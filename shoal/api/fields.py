"""Which fields of a decoded manifest the model does not know (``fieldValidation``).

msgspec silently drops unknown fields while decoding, which is what
``fieldValidation=Ignore`` wants. For ``Strict`` and ``Warn`` the API server
must name them the way upstream does (``spec.template.spec.containers[0].imagee``),
so this walks the JSON value beside a "shape" tree compiled once per model
from its msgspec type information.

Opaque fields (``dict[str, Any]``) and maps accept anything, as upstream's
``x-kubernetes-preserve-unknown-fields`` would.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from msgspec import inspect as mi

_SEQUENCES = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)


_FIELDS: dict[type, dict[str, mi.Type]] = {}


@cache
def type_info(model: type) -> mi.Type:
    """``msgspec.inspect.type_info``, computed once per model."""
    return mi.type_info(model)


def struct_fields(info: mi.StructType) -> dict[str, mi.Type]:
    """The wire names of a Struct's fields mapped to their (unwrapped) types."""
    fields = _FIELDS.get(info.cls)
    if fields is None:
        fields = _FIELDS[info.cls] = {f.encode_name: unwrap(f.type) for f in info.fields}
    return fields


def unwrap(t: mi.Type) -> mi.Type:
    """Strip ``Metadata`` (patch annotations) and ``None`` from a field's type."""
    while isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        members = [unwrap(m) for m in t.types if not isinstance(m, mi.NoneType)]
        if len(members) == 1:
            return members[0]
        return mi.UnionType(types=tuple(members))
    return t


def for_value(t: mi.Type, value: Any) -> mi.Type | None:
    """The member of a (possibly union) type that a JSON value would decode as."""
    t = unwrap(t)
    if not isinstance(t, mi.UnionType):
        return t
    for member in t.types:
        if isinstance(value, dict) and isinstance(member, mi.StructType | mi.DictType):
            return member
        if isinstance(value, list) and isinstance(member, _SEQUENCES):
            return member
    return None


class _Shape:
    """What a JSON value at one place may hold: object fields, map values, list items.

    ``fields is None`` means "not a struct here"; ``None`` children mean "anything
    goes below" (scalars, opaque maps), so the walk stops early.
    """

    __slots__ = ("fields", "items", "values")

    def __init__(self) -> None:
        self.fields: dict[str, _Shape | None] | None = None
        self.values: _Shape | None = None
        self.items: _Shape | None = None


_SHAPES: dict[type, _Shape] = {}


def _shape(t: mi.Type) -> _Shape | None:
    t = unwrap(t)
    members = t.types if isinstance(t, mi.UnionType) else (t,)
    shape = _Shape()
    interesting = False
    for member in members:
        if isinstance(member, mi.StructType):
            cached = _SHAPES.get(member.cls)
            if cached is None:
                cached = _SHAPES[member.cls] = _Shape()  # placeholder first: types may recurse
                cached.fields = {f.encode_name: _shape(f.type) for f in member.fields}
            shape.fields = cached.fields
            interesting = True
        elif isinstance(member, mi.DictType):
            shape.values = _shape(member.value_type)
            interesting = interesting or shape.values is not None
        elif isinstance(member, _SEQUENCES):
            shape.items = _shape(member.item_type)
            interesting = interesting or shape.items is not None
    return shape if interesting else None


@cache
def _model_shape(model: type) -> _Shape | None:
    return _shape(type_info(model))


def unknown_fields(data: Any, model: type) -> list[str]:
    """Kubernetes-style paths of every field in ``data`` that ``model`` lacks."""
    found: list[str] = []
    shape = _model_shape(model)
    if shape is not None:
        _walk(data, shape, "", found)
    return found


def _walk(value: Any, shape: _Shape, path: str, found: list[str]) -> None:
    # a path is built only for an unknown field or a value walked into, not for every key: almost
    # every write has no unknown field, and building a string per key was most of this walk
    if isinstance(value, dict):
        fields = shape.fields
        if fields is not None:
            for key, item in value.items():
                if key not in fields:
                    found.append(f"{path}.{key}" if path else str(key))
                    continue
                child = fields[key]
                if child is not None and isinstance(item, dict | list):
                    _walk(item, child, f"{path}.{key}" if path else str(key), found)
        elif shape.values is not None:
            for key, item in value.items():
                _walk(item, shape.values, f"{path}[{key}]", found)
    elif isinstance(value, list) and shape.items is not None:
        for i, item in enumerate(value):
            _walk(item, shape.items, f"{path}[{i}]", found)
