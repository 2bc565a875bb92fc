"""The base every shoal model derives from, and the markers the models carry.

Models are msgspec Structs: decoding a pod is several times faster than with
pydantic, and the same class yields JSON, validation of types, and (through
``msgspec.json.schema``) the OpenAPI documents kubectl reads.

Conventions every model keeps, so that generic code (patch, OpenAPI, unknown
field detection) can walk any of them:

* Python names are snake_case and are renamed to camelCase on the wire; where
  Kubernetes spells a name otherwise (``podIP``, ``hostIPC``) the field says so
  with ``msgspec.field(name=...)``.
* Every optional field defaults to ``None`` and is omitted when ``None``
  (``omit_defaults``). Kubernetes defaults are applied explicitly by
  ``shoal.api.defaults``, so a defaulted value is written out, as upstream does.
* Patch metadata lives on the field's type: ``Annotated[list[X], merge_key("name")]``.
  Strategic merge patch and the OpenAPI generator both read it from there.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Model(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    """Base of every API model: keyword-only, camelCase, ``None`` omitted."""


def merge_key(key: str, *, retain_keys: bool = False) -> msgspec.Meta:
    """Strategic-merge metadata for a list merged item by item on ``key``."""
    strategy = "merge,retainKeys" if retain_keys else "merge"
    return msgspec.Meta(
        extra_json_schema={
            "x-kubernetes-patch-strategy": strategy,
            "x-kubernetes-patch-merge-key": key,
        }
    )


def retain_keys() -> msgspec.Meta:
    """Strategic-merge metadata for a struct patched with the retainKeys strategy."""
    return msgspec.Meta(extra_json_schema={"x-kubernetes-patch-strategy": "retainKeys"})


def patch_extensions(meta: Any) -> dict[str, Any]:
    """The ``x-kubernetes-*`` patch extensions on a msgspec.inspect node, if any."""
    extra = getattr(meta, "extra_json_schema", None) or {}
    return {k: v for k, v in extra.items() if k.startswith("x-kubernetes-")}
