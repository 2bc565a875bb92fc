"""msgspec model types -> OpenAPI 3.0 component schemas, shared by ``$ref``.

The walk goes over ``msgspec.inspect`` type trees, so it works for any Struct
the models define, without knowing the classes. Where msgspec's own
JSON Schema (2020-12) and the OpenAPI 3.0 that Kubernetes clients read differ,
this module writes the OpenAPI form:

* optional fields are ``T | None``; the ``None`` is dropped (3.0 has no ``null``
  type; an absent field is how Kubernetes says "unset");
* ``int | str`` is upstream's ``IntOrString`` and ``int | float | str`` its
  ``Quantity``: named schemas marked ``x-kubernetes-int-or-string``;
* integers carry ``int32`` or ``int64`` (upstream's Go widths, by field name);
* a ``$ref`` with siblings (a description, patch extensions) is wrapped in
  ``allOf``, since 3.0 ignores siblings of ``$ref``;
* patch metadata (``x-kubernetes-patch-strategy``/``-merge-key``/``-list-type``)
  stays on the field it was declared on.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec
import msgspec.inspect as mi

from shoal.api.openapi import descriptions
from shoal.api.openapi.names import INT_OR_STRING, QUANTITY, schema_name

Schema = dict[str, Any]

REF_PREFIX = "#/components/schemas/"

# Wire names of integer fields that are int64 upstream; every other integer is int32.
INT64_FIELDS = frozenset(
    {
        "activeDeadlineSeconds",
        "deletionGracePeriodSeconds",
        "expirationSeconds",
        "fsGroup",
        "generation",
        "gracePeriodSeconds",
        "observedGeneration",
        "remainingItemCount",
        "runAsGroup",
        "runAsUser",
        "seconds",
        "sizeBytes",
        "startingDeadlineSeconds",
        "supplementalGroups",
        "terminationGracePeriodSeconds",
        "tolerationSeconds",
    }
)

# Wire names of string fields holding an RFC 3339 time (``metav1.Time``/``MicroTime``).
_TIME_SUFFIXES = ("Time", "Timestamp")
_TIME_FIELDS = frozenset({"startedAt", "finishedAt", "timeAdded"})

_INT_OR_STRING_SCHEMA: Schema = {
    "description": descriptions.KINDS["IntOrString"],
    "format": "int-or-string",
    "oneOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
}
_QUANTITY_SCHEMA: Schema = {
    "description": descriptions.KINDS["Quantity"],
    "oneOf": [{"type": "string"}, {"type": "number"}],
    "x-kubernetes-int-or-string": True,
}

# Keys of ``extra_json_schema`` that OpenAPI 3.0 schemas do not have.
_DROPPED_KEYS = frozenset({"title", "examples", "$schema", "$defs"})


def ref(name: str) -> Schema:
    """A ``$ref`` to a component schema."""
    return {"$ref": REF_PREFIX + name}


def with_siblings(schema: Schema, siblings: Schema) -> Schema:
    """``schema`` plus ``siblings``; a ``$ref`` is wrapped in ``allOf`` to keep them."""
    if not siblings:
        return schema
    if "$ref" in schema:
        return {"allOf": [schema], **siblings}
    return {**schema, **siblings}


def _docstring(cls: type) -> str | None:
    doc = cls.__doc__
    if not doc:
        return None
    first = doc.strip().split("\n\n", 1)[0]
    return " ".join(first.replace("``", "").split())


class SchemaSet:
    """The component schemas one document needs, filled as types are converted.

    ``add(cls)`` converts a Struct class (and everything it reaches) and returns
    its component name; ``names`` maps each converted class to its name, so the
    caller can attach group-version-kind tags afterwards.
    """

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {}
        self.names: dict[type, str] = {}
        self._owners: dict[str, type] = {}

    def add(self, cls: type) -> str:
        info = mi.type_info(cls)
        if not isinstance(info, mi.StructType):
            raise TypeError(f"{cls!r} is not a msgspec Struct")
        return self._struct(info)

    def add_schema(self, name: str, schema: Schema) -> str:
        """A hand-written component (a List kind, DeleteOptions...); first one wins."""
        self.schemas.setdefault(name, schema)
        return name

    # --- structs -----------------------------------------------------------------

    def _name_for(self, cls: type) -> str:
        known = self.names.get(cls)
        if known is not None:
            return known
        name = schema_name(cls)
        if self._owners.get(name, cls) is not cls:
            # Two classes with one upstream name: keep both, distinctly named.
            n = 2
            while f"{name}{n}" in self._owners:
                n += 1
            name = f"{name}{n}"
        self._owners[name] = cls
        self.names[cls] = name
        return name

    def _struct(self, info: mi.StructType) -> str:
        cls = info.cls
        name = self._name_for(cls)
        if name in self.schemas:
            return name
        self.schemas[name] = {}  # placeholder: a recursive field only needs the name
        encoded = {f.encode_name for f in info.fields}
        top_level = {"apiVersion", "kind"} <= encoded
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for f in info.fields:
            prop = self._property(f, owner=name, top_level=top_level)
            properties[f.encode_name] = prop
            if f.required:
                required.append(f.encode_name)
        schema: Schema = {}
        description = descriptions.kind_description(name) or _docstring(cls)
        if description:
            schema["description"] = description
        schema["type"] = "object"
        schema["properties"] = properties
        if required:
            schema["required"] = required
        if info.tag_field is not None and info.tag is not None:
            properties.setdefault(info.tag_field, {"type": "string", "enum": [info.tag]})
        self.schemas[name] = schema
        return name

    def _property(self, f: mi.Field, *, owner: str, top_level: bool) -> Schema:
        schema = self.convert(f.type, field=f.encode_name)
        siblings: Schema = {}
        written = descriptions.field_description(owner, f.encode_name, top_level=top_level)
        if written is not None:
            siblings["description"] = written
        default = f.default
        if f.default is not msgspec.NODEFAULT and isinstance(default, (bool, int, float, str)):
            siblings["default"] = default
        return with_siblings(schema, siblings)

    # --- types --------------------------------------------------------------------

    def convert(self, t: mi.Type, *, field: str = "") -> Schema:
        """The OpenAPI schema of one msgspec type; ``field`` is the wire name it sits on."""
        if isinstance(t, mi.Metadata):
            return self._metadata(t, field=field)
        if isinstance(t, mi.UnionType):
            return self._union(t, field=field)
        if isinstance(t, mi.StructType):
            return ref(self._struct(t))
        if isinstance(t, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
            out: Schema = {"type": "array", "items": self.convert(t.item_type, field=field)}
            if isinstance(t, (mi.SetType, mi.FrozenSetType)):
                out["uniqueItems"] = True
            return out
        if isinstance(t, mi.TupleType):
            return {"type": "array", "items": {}}
        if isinstance(t, mi.DictType):
            value = self.convert(t.value_type, field=field)
            if not value or value == {"x-kubernetes-preserve-unknown-fields": True}:
                return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
            return {"type": "object", "additionalProperties": value}
        return self._scalar(t, field=field)

    def _metadata(self, t: mi.Metadata, *, field: str) -> Schema:
        inner = self.convert(t.type, field=field)
        extra = {k: v for k, v in (t.extra_json_schema or {}).items() if k not in _DROPPED_KEYS}
        return with_siblings(inner, extra)

    def _union(self, t: mi.UnionType, *, field: str) -> Schema:
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if not members:
            return {}
        if len(members) == 1:
            return self.convert(members[0], field=field)
        kinds = {type(m) for m in members}
        if kinds == {mi.IntType, mi.StrType}:
            return ref(self.add_schema(INT_OR_STRING, dict(_INT_OR_STRING_SCHEMA)))
        if kinds == {mi.IntType, mi.FloatType, mi.StrType}:
            return ref(self.add_schema(QUANTITY, dict(_QUANTITY_SCHEMA)))
        if kinds == {mi.IntType, mi.FloatType}:
            return {"type": "number"}
        return {"anyOf": [self.convert(m, field=field) for m in members]}

    def _scalar(self, t: mi.Type, *, field: str) -> Schema:
        if isinstance(t, mi.BoolType):
            return {"type": "boolean"}
        if isinstance(t, mi.IntType):
            fmt = "int64" if field in INT64_FIELDS else "int32"
            return {"type": "integer", "format": fmt, **_bounds(t)}
        if isinstance(t, mi.FloatType):
            return {"type": "number", "format": "double", **_bounds(t)}
        if isinstance(t, mi.StrType):
            out: Schema = {"type": "string"}
            if field.endswith(_TIME_SUFFIXES) or field in _TIME_FIELDS:
                out["format"] = "date-time"
            if t.min_length is not None:
                out["minLength"] = t.min_length
            if t.max_length is not None:
                out["maxLength"] = t.max_length
            if t.pattern is not None:
                out["pattern"] = t.pattern
            return out
        if isinstance(t, (mi.BytesType, mi.ByteArrayType, mi.MemoryViewType)):
            return {"type": "string", "format": "byte"}
        if isinstance(t, mi.DateTimeType):
            return {"type": "string", "format": "date-time"}
        if isinstance(t, mi.DateType):
            return {"type": "string", "format": "date"}
        if isinstance(t, (mi.TimeType, mi.TimeDeltaType)):
            return {"type": "string"}
        if isinstance(t, mi.UUIDType):
            return {"type": "string", "format": "uuid"}
        if isinstance(t, mi.DecimalType):
            return {"type": "string", "format": "decimal"}
        if isinstance(t, mi.LiteralType):
            return _enum(list(t.values))
        if isinstance(t, mi.EnumType):
            return _enum([m.value for m in t.cls])
        # AnyType, NoneType alone, custom types: anything goes.
        return {"x-kubernetes-preserve-unknown-fields": True}


def _bounds(t: mi.IntType | mi.FloatType) -> Schema:
    out: Schema = {}
    if t.ge is not None:
        out["minimum"] = t.ge
    if t.gt is not None:
        out["minimum"] = t.gt
        out["exclusiveMinimum"] = True
    if t.le is not None:
        out["maximum"] = t.le
    if t.lt is not None:
        out["maximum"] = t.lt
        out["exclusiveMaximum"] = True
    if t.multiple_of is not None:
        out["multipleOf"] = t.multiple_of
    return out


def _enum(values: list[Any]) -> Schema:
    if all(isinstance(v, bool) for v in values):
        return {"type": "boolean", "enum": values}
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return {"type": "integer", "enum": values}
    if all(isinstance(v, str) for v in values):
        return {"type": "string", "enum": values}
    return {"enum": [v.value if isinstance(v, enum.Enum) else v for v in values]}
