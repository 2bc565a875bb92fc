"""FieldsV1 sets: encoding as upstream writes it, decoding, and the set algebra (table tests)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shoal.api.apply import fieldset as fs

K_WEB = 'k:{"name":"web"}'
K_PORT = 'k:{"containerPort":80,"protocol":"TCP"}'


def build(*paths: tuple[str, ...]) -> fs.Fields:
    s: fs.Fields = {}
    for p in paths:
        s = fs.insert(s, p)
    return s


def members(s: fs.Fields) -> list[tuple[str, ...]]:
    return list(fs.paths(s))


# ---- encoding --------------------------------------------------------------------------------

def test_encode_orders_fields_then_keys_then_values_then_indices_with_the_member_mark_first() -> None:
    s = build(("i:2",), ("v:\"b\"",), ("v:1",), (K_WEB,), (K_WEB, "f:image"), ("f:z",), ("f:a", "f:b"))
    got = json.dumps(fs.encode(s), separators=(",", ":"))
    assert got == ('{"f:a":{"f:b":{}},"f:z":{},"k:{\\"name\\":\\"web\\"}":{".":{},"f:image":{}},'
                   '"v:1":{},"v:\\"b\\"":{},"i:2":{}}')


@pytest.mark.parametrize("values,order", [
    ([2, 10, 1.5], ["v:1.5", "v:2", "v:10"]),          # numbers compare as numbers, ints and floats alike
    (["b", 3, True, None, "a"], ["v:3", 'v:"a"', 'v:"b"', "v:true", "v:null"]),  # numbers, strings, bools, null
])
def test_set_values_sort_as_upstreams_value_compare(values: list[Any], order: list[str]) -> None:
    s = build(*((fs.value_element(v),) for v in values))
    assert list(fs.encode(s)) == order


def test_keys_sort_by_their_fields_in_name_order() -> None:
    a = fs.key_element({"protocol": "UDP", "containerPort": 53})
    b = fs.key_element({"containerPort": 53, "protocol": "TCP"})
    c = fs.key_element({"containerPort": 8080, "protocol": "TCP"})
    assert a == 'k:{"containerPort":53,"protocol":"UDP"}'
    assert list(fs.encode(build((c,), (a,), (b,)))) == [b, a, c]


@pytest.mark.parametrize("value,text", [
    ("web", '"web"'),
    ("a<b>&c", '"a\\u003cb\\u003e\\u0026c"'),   # Go's encoding/json escapes HTML characters
    ("ü", '"ü"'),                                # and keeps other characters as UTF-8
    ('q"uote', '"q\\"uote"'),
    (80, "80"),
    (True, "true"),
])
def test_keys_and_values_are_written_as_go_json(value: Any, text: str) -> None:
    assert fs.value_element(value) == "v:" + text
    assert fs.key_element({"k": value}) == 'k:{"k":' + text + "}"


def test_member_with_children_is_written_with_a_dot_and_a_member_alone_as_an_empty_object() -> None:
    s = build(("f:metadata", "f:labels"), ("f:metadata", "f:labels", "f:app"), ("f:spec", "f:replicas"))
    assert fs.encode(s) == {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:replicas": {}}}


# ---- decoding ------------------------------------------------------------------------------------

ROUND_TRIPS = [
    {},
    {"f:spec": {"f:replicas": {}}},
    {"f:metadata": {"f:labels": {".": {}, "f:app": {}}, "f:finalizers": {".": {}, 'v:"a/b"': {}}}},
    {"f:spec": {"f:containers": {K_WEB: {".": {}, "f:image": {}, "f:ports": {".": {}, K_PORT: {".": {},
                                                                                                 "f:containerPort": {}}}}}}},
    {"f:data": {"i:0": {}, "i:1": {"f:x": {}}}},
]


@pytest.mark.parametrize("raw", ROUND_TRIPS)
def test_fields_v1_round_trips(raw: dict[str, Any]) -> None:
    s = fs.decode(raw, canonical=True)
    assert fs.encode(s) == raw
    assert fs.decode(fs.encode(s)) == s


def test_decode_writes_client_keys_canonically_and_drops_unknown_element_kinds() -> None:
    raw = {'k:{ "protocol": "TCP", "containerPort": 80 }': {}, "z:future": {}, "f:a": {"q:x": {}, "f:b": {}}}
    assert fs.encode(fs.decode(raw, canonical=True)) == {"f:a": {"f:b": {}}, K_PORT: {}}


@pytest.mark.parametrize("raw", [[], {"f:a": 1}, {"x": {}}, {'k:[1]': {}}, {"v:{": {}}, {"i:x": {}}])
def test_decode_refuses_what_is_not_fields_v1(raw: Any) -> None:
    with pytest.raises(fs.FieldsError):
        fs.decode(raw, canonical=True)


def test_decode_of_a_member_only_child_with_children_is_not_a_member() -> None:
    s = fs.decode({"f:a": {"f:b": {}}})
    assert fs.has(s, ("f:a", "f:b"))
    assert not fs.has(s, ("f:a",))


# ---- algebra -------------------------------------------------------------------------------------

A = ("f:a",)
AB = ("f:a", "f:b")
AC = ("f:a", "f:c")
ABD = ("f:a", "f:b", "f:d")
X = ("f:x",)


@pytest.mark.parametrize("op,left,right,want", [
    (fs.union, [AB], [AC], [AB, AC]),
    (fs.union, [A], [AB], [A, AB]),
    (fs.union, [], [AB], [AB]),
    (fs.intersection, [AB, AC], [AC, X], [AC]),
    (fs.intersection, [A, AB], [AB], [AB]),         # a member of one side only is not kept
    (fs.intersection, [A], [AB], []),
    (fs.difference, [AB, AC], [AC], [AB]),
    (fs.difference, [A, AB], [A], [AB]),            # parent - parent leaves the child (upstream's Difference)
    (fs.difference, [AB], [A], [AB]),
    (fs.difference, [AB], [AB, X], []),
    (fs.recursive_difference, [A, AB, ABD, X], [A], [X]),   # a member takes what is under it
    (fs.recursive_difference, [AB, AC], [AB], [AC]),
    (fs.recursive_difference, [ABD, AC], [AB], [AC]),
])
def test_set_algebra(op: Any, left: list[tuple[str, ...]], right: list[tuple[str, ...]],
                     want: list[tuple[str, ...]]) -> None:
    l_set, r_set = build(*left), build(*right)
    l_before, r_before = json.dumps(l_set), json.dumps(r_set)
    assert members(op(l_set, r_set)) == want
    assert (json.dumps(l_set), json.dumps(r_set)) == (l_before, r_before)  # values: arguments untouched


def test_only_and_with_prefix() -> None:
    s = build(("f:status", "f:phase"), ("f:spec", "f:x"))
    assert members(fs.only(s, "f:status")) == [("f:status", "f:phase")]
    assert members(fs.with_prefix(s, "f:spec")) == [("f:x",)]
    assert fs.only(s, "f:nope") == {}


@pytest.mark.parametrize("path,text", [
    (("f:spec", "f:replicas"), ".spec.replicas"),
    (("f:spec", "f:containers", K_WEB, "f:image"), '.spec.containers[name="web"].image'),
    (("f:ports", K_PORT), '.ports[containerPort=80,protocol="TCP"]'),
    (("f:finalizers", 'v:"a"'), '.finalizers[="a"]'),
    (("f:args", "i:3"), ".args[3]"),
    (("f:labels", "f:app.kubernetes.io/name"), ".labels.app.kubernetes.io/name"),
])
def test_paths_print_as_upstream(path: tuple[str, ...], text: str) -> None:
    assert fs.path_string(path) == text
