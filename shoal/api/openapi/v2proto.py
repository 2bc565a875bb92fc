"""Swagger 2.0 as the protobuf kubectl asks for: gnostic's ``openapi.v2.Document``.

kubectl (client-go's ``OpenAPISchema``) requests ``/openapi/v2`` only with
``Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`` and
decodes the body as the ``Document`` message of gnostic-models'
``openapiv2/OpenAPIv2.proto``. This is a hand-written encoder for the part of
that schema a Kubernetes document uses, field numbers as in the .proto:
each JSON object is written as its message, every ``x-`` key as a
``NamedAny`` vendor extension whose ``Any.yaml`` holds the value as YAML (which
is how kube-openapi reads ``x-kubernetes-group-version-kind`` back), and
``enum``/``default``/``example`` values as ``Any.yaml`` too. Keys the schema
has no field for are left out, as gnostic's own compiler drops them.

proto3 leaves zero values off the wire, and so does this encoder; repeated
and nested messages are length-delimited; doubles are fixed 64-bit.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

import yaml

# what clients ask for (the older spelling, which Go's mime parser rejects in a Content-Type) and what
# the server answers with, as kube-openapi's handler does
ACCEPT_TYPES = ("application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

_VARINT, _FIXED64, _LEN = 0, 1, 2

Encoder = Callable[[Any], bytes]


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _len_field(number: int, payload: bytes) -> bytes:
    return _key(number, _LEN) + _varint(len(payload)) + payload


def _string(number: int, value: Any) -> bytes:
    if value is None or value == "":
        return b""
    return _len_field(number, str(value).encode())


def _strings(number: int, values: Any) -> bytes:
    return b"".join(_len_field(number, str(v).encode()) for v in values or ())


def _bool(number: int, value: Any) -> bytes:
    return _key(number, _VARINT) + b"\x01" if value is True else b""


def _int(number: int, value: Any) -> bytes:
    if not isinstance(value, int) or isinstance(value, bool) or value == 0:
        return b""
    return _key(number, _VARINT) + _varint(value)


def _double(number: int, value: Any) -> bytes:
    if not isinstance(value, int | float) or isinstance(value, bool) or value == 0:
        return b""
    return _key(number, _FIXED64) + struct.pack("<d", float(value))


def _message(number: int, value: Any, encode: Encoder) -> bytes:
    if value is None:
        return b""
    return _len_field(number, encode(value))


def _messages(number: int, values: Any, encode: Encoder) -> bytes:
    return b"".join(_len_field(number, encode(v)) for v in values or ())


# --- Any and vendor extensions ----------------------------------------------------------------


def _yaml(value: Any) -> str:
    return str(yaml.safe_dump(value, default_flow_style=False, sort_keys=False))


def any_message(value: Any) -> bytes:
    """``Any``: the value as YAML (field 2)."""
    return _string(2, _yaml(value))


def _named_any(item: tuple[str, Any]) -> bytes:
    return _string(1, item[0]) + _message(2, item[1], any_message)


def _extensions(number: int, obj: Mapping[str, Any]) -> bytes:
    return _messages(number, [(k, v) for k, v in obj.items() if k.startswith("x-")], _named_any)


def _anys(number: int, values: Any) -> bytes:
    return _messages(number, values, any_message)


def _named(encode: Encoder) -> Encoder:
    def named(item: tuple[str, Any]) -> bytes:
        return _string(1, item[0]) + _message(2, item[1], encode)

    return named


# --- Schema -------------------------------------------------------------------------------------


def schema(s: Mapping[str, Any]) -> bytes:
    out = [
        _string(1, s.get("$ref")), _string(2, s.get("format")), _string(3, s.get("title")),
        _string(4, s.get("description")),
        _message(5, s.get("default"), any_message) if "default" in s else b"",
        _double(6, s.get("multipleOf")), _double(7, s.get("maximum")), _bool(8, s.get("exclusiveMaximum")),
        _double(9, s.get("minimum")), _bool(10, s.get("exclusiveMinimum")), _int(11, s.get("maxLength")),
        _int(12, s.get("minLength")), _string(13, s.get("pattern")), _int(14, s.get("maxItems")),
        _int(15, s.get("minItems")), _bool(16, s.get("uniqueItems")), _int(17, s.get("maxProperties")),
        _int(18, s.get("minProperties")), _strings(19, s.get("required")), _anys(20, s.get("enum")),
    ]
    ap = s.get("additionalProperties")
    if isinstance(ap, bool):
        out.append(_len_field(21, _key(2, _VARINT) + (b"\x01" if ap else b"\x00")))
    elif isinstance(ap, dict):
        out.append(_len_field(21, _message(1, ap, schema)))
    t = s.get("type")
    if t:
        out.append(_len_field(22, _strings(1, t if isinstance(t, list) else [t])))
    items = s.get("items")
    if isinstance(items, dict):
        out.append(_len_field(23, _message(1, items, schema)))
    elif isinstance(items, list):
        out.append(_len_field(23, _messages(1, items, schema)))
    out.append(_messages(24, s.get("allOf"), schema))
    props = s.get("properties")
    if isinstance(props, dict):
        out.append(_len_field(25, _messages(1, list(props.items()), _named(schema))))
    out += [_string(26, s.get("discriminator")), _bool(27, s.get("readOnly")),
            _message(30, s.get("example"), any_message) if "example" in s else b"", _extensions(31, s)]
    return b"".join(out)


# --- paths ---------------------------------------------------------------------------------------

# where each field of a non-body parameter goes, per ``in``: (QueryParameterSubSchema, PathParameterSubSchema, ...)
_NON_BODY = {
    # in: (oneof field of NonBodyParameter, numbers of required, in, description, name, type, format,
    #      uniqueItems, enum, vendor extensions)
    "header": (1, (1, 2, 3, 4, 5, 6, 19, 20, 22)),
    "formData": (2, (1, 2, 3, 4, 6, 7, 20, 21, 23)),
    "query": (3, (1, 2, 3, 4, 6, 7, 20, 21, 23)),
    "path": (4, (1, 2, 3, 4, 5, 6, 19, 20, 22)),
}


def parameter(p: Mapping[str, Any]) -> bytes:
    """``ParametersItem`` holding a ``Parameter`` (body or non-body)."""
    where = p.get("in")
    if where == "body":
        body = b"".join([_string(1, p.get("description")), _string(2, p.get("name")), _string(3, "body"),
                         _bool(4, p.get("required")), _message(5, p.get("schema"), schema), _extensions(6, p)])
        param = _len_field(1, body)
    else:
        oneof, (req, in_, desc, name, type_, fmt, uniq, enum, ext) = _NON_BODY.get(str(where), _NON_BODY["query"])
        sub = b"".join([_bool(req, p.get("required")), _string(in_, where), _string(desc, p.get("description")),
                        _string(name, p.get("name")), _string(type_, p.get("type")), _string(fmt, p.get("format")),
                        _bool(uniq, p.get("uniqueItems")), _anys(enum, p.get("enum")), _extensions(ext, p)])
        param = _len_field(2, _len_field(oneof, sub))
    return _len_field(1, param)


def _response(r: Mapping[str, Any]) -> bytes:
    body = _string(1, r.get("description"))
    if isinstance(r.get("schema"), dict):
        body += _len_field(2, _message(1, r["schema"], schema))
    return body + _extensions(5, r)


def _response_value(r: Mapping[str, Any]) -> bytes:
    return _message(1, r, _response)


def operation(op: Mapping[str, Any]) -> bytes:
    responses = b"".join([_messages(1, list((op.get("responses") or {}).items()), _named(_response_value)),
                          _extensions(2, op.get("responses") or {})])
    return b"".join([
        _strings(1, op.get("tags")), _string(2, op.get("summary")), _string(3, op.get("description")),
        _string(5, op.get("operationId")), _strings(6, op.get("produces")), _strings(7, op.get("consumes")),
        _messages(8, op.get("parameters"), parameter), _len_field(9, responses), _strings(10, op.get("schemes")),
        _bool(11, op.get("deprecated")), _extensions(13, op),
    ])


_OPERATIONS = (("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("options", 6), ("head", 7), ("patch", 8))


def path_item(item: Mapping[str, Any]) -> bytes:
    out = [_string(1, item.get("$ref"))]
    out += [_message(n, item.get(m), operation) for m, n in _OPERATIONS]
    out += [_messages(9, item.get("parameters"), parameter), _extensions(10, item)]
    return b"".join(out)


# --- the document --------------------------------------------------------------------------------


def _info(info: Mapping[str, Any]) -> bytes:
    return b"".join([_string(1, info.get("title")), _string(2, info.get("version")),
                     _string(3, info.get("description")), _extensions(7, info)])


def _security_definition(d: Mapping[str, Any]) -> bytes:
    if d.get("type") == "apiKey":  # ApiKeySecurity, oneof field 2
        return _len_field(2, b"".join([_string(1, "apiKey"), _string(2, d.get("name")), _string(3, d.get("in")),
                                       _string(4, d.get("description")), _extensions(5, d)]))
    if d.get("type") == "basic":  # BasicAuthenticationSecurity, oneof field 1
        return _len_field(1, b"".join([_string(1, "basic"), _string(2, d.get("description")), _extensions(3, d)]))
    return b""


def _security_requirement(req: Mapping[str, Any]) -> bytes:
    return _messages(1, list(req.items()), _named(lambda scopes: _strings(1, scopes)))


def document(doc: Mapping[str, Any]) -> bytes:
    """The ``openapi.v2.Document`` message of a Swagger 2.0 document (a dict, as JSON gives it)."""
    paths = doc.get("paths") or {}
    defs = doc.get("definitions") or {}
    secdefs = doc.get("securityDefinitions") or {}
    return b"".join([
        _string(1, doc.get("swagger")), _message(2, doc.get("info"), _info), _string(3, doc.get("host")),
        _string(4, doc.get("basePath")), _strings(5, doc.get("schemes")), _strings(6, doc.get("consumes")),
        _strings(7, doc.get("produces")),
        _len_field(8, _extensions(1, paths) + _messages(2, [(k, v) for k, v in paths.items()
                                                            if not k.startswith("x-")], _named(path_item))),
        _len_field(9, _messages(1, list(defs.items()), _named(schema))),
        _messages(12, doc.get("security"), _security_requirement),
        _len_field(13, _messages(1, list(secdefs.items()), _named(_security_definition))) if secdefs else b"",
        _extensions(16, doc),
    ])
