"""Objects walked by type: schema reading, field sets, compare, merge, removal (table tests).

The schema is a custom resource's kind of OpenAPI v3 (inline, no ``$ref``), so these also show
that a CRD's structural schema plugs in as it is; the built-in kinds are checked at the end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shoal.api.apply import fieldset as fs
from shoal.api.apply import from_openapi, typed
from shoal.api.apply.schema import for_model
from shoal.api.models.apps import Deployment
from shoal.api.models.core import Service
from shoal.api.models.pod import Pod

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object", "properties": {
            "name": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        }},
        "spec": {"type": "object", "properties": {
            "replicas": {"type": "integer"},
            "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                      "items": {"type": "object", "properties": {"name": {"type": "string"},
                                                                 "value": {"type": "string"}}}},
            "ports": {"type": "array", "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["port", "protocol"],
                      "items": {"type": "object", "properties": {
                          "port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}},
            "merged": {"type": "array", "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "id",
                       "items": {"type": "object", "properties": {"id": {"type": "string"}}}},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic",
                         "properties": {"app": {"type": "string"}}},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "size": {"x-kubernetes-int-or-string": True},
        }},
    },
}
NODE = from_openapi(SCHEMA)


def obj(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n"}, "spec": spec}


def enc(s: fs.Fields) -> dict[str, Any]:
    return fs.encode(s)


# ---- reading schemas -------------------------------------------------------------------------

@pytest.mark.parametrize("field,kind,list_type,keys", [
    ("items", "list", "map", ("name",)),
    ("ports", "list", "map", ("port", "protocol")),
    ("tags", "list", "set", ()),
    ("args", "list", "atomic", ()),
    ("merged", "list", "map", ("id",)),     # a strategic-merge key stands in for a list type
    ("size", "scalar", "atomic", ()),
    ("free", "map", "atomic", ()),
])
def test_schema_list_and_map_types(field: str, kind: str, list_type: str, keys: tuple[str, ...]) -> None:
    t = NODE.fields["spec"].fields[field]
    assert (t.kind, t.list_type, t.keys) == (kind, list_type, keys)


def test_schema_map_types_and_key_defaults() -> None:
    spec = NODE.fields["spec"]
    assert spec.fields["selector"].atomic and not spec.atomic
    assert spec.fields["ports"].key_defaults == {"protocol": "TCP"}
    assert spec.fields["free"].elements is not None and spec.fields["free"].elements.kind == "untyped"
    assert spec.elements is None  # a struct without preserve-unknown-fields declares its keys


# ---- ToFieldSet ------------------------------------------------------------------------------

@pytest.mark.parametrize("spec,want", [
    ({"replicas": 2}, {"f:replicas": {}}),
    ({"items": [{"name": "a", "value": "1"}]},
     {"f:items": {'k:{"name":"a"}': {".": {}, "f:name": {}, "f:value": {}}}}),
    ({"ports": [{"port": 53, "protocol": "UDP"}, {"port": 80}]},   # the default fills a missing key field
     {"f:ports": {'k:{"port":53,"protocol":"UDP"}': {".": {}, "f:port": {}, "f:protocol": {}},
                  'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}),
    ({"tags": ["b", "a"]}, {"f:tags": {'v:"a"': {}, 'v:"b"': {}}}),
    ({"args": ["x", "y"]}, {"f:args": {}}),                       # atomic: the list is one leaf
    ({"selector": {"app": "x"}}, {"f:selector": {}}),             # atomic map likewise
    ({"free": {"a": {"b": 1}, "c": [1]}},                          # deduced: maps granular, lists atomic
     {"f:free": {"f:a": {".": {}, "f:b": {}}, "f:c": {}}}),
    ({"items": []}, {}),                                           # an empty granular list owns nothing
    ({"selector": None, "free": {}}, {"f:free": {}, "f:selector": {}}),  # null and {} are owned
])
def test_to_fieldset(spec: dict[str, Any], want: dict[str, Any]) -> None:
    got = enc(typed.to_fieldset(NODE, obj(**spec)))
    assert got.pop("f:spec", {}) == want
    assert got == {"f:apiVersion": {}, "f:kind": {}, "f:metadata": {"f:name": {}}}


def test_map_keys_are_members_and_declared_fields_only_through_their_children() -> None:
    s = typed.to_fieldset(NODE, {"metadata": {"labels": {"app": "x"}}})
    assert enc(s) == {"f:metadata": {"f:labels": {"f:app": {}}}}


@pytest.mark.parametrize("spec,message", [
    ({"items": [{"name": "a"}, {"name": "a"}]}, '.spec.items: duplicate entries for key [name="a"]'),
    ({"items": [{"value": "1"}]}, '.spec.items: element 0: associative list with keys has an element that '
                                  'omits all key fields ["name"]'),
    ({"items": ["a"]}, ".spec.items: element 0: associative list with keys may not have non-map elements"),
    ({"tags": [{"a": 1}]}, ".spec.tags: element 0: associative list without keys has an element that's a map type"),
    ({"nope": 1}, ".spec.nope: field not declared in schema"),
    ({"items": {"a": 1}}, ".spec.items: expected list, got map"),
    ({"replicas": [1]}, ".spec.replicas: expected scalar, got list"),
])
def test_to_fieldset_refuses_what_does_not_fit(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(typed.TypedError) as e:
        typed.to_fieldset(NODE, obj(**spec))
    assert str(e.value).startswith(message)


# ---- Compare ---------------------------------------------------------------------------------

@pytest.mark.parametrize("before,after,added,modified,removed", [
    ({"replicas": 1}, {"replicas": 2}, {}, {"f:replicas": {}}, {}),
    ({}, {"replicas": 2}, {"f:replicas": {}}, {}, {}),
    ({"replicas": 1}, {}, {}, {}, {"f:replicas": {}}),
    ({"items": [{"name": "a", "value": "1"}]}, {"items": [{"name": "a", "value": "2"}, {"name": "b"}]},
     {"f:items": {'k:{"name":"b"}': {".": {}, "f:name": {}}}},
     {"f:items": {'k:{"name":"a"}': {"f:value": {}}}}, {}),
    ({"tags": ["a", "b"]}, {"tags": ["b", "c"]}, {"f:tags": {'v:"c"': {}}}, {}, {"f:tags": {'v:"a"': {}}}),
    ({"args": ["a"]}, {"args": ["a", "b"]}, {}, {"f:args": {}}, {}),
    ({"free": {}}, {"free": None}, {}, {"f:free": {}}, {}),        # {} and null differ
    ({"args": ["a"]}, {"args": ["a"]}, {}, {}, {}),
])
def test_compare(before: dict[str, Any], after: dict[str, Any], added: dict[str, Any],
                 modified: dict[str, Any], removed: dict[str, Any]) -> None:
    c = typed.compare(NODE, obj(**before), obj(**after))

    def spec_of(s: fs.Fields) -> dict[str, Any]:
        return enc(fs.with_prefix(s, "f:spec"))

    assert (spec_of(c.added), spec_of(c.modified), spec_of(c.removed)) == (added, modified, removed)


def test_compare_marks_a_new_map_itself_as_added() -> None:
    c = typed.compare(NODE, {"metadata": {"name": "n"}}, {"metadata": {"name": "n", "labels": {"a": "1"}}})
    assert enc(c.added) == {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}}


# ---- Merge -----------------------------------------------------------------------------------

@pytest.mark.parametrize("live,config,want", [
    ({"replicas": 1, "args": ["x"]}, {"replicas": 3}, {"replicas": 3, "args": ["x"]}),
    ({"args": ["x", "y"]}, {"args": ["z"]}, {"args": ["z"]}),                         # atomic: replaced
    ({"tags": ["a", "b"]}, {"tags": ["c", "a"]}, {"tags": ["c", "a", "b"]}),          # set: union, applied order
    ({"items": [{"name": "a", "value": "1"}, {"name": "b"}]}, {"items": [{"name": "b", "value": "2"}]},
     {"items": [{"name": "a", "value": "1"}, {"name": "b", "value": "2"}]}),           # map: item by item
    ({"items": [{"name": "a"}, {"name": "c"}]}, {"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]},
     {"items": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}),                        # new item after its predecessor
    ({"selector": {"app": "x", "tier": "y"}}, {"selector": {"app": "z"}}, {"selector": {"app": "z"}}),
    ({"free": {"a": 1, "b": {"c": 1}}}, {"free": {"b": {"d": 2}}}, {"free": {"a": 1, "b": {"c": 1, "d": 2}}}),
    ({"free": {"a": 1}}, {"free": None}, {"free": {"a": 1}}),                          # null on a map keeps it
    ({"replicas": 1}, {"replicas": None}, {"replicas": None}),                         # null on a scalar sets it
])
def test_merge(live: dict[str, Any], config: dict[str, Any], want: dict[str, Any]) -> None:
    live_obj, cfg = obj(**live), obj(**config)
    before = json.dumps([live_obj, cfg])
    assert typed.merge(NODE, live_obj, cfg)["spec"] == want
    assert json.dumps([live_obj, cfg]) == before


def test_merge_refuses_duplicate_keys_in_the_configuration() -> None:
    with pytest.raises(typed.TypedError, match="duplicate entries"):
        typed.merge(NODE, obj(items=[{"name": "a"}]), obj(items=[{"name": "b"}, {"name": "b"}]))


# ---- RemoveItems and EnsureNamedFieldsAreMembers ----------------------------------------------

@pytest.mark.parametrize("spec,remove,want", [
    ({"replicas": 1, "args": ["a"]}, {"f:replicas": {}}, {"args": ["a"]}),
    ({"items": [{"name": "a", "value": "1"}, {"name": "b"}]}, {"f:items": {'k:{"name":"a"}': {}}},
     {"items": [{"name": "b"}]}),
    ({"items": [{"name": "a", "value": "1"}]}, {"f:items": {'k:{"name":"a"}': {"f:value": {}}}},
     {"items": [{"name": "a"}]}),
    ({"tags": ["a"]}, {"f:tags": {'v:"a"': {}}}, {"tags": None}),                   # emptied: null, as upstream
])
def test_remove_items(spec: dict[str, Any], remove: dict[str, Any], want: dict[str, Any]) -> None:
    assert typed.remove_items(NODE, obj(**spec), {"f:spec": remove})["spec"] == want


def test_ensure_named_members_marks_declared_fields_only() -> None:
    s = {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:free": {"f:a": {"f:b": {}}}}}
    got = enc(typed.ensure_named_members(NODE, s))
    assert got == {"f:metadata": {".": {}, "f:labels": {".": {}, "f:app": {}}},
                   "f:spec": {".": {}, "f:free": {".": {}, "f:a": {"f:b": {}}}}}


# ---- built-in kinds ----------------------------------------------------------------------------

@pytest.mark.parametrize("model,path,list_type,keys", [
    (Pod, ("spec", "containers"), "map", ("name",)),
    (Pod, ("spec", "tolerations"), "atomic", ()),
    (Pod, ("spec", "volumes"), "map", ("name",)),
    (Pod, ("metadata", "finalizers"), "set", ()),
    (Pod, ("metadata", "ownerReferences"), "map", ("uid",)),
    (Service, ("spec", "ports"), "map", ("port", "protocol")),
    (Deployment, ("status", "conditions"), "map", ("type",)),
])
def test_builtin_list_types(model: type, path: tuple[str, ...], list_type: str, keys: tuple[str, ...]) -> None:
    t = for_model(model)
    for p in path:
        t = t.fields[p]
    assert (t.list_type, t.keys) == (list_type, keys)


def test_builtin_container_ports_and_env_and_atomic_selector() -> None:
    spec = for_model(Deployment).fields["spec"]
    container = spec.fields["template"].fields["spec"].fields["containers"].elements
    assert container is not None
    ports = container.fields["ports"]
    assert (ports.keys, ports.key_defaults) == (("containerPort", "protocol"), {"protocol": "TCP"})
    assert container.fields["env"].keys == ("name",)
    assert container.fields["args"].list_type == "atomic"
    assert spec.fields["selector"].atomic
