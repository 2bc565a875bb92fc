"""The OpenAPI v3 documents: shape, links, names, patch metadata, operations.

The documents are checked the way their readers use them: every ``$ref`` must
resolve (kubectl explain walks them), kinds must carry their
group-version-kind, and every PATCH operation must list ``fieldValidation``
(kubectl's check takes the first PATCH operation of the kind it finds).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from typing import Annotated, Any, Literal

import msgspec
import pytest

from shoal.api.kinds import GROUP_VERSIONS, RESOURCES
from shoal.api.models import KINDS
from shoal.api.models.apps import Deployment
from shoal.api.models.pod import Container, Pod
from shoal.api.openapi import (
    document_bytes,
    group_version_path,
    normalize_group_version,
    openapi_document,
    openapi_index,
    schema_name,
)
from shoal.api.openapi.document import build_document
from shoal.api.openapi.names import package_of_group_version
from shoal.api.openapi.schemas import SchemaSet
from shoal.api.registry import ResourceInfo

CORE = "io.k8s.api.core.v1."
APPS = "io.k8s.api.apps.v1."
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OPERATIONS = ("get", "put", "post", "patch", "delete")


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def schemas_of(gv: str) -> dict[str, Any]:
    result: dict[str, Any] = openapi_document(gv)["components"]["schemas"]
    return result


def prop(schemas: dict[str, Any], name: str, field: str) -> dict[str, Any]:
    result: dict[str, Any] = schemas[name]["properties"][field]
    return result


def target(schema: dict[str, Any]) -> str:
    """The schema name a property points at, through ``allOf`` if wrapped."""
    if "allOf" in schema:
        schema = schema["allOf"][0]
    ref: str = schema["$ref"]
    return ref.removeprefix("#/components/schemas/")


# --- every document ----------------------------------------------------------------


@pytest.mark.parametrize("gv", GROUP_VERSIONS)
def test_document_is_json_and_every_ref_resolves(gv: str) -> None:
    data, digest = document_bytes(gv)
    doc = json.loads(data)
    assert doc["openapi"].startswith("3.0")
    assert len(digest) == 128 and digest == digest.upper()
    schemas = doc["components"]["schemas"]
    refs = [n["$ref"] for n in walk(doc) if isinstance(n, dict) and "$ref" in n]
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


@pytest.mark.parametrize("gv", GROUP_VERSIONS)
def test_document_is_openapi_3_0(gv: str) -> None:
    """No JSON Schema 2020 leftovers: no null type, no $ref with siblings, no $defs."""
    doc = openapi_document(gv)
    for node in walk(doc):
        if not isinstance(node, dict):
            continue
        assert node.get("type") != "null"
        assert "$defs" not in node
        if "$ref" in node:
            assert list(node) == ["$ref"], node
        for alternatives in (node.get("anyOf"), node.get("oneOf")):
            for alt in alternatives or ():
                assert alt.get("type") != "null"


@pytest.mark.parametrize("gv", GROUP_VERSIONS)
def test_every_patch_lists_field_validation(gv: str) -> None:
    paths = openapi_document(gv)["paths"]
    patches = [item["patch"] for item in paths.values() if "patch" in item]
    assert patches
    for op in patches:
        names = [p["name"] for p in op["parameters"]]
        assert "fieldValidation" in names
        assert "$ref" not in json.dumps(op["parameters"])
        assert op["x-kubernetes-action"] == "patch"
        assert set(op["requestBody"]["content"]) >= {
            "application/strategic-merge-patch+json",
            "application/merge-patch+json",
            "application/json-patch+json",
            "application/apply-patch+yaml",
        }


@pytest.mark.parametrize("gv", GROUP_VERSIONS)
def test_every_operation_is_tagged(gv: str) -> None:
    for path, item in openapi_document(gv)["paths"].items():
        for verb in OPERATIONS:
            if verb in item:
                op = item[verb]
                assert set(op["x-kubernetes-group-version-kind"]) == {"group", "kind", "version"}
                assert op["x-kubernetes-action"], path
                assert op["operationId"], path


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: f"{r.group_version}/{r.plural}")
def test_explain_can_find_each_kind(resource: ResourceInfo) -> None:
    """What kubectl explain does: the GVK of the list/get operation, then the schema."""
    doc = openapi_document(resource.group_version)
    prefix = f"/apis/{resource.group_version}" if resource.group else "/api/v1"
    scope = "/namespaces/{namespace}" if resource.namespaced else ""
    found = None
    for path in (
        f"{prefix}{scope}/{resource.plural}",
        f"{prefix}{scope}/{resource.plural}/{{name}}",
    ):
        for verb in OPERATIONS:
            op = doc["paths"].get(path, {}).get(verb)
            if op:
                found = op["x-kubernetes-group-version-kind"]
                break
        if found:
            break
    assert found == {"group": resource.group, "kind": resource.kind, "version": resource.version}
    owners = [
        name
        for name, s in doc["components"]["schemas"].items()
        if found in s.get("x-kubernetes-group-version-kind", [])
    ]
    assert owners == [schema_name(resource.model)]
    lists = [
        name
        for name, s in doc["components"]["schemas"].items()
        if {**found, "kind": f"{resource.kind}List"} in s.get("x-kubernetes-group-version-kind", [])
    ]
    assert len(lists) == 1
    listed = doc["components"]["schemas"][lists[0]]
    assert listed["required"] == ["items"]
    assert target(listed["properties"]["items"]["items"]) == schema_name(resource.model)


# --- names and shared definitions ---------------------------------------------------------


def test_upstream_names() -> None:
    assert schema_name(Pod) == CORE + "Pod"
    assert schema_name(Deployment) == APPS + "Deployment"
    assert schema_name(Container) == CORE + "Container"
    for (api_version, kind), cls in KINDS.items():
        if kind == "Status":
            assert schema_name(cls) == META + "Status"
        else:
            assert schema_name(cls) == f"{package_of_group_version(api_version)}.{kind}"


def test_package_names() -> None:
    assert package_of_group_version("v1") == "io.k8s.api.core.v1"
    assert package_of_group_version("coordination.k8s.io/v1") == "io.k8s.api.coordination.v1"
    with pytest.raises(ValueError):
        package_of_group_version("apps/")


def test_nested_core_types_stay_in_core_and_are_shared() -> None:
    schemas = schemas_of("apps/v1")
    spec = schemas[APPS + "DeploymentSpec"]
    assert target(spec["properties"]["template"]) == CORE + "PodTemplateSpec"
    assert target(prop(schemas, CORE + "PodTemplateSpec", "metadata")) == META + "ObjectMeta"
    assert target(prop(schemas, CORE + "PodSpec", "containers")["items"]) == CORE + "Container"
    assert target(prop(schemas, APPS + "ReplicaSetSpec", "template")) == CORE + "PodTemplateSpec"
    assert CORE + "Pod" not in schemas
    assert "io.k8s.api.autoscaling.v1.Scale" in schemas


def test_meta_bodies_present() -> None:
    for gv in GROUP_VERSIONS:
        schemas = schemas_of(gv)
        for name in ("Status", "DeleteOptions", "ListMeta", "ObjectMeta", "Patch", "WatchEvent"):
            assert META + name in schemas, (gv, name)
        assert {"group": "", "kind": "Status", "version": "v1"} in schemas[META + "Status"][
            "x-kubernetes-group-version-kind"
        ]
        group, _, version = gv.rpartition("/")
        assert {"group": group, "kind": "DeleteOptions", "version": version} in schemas[
            META + "DeleteOptions"
        ]["x-kubernetes-group-version-kind"]
    scale = schemas_of("apps/v1")["io.k8s.api.autoscaling.v1.Scale"]
    assert scale["x-kubernetes-group-version-kind"] == [
        {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    ]


def test_kinds_carry_gvk_and_descriptions() -> None:
    pod = schemas_of("v1")[CORE + "Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "kind": "Pod", "version": "v1"}]
    assert pod["description"].startswith("Pod is a collection of containers")
    deployment = schemas_of("apps/v1")[APPS + "Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}
    ]
    assert deployment["description"]
    assert deployment["properties"]["spec"]["description"]
    assert deployment["properties"]["kind"]["description"].startswith("Kind is")


# --- field shapes -------------------------------------------------------------------------------


def test_patch_metadata_on_fields() -> None:
    schemas = schemas_of("v1")
    containers = prop(schemas, CORE + "PodSpec", "containers")
    assert containers["type"] == "array"
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    volumes = prop(schemas, CORE + "PodSpec", "volumes")
    assert volumes["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    ports = prop(schemas, CORE + "Container", "ports")
    assert ports["x-kubernetes-patch-merge-key"] == "containerPort"
    assert ports["x-kubernetes-list-map-keys"] == ["containerPort", "protocol"]
    assert prop(schemas, CORE + "Container", "env")["x-kubernetes-patch-merge-key"] == "name"
    assert "x-kubernetes-patch-strategy" not in prop(schemas, CORE + "PodSpec", "tolerations")
    strategy = prop(schemas_of("apps/v1"), APPS + "DeploymentSpec", "strategy")
    assert strategy["x-kubernetes-patch-strategy"] == "retainKeys"
    assert target(strategy) == APPS + "DeploymentStrategy"


def test_optional_fields_are_plain_and_required_listed() -> None:
    schemas = schemas_of("v1")
    container = schemas[CORE + "Container"]
    assert container["required"] == ["name"]
    assert container["properties"]["image"]["type"] == "string"
    assert container["properties"]["command"] == {
        "type": "array",
        "items": {"type": "string"},
        "description": container["properties"]["command"]["description"],
    }
    assert "required" not in schemas[CORE + "PodSpec"]


def test_integer_formats() -> None:
    apps = schemas_of("apps/v1")
    assert prop(apps, APPS + "DeploymentSpec", "replicas")["format"] == "int32"
    assert prop(apps, APPS + "DeploymentStatus", "observedGeneration")["format"] == "int64"
    core = schemas_of("v1")
    assert prop(core, META + "ObjectMeta", "generation")["format"] == "int64"
    groups = prop(core, CORE + "PodSecurityContext", "supplementalGroups")
    assert groups["items"] == {"type": "integer", "format": "int64"}


def test_int_or_string_and_quantity() -> None:
    apps = schemas_of("apps/v1")
    surge = prop(apps, APPS + "RollingUpdateDeployment", "maxSurge")
    assert target(surge) == "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
    int_or_string = apps["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert int_or_string["x-kubernetes-int-or-string"] is True
    assert int_or_string["format"] == "int-or-string"
    core = schemas_of("v1")
    limits = prop(core, CORE + "ResourceRequirements", "limits")
    assert limits["type"] == "object"
    assert target(limits["additionalProperties"]) == "io.k8s.apimachinery.pkg.api.resource.Quantity"
    assert core["io.k8s.apimachinery.pkg.api.resource.Quantity"]["x-kubernetes-int-or-string"]


def test_times_and_opaque_maps() -> None:
    core = schemas_of("v1")
    assert prop(core, META + "ObjectMeta", "creationTimestamp")["format"] == "date-time"
    assert prop(core, META + "ObjectMeta", "labels")["additionalProperties"] == {"type": "string"}
    opaque = prop(core, CORE + "Volume", "csi")
    assert opaque["type"] == "object"
    assert opaque["x-kubernetes-preserve-unknown-fields"] is True


# --- paths -------------------------------------------------------------------------------------


def test_pod_paths() -> None:
    paths = openapi_document("v1")["paths"]
    item = paths["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert set(item) >= {"get", "put", "patch", "delete", "parameters"}
    assert {p["name"] for p in item["parameters"]} >= {"name", "namespace"}
    collection = paths["/api/v1/namespaces/{namespace}/pods"]
    assert collection["get"]["x-kubernetes-action"] == "list"
    assert collection["post"]["x-kubernetes-action"] == "post"
    assert collection["delete"]["x-kubernetes-action"] == "deletecollection"
    assert "fieldValidation" in [p["name"] for p in collection["post"]["parameters"]]
    assert paths["/api/v1/pods"]["get"]["operationId"] == "listCoreV1PodForAllNamespaces"
    assert item["patch"]["operationId"] == "patchCoreV1NamespacedPod"
    status = paths["/api/v1/namespaces/{namespace}/pods/{name}/status"]
    assert status["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Pod"
    assert "/api/v1/namespaces/{namespace}/pods/{name}/log" in paths
    assert "/api/v1/namespaces/{namespace}/pods/{name}/binding" in paths
    nodes = paths["/api/v1/nodes/{name}"]
    assert [p["name"] for p in nodes["parameters"]] == ["name", "pretty"]
    assert "/api/v1/nodes" in paths


def test_scale_paths() -> None:
    paths = openapi_document("apis/apps/v1")["paths"]
    scale = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["patch"]["x-kubernetes-group-version-kind"] == {
        "group": "autoscaling",
        "kind": "Scale",
        "version": "v1",
    }
    body = scale["patch"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert target(body) == "io.k8s.api.autoscaling.v1.Scale"
    assert "/apis/apps/v1/namespaces/{namespace}/daemonsets/{name}/scale" not in paths


# --- the index, caching and bad input ------------------------------------------------------------


def test_index_lists_each_group_version_with_its_hash() -> None:
    index = openapi_index()
    assert set(index["paths"]) == {group_version_path(gv) for gv in GROUP_VERSIONS}
    assert "api/v1" in index["paths"] and "apis/apps/v1" in index["paths"]
    for key, entry in index["paths"].items():
        digest = document_bytes(key)[1]
        assert entry == {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}


def test_index_with_given_hashes() -> None:
    index = openapi_index(lambda gv: f"H-{gv}")
    assert index["paths"]["apis/apps/v1"]["serverRelativeURL"] == (
        "/openapi/v3/apis/apps/v1?hash=H-apps/v1"
    )


def test_group_version_spellings() -> None:
    assert normalize_group_version("api/v1") == "v1"
    assert normalize_group_version("/openapi/v3/apis/apps/v1") == "apps/v1"
    assert normalize_group_version("apps/v1") == "apps/v1"
    assert document_bytes("api/v1") == document_bytes("v1")
    assert document_bytes("apis/apps/v1") is document_bytes("apps/v1")  # computed once


@pytest.mark.parametrize("gv", ["apps/v2", "nonsense", "", "apis/", "autoscaling/v3", "api/v2"])
def test_unknown_group_version_is_a_key_error(gv: str) -> None:
    with pytest.raises(KeyError):
        openapi_document(gv)
    with pytest.raises(KeyError):
        document_bytes(gv)


def test_document_is_a_private_copy() -> None:
    doc = openapi_document("v1")
    doc["components"]["schemas"].clear()
    assert openapi_document("v1")["components"]["schemas"]


def test_resources_of_another_group_version_are_refused() -> None:
    deployments = next(r for r in RESOURCES if r.kind == "Deployment")
    with pytest.raises(ValueError):
        build_document(group_version="v1", resources=[deployments], kinds=KINDS)


# --- generic over any Struct -------------------------------------------------------------------


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Node(msgspec.Struct, kw_only=True, rename="camel"):
    """A tree node.

    The second paragraph is not a description.
    """

    name: Annotated[str, msgspec.Meta(min_length=1, description="the node's name")]
    size: Annotated[int, msgspec.Meta(ge=0, le=10)] = 0
    children: list[Node] | None = None
    shade: Literal["light", "dark"] | None = None
    colour: Colour | None = None
    ratio: int | float | None = None
    extra: dict[str, Any] | None = None
    either: int | list[str] | None = None


def test_any_struct_converts() -> None:
    s = SchemaSet()
    name = s.add(Node)
    assert name.startswith("io.shoal.")  # not a registered kind: its own namespace
    node = s.schemas[name]
    assert node["description"] == "A tree node."
    props = node["properties"]
    assert node["required"] == ["name"]
    assert props["name"] == {"type": "string", "minLength": 1, "description": "the node's name"}
    assert props["size"] == {
        "type": "integer",
        "format": "int32",
        "minimum": 0,
        "maximum": 10,
        "default": 0,
    }
    assert target(props["children"]["items"]) == name  # recursion by $ref
    assert props["shade"]["type"] == "string"
    assert sorted(props["shade"]["enum"]) == ["dark", "light"]
    assert props["colour"] == {"type": "string", "enum": ["red", "blue"]}
    assert props["ratio"] == {"type": "number"}
    assert props["extra"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert props["either"]["anyOf"][0] == {"type": "integer", "format": "int32"}


def test_same_names_stay_distinct() -> None:
    first = type("Twin", (msgspec.Struct,), {"__annotations__": {"a": int}})
    second = type("Twin", (msgspec.Struct,), {"__annotations__": {"b": str}})
    s = SchemaSet()
    one, two = s.add(first), s.add(second)
    assert one != two
    assert "a" in s.schemas[one]["properties"] and "b" in s.schemas[two]["properties"]
    assert s.add(first) == one


def test_non_struct_is_refused() -> None:
    with pytest.raises(TypeError):
        SchemaSet().add(int)
