"""Decode Kubernetes protobuf request bodies into the JSON-shaped dicts shoal works with.

kubectl's typed clients (``create namespace|configmap|secret|deployment...``,
``drain``'s evictions, ``create token``) send ``application/vnd.kubernetes.protobuf``.
The body is the 4-byte magic ``k8s\\x00`` followed by a ``runtime.Unknown``
message: ``typeMeta`` (1: apiVersion=1, kind=2), ``raw`` (2: the object's own
message), ``contentEncoding`` (3) and ``contentType`` (4). The object's message
is decoded by walking the wire format against ``proto_schema.SCHEMA``; the
result is what the same object looks like as JSON, so everything downstream
(models, admission, storage) is unchanged. shoal only reads protobuf; it
always answers in JSON, which kubectl also accepts.

Wire details mirrored from Go: varints are two's complement 64-bit (negative
int32s take ten bytes); unknown field numbers are skipped by wire type; an
empty ``Time`` is the zero time (``null`` in JSON); repeated varints may come
packed; a later occurrence of a non-repeated field wins, and of a message
field merges, as proto2 decoders do.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from shoal.api.proto_schema import SCALAR_TYPES, SCHEMA, VARINT_SCALARS, FieldSpec, message_for

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

VARINT, FIXED64, LEN, START_GROUP, END_GROUP, FIXED32 = 0, 1, 2, 3, 4, 5
_WIRE_NAMES = {0: "varint", 1: "64-bit", 2: "length-delimited", 3: "start-group", 5: "32-bit"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Go zero values that gogo writes for unset non-pointer fields (dropped unless "!").
_ZERO: tuple[object, ...] = ("", 0, False)
_DROPPABLE = frozenset({"string", "int", "bool", "bytes"})


class ProtobufError(ValueError):
    """The body is not a well-formed Kubernetes protobuf message shoal can decode."""


def is_protobuf_content_type(content_type: str) -> bool:
    """Whether a Content-Type header names the Kubernetes protobuf encoding."""
    return content_type.split(";", 1)[0].strip().lower() == CONTENT_TYPE


# --- wire format ---------------------------------------------------------------


def _read_varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    for _ in range(10):
        if pos >= len(data):
            raise ProtobufError("truncated data: a varint runs past the end of the message")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
    raise ProtobufError("malformed varint: longer than 10 bytes")


def _signed(value: int) -> int:
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _skip_group(data: memoryview, pos: int, number: int) -> int:
    while True:
        key, pos = _read_varint(data, pos)
        wire = key & 7
        if wire == END_GROUP:
            if key >> 3 != number:
                raise ProtobufError(f"mismatched end-group for field {number}")
            return pos
        pos = _skip_value(data, pos, wire, key >> 3)


def _skip_value(data: memoryview, pos: int, wire: int, number: int) -> int:
    if wire == VARINT:
        return _read_varint(data, pos)[1]
    if wire == START_GROUP:
        return _skip_group(data, pos, number)
    size = {FIXED64: 8, FIXED32: 4}.get(wire)
    if size is None:
        raise ProtobufError(f"invalid wire type {wire} for field {number}")
    if pos + size > len(data):
        raise ProtobufError(f"truncated data in field {number}")
    return pos + size


def iter_fields(data: memoryview) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field number, wire type, value)``: an int for varints, a memoryview
    for length-delimited values, None for fixed-width and group values (skipped)."""
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("invalid field number 0")
        if wire == LEN:
            size, pos = _read_varint(data, pos)
            if pos + size > end:
                raise ProtobufError(
                    f"truncated data: field {number} claims {size} bytes, {end - pos} remain"
                )
            yield number, wire, data[pos : pos + size]
            pos += size
        elif wire == VARINT:
            value, pos = _read_varint(data, pos)
            yield number, wire, value
        else:
            pos = _skip_value(data, pos, wire, number)
            yield number, wire, None


# --- scalar conversions ----------------------------------------------------------


def _text(value: memoryview, where: str) -> str:
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError(f"{where}: string is not valid UTF-8") from None


