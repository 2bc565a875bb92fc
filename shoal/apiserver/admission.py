"""Admission: turn a client's JSON into a valid, defaulted object or refuse it.

Order as upstream: unknown-field check (fieldValidation Strict / Warn /
Ignore), decoding into the typed model (a wrong type is a 400 naming the field),
defaulting, then validation (422 Invalid, with every field error as a cause).
Nothing here touches the store, so a refused write changes nothing.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shoal.api import convert, defaults, fields, validation, validation_base
from shoal.api.memo import Memo
from shoal.api.models.pod import Pod
from shoal.api.registry import ResourceInfo
from shoal.apiserver import errors

FIELD_VALIDATION = ("Strict", "Warn", "Ignore")

# Real objects nest about 15 levels; the code that walks them (patches, unknown-field
# checks) recurses, so a body nested hundreds deep must be refused at the door, and one
# of YAML aliases expanding to millions of nodes likewise.
MAX_DEPTH = 100
MAX_NODES = 1_000_000


_CONTAINERS = (dict, list)


def check_shape(data: Any) -> None:
    """Refuse (400) a decoded body nested deeper than ``MAX_DEPTH`` or larger than ``MAX_NODES``.

    The root is at depth 1 and counts as a value; a cycle (YAML aliases) ends at ``MAX_DEPTH``.
    Runs on every write body, so it visits containers only and counts their children by length
    (and a JSON body that ``json_within_shape`` clears is not walked at all).
    """
    if isinstance(data, _CONTAINERS):
        _walk_shape(data, 1, [1])


def json_within_shape(raw: bytes) -> bool:
    """True when JSON text ``raw`` cannot break the limits, so its decoded value need not be walked.

    Why: a create's two walks were ~5 % of the API server's loop in the scheduler benchmark
    (py-spy), and nearly every body is far inside the limits. A container nested at depth ``MAX_DEPTH`` needs ``MAX_DEPTH`` opening
    brackets and every value begins with a byte of its own, so fewer brackets than ``MAX_DEPTH``
    and at most ``MAX_NODES`` bytes settle it (brackets inside strings only over-count). False
    says nothing: walk the value with ``check_shape``.
    """
    return len(raw) <= MAX_NODES and raw.count(b"{") + raw.count(b"[") < MAX_DEPTH


def _walk_shape(value: dict[str, Any] | list[Any], depth: int, nodes: list[int]) -> None:
    children = value.values() if isinstance(value, dict) else value
    if not children:
        return
    if depth >= MAX_DEPTH:  # the children would be deeper than allowed
        raise errors.bad_request(f"the object is nested deeper than {MAX_DEPTH} levels")
    nodes[0] += len(children)
    if nodes[0] > MAX_NODES:
        raise errors.bad_request(f"the object has more than {MAX_NODES} values")
    for v in children:
        if isinstance(v, _CONTAINERS):
            _walk_shape(v, depth + 1, nodes)


def check_unknown(info: ResourceInfo, data: dict[str, Any], mode: str) -> list[str]:
    """Apply ``fieldValidation``: raise (Strict) or return warnings (Warn)."""
    if mode == "Ignore":
        return []
    unknown = fields.unknown_fields(data, info.model)
    if not unknown:
        return []
    msgs = [f'unknown field "{p}"' for p in unknown]
    if mode == "Strict":
        raise errors.bad_request("strict decoding error: " + ", ".join(msgs))
    return msgs


def _name(data: dict[str, Any]) -> str:
    meta = data.get("metadata") or {}
    return str(meta.get("name") or meta.get("generateName") or "")


def _field_causes(errs: list[Any]) -> list[dict[str, str]]:
    return [e.cause() for e in errs]


def _reason(t: str) -> str:
    return {
        "Required value": "FieldValueRequired",
        "Invalid value": "FieldValueInvalid",
        "Unsupported value": "FieldValueNotSupported",
        "Not supported": "FieldValueNotSupported",
        "Duplicate value": "FieldValueDuplicate",
        "Forbidden": "FieldValueForbidden",
        "Too long": "FieldValueTooLong",
    }.get(t, "FieldValueInvalid")


def admit(
    info: ResourceInfo,
    data: dict[str, Any],
    *,
    old: dict[str, Any] | None = None,
    field_validation: str = "Strict",
    shape_checked: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """Validate and default ``data``; return the object as a dict and any warnings.

    ``shape_checked``: the caller already held ``data`` to ``check_shape`` (a request body, in
    ``parse_body``), so it is not walked again.
    """
    obj, warnings = _decode_defaulted(info, data, field_validation, shape_checked)
    old_obj = None
    if old is not None:
        try:
            old_obj = convert.decode(old, info.model)
        except validation.InvalidError:
            old_obj = None
    errs = validation.validate(obj, old=old_obj)
    if errs:
        raise errors.invalid(info.kind, _name(data), _field_causes(errs), info.group)
    return convert.to_dict(obj), warnings


# Pods admitted last, keyed by (fieldValidation, the body's JSON with an empty metadata.name):
# the admitted object's JSON and its warnings.
REPEAT_MEMO = 256
_repeats: Memo[bytes, tuple[bytes, tuple[str, ...]]] = Memo(REPEAT_MEMO)
_encode = msgspec.json.Encoder().encode
_pod_name_check = validation.NAME_CHECKS.get(Pod, validation_base.dns1123_subdomain)


def admit_create(
    info: ResourceInfo, data: dict[str, Any], *, field_validation: str = "Strict", shape_checked: bool = False,
    json_body: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    """``admit`` for a create; a pod that repeats one admitted before but for its name is not admitted again.

    Why: a ReplicaSet, a Job or a DaemonSet creates every pod from its template, so their bodies
    differ in ``metadata.name`` alone, and admission (the unknown-field walk, decoding, defaulting,
    validation, encoding back) was ~15 % of the API server's loop in the scheduler benchmark.
    Nothing in a pod's admission reads its name but the name's own check, and the rest is pure in
    the body, so when the name passes that check the answer is the remembered one with this name.

    ``json_body``: ``data`` is a JSON request body as ``msgspec.json.decode`` gave it, held to
    ``check_shape`` (``parse_body``). Only such a body is remembered: its encoding is one-to-one (a
    YAML body may hold an integer key, which encodes as a string key does but fails decoding).
    Anything refused is never remembered, so every error comes from ``admit`` itself.
    """
    key = _repeat_key(info, data, field_validation) if json_body and shape_checked else None
    if key is not None:
        hit = _repeats.get(key)
        if hit is not None:
            obj = msgspec.json.decode(hit[0])
            obj["metadata"]["name"] = data["metadata"]["name"]
            return obj, list(hit[1])
    obj, warnings = admit(info, data, field_validation=field_validation, shape_checked=shape_checked)
    if key is not None:
        _repeats.put(key, (_encode(obj), tuple(warnings)))
    return obj, warnings


def _repeat_key(info: ResourceInfo, data: dict[str, Any], field_validation: str) -> bytes | None:
    if info.model is not Pod:
        return None
    meta = data.get("metadata")
    if type(meta) is not dict:
        return None
    name = meta.get("name")
    if type(name) is not str or not name or _pod_name_check(name):
        return None
    return field_validation.encode() + b"\n" + _encode({**data, "metadata": {**meta, "name": ""}})


def defaulted(info: ResourceInfo, data: dict[str, Any], *, field_validation: str) -> tuple[dict[str, Any], list[str]]:
    """``data`` decoded and defaulted but not validated: what mutating webhooks see, as upstream (whose
    handlers decode with defaulting, and validate only after mutating admission). A custom kind's
    object goes as sent (its schema's defaulting runs with its validation). The unknown-field check
    runs here, since the defaulted object no longer holds the unknown fields."""
    if info.model is None:
        return data, []
    obj, warnings = _decode_defaulted(info, data, field_validation, False)
    return convert.to_dict(obj), warnings


def _decode_defaulted(info: ResourceInfo, data: dict[str, Any], field_validation: str,
                      shape_checked: bool) -> tuple[Any, list[str]]:
    """The unknown-field check, then ``data`` decoded into the kind's model (400 naming a wrong type), defaulted."""
    if not shape_checked:
        check_shape(data)
    warnings = check_unknown(info, data, field_validation)
    try:
        obj = convert.decode(data, info.model)
    except validation.InvalidError as e:
        raise errors.bad_request(e.message(info.kind, _name(data))) from None
    defaults.apply_defaults(obj)
    return obj, warnings
