"""The strategy of every custom kind (one instance per served version of a CRD).

A write is pruned of fields the version's schema does not specify (refused
under ``fieldValidation=Strict``, a warning under ``Warn``), defaulted, then
held to the schema and its CEL rules (``shoal.api.crd``) and to the metadata
rules every object has; every violation is one cause of the 422, as upstream
(CEL rules are skipped, with upstream's note, when a value has the wrong type).
The status subresource, when the version has one, owns ``status``;
``metadata.generation`` moves when anything but metadata (and status, with the
subresource) changes. Creates are refused while the CRD is being deleted.
"""

from __future__ import annotations

from typing import Any

from shoal.api import apply as applylib
from shoal.api import convert
from shoal.api.crd import rules
from shoal.api.crd.kind import CustomKind
from shoal.api.crd.schema import BLOCKED_RULES, apply_defaults, blocks_rules, prune, validate
from shoal.api.meta import ObjectMeta
from shoal.api.registry import ResourceInfo
from shoal.api.validation_base import (
    FieldError,
    InvalidError,
    invalid,
    validate_object_meta,
    validate_object_meta_update,
)
from shoal.apiserver import admission, errors
from shoal.apiserver.strategies.base import DefaultStrategy
from shoal.apiserver.tables.custom import custom_printer

_META_AND_STATUS = ("metadata", "status")


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("name") or meta.get("generateName") or "")


def admit_custom(kind: CustomKind, data: dict[str, Any], *, old: dict[str, Any] | None,
                 field_validation: str) -> tuple[dict[str, Any], list[str]]:
    """Prune, default and validate a custom resource (in place); return it and the warnings."""
    info = kind.info
    warnings: list[str] = []
    if not kind.preserve_unknown:
        dropped = prune(data, kind.root)
        if dropped and field_validation != "Ignore":
            msgs = [f'unknown field "{p}"' for p in dropped]
            if field_validation == "Strict":
                raise errors.bad_request("strict decoding error: " + ", ".join(msgs))
            warnings += msgs
    meta_raw = data.get("metadata")
    try:
        meta = convert.decode(meta_raw if meta_raw is not None else {}, ObjectMeta)
    except InvalidError as e:
        moved = InvalidError(FieldError(f"metadata.{err.path}" if err.path else "metadata", err.type, err.detail,
                                        err.value) for err in e.errors)
        raise errors.bad_request(moved.message(info.kind, _name(data), group=info.group)) from None
    apply_defaults(data, kind.root)
    errs: list[FieldError] = validate_object_meta(meta, namespaced=info.namespaced)
    schema_errs = validate(data, kind.root)
    errs += schema_errs
    if blocks_rules(schema_errs):
        errs.append(invalid("", None, BLOCKED_RULES))
    else:
        errs += rules.evaluate(data, kind.root, old if old is not None else rules.NO_OLD)
    if old is not None:
        try:
            old_meta = convert.decode(old.get("metadata") or {}, ObjectMeta)
        except InvalidError:
            old_meta = None
        errs += validate_object_meta_update(meta, old_meta)
    if errs:
        raise errors.invalid(info.kind, _name(data), [e.cause() for e in errs], info.group)
    if kind.deprecated:
        warnings.append(kind.deprecation_warning or f"{info.group}/{info.version} {info.kind} is deprecated")
    return data, warnings


def _without(obj: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys and k not in ("apiVersion", "kind")}


def custom_field_schema(schema: dict[str, Any] | None) -> applylib.TypeNode:
    root = applylib.from_openapi(schema) if isinstance(schema, dict) else applylib.UNTYPED
    fields = dict(root.fields) if root.kind == "map" else {}
    fields["metadata"] = applylib.for_model(ObjectMeta)
    fields.setdefault("apiVersion", applylib.SCALAR)
    fields.setdefault("kind", applylib.SCALAR)
    elements = root.elements if root.kind == "map" else applylib.UNTYPED
    return applylib.TypeNode("map", fields=fields, elements=elements)


class CustomResourceStrategy(DefaultStrategy):
    """The rules of one served version of a custom kind."""

    returns_deleted_object = True

    def __init__(self, info: ResourceInfo, kind: CustomKind) -> None:
        super().__init__(info)
        self.custom = kind
        self.printer = custom_printer(kind.columns)
        self.field_labels = frozenset(name for name, _ in kind.selectable_fields)
        self._field_schema: applylib.TypeNode | None = None

    def field_schema(self) -> applylib.TypeNode:
        """The version's structural schema as apply's type tree (built once per served version), with
        ``metadata`` typed as ObjectMeta: a CRD's schema may not describe it, and labels, annotations
        and owner references merge as on every other kind."""
        node = self._field_schema
        if node is None:
            node = self._field_schema = custom_field_schema(self.custom.schema)
        return node

    def validate_create(self, data: dict[str, Any], *, field_validation: str, shape_checked: bool,
                        json_body: bool) -> tuple[dict[str, Any], list[str]]:
        if not shape_checked:
            admission.check_shape(data)
        return admit_custom(self.custom, data, old=None, field_validation=field_validation)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], *,
                        field_validation: str) -> tuple[dict[str, Any], list[str]]:
        admission.check_shape(new)
        return admit_custom(self.custom, new, old=old, field_validation=field_validation)

    def reset_status(self, obj: dict[str, Any]) -> None:
        if self.custom.status:
            obj.pop("status", None)  # create cannot set status when the subresource owns it

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        nm, om = new.setdefault("metadata", {}), old.get("metadata", {})
        generation = om.get("generation")
        super().prepare_update(new, old)  # server-owned fields, and status kept with the subresource
        ignore = _META_AND_STATUS if self.custom.status else ("metadata",)
        if _without(new, ignore) != _without(old, ignore):
            nm["generation"] = int(generation or 0) + 1
        elif generation is not None:
            nm["generation"] = generation
        else:
            nm.pop("generation", None)

    async def admit_create(self, ns: str | None, obj: dict[str, Any], data: dict[str, Any]) -> None:
        if self.custom.terminating:
            raise errors.method_not_allowed("create not allowed while custom resource definition is terminating")
