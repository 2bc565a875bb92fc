"""Validation of a CustomResourceDefinition, with apiextensions-apiserver's messages.

``validate_crd`` is registered for the CRD model in ``shoal.api.validation`` and
runs on every create and update; ``validate_crd_update`` adds what may not
change. The checks, as upstream's ``ValidateCustomResourceDefinition``:
``metadata.name`` is ``<plural>.<group>``; the group is a DNS subdomain with a
dot; the scope is ``Namespaced`` or ``Cluster``; the names are DNS-1035 labels
(kind and listKind in mixed case, and not equal); exactly one version is the
storage version, version names are unique DNS-1035 labels; every version has
a structural schema (``shoal.api.crd.structural``) whose patterns, defaults
and CEL rules compile; the scale subresource's paths and the printer columns'
JSONPaths are of the supported kind.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shoal.api.crd import jsonpath, rules
from shoal.api.crd.schema import SchemaError, compile_schema, validate
from shoal.api.crd.structural import structural_errors
from shoal.api.models.apiextensions import (
    CustomResourceColumnDefinition,
    CustomResourceDefinition,
    CustomResourceDefinitionNames,
    CustomResourceDefinitionVersion,
)
from shoal.api.validation_base import (
    FieldError,
    dns1035_label,
    dns1123_subdomain,
    immutable,
    invalid,
    required,
    unsupported,
)

SCOPES = ("Cluster", "Namespaced")
COLUMN_TYPES = ("boolean", "date", "integer", "number", "string")
COLUMN_FORMATS = ("byte", "date", "date-time", "double", "float", "int32", "int64", "password", "name", "uri",
                  "hostname", "email", "ipv4", "ipv6", "cidr", "mac", "uuid", "duration", "")


def _label(path: str, value: str, *, mixed: bool = False) -> list[FieldError]:
    msgs = dns1035_label(value.lower() if mixed else value)
    if not value or not msgs:
        return []
    detail = ",".join(msgs)
    return [invalid(path, value, ("may have mixed case, but should otherwise match: " + detail) if mixed else detail)]


def validate_names(names: CustomResourceDefinitionNames | None, path: str) -> list[FieldError]:
    """``ValidateCustomResourceDefinitionNames`` (spec.names and status.acceptedNames)."""
    if names is None:
        return []
    errs: list[FieldError] = []
    errs += _label(f"{path}.plural", names.plural or "")
    errs += _label(f"{path}.singular", names.singular or "")
    errs += _label(f"{path}.kind", names.kind or "", mixed=True)
    errs += _label(f"{path}.listKind", names.list_kind or "", mixed=True)
    for i, s in enumerate(names.short_names or []):
        errs += _label(f"{path}.shortNames[{i}]", s) if s else [invalid(f"{path}.shortNames[{i}]", s, "must not be empty")]
    if names.kind and names.kind == names.list_kind:
        errs.append(invalid(f"{path}.listKind", names.list_kind, "kind and listKind may not be the same"))
    for i, c in enumerate(names.categories or []):
        errs += _label(f"{path}.categories[{i}]", c) if c else [invalid(f"{path}.categories[{i}]", c, "must not be empty")]
    return errs


def validate_crd(crd: CustomResourceDefinition) -> list[FieldError]:
    errs: list[FieldError] = []
    spec = crd.spec
    if spec is None:
        return [required("spec")]
    names = spec.names or CustomResourceDefinitionNames()
    name = crd.metadata.name if crd.metadata is not None else None
    if name and name != f"{names.plural}.{spec.group}":
        errs.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    group = spec.group or ""
    if not group:
        errs.append(required("spec.group"))
    elif msgs := dns1123_subdomain(group):
        errs.append(invalid("spec.group", group, ",".join(msgs)))
    elif len(group.split(".")) < 2:
        errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    if not spec.scope:
        errs.append(required("spec.scope"))
    elif spec.scope not in SCOPES:
        errs.append(unsupported("spec.scope", spec.scope, SCOPES))
    errs += _validate_versions(spec.versions or [], status_enabled=False)
    for f in ("plural", "singular", "kind", "listKind"):
        value = getattr(names, "list_kind" if f == "listKind" else f)
        if not value:
            errs.append(required(f"spec.names.{f}"))
    errs += validate_names(spec.names, "spec.names")
    conv = spec.conversion
    if conv is not None and conv.strategy not in (None, "None", "Webhook"):
        errs.append(unsupported("spec.conversion.strategy", conv.strategy, ("None", "Webhook")))
    if conv is not None and conv.strategy == "Webhook" and (conv.webhook is None or conv.webhook.client_config is None):
        errs.append(required("spec.conversion.webhook.clientConfig", "required when strategy is set to Webhook"))
    if spec.preserve_unknown_fields:
        errs.append(invalid("spec.preserveUnknownFields", True, "cannot set to true, set "
                            "x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead"))
    if crd.status is not None:
        errs += validate_names(crd.status.accepted_names, "status.acceptedNames")
        versions = {v.name for v in spec.versions or []}
        for i, sv in enumerate(crd.status.stored_versions or []):
            if sv not in versions:
                errs.append(invalid(f"status.storedVersions[{i}]", sv, "must appear in spec.versions"))
    return errs


def _validate_versions(versions: list[CustomResourceDefinitionVersion], *, status_enabled: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    if not versions:
        errs.append(required("spec.versions", "must have at least one version"))
    storage = sum(1 for v in versions if v.storage)
    seen: set[str] = set()
    unique = True
    for i, v in enumerate(versions):
        at = f"spec.versions[{i}]"
        vname = v.name or ""
        if vname in seen:
            unique = False
        seen.add(vname)
        if not vname:
            errs.append(required(f"{at}.name"))
        elif msgs := dns1035_label(vname):
            errs.append(invalid(f"{at}.name", vname, ",".join(msgs)))
        errs += _validate_schema(v, f"{at}.schema")
        errs += _validate_subresources(v, f"{at}.subresources")
        for j, col in enumerate(v.additional_printer_columns or []):
            errs += _validate_column(col, f"{at}.additionalPrinterColumns[{j}]")
        for j, sf in enumerate(v.selectable_fields or []):
            errs += _validate_path(sf.json_path, f"{at}.selectableFields[{j}].jsonPath")
    shown = [msgspec.to_builtins(v) for v in versions]
    if not unique:
        errs.append(invalid("spec.versions", shown, "must contain unique version names"))
    if versions and storage != 1:
        errs.append(invalid("spec.versions", shown, "must have exactly one version marked as storage version"))
    return errs


def _validate_schema(v: CustomResourceDefinitionVersion, path: str) -> list[FieldError]:
    schema = v.schema.open_apiv3_schema if v.schema is not None else None
    spath = f"{path}.openAPIV3Schema"
    errs = structural_errors(schema, spath)
    if errs or not isinstance(schema, dict):
        return errs
    try:
        root = compile_schema(schema)
    except SchemaError as e:
        return [invalid(spath, "", f"error building validator: {e}")]
    for p in rules.attach(root, spath):
        errs.append(required(p.path) if p.detail == "Required value" else invalid(p.path, p.value, p.detail))
    errs += _validate_defaults(schema, root, spath)
    return errs


def _validate_defaults(raw: dict[str, Any], node: Any, path: str) -> list[FieldError]:
    """Each ``default`` must itself be valid for its schema (upstream validates defaults the same way)."""
    errs: list[FieldError] = []
    if "default" in raw:
        bad = validate(raw["default"], node, "")
        if bad:
            errs.append(invalid(f"{path}.default", raw["default"], "; ".join(str(e) for e in bad)))
    for k, sub in (node.properties or {}).items():
        errs += _validate_defaults(sub.raw, sub, f"{path}.properties[{k}]")
    if node.items is not None:
        errs += _validate_defaults(node.items.raw, node.items, f"{path}.items")
    if not isinstance(node.additional, bool) and node.additional is not None:
        errs += _validate_defaults(node.additional.raw, node.additional, f"{path}.additionalProperties")
    return errs


def _validate_subresources(v: CustomResourceDefinitionVersion, path: str) -> list[FieldError]:
    subs = v.subresources
    if subs is None or subs.scale is None:
        return []
    sc = subs.scale
    errs: list[FieldError] = []
    for fname, value, under, words in (
        ("specReplicasPath", sc.spec_replicas_path, ("spec",), "should be a json path under .spec"),
        ("statusReplicasPath", sc.status_replicas_path, ("status",), "should be a json path under .status"),
    ):
        if not value:
            errs.append(required(f"{path}.scale.{fname}"))
        elif not _fields_under(value, under):
            errs.append(invalid(f"{path}.scale.{fname}", value, words))
    lsp = sc.label_selector_path
    if lsp and not _fields_under(lsp, ("spec", "status")):
        errs.append(invalid(f"{path}.scale.labelSelectorPath", lsp, "should be a json path under either .spec or .status"))
    return errs


def _fields_under(path: str, roots: tuple[str, ...]) -> bool:
    try:
        fields = jsonpath.field_path(jsonpath.parse(path))
    except jsonpath.JSONPathError:
        return False
    return fields is not None and len(fields) >= 2 and fields[0] in roots


def _validate_path(path: str | None, at: str) -> list[FieldError]:
    if not path:
        return [required(at)]
    try:
        jsonpath.parse(path)
    except jsonpath.JSONPathError as e:
        return [invalid(at, path, str(e))]
    return []


def _validate_column(col: CustomResourceColumnDefinition, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not col.name:
        errs.append(required(f"{path}.name"))
    if not col.type:
        errs.append(required(f"{path}.type", "must not be empty"))
    elif col.type not in COLUMN_TYPES:
        errs.append(unsupported(f"{path}.type", col.type, COLUMN_TYPES))
    if col.format and col.format not in COLUMN_FORMATS:
        errs.append(unsupported(f"{path}.format", col.format, [f for f in COLUMN_FORMATS if f]))
    if col.priority is not None and col.priority < 0:
        errs.append(invalid(f"{path}.priority", col.priority, "must be greater than or equal to 0"))
    errs += _validate_path(col.json_path, f"{path}.jsonPath")
    return errs


def validate_crd_update(new: CustomResourceDefinition, old: CustomResourceDefinition) -> list[FieldError]:
    """What may not change: the group and plural always; scope and kind once established."""
    errs: list[FieldError] = []
    ns, os_ = new.spec, old.spec
    if ns is None or os_ is None:
        return errs
    nn, on = ns.names or CustomResourceDefinitionNames(), os_.names or CustomResourceDefinitionNames()
    errs += immutable("spec.group", ns.group, os_.group)
    errs += immutable("spec.names.plural", nn.plural, on.plural)
    established = any(c.type == "Established" and c.status == "True"
                      for c in (old.status.conditions or [] if old.status is not None else []))
    if established:
        errs += immutable("spec.scope", ns.scope, os_.scope)
        errs += immutable("spec.names.kind", nn.kind, on.kind)
    return errs
