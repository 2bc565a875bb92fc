"""One OpenAPI 3.0 document per group version, as ``/openapi/v3/<gv>`` serves it.

A document holds the paths of the group version's resources and every schema
they reach: the kinds (tagged with ``x-kubernetes-group-version-kind``, which is
how ``kubectl explain`` finds them), their List kinds, the nested types shared
by ``$ref``, and the meta/v1 bodies every API uses (Status, DeleteOptions,
Patch, WatchEvent). It is built from the models and the kind registry, so it
changes only when they do; callers cache it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shoal.api.meta import ListMeta, Status
from shoal.api.openapi.names import META_PACKAGE, package_of, short_name
from shoal.api.openapi.paths import DELETE_OPTIONS, PATCH, KindRefs, resource_paths
from shoal.api.openapi.schemas import Schema, SchemaSet, ref, with_siblings
from shoal.api.registry import ResourceInfo

PRECONDITIONS = f"{META_PACKAGE}.Preconditions"
WATCH_EVENT = f"{META_PACKAGE}.WatchEvent"
GVK_KEY = "x-kubernetes-group-version-kind"

_API_VERSION: Schema = {
    "description": "APIVersion defines the versioned schema of this representation of an object.",
    "type": "string",
}
_KIND: Schema = {
    "description": "Kind is a string value representing the REST resource this object "
    "represents. In CamelCase.",
    "type": "string",
}


def gvk(api_version: str, kind: str) -> dict[str, str]:
    """The ``{"group", "kind", "version"}`` tag of a kind."""
    group, _, version = api_version.rpartition("/")
    return {"group": group, "kind": kind, "version": version}


def _list_schema(kind: str, *, item: str, list_meta: str) -> Schema:
    return {
        "description": f"{kind}List is a list of {kind} objects.",
        "type": "object",
        "properties": {
            "apiVersion": dict(_API_VERSION),
            "items": {
                "description": f"List of {kind} objects.",
                "type": "array",
                "items": ref(item),
            },
            "kind": dict(_KIND),
            "metadata": with_siblings(ref(list_meta), {"description": "Standard list metadata."}),
        },
        "required": ["items"],
    }


def _add_meta_bodies(schemas: SchemaSet) -> None:
    """DeleteOptions, Preconditions, Patch and WatchEvent: bodies with no model."""
    schemas.add_schema(
        PRECONDITIONS,
        {
            "description": "Preconditions must be fulfilled before an operation (update, delete, "
            "etc.) is carried out.",
            "type": "object",
            "properties": {
                "resourceVersion": {
                    "description": "Specifies the target ResourceVersion",
                    "type": "string",
                },
                "uid": {"description": "Specifies the target UID.", "type": "string"},
            },
        },
    )
    schemas.add_schema(
        DELETE_OPTIONS,
        {
            "description": "DeleteOptions may be provided when deleting an API object.",
            "type": "object",
            "properties": {
                "apiVersion": dict(_API_VERSION),
                "dryRun": {
                    "description": "When present, indicates that modifications should not "
                    "be persisted. The only valid value is All.",
                    "type": "array",
                    "items": {"type": "string"},
                },
                "gracePeriodSeconds": {
                    "description": "The duration in seconds before the object should be deleted.",
                    "type": "integer",
                    "format": "int64",
                },
                "kind": dict(_KIND),
                "orphanDependents": {
                    "description": "Deprecated: please use the PropagationPolicy.",
                    "type": "boolean",
                },
                "preconditions": with_siblings(
                    ref(PRECONDITIONS),
                    {"description": "Must be fulfilled before a deletion is carried out."},
                ),
                "propagationPolicy": {
                    "description": "Whether and how garbage collection will be "
                    "performed: Orphan, Background or Foreground.",
                    "type": "string",
                },
            },
        },
    )
    schemas.add_schema(
        PATCH,
        {
            "description": "Patch is provided to give a concrete name and type to the Kubernetes "
            "PATCH request body.",
            "type": "object",
        },
    )
    schemas.add_schema(
        WATCH_EVENT,
        {
            "description": "Event represents a single event to a watched resource.",
            "type": "object",
            "properties": {
                "object": {
                    "description": "The object: the new state for ADDED and MODIFIED, the "
                    "last state for DELETED, a Status for ERROR.",
                    "type": "object",
                },
                "type": {
                    "description": "ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.",
                    "type": "string",
                },
            },
            "required": ["type", "object"],
        },
    )


def build_document(
    *,
    group_version: str,
    resources: Sequence[ResourceInfo],
    kinds: Mapping[tuple[str, str], type],
) -> dict[str, Any]:
    """The OpenAPI 3.0 document of one group version.

    ``resources`` are the resources served in it; ``kinds`` maps
    ``(apiVersion, kind)`` to model classes, for the group-version-kind tags and
    for subresource bodies (``autoscaling/v1`` Scale, ``v1`` Binding).
    """
    schemas = SchemaSet()
    schemas.add(Status)
    list_meta = schemas.add(ListMeta)
    _add_meta_bodies(schemas)
    tags: dict[type, dict[str, str]] = {cls: gvk(av, k) for (av, k), cls in kinds.items()}
    scale_cls = kinds.get(("autoscaling/v1", "Scale"))
    binding_cls = kinds.get(("v1", "Binding"))
    paths: dict[str, Any] = {}
    list_tags: dict[str, dict[str, str]] = {}
    for r in resources:
        if r.group_version != group_version:
            raise ValueError(f"{r.plural} is served in {r.group_version}, not {group_version}")
        tags[r.model] = gvk(r.group_version, r.kind)
        obj = schemas.add(r.model)
        list_name = f"{package_of(r.model)}.{r.kind}List"
        schemas.add_schema(list_name, _list_schema(r.kind, item=obj, list_meta=list_meta))
        list_tags[list_name] = gvk(r.group_version, f"{r.kind}List")
        refs = KindRefs(
            object=obj,
            list=list_name,
            scale=schemas.add(scale_cls) if scale_cls and "scale" in r.subresources else None,
            binding=(
                schemas.add(binding_cls) if binding_cls and "binding" in r.subresources else None
            ),
        )
        paths.update(resource_paths(r, refs))
    for cls, name in schemas.names.items():
        if cls in tags:
            schemas.schemas[name][GVK_KEY] = [tags[cls]]
    for name, tag in list_tags.items():
        schemas.schemas[name][GVK_KEY] = [tag]
    every_version = list(dict.fromkeys(["v1", group_version]))
    for body in (DELETE_OPTIONS, WATCH_EVENT):
        schemas.schemas[body][GVK_KEY] = [gvk(gv, short_name(body)) for gv in every_version]
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.schemas.items())),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "name": "authorization",
                    "in": "header",
                    "description": "Bearer Token authentication",
                }
            },
        },
        "security": [{"BearerToken": []}],
    }
