"""What a CRD makes the server serve: one ``CustomKind`` per served version, compiled once.

A ``CustomKind`` is the custom resource's ``ResourceInfo`` (routing, discovery,
storage keys: every version of a CRD shares the group's key prefix, as
upstream's storage does) together with what only custom resources have: the
version's compiled structural schema (validation, defaulting, pruning and CEL
rules, ``shoal.api.crd.schema`` / ``rules``), its printer columns, the scale
subresource's paths and the storage version. ``custom_kinds(crd)`` builds them
from a stored CRD; the API server installs them in its registry of served kinds
when the CRD is established and drops them when it goes.

``custom_of(info)`` is how the rest of the server (and server-side apply,
which needs list and map types) reaches this from a ``ResourceInfo``;
``structural_schema(info)`` gives a custom kind's ``openAPIV3Schema``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shoal.api.crd import jsonpath, rules
from shoal.api.crd.schema import Node, compile_schema
from shoal.api.registry import ALL_VERBS, ResourceInfo

GROUP = "apiextensions.k8s.io"
CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    name: str
    type: str
    format: str
    description: str
    priority: int
    path: tuple[jsonpath.Step, ...]


@dataclass(frozen=True, slots=True)
class ScalePaths:
    spec_replicas: tuple[str, ...]
    status_replicas: tuple[str, ...]
    label_selector: tuple[str, ...] | None


@dataclass(eq=False, slots=True)
class CustomKind:
    """One served version of a CRD, ready to validate and print its objects."""

    crd_name: str
    info: ResourceInfo
    schema: dict[str, Any] | None  # the version's openAPIV3Schema, as written
    root: Node
    storage_version: str
    columns: tuple[PrinterColumn, ...]
    scale: ScalePaths | None
    status: bool
    preserve_unknown: bool = False
    deprecated: bool = False
    deprecation_warning: str = ""
    selectable_fields: tuple[tuple[str, tuple[jsonpath.Step, ...]], ...] = ()
    list_kind: str = ""
    # set by the server's CRD controller once the CRD is being deleted: creates are refused from then on
    terminating: bool = False

    @property
    def storage_api_version(self) -> str:
        return f"{self.info.group}/{self.storage_version}"


def custom_of(info: ResourceInfo) -> CustomKind | None:
    """The custom kind behind ``info``, or None for a built-in kind."""
    c = info.custom
    return c if isinstance(c, CustomKind) else None


def structural_schema(info: ResourceInfo) -> dict[str, Any] | None:
    """The structural schema (``openAPIV3Schema``) of a custom kind; None for built-ins."""
    c = custom_of(info)
    return c.schema if c is not None else None


_AGE = PrinterColumn("Age", "date", "", "CreationTimestamp is a timestamp representing the server time when this "
                     "object was created. It is not guaranteed to be set in happens-before order across separate "
                     "operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.",
                     0, (jsonpath.Field("metadata"), jsonpath.Field("creationTimestamp")))


def _columns(raw: list[dict[str, Any]] | None) -> tuple[PrinterColumn, ...]:
    if not raw:
        return (_AGE,)
    out = []
    for c in raw:
        try:
            steps = jsonpath.parse(str(c.get("jsonPath") or ""))
        except jsonpath.JSONPathError:
            continue
        out.append(PrinterColumn(str(c.get("name") or ""), str(c.get("type") or "string"), str(c.get("format") or ""),
                                 str(c.get("description") or ""), int(c.get("priority") or 0), steps))
    return tuple(out)


def _fields(path: str | None) -> tuple[str, ...] | None:
    if not path:
        return None
    try:
        return jsonpath.field_path(jsonpath.parse(path))
    except jsonpath.JSONPathError:
        return None


def _scale(raw: dict[str, Any] | None) -> ScalePaths | None:
    if not isinstance(raw, dict):
        return None
    spec = _fields(raw.get("specReplicasPath"))
    status = _fields(raw.get("statusReplicasPath"))
    if spec is None or status is None:
        return None
    return ScalePaths(spec, status, _fields(raw.get("labelSelectorPath")))


def storage_version(crd: Mapping[str, Any]) -> str:
    for v in (crd.get("spec") or {}).get("versions") or []:
        if v.get("storage"):
            return str(v.get("name"))
    return ""


def _info(crd: Mapping[str, Any], v: dict[str, Any]) -> ResourceInfo:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    kind = str(names.get("kind") or "")
    subs = v.get("subresources") or {}
    sub_names = tuple(s for s in ("status", "scale") if isinstance(subs.get(s), dict))
    return ResourceInfo(
        str(spec.get("group") or ""), str(v.get("name")), kind, str(names.get("plural") or ""),
        str(names.get("singular") or kind.lower()), spec.get("scope") == "Namespaced", None,
        short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
        subresources=sub_names, verbs=ALL_VERBS, has_spec=True, status_subresource="status" in sub_names,
    )


def resource_infos(crd: Mapping[str, Any]) -> list[ResourceInfo]:
    """The ``ResourceInfo`` of each served version of a CRD, without compiling anything (what clients
    and controllers need to list and watch the kind)."""
    return [_info(crd, v) for v in (crd.get("spec") or {}).get("versions") or [] if v.get("served")]


def primary_info(crd: Mapping[str, Any]) -> ResourceInfo | None:
    """The one version a controller follows a custom kind through: the storage version if served, else
    the first served one (every version lists the same objects)."""
    infos = resource_infos(crd)
    stored = storage_version(crd)
    return next((i for i in infos if i.version == stored), infos[0] if infos else None)


def is_established(crd: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [] if isinstance(c, dict))


def custom_kinds(crd: dict[str, Any]) -> list[CustomKind]:
    """The served versions of a (valid, stored) CRD, each compiled."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    kind = str(names.get("kind") or "")
    stored = storage_version(crd)
    out: list[CustomKind] = []
    for v in spec.get("versions") or []:
        if not v.get("served"):
            continue
        info = _info(crd, v)
        subs = v.get("subresources") or {}
        schema = (v.get("schema") or {}).get("openAPIV3Schema")
        root = compile_schema(schema)
        rules.attach(root, "openAPIV3Schema")
        selectable = []
        for f in v.get("selectableFields") or []:
            path = str(f.get("jsonPath") or "")
            try:
                selectable.append((path.lstrip("."), jsonpath.parse(path)))
            except jsonpath.JSONPathError:
                continue
        ck = CustomKind(
            crd_name=str((crd.get("metadata") or {}).get("name") or ""), info=info,
            schema=schema if isinstance(schema, dict) else None, root=root, storage_version=stored,
            columns=_columns(v.get("additionalPrinterColumns")), scale=_scale(subs.get("scale")),
            status=info.status_subresource, preserve_unknown=bool(spec.get("preserveUnknownFields")),
            deprecated=bool(v.get("deprecated")), deprecation_warning=str(v.get("deprecationWarning") or ""),
            selectable_fields=tuple(selectable), list_kind=str(names.get("listKind") or f"{kind}List"),
        )
        # the info and its custom kind point at each other: the info is frozen, so the link is set once here
        object.__setattr__(info, "custom", ck)
        out.append(ck)
    return out


# ---- version order (upstream's "kube-aware" sort: GA > beta > alpha > anything else) -------------

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_key(v: str) -> tuple[int, int, int, str]:
    """Sort key putting the preferred version first: v2, v1, v1beta2, v1beta1, v1alpha1, then others by name."""
    m = _VERSION.match(v)
    if not m:
        return (3, 0, 0, v)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, v)
