"""OpenAPI v3 documents of custom group versions, built from the CRDs' structural schemas.

As upstream publishes them: the kind's schema is the version's
``openAPIV3Schema`` with ``apiVersion``, ``kind`` and ``metadata`` (a ``$ref``
to ObjectMeta) filled in, named ``<reversed group>.<version>.<Kind>``
(``com.example.v1.Widget``) and tagged with its group-version-kind, so
``kubectl explain widgets.spec`` reads it; the paths are those of any resource
(``resource_paths``), so the PATCH operation lists ``fieldValidation`` and
kubectl leaves validation to the server. The API server builds a document
when a custom group version is first asked for after a CRD changed, and
caches it until the next change.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from shoal.api.crd.kind import custom_of
from shoal.api.meta import ListMeta, ObjectMeta, Status
from shoal.api.models.autoscaling import Scale
from shoal.api.openapi.document import GVK_KEY, WATCH_EVENT, _add_meta_bodies, _list_schema, gvk
from shoal.api.openapi.paths import DELETE_OPTIONS, PATCH_CONTENT_TYPES, KindRefs, resource_paths
from shoal.api.openapi.schemas import Schema, SchemaSet, ref, with_siblings
from shoal.api.registry import ResourceInfo

# what upstream lists for custom resources: no strategic merge patch (kubectl's apply then sends a merge patch)
CUSTOM_PATCH_TYPES = tuple(t for t in PATCH_CONTENT_TYPES if t != "application/strategic-merge-patch+json")


def custom_schema_name(info: ResourceInfo, kind: str | None = None) -> str:
    """``example.com/v1 Widget`` -> ``com.example.v1.Widget``."""
    reversed_group = ".".join(reversed(info.group.split(".")))
    return f"{reversed_group}.{info.version}.{kind or info.kind}"


def _kind_schema(info: ResourceInfo, object_meta: str) -> Schema:
    ck = custom_of(info)
    raw: dict[str, Any] = copy.deepcopy(ck.schema) if ck is not None and ck.schema else {
        "type": "object", "x-kubernetes-preserve-unknown-fields": True}
    props: dict[str, Any] = raw.setdefault("properties", {})
    props["apiVersion"] = {
        "description": "APIVersion defines the versioned schema of this representation of an object.",
        "type": "string"}
    props["kind"] = {"description": "Kind is a string value representing the REST resource this object "
                     "represents. In CamelCase.", "type": "string"}
    props["metadata"] = with_siblings(ref(object_meta), {"description": "Standard object's metadata."})
    raw.setdefault("type", "object")
    raw[GVK_KEY] = [gvk(info.group_version, info.kind)]
    return dict(sorted(raw.items()))


def build_custom_document(*, group_version: str, resources: Sequence[ResourceInfo]) -> dict[str, Any]:
    """The OpenAPI 3.0 document of a custom group version."""
    schemas = SchemaSet()
    schemas.add(Status)
    list_meta = schemas.add(ListMeta)
    object_meta = schemas.add(ObjectMeta)
    _add_meta_bodies(schemas)
    paths: dict[str, Any] = {}
    for r in resources:
        obj = schemas.add_schema(custom_schema_name(r), _kind_schema(r, object_meta))
        ck = custom_of(r)
        list_kind = ck.list_kind if ck is not None else f"{r.kind}List"
        list_name = schemas.add_schema(custom_schema_name(r, list_kind),
                                       _list_schema(r.kind, item=obj, list_meta=list_meta))
        schemas.schemas[list_name][GVK_KEY] = [gvk(r.group_version, list_kind)]
        scale = None
        if "scale" in r.subresources:
            scale = schemas.add(Scale)
            schemas.schemas[scale][GVK_KEY] = [gvk("autoscaling/v1", "Scale")]
        paths.update(resource_paths(r, KindRefs(object=obj, list=list_name, scale=scale, patch_types=CUSTOM_PATCH_TYPES)))
    every_version = list(dict.fromkeys(["v1", group_version]))
    for body in (DELETE_OPTIONS, WATCH_EVENT):
        schemas.schemas[body][GVK_KEY] = [gvk(gv, body.rsplit(".", 1)[-1]) for gv in every_version]
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD Swagger", "version": "v0.1.0"},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.schemas.items())),
            "securitySchemes": {
                "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header",
                                "description": "Bearer Token authentication"}
            },
        },
        "security": [{"BearerToken": []}],
    }