def _format_time(value: memoryview, *, micro: bool) -> str | None:
    if not len(value):
        return None  # the zero time: Go marshals it as an empty message, JSON as null
    seconds = nanos = 0
    for number, wire, item in iter_fields(value):
        if wire != VARINT:
            continue
        if number == 1:
            seconds = _signed(item)
        elif number == 2:
            nanos = _signed(item)
    try:
        moment = _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise ProtobufError(f"timestamp out of range: {seconds} seconds") from None
    if micro:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _int_or_string(value: memoryview) -> int | str:
    type_, int_val, str_val = 0, 0, ""
    for number, wire, item in iter_fields(value):
        if number == 1 and wire == VARINT:
            type_ = _signed(item)
        elif number == 2 and wire == VARINT:
            int_val = _signed(item)
        elif number == 3 and wire == LEN:
            str_val = _text(item, "IntOrString.strVal")
    return str_val if type_ == 1 else int_val


def _first_bytes(value: memoryview) -> bytes:
    """Field 1 of a one-field wrapper message (Quantity, FieldsV1, RawExtension)."""
    found = b""
    for number, wire, item in iter_fields(value):
        if number == 1 and wire == LEN:
            found = bytes(item)
    return found


def _json_bytes(raw: bytes, where: str) -> Any:
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return decode_k8s_protobuf(raw)
    try:
        return json.loads(raw)
    except ValueError:
        raise ProtobufError(f"{where}: embedded raw data is not JSON") from None


def _length_scalar(type_: str, value: memoryview, where: str) -> Any:
    if type_ == "string":
        return _text(value, where)
    if type_ == "bytes":
        return base64.b64encode(value).decode("ascii")
    if type_ == "quantity":
        return _text(memoryview(_first_bytes(value)), where) or "0"
    if type_ == "intorstring":
        return _int_or_string(value)
    if type_ in ("time", "microtime"):
        return _format_time(value, micro=type_ == "microtime")
    if type_ in ("fieldsv1", "rawextension"):
        return _json_bytes(_first_bytes(value), where)
    if type_ == "stringlist":
        return [
            _text(item, where)
            for number, wire, item in iter_fields(value)
            if number == 1 and wire == LEN
        ]
    raise ProtobufError(f"{where}: unsupported type {type_}")  # pragma: no cover


def _scalar(spec: FieldSpec, wire: int, value: Any, where: str) -> Any:
    if spec.type in VARINT_SCALARS:
        if wire != VARINT:
            raise ProtobufError(f"{where}: wrong wire type {_WIRE_NAMES[wire]}, expected varint")
        return bool(value) if spec.type == "bool" else _signed(value)
    if wire != LEN:
        raise ProtobufError(
            f"{where}: wrong wire type {_WIRE_NAMES[wire]}, expected length-delimited"
        )
    return _length_scalar(spec.type, value, where)


def _zero_value(type_: str) -> Any:
    return {"string": "", "bytes": "", "int": 0, "bool": False, "quantity": "0"}.get(type_)


# --- messages ------------------------------------------------------------------


def _map_entry(spec: FieldSpec, value: memoryview, where: str) -> tuple[str, Any]:
    key, item = "", None
    present = False
    for number, wire, entry in iter_fields(value):
        if number == 1:
            if wire != LEN:
                raise ProtobufError(f"{where}: map key has wrong wire type {_WIRE_NAMES[wire]}")
            key = _text(entry, where)
        elif number == 2:
            present = True
            item = _value(spec, wire, entry, f"{where}[{key}]")
    if not present:
        is_message = spec.type not in SCALAR_TYPES
        item = decode_message(b"", spec.type) if is_message else _zero_value(spec.type)
    return key, item


def _value(spec: FieldSpec, wire: int, value: Any, where: str) -> Any:
    if spec.type not in SCALAR_TYPES:
        if wire != LEN:
            raise ProtobufError(f"{where}: wrong wire type {_WIRE_NAMES[wire]}, expected a message")
        return _decode(value, spec.type, where)
    return _scalar(spec, wire, value, where)


