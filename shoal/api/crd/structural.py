"""Whether a CRD version's schema is structural, with upstream's reasons when it is not.

A structural schema says, for every field it specifies, what type it has
outside of the value validations (``allOf``/``anyOf``/``oneOf``/``not``), so
the server can prune unknown fields, apply defaults and answer ``kubectl
explain`` without interpreting the junctors. apiextensions-apiserver refuses a
v1 CRD whose schema is not (``ValidateStructural``) and a schema that uses the
JSON Schema features Kubernetes does not support (``$ref``, ``uniqueItems``,
...); each reason here is one of its field errors, with its path under
``spec.versions[i].schema.openAPIV3Schema`` and its wording, sorted as it
sorts them.
"""

from __future__ import annotations

from typing import Any

from shoal.api.validation_base import FieldError, forbidden, invalid, required, unsupported

_ROOT, _ITEM, _FIELD = "root", "item", "field"
_INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]

# JSON Schema keywords Kubernetes refuses in a CRD schema, and upstream's words for each
_UNSUPPORTED = (
    ("id", "id is not supported"),
    ("$schema", "$schema is not supported"),
    ("additionalItems", "additionalItems is not supported"),
    ("patternProperties", "patternProperties is not supported"),
    ("definitions", "definitions is not supported"),
    ("dependencies", "dependencies is not supported"),
    ("$ref", "$ref is not supported"),
)
_TYPES = ("array", "boolean", "integer", "number", "object", "string")


def _props(s: dict[str, Any]) -> dict[str, Any]:
    p = s.get("properties")
    return {k: v for k, v in p.items() if isinstance(v, dict)} if isinstance(p, dict) else {}


def structural_errors(schema: Any, path: str) -> list[FieldError]:
    """Every reason ``schema`` (an ``openAPIV3Schema`` at ``path``) is refused; empty if it is fine."""
    if not isinstance(schema, dict):
        return [required(path, "schemas are required")]
    errs: list[FieldError] = []
    _openapi_checks(schema, path, errs)
    if errs:
        return errs  # upstream reports the structural reasons only for a schema it can read
    _invariants(schema, _ROOT, path, errs)
    _completeness(schema, path, errs)
    errs.sort(key=str)
    return errs


# ---- what the CRD API accepts at all (ValidateCustomResourceDefinitionOpenAPISchema) ------------


def _openapi_checks(s: dict[str, Any], path: str, errs: list[FieldError]) -> None:
    for key, why in _UNSUPPORTED:
        if key in s and s[key] not in (None, "", {}, []):
            errs.append(forbidden(f"{path}.{key}", why))
    t = s.get("type")
    if t == "null":
        errs.append(forbidden(f"{path}.type", "type cannot be set to null, use nullable as an alternative"))
    elif t not in (None, "") and t not in _TYPES:
        errs.append(unsupported(f"{path}.type", t, _TYPES))
    if s.get("uniqueItems") is True:
        errs.append(forbidden(f"{path}.uniqueItems",
                              "uniqueItems cannot be set to true since the runtime complexity becomes quadratic"))
    if s.get("x-kubernetes-preserve-unknown-fields") is False:
        errs.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", False, "must be true or undefined"))
    lt = s.get("x-kubernetes-list-type")
    if lt is not None:
        if lt not in ("atomic", "set", "map"):
            errs.append(unsupported(f"{path}.x-kubernetes-list-type", lt, ("atomic", "set", "map")))
        elif lt == "map" and not s.get("x-kubernetes-list-map-keys"):
            errs.append(required(f"{path}.x-kubernetes-list-map-keys",
                                 "must not be empty if x-kubernetes-list-type is map"))
        if t not in (None, "", "array"):
            errs.append(invalid(f"{path}.type", t, "must be array if x-kubernetes-list-type is specified"))
    mt = s.get("x-kubernetes-map-type")
    if mt is not None and mt not in ("atomic", "granular"):
        errs.append(unsupported(f"{path}.x-kubernetes-map-type", mt, ("atomic", "granular")))
    ap = s.get("additionalProperties")
    props = s.get("properties")
    if ap is not None:
        if props and (ap is False or isinstance(ap, dict)):
            errs.append(forbidden(f"{path}.additionalProperties",
                                  "additionalProperties and properties are mutual exclusive"))
        if isinstance(ap, dict):
            _openapi_checks(ap, f"{path}.additionalProperties", errs)
    if isinstance(props, dict):
        for k, v in props.items():
            if isinstance(v, dict):
                _openapi_checks(v, f"{path}.properties[{k}]", errs)
            else:
                errs.append(invalid(f"{path}.properties[{k}]", v, "must be a schema object"))
    items = s.get("items")
    if isinstance(items, list):
        errs.append(forbidden(f"{path}.items", "items must be a schema object and not an array"))
    elif isinstance(items, dict):
        _openapi_checks(items, f"{path}.items", errs)
    for junctor in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(s.get(junctor) or []):
            if isinstance(sub, dict):
                _openapi_checks(sub, f"{path}.{junctor}[{i}]", errs)
    if isinstance(s.get("not"), dict):
        _openapi_checks(s["not"], f"{path}.not", errs)


