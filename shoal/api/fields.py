"""Which fields of a decoded manifest the model does not know (``fieldValidation``).

msgspec silently drops unknown fields while decoding, which is what
``fieldValidation=Ignore`` wants. For ``Strict`` and ``Warn`` the API server
must name them the way upstream does (``spec.template.spec.containers[0].imagee``),
so this walks the JSON value beside the model's msgspec type information. The
per-struct field tables are computed once per class and cached.

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


def unknown_fields(data: Any, model: type) -> list[str]:
    """Kubernetes-style paths of every field in ``data`` that ``model`` lacks."""
    found: list[str] = []
    _walk(data, type_info(model), "", found)
    return found


def _walk(value: Any, t: mi.Type, path: str, found: list[str]) -> None:
    resolved = for_value(t, value)
    if resolved is None:
        return
    if isinstance(resolved, mi.StructType):
        if not isinstance(value, dict):
            return
        fields = struct_fields(resolved)
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            ftype = fields.get(key)
            if ftype is None:
                found.append(sub)
            else:
                _walk(item, ftype, sub, found)
    elif isinstance(resolved, mi.DictType):
        if isinstance(value, dict) and _interesting(resolved.value_type):
            for key, item in value.items():
                _walk(item, resolved.value_type, f"{path}[{key}]", found)
    elif isinstance(resolved, _SEQUENCES):
        items = value if isinstance(value, list) and _interesting(resolved.item_type) else []
        for i, item in enumerate(items):
            _walk(item, resolved.item_type, f"{path}[{i}]", found)


def _interesting(t: mi.Type) -> bool:
    """Whether values of this type can hold fields at all (skip lists of strings)."""
    t = unwrap(t)
    if isinstance(t, mi.UnionType):
        return any(_interesting(m) for m in t.types)
    return isinstance(t, (mi.StructType, mi.DictType, *_SEQUENCES))