def _decode(data: memoryview, message: str, path: str) -> dict[str, Any]:
    fields = SCHEMA[message]
    out: dict[str, Any] = {}
    for number, wire, value in iter_fields(data):
        spec = fields.get(number)
        if spec is None or wire in (FIXED64, FIXED32, START_GROUP):
            if spec is not None:
                raise ProtobufError(f"{path}.{spec.json_name}: wrong wire type {_WIRE_NAMES[wire]}")
            continue  # unknown field: skipped
        where = f"{path}.{spec.json_name}"
        if spec.kind == "map":
            key, item = _map_entry(spec, value, where)
            out.setdefault(spec.json_name, {})[key] = item
        elif spec.kind == "inline":
            if wire != LEN:
                raise ProtobufError(f"{where}: wrong wire type {_WIRE_NAMES[wire]}")
            out.update(_decode(value, spec.type, path))
        elif spec.repeated:
            items = out.setdefault(spec.json_name, [])
            if wire == LEN and spec.type in VARINT_SCALARS:  # packed
                for _, _, item in iter_fields_packed(value, where):
                    items.append(bool(item) if spec.type == "bool" else _signed(item))
            else:
                items.append(_value(spec, wire, value, where))
        else:
            item = _value(spec, wire, value, where)
            previous = out.get(spec.json_name)
            if isinstance(item, dict) and isinstance(previous, dict):
                previous.update(item)
            elif spec.type in _DROPPABLE and not spec.keep_zero and item in _ZERO:
                out.pop(spec.json_name, None)  # an unset non-pointer Go field
            else:
                out[spec.json_name] = item
    return out


def iter_fields_packed(data: memoryview, where: str) -> Iterator[tuple[int, int, int]]:
    """Yield the varints of a packed repeated field as ``(0, VARINT, value)``."""
    pos = 0
    while pos < len(data):
        try:
            value, pos = _read_varint(data, pos)
        except ProtobufError as err:
            raise ProtobufError(f"{where}: {err}") from None
        yield 0, VARINT, value


def decode_message(data: bytes | memoryview, message: str) -> dict[str, Any]:
    """Decode one message of ``proto_schema.SCHEMA`` (e.g. ``"core.v1.Pod"``) into a JSON-shaped dict."""
    if message not in SCHEMA:
        raise ProtobufError(f"no protobuf schema for message {message}")
    return _decode(memoryview(data), message, message)


# --- envelope ------------------------------------------------------------------


def _envelope(body: bytes) -> tuple[str, str, memoryview]:
    if not body.startswith(MAGIC):
        raise ProtobufError(
            "not a Kubernetes protobuf body: it does not start with the magic k8s\\x00"
        )
    api_version = kind = content_encoding = content_type = ""
    raw = memoryview(b"")
    for number, wire, value in iter_fields(memoryview(body)[len(MAGIC) :]):
        if wire != LEN:
            if number in (1, 2, 3, 4):
                raise ProtobufError(f"runtime.Unknown field {number}: wrong wire type")
            continue
        if number == 1:
            for sub, sub_wire, item in iter_fields(value):
                if sub_wire == LEN and sub == 1:
                    api_version = _text(item, "typeMeta.apiVersion")
                elif sub_wire == LEN and sub == 2:
                    kind = _text(item, "typeMeta.kind")
        elif number == 2:
            raw = value
        elif number == 3:
            content_encoding = _text(value, "contentEncoding")
        elif number == 4:
            content_type = _text(value, "contentType")
    if content_encoding:
        raise ProtobufError(f"unsupported content encoding {content_encoding!r}")
    if content_type not in ("", CONTENT_TYPE):
        raise ProtobufError(f"unsupported embedded content type {content_type!r}")
    if not kind:
        raise ProtobufError("the protobuf envelope names no kind (typeMeta.kind is empty)")
    return api_version, kind, raw


def decode_k8s_protobuf(body: bytes) -> dict[str, Any]:
    """Decode a ``application/vnd.kubernetes.protobuf`` body into its JSON form.

    The result carries ``apiVersion`` and ``kind`` from the envelope. Raises
    ``ProtobufError`` on a bad magic, truncated or malformed data, a wrong wire
    type, or a kind without a schema here.
    """
    api_version, kind, raw = _envelope(bytes(body))
    message = message_for(api_version, kind)
    if message is None:
        raise ProtobufError(f"cannot decode protobuf for kind {kind} in {api_version or 'v1'}")
    obj = _decode(raw, message, kind)
    return {"apiVersion": api_version, "kind": kind, **obj}
