"""Structural schemas without a server: upstream's messages for every kind of violation, pruning,
defaulting, CEL rules (self, oldSelf, messages), non-structural schemas, the JSONPath subset, the
version order and the registry of served kinds."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.api import convert, kinds, validation
from shoal.api.crd import jsonpath, rules
from shoal.api.crd.kind import custom_kinds, primary_info, structural_schema, version_key
from shoal.api.crd.schema import apply_defaults, blocks_rules, compile_schema, prune, validate
from shoal.api.crd.structural import structural_errors
from shoal.api.models.apiextensions import CustomResourceDefinition
from shoal.api.served import ServedKinds

Obj = dict[str, Any]

SPEC_SCHEMA: Obj = {
    "type": "object",
    "required": ["size"],
    "properties": {
        "replicas": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
        "size": {"type": "string", "enum": ["small", "large"]},
        "name": {"type": "string", "minLength": 3, "maxLength": 5, "pattern": "^[a-z]+$"},
        "email": {"type": "string", "format": "email"},
        "ratio": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "exclusiveMaximum": True, "maximum": 1},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}, "maxProperties": 1,
                   "minProperties": 1},
        "port": {"x-kubernetes-int-or-string": True},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "maybe": {"type": "string", "nullable": True},
        "nested": {"type": "object", "properties": {"deep": {"type": "boolean", "default": True}}},
        "pod": {"type": "object", "x-kubernetes-embedded-resource": True, "x-kubernetes-preserve-unknown-fields": True},
    },
}
ROOT: Obj = {"type": "object", "properties": {"spec": SPEC_SCHEMA, "status": {
    "type": "object", "properties": {"phase": {"type": "string"}}}}}


def errors_of(spec: Obj) -> list[str]:
    return [str(e) for e in validate({"apiVersion": "x/v1", "kind": "X", "metadata": {}, "spec": spec},
                                     compile_schema(ROOT))]


@pytest.mark.parametrize(("spec", "expected"), [
    ({"size": "small", "replicas": "string"},
     'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'),
    ({}, "spec.size: Required value"),
    ({"size": "huge"}, 'spec.size: Unsupported value: "huge": supported values: "small", "large"'),
    ({"size": "small", "replicas": -1},
     "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"),
    ({"size": "small", "replicas": 11},
     "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"),
    ({"size": "small", "ratio": 0}, "spec.ratio: Invalid value: 0: spec.ratio in body should be greater than 0"),
    ({"size": "small", "ratio": 1}, "spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"),
    ({"size": "small", "name": "ab"}, 'spec.name: Invalid value: "ab": spec.name in body should be at least 3 chars long'),
    ({"size": "small", "name": "abcdef"}, "spec.name: Too long: may not be more than 5 bytes"),
    ({"size": "small", "name": "AB1"}, "spec.name: Invalid value: \"AB1\": spec.name in body should match '^[a-z]+$'"),
    ({"size": "small", "email": "nope"},
     'spec.email: Invalid value: "nope": spec.email in body must be of type email: "nope"'),
    ({"size": "small", "tags": []}, "spec.tags: Invalid value: 0: spec.tags in body should have at least 1 items"),
    ({"size": "small", "tags": ["a", "b", "c"]}, "spec.tags: Too many: 3: must have at most 2 items"),
    ({"size": "small", "tags": [1]}, 'spec.tags[0]: Invalid value: "integer": spec.tags[0] in body must be of type string: "integer"'),
    ({"size": "small", "labels": {}}, "spec.labels: Invalid value: 1: spec.labels in body should have at least 1 properties"),
    ({"size": "small", "labels": {"a": "1", "b": "2"}}, "spec.labels: Too many: 1: must have at most 1 items"),
    ({"size": "small", "labels": {"a": 1}}, 'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"'),
    ({"size": "small", "port": True},
     'spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"'),
    ({"size": "small", "pod": {"metadata": {}}}, "spec.pod.apiVersion: Required value: must not be empty"),
])
def test_each_violation_reads_as_upstream(spec: Obj, expected: str) -> None:
    assert expected in errors_of(spec)


def test_every_violation_is_listed_at_once() -> None:
    errs = errors_of({"replicas": "x", "size": "huge", "name": "ab", "tags": []})
    assert len(errs) == 4, errs


@pytest.mark.parametrize("spec", [
    {"size": "small", "port": 80}, {"size": "small", "port": "http"}, {"size": "large", "replicas": 2.0},
    {"size": "small", "maybe": None}, {"size": "small", "free": {"anything": [1, {"x": None}]}},
    {"size": "small", "email": "a@b.example", "ratio": 0.5, "tags": ["a"], "labels": {"a": "b"}},
    {"size": "small", "pod": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}},
])
def test_valid_values_pass(spec: Obj) -> None:
    assert errors_of(spec) == []


def test_prune_drops_unknown_fields_and_reports_their_paths() -> None:
    obj: Obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "a"}, "extra": 1,
                "spec": {"size": "small", "bogus": {"a": 1}, "free": {"kept": 1}, "nested": {"deep": False, "no": 1},
                         "maybe": None, "replicas": None, "tags": ["a"]}}
    dropped = prune(obj, compile_schema(ROOT))
    assert sorted(dropped) == ["extra", "spec.bogus", "spec.nested.no"]
    assert obj["metadata"] == {"name": "a"}
    assert obj["spec"]["free"] == {"kept": 1}
    assert "maybe" in obj["spec"] and "replicas" not in obj["spec"]  # a non-nullable null is pruned


def test_defaults_fill_absent_fields_at_every_depth() -> None:
    obj: Obj = {"spec": {"size": "small", "nested": {}}}
    apply_defaults(obj, compile_schema(ROOT))
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["nested"] == {"deep": True}
    obj2: Obj = {"spec": {"replicas": 4}}
    apply_defaults(obj2, compile_schema(ROOT))
    assert obj2["spec"]["replicas"] == 4


def test_type_errors_block_rules() -> None:
    assert blocks_rules(validate({"spec": {"size": "small", "replicas": "x"}}, compile_schema(ROOT)))
    assert not blocks_rules(validate({"spec": {"size": "small", "replicas": 99}}, compile_schema(ROOT)))


# ---- CEL ------------------------------------------------------------------------------------------

RULED: Obj = {"type": "object", "properties": {"spec": {
    "type": "object",
    "x-kubernetes-validations": [
        {"rule": "self.replicas <= self.maxReplicas", "message": "replicas must not exceed maxReplicas"},
        {"rule": "self.replicas >= oldSelf.replicas", "message": "no scaling down"},
        {"rule": "self.name.startsWith('w')", "messageExpression": "'name ' + self.name + ' must start with w'"},
        {"rule": "self.maxReplicas < 100", "fieldPath": ".maxReplicas", "reason": "FieldValueForbidden"},
    ],
    "properties": {"replicas": {"type": "integer"}, "maxReplicas": {"type": "integer"}, "name": {"type": "string"},
                   "items": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k"],
                             "items": {"type": "object", "properties": {"k": {"type": "string"}, "v": {
                                 "type": "integer"}}, "x-kubernetes-validations": [
                                 {"rule": "self.v >= oldSelf.v", "message": "v may only grow"}]}}}}}}


def cel_errors(spec: Obj, old: Obj | None = None) -> list[str]:
    root = compile_schema(RULED)
    assert rules.attach(root, "openAPIV3Schema") == []
    return [str(e) for e in rules.evaluate({"spec": spec}, root, {"spec": old} if old is not None else rules.NO_OLD)]


def test_rules_with_messages_and_field_paths() -> None:
    errs = cel_errors({"replicas": 200, "maxReplicas": 100, "name": "x"})
    assert errs == ['spec: Invalid value: "object": replicas must not exceed maxReplicas',
                    'spec: Invalid value: "object": name x must start with w',
                    "spec.maxReplicas: Forbidden: failed rule: self.maxReplicas < 100"]
    assert cel_errors({"replicas": 1, "maxReplicas": 2, "name": "w"}) == []


def test_transition_rules_run_only_on_updates() -> None:
    assert cel_errors({"replicas": 1, "maxReplicas": 2, "name": "w"}, old={"replicas": 2}) == [
        'spec: Invalid value: "object": no scaling down']
    spec = {"replicas": 1, "maxReplicas": 2, "name": "w", "items": [{"k": "a", "v": 1}, {"k": "b", "v": 1}]}
    assert cel_errors(spec, old={**spec, "items": [{"k": "b", "v": 5}]}) == [
        'spec.items[1]: Invalid value: "object": v may only grow']


def test_a_rule_that_does_not_compile_is_reported_with_its_path() -> None:
    root = compile_schema({"type": "object", "properties": {"spec": {
        "type": "object", "x-kubernetes-validations": [{"rule": "self.a >"}]}}})
    problems = rules.attach(root, "openAPIV3Schema")
    assert [p.path for p in problems] == ["openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"]
    assert problems[0].detail.startswith("compilation failed")


def test_a_missing_field_is_a_rule_error_not_a_crash() -> None:
    root = compile_schema({"type": "object", "properties": {"spec": {
        "type": "object", "properties": {"a": {"type": "integer"}}, "x-kubernetes-validations": [{"rule": "self.a > 0"}]}}})
    rules.attach(root, "x")
    errs = rules.evaluate({"spec": {}}, root)
    assert len(errs) == 1 and "no such key" in str(errs[0])


# ---- non-structural schemas ----------------------------------------------------------------------

P = "spec.versions[0].schema.openAPIV3Schema"


@pytest.mark.parametrize(("schema", "expected"), [
    ({"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}},
     f"{P}.properties[spec].type: Required value: must not be empty for specified object fields"),
    ({"type": "object", "properties": {"list": {"type": "array"}}},
     f"{P}.properties[list].items: Required value: must be specified"),
    ({"type": "string"}, f'{P}.type: Invalid value: "string": must be object at the root'),
    ({"properties": {"a": {"type": "string"}}}, f"{P}.type: Required value: must not be empty at the root"),
    ({"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"type": "string"}]}}},
     f"{P}.properties[a].anyOf[0].type: Forbidden: must be empty to be structural"),
    ({"type": "object", "additionalProperties": {"type": "string"}},
     f"{P}.additionalProperties: Forbidden: must not be used at the root"),
    ({"type": "object", "properties": {"a": {"type": "object", "properties": {"x": {"type": "string"}},
                                             "additionalProperties": {"type": "string"}}}},
     f"{P}.properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"),
    ({"type": "object", "properties": {"a": {"$ref": "#/definitions/x"}}},
     f"{P}.properties[a].$ref: Forbidden: $ref is not supported"),
    ({"type": "object", "properties": {"a": {"type": "array", "uniqueItems": True, "items": {"type": "string"}}}},
     f"{P}.properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity "
     "becomes quadratic"),
    ({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}},
     f"{P}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, "
     "but metadata is implicitly specified"),
    ({"type": "object", "properties": {"a": {"x-kubernetes-int-or-string": True,
                                             "x-kubernetes-preserve-unknown-fields": True}}},
     f"{P}.properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if "
     "x-kubernetes-int-or-string is true"),
    ({"type": "object", "properties": {"a": {"type": "string", "allOf": [{"properties": {"b": {
        "type": "string"}}}]}}},
     f"{P}.properties[a].properties[b]: Required value: because it is defined in allOf[0].properties[b]"),
])
def test_non_structural_reasons(schema: Obj, expected: str) -> None:
    assert expected in [str(e) for e in structural_errors(schema, P)]


def test_int_or_string_patterns_are_structural() -> None:
    schema = {"type": "object", "properties": {"port": {"x-kubernetes-int-or-string": True, "anyOf": [
        {"type": "integer"}, {"type": "string"}]}}}
    assert structural_errors(schema, P) == []


# ---- the CRD object --------------------------------------------------------------------------------


def crd(**over: Any) -> Obj:
    spec: Obj = {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]}
    spec.update(over)
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"}, "spec": spec}


def crd_errors(obj: Obj) -> list[str]:
    return [str(e) for e in validation.validate(convert.decode(obj, CustomResourceDefinition))]


@pytest.mark.parametrize(("obj", "expected"), [
    ({**crd(), "metadata": {"name": "gadgets.example.com"}},
     'metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group'),
    (crd(group="example"), 'spec.group: Invalid value: "example": should be a domain with at least one dot'),
    (crd(scope="Global"), 'spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"'),
    (crd(names={"plural": "Widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"}),
     'spec.names.plural: Invalid value: "Widgets": a DNS-1035 label'),
    (crd(names={"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "Widget"}),
     'spec.names.listKind: Invalid value: "Widget": kind and listKind may not be the same'),
    (crd(names={"plural": "widgets", "kind": "Widget", "listKind": "WidgetList", "shortNames": ["W!"]}),
     "spec.names.singular: Required value"),
    (crd(names={"plural": "widgets", "singular": "w", "kind": "Widget", "listKind": "WidgetList",
                "shortNames": ["W!"]}), 'spec.names.shortNames[0]: Invalid value: "W!"'),
    (crd(names={"plural": "widgets", "singular": "w", "kind": "Widget", "listKind": "WidgetList",
                "categories": ["A B"]}), 'spec.names.categories[0]: Invalid value: "A B"'),
    (crd(versions=[{"name": "v1", "served": True, "storage": False, "schema": {"openAPIV3Schema": {"type": "object"}}}]),
     "must have exactly one version marked as storage version"),
    (crd(versions=[{"name": "v1", "served": True, "storage": True}]),
     "spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required"),
    (crd(versions=[{"name": "V1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}]),
     'spec.versions[0].name: Invalid value: "V1"'),
    (crd(versions=[{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}},
                    "subresources": {"scale": {"specReplicasPath": ".replicas", "statusReplicasPath": ".status.r"}}}]),
     'spec.versions[0].subresources.scale.specReplicasPath: Invalid value: ".replicas": should be a json path under .spec'),
    (crd(versions=[{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}},
                    "additionalPrinterColumns": [{"name": "X", "type": "float", "jsonPath": ".spec.x"}]}]),
     'spec.versions[0].additionalPrinterColumns[0].type: Unsupported value: "float"'),
    (crd(versions=[{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
        "type": "object", "properties": {"spec": {"type": "object", "properties": {"n": {
            "type": "integer", "default": "x"}}}}}}}]),
     "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[n].default: Invalid value"),
])
def test_crd_validation_names_the_field(obj: Obj, expected: str) -> None:
    errs = crd_errors(obj)
    assert any(expected in e for e in errs), errs


def test_a_valid_crd_has_no_errors() -> None:
    assert crd_errors(crd()) == []


# ---- kinds, paths, order, the registry ------------------------------------------------------------


def test_custom_kinds_compile_each_served_version() -> None:
    obj = crd(versions=[
        {"name": "v1", "served": True, "storage": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
        {"name": "v2", "served": True, "storage": True, "schema": {"openAPIV3Schema": ROOT},
         "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                  "statusReplicasPath": ".status.replicas"}}},
        {"name": "v0", "served": False, "storage": False, "schema": {"openAPIV3Schema": {"type": "object"}}}])
    ks = custom_kinds(obj)
    assert [k.info.version for k in ks] == ["v1", "v2"]
    assert all(k.storage_api_version == "example.com/v2" for k in ks)
    assert ks[1].info.subresources == ("status", "scale") and ks[1].scale is not None
    assert structural_schema(ks[1].info) is ROOT
    assert structural_schema(kinds.RESOURCES[0]) is None
    info = primary_info(obj)
    assert info is not None and info.version == "v2"


@pytest.mark.parametrize(("path", "obj", "found"), [
    (".spec.replicas", {"spec": {"replicas": 3}}, [3]),
    (".status.conditions[?(@.type==\"Ready\")].status",
     {"status": {"conditions": [{"type": "A", "status": "x"}, {"type": "Ready", "status": "True"}]}}, ["True"]),
    (".metadata.labels['app\\.kubernetes\\.io/name']", {"metadata": {"labels": {"app.kubernetes.io/name": "w"}}}, ["w"]),
    (".spec.items[1].name", {"spec": {"items": [{"name": "a"}, {"name": "b"}]}}, ["b"]),
    (".spec.items[*].name", {"spec": {"items": [{"name": "a"}, {"name": "b"}]}}, ["a", "b"]),
    (".spec.missing", {"spec": {}}, []),
])
def test_jsonpath(path: str, obj: Obj, found: list[Any]) -> None:
    assert jsonpath.find(obj, jsonpath.parse(path)) == found


def test_jsonpath_refuses_what_it_does_not_support() -> None:
    with pytest.raises(jsonpath.JSONPathError):
        jsonpath.parse("spec.replicas")
    with pytest.raises(jsonpath.JSONPathError):
        jsonpath.parse(".spec..x")


def test_version_priority() -> None:
    assert sorted(["v1alpha1", "v1", "foo", "v2beta1", "v2", "v1beta1", "v10"], key=version_key) == [
        "v10", "v2", "v1", "v2beta1", "v1beta1", "v1alpha1", "foo"]


def test_served_kinds_follow_crds_and_refuse_taken_names() -> None:
    served = ServedKinds(kinds.RESOURCES)
    seen: list[int] = []
    served.listeners.append(lambda: seen.append(served.generation))
    ks = custom_kinds(crd(versions=[
        {"name": "v1beta1", "served": True, "storage": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
        {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}]))
    served.set_custom("widgets.example.com", [k.info for k in ks])
    assert served.lookup("example.com", "v1", "widgets") is ks[1].info
    assert served.group_versions()[-2:] == ["example.com/v1", "example.com/v1beta1"]  # preferred first
    assert served.conflicts("other.example.com", [ks[0].info]) == ['"widgets" is already in use']
    assert served.conflicts("widgets.example.com", [ks[0].info]) == []
    served.remove_custom("widgets.example.com")
    assert served.lookup("example.com", "v1", "widgets") is None
    assert seen == [1, 2]


@pytest.mark.parametrize(("expr", "fields"), [
    ("self.a <= self.b", frozenset({"a", "b"})),
    ("has(self.a) && oldSelf.c == 1", frozenset({"a", "c"})),
    ("self.size() > 1", None),
    ("self == oldSelf", None),
    ("self.items.all(i, i > 0)", frozenset({"items"})),
    ("self.all(k, k != 'x')", None),
])
def test_rules_read_only_the_fields_they_name(expr: str, fields: frozenset[str] | None) -> None:
    assert rules.fields_read(expr) == fields