# ---- structurality (ValidateStructural) -------------------------------------------------------


def _invariants(s: dict[str, Any], lvl: str, path: str, errs: list[FieldError]) -> None:
    t = s.get("type") or ""
    ios = bool(s.get("x-kubernetes-int-or-string"))
    preserve = bool(s.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(s.get("x-kubernetes-embedded-resource"))
    props = _props(s)
    if t == "array" and not isinstance(s.get("items"), dict):
        errs.append(required(f"{path}.items", "must be specified"))
    if isinstance(s.get("items"), dict):
        _invariants(s["items"], _ITEM, f"{path}.items", errs)
    for k, v in props.items():
        _invariants(v, _FIELD, f"{path}.properties[{k}]", errs)
    ap = s.get("additionalProperties")
    if ap is not None and ap is not False:
        if lvl == _ROOT:
            errs.append(forbidden(f"{path}.additionalProperties", "must not be used at the root"))
        if isinstance(ap, dict):
            _invariants(ap, _FIELD, f"{path}.additionalProperties", errs)
    if ios and preserve:
        errs.append(invalid(f"{path}.x-kubernetes-preserve-unknown-fields", True,
                            "must be false if x-kubernetes-int-or-string is true"))
    if ios and embedded:
        errs.append(invalid(f"{path}.x-kubernetes-embedded-resource", True,
                            "must be false if x-kubernetes-int-or-string is true"))
    skip_any_of = s.get("anyOf") == _INT_OR_STRING_ANY_OF
    all_of = s.get("allOf") or []
    skip_first_all_of = bool(all_of) and isinstance(all_of[0], dict) and all_of[0].get("anyOf") == _INT_OR_STRING_ANY_OF
    _value_validation(s, skip_any_of, skip_first_all_of, path, errs)
    if embedded and t != "object":
        if not t:
            errs.append(required(f"{path}.type", "must be object if x-kubernetes-embedded-resource is true"))
        else:
            errs.append(invalid(f"{path}.type", t, "must be object if x-kubernetes-embedded-resource is true"))
    elif not t and not ios and not preserve:
        where = {_ROOT: "at the root", _ITEM: "for specified array items", _FIELD: "for specified object fields"}[lvl]
        errs.append(required(f"{path}.type", f"must not be empty {where}"))
    if embedded and ap is not None and ap is not False:
        errs.append(forbidden(f"{path}.additionalProperties", "must not be used if x-kubernetes-embedded-resource is set"))
    if lvl == _ROOT and t and t != "object":
        errs.append(invalid(f"{path}.type", t, "must be object at the root"))
    check_meta = lvl == _ROOT or embedded
    for f in ("kind", "apiVersion"):
        sub = props.get(f)
        if check_meta and isinstance(sub, dict) and sub.get("type") != "string":
            errs.append(invalid(f"{path}.properties[{f}].type", sub.get("type") or "", "must be string"))
    meta = props.get("metadata")
    if isinstance(meta, dict):
        mpath = f"{path}.properties[metadata]"
        if check_meta and meta.get("type") != "object":
            errs.append(invalid(f"{mpath}.type", meta.get("type") or "", "must be object"))
        if lvl == _ROOT:
            rest = {k: v for k, v in meta.items() if k not in ("type", "properties", "default")}
            mprops = meta.get("properties") or {}
            if rest or (mprops and set(mprops) - {"name", "generateName"}):
                errs.append(forbidden(mpath, "must not specify anything other than name and generateName, "
                                             "but metadata is implicitly specified"))
    if embedded and not preserve and not props:
        errs.append(required(f"{path}.properties", "must not be empty if x-kubernetes-embedded-resource is true "
                                                   "without x-kubernetes-preserve-unknown-fields"))


def _value_validation(s: dict[str, Any], skip_any_of: bool, skip_first_all_of: bool, path: str,
                      errs: list[FieldError]) -> None:
    if not skip_any_of:
        for i, sub in enumerate(s.get("anyOf") or []):
            _nested(sub, False, f"{path}.anyOf[{i}]", errs)
    for i, sub in enumerate(s.get("allOf") or []):
        _nested(sub, skip_first_all_of and i == 0, f"{path}.allOf[{i}]", errs)
    for i, sub in enumerate(s.get("oneOf") or []):
        _nested(sub, False, f"{path}.oneOf[{i}]", errs)
    if isinstance(s.get("not"), dict):
        _nested(s["not"], False, f"{path}.not", errs)
    pattern = s.get("pattern")
    if isinstance(pattern, str) and pattern:
        import re

        try:
            re.compile(pattern)
        except re.error as e:
            errs.append(invalid(f"{path}.pattern", pattern, f"must be a valid regular expression, but isn't: {e}"))


# what a schema under a junctor may not say (only value validations are allowed there)
_NESTED_FORBIDDEN = (
    ("type", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("externalDocs", "must be undefined to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
    ("x-kubernetes-validations", "must be empty to be structural"),
)


def _nested(s: Any, skip_any_of: bool, path: str, errs: list[FieldError]) -> None:
    if not isinstance(s, dict):
        return
    _value_validation(s, skip_any_of, False, path, errs)
    if isinstance(s.get("items"), dict):
        _nested(s["items"], False, f"{path}.items", errs)
    props = _props(s)
    for k, v in props.items():
        _nested(v, False, f"{path}.properties[{k}]", errs)
    for key, why in _NESTED_FORBIDDEN:
        v = s.get(key)
        if v not in (None, False, "", [], {}):
            errs.append(forbidden(f"{path}.{key}", why))
    if "metadata" in props:
        errs.append(forbidden(f"{path}.properties[metadata]", "must not be specified in a nested context"))


def _completeness(s: dict[str, Any], path: str, errs: list[FieldError]) -> None:
    """Every field a junctor names must be specified beside it (validateStructuralCompleteness)."""
    props = _props(s)
    for junctor in ("allOf", "anyOf", "oneOf"):
        for i, sub in enumerate(s.get(junctor) or []):
            if not isinstance(sub, dict):
                continue
            for k in sub.get("properties") or {}:
                if k not in props:
                    errs.append(required(f"{path}.properties[{k}]",
                                         f"because it is defined in {junctor}[{i}].properties[{k}]"))
            if sub.get("items") is not None and not isinstance(s.get("items"), dict):
                errs.append(required(f"{path}.items", f"because it is defined in {junctor}[{i}].items"))
    for k, v in props.items():
        if isinstance(v, dict):
            _completeness(v, f"{path}.properties[{k}]", errs)
    if isinstance(s.get("items"), dict):
        _completeness(s["items"], f"{path}.items", errs)
    if isinstance(s.get("additionalProperties"), dict):
        _completeness(s["additionalProperties"], f"{path}.additionalProperties", errs)
