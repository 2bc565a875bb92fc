"""JSON Patch (RFC 6902) through apply_patch, and the apply_patch entry point itself."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shoal.api.patch import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    PatchError,
    PatchTestFailed,
    UnsupportedPatchError,
    apply_patch,
)
from shoal.api.patch_json import json_equal, parse_pointer

DOC: dict[str, Any] = {
    "metadata": {"name": "web", "annotations": {"a/b": "slash", "t~x": "tilde"}},
    "spec": {
        "replicas": 3,
        "list": [1, 2, 3],
        "empty": {},
        "template": {"spec": {"containers": [{"name": "a"}]}},
    },
}


def jp(doc: dict[str, Any], ops: list[Any]) -> dict[str, Any]:
    return apply_patch(doc, ops, JSON_PATCH, model=None)


GOOD = [
    (
        "add key",
        [{"op": "add", "path": "/spec/paused", "value": True}],
        lambda d: d["spec"].__setitem__("paused", True),
    ),
    (
        "add replaces existing key",
        [{"op": "add", "path": "/spec/replicas", "value": 5}],
        lambda d: d["spec"].__setitem__("replicas", 5),
    ),
    (
        "add inserts at index",
        [{"op": "add", "path": "/spec/list/1", "value": 9}],
        lambda d: d["spec"].__setitem__("list", [1, 9, 2, 3]),
    ),
    (
        "add at end index",
        [{"op": "add", "path": "/spec/list/3", "value": 9}],
        lambda d: d["spec"].__setitem__("list", [1, 2, 3, 9]),
    ),
    (
        "add with - appends",
        [{"op": "add", "path": "/spec/list/-", "value": 4}],
        lambda d: d["spec"]["list"].append(4),
    ),
    (
        "add into empty object",
        [{"op": "add", "path": "/spec/empty/k", "value": "v"}],
        lambda d: d["spec"].__setitem__("empty", {"k": "v"}),
    ),
    (
        "add empty-string key",
        [{"op": "add", "path": "/spec/empty/", "value": 1}],
        lambda d: d["spec"].__setitem__("empty", {"": 1}),
    ),
    (
        "remove key",
        [{"op": "remove", "path": "/spec/replicas"}],
        lambda d: d["spec"].pop("replicas"),
    ),
    (
        "remove list item",
        [{"op": "remove", "path": "/spec/list/0"}],
        lambda d: d["spec"].__setitem__("list", [2, 3]),
    ),
    (
        "replace value",
        [{"op": "replace", "path": "/spec/replicas", "value": {"x": None}}],
        lambda d: d["spec"].__setitem__("replicas", {"x": None}),
    ),
    (
        "~1 escapes slash",
        [{"op": "replace", "path": "/metadata/annotations/a~1b", "value": "new"}],
        lambda d: d["metadata"]["annotations"].__setitem__("a/b", "new"),
    ),
    (
        "~0 escapes tilde",
        [{"op": "remove", "path": "/metadata/annotations/t~0x"}],
        lambda d: d["metadata"]["annotations"].pop("t~x"),
    ),
    (
        "move key",
        [{"op": "move", "from": "/spec/replicas", "path": "/spec/count"}],
        lambda d: d["spec"].__setitem__("count", d["spec"].pop("replicas")),
    ),
    (
        "move list item",
        [{"op": "move", "from": "/spec/list/0", "path": "/spec/list/-"}],
        lambda d: d["spec"].__setitem__("list", [2, 3, 1]),
    ),
    (
        "move to itself is a no-op",
        [{"op": "move", "from": "/spec", "path": "/spec"}],
        lambda d: None,
    ),
    (
        "copy subtree",
        [{"op": "copy", "from": "/spec/list", "path": "/spec/other"}],
        lambda d: d["spec"].__setitem__("other", [1, 2, 3]),
    ),
    (
        "test passes then replace",
        [
            {"op": "test", "path": "/spec/replicas", "value": 3.0},
            {"op": "replace", "path": "/spec/replicas", "value": 4},
        ],
        lambda d: d["spec"].__setitem__("replicas", 4),
    ),
    (
        "test on object ignores key order",
        [
            {
                "op": "test",
                "path": "/metadata/annotations",
                "value": {"t~x": "tilde", "a/b": "slash"},
            }
        ],
        lambda d: None,
    ),
    (
        "replace root",
        [{"op": "replace", "path": "", "value": {"kind": "X"}}],
        lambda d: (d.clear(), d.__setitem__("kind", "X")),
    ),
    (
        "rollout undo shape",
        [
            {"op": "replace", "path": "/spec/template", "value": {"spec": {"containers": []}}},
            {"op": "replace", "path": "/metadata/annotations", "value": {"rev": "2"}},
        ],
        lambda d: (
            d["spec"].__setitem__("template", {"spec": {"containers": []}}),
            d["metadata"].__setitem__("annotations", {"rev": "2"}),
        ),
    ),
]


@pytest.mark.parametrize(("ops", "change"), [c[1:] for c in GOOD], ids=[c[0] for c in GOOD])
def test_json_patch_operations(ops: list[Any], change: Any) -> None:
    base = copy.deepcopy(DOC)
    before = copy.deepcopy(base)
    ops_before = copy.deepcopy(ops)
    expected = copy.deepcopy(base)
    change(expected)
    assert jp(base, ops) == expected
    assert base == before, "the input document must not be mutated"
    assert ops == ops_before, "the patch must not be mutated"


def test_copy_does_not_alias() -> None:
    out = jp(DOC, [{"op": "copy", "from": "/spec/list", "path": "/spec/other"}])
    out["spec"]["other"].append(99)
    assert out["spec"]["list"] == [1, 2, 3]


def test_added_value_is_not_shared_with_patch() -> None:
    value = {"k": ["v"]}
    out = jp(DOC, [{"op": "add", "path": "/spec/x", "value": value}])
    out["spec"]["x"]["k"].append("w")
    assert value == {"k": ["v"]}


BAD = [
    ("not a list", {"op": "add"}, "JSON array"),
    ("op not an object", ["add"], "must be an object"),
    ("unknown op", [{"op": "frobnicate", "path": "/a"}], "unknown op 'frobnicate'"),
    ("missing op", [{"path": "/a"}], "unknown op None"),
    ("missing path", [{"op": "remove"}], "missing 'path'"),
    ("path not a string", [{"op": "remove", "path": 3}], "path must be a string"),
    (
        "pointer without slash",
        [{"op": "remove", "path": "spec"}],
        "must be empty or start with '/'",
    ),
    ("bad escape", [{"op": "remove", "path": "/metadata/~2"}], "'~' must be followed by 0 or 1"),
    ("missing value", [{"op": "add", "path": "/spec/x"}], "missing 'value'"),
    ("missing from", [{"op": "move", "path": "/spec/x"}], "missing 'from'"),
    ("remove missing key", [{"op": "remove", "path": "/spec/nope"}], "path /spec/nope not found"),
    ("replace missing key", [{"op": "replace", "path": "/spec/nope", "value": 1}], "not found"),
    ("add under missing parent", [{"op": "add", "path": "/nope/x", "value": 1}], "not found"),
    ("index out of range", [{"op": "add", "path": "/spec/list/5", "value": 1}], "out of range"),
    ("remove past end", [{"op": "remove", "path": "/spec/list/3"}], "out of range"),
    ("leading zero index", [{"op": "remove", "path": "/spec/list/01"}], "not a valid array index"),
    ("negative index", [{"op": "remove", "path": "/spec/list/-1"}], "not a valid array index"),
    ("dash on remove", [{"op": "remove", "path": "/spec/list/-"}], "'-' names no existing"),
    (
        "child of scalar",
        [{"op": "add", "path": "/spec/replicas/x", "value": 1}],
        "not an object or array",
    ),
    ("test fails", [{"op": "test", "path": "/spec/replicas", "value": 2}], "test failed"),
    ("test bool vs number", [{"op": "test", "path": "/spec/list/0", "value": True}], "test failed"),
    ("test missing path", [{"op": "test", "path": "/spec/nope", "value": None}], "not found"),
    ("move into own child", [{"op": "move", "from": "/spec", "path": "/spec/x"}], "own child"),
    ("remove root", [{"op": "remove", "path": ""}], "whole document"),
    ("root becomes non-object", [{"op": "replace", "path": "", "value": [1]}], "not a JSON object"),
]


@pytest.mark.parametrize(("ops", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_json_patch_errors(ops: Any, message: str) -> None:
    with pytest.raises(PatchError) as info:
        jp(DOC, ops)
    assert message in str(info.value)


# what each refusal answers with: a failed ``test`` (whatever stops it) is 422 Invalid, every other
# refusal 400 BadRequest, whatever words the message holds (a path named "test" included)
STATUS = [
    ("test fails", [{"op": "test", "path": "/spec/replicas", "value": 2}], 422, "Invalid"),
    ("test missing path", [{"op": "test", "path": "/spec/nope", "value": None}], 422, "Invalid"),
    ("test without value", [{"op": "test", "path": "/spec/replicas"}], 422, "Invalid"),
    ("remove a key named test", [{"op": "remove", "path": "/spec/test"}], 400, "BadRequest"),
    ("unknown op", [{"op": "tests", "path": "/spec"}], 400, "BadRequest"),
    ("not a list", {"op": "test"}, 400, "BadRequest"),
]


@pytest.mark.parametrize(("ops", "code", "reason"), [c[1:] for c in STATUS], ids=[c[0] for c in STATUS])
def test_json_patch_errors_carry_their_status(ops: Any, code: int, reason: str) -> None:
    with pytest.raises(PatchError) as info:
        jp(DOC, ops)
    assert (info.value.status_code, info.value.reason) == (code, reason)
    assert isinstance(info.value, PatchTestFailed) == (code == 422)


def test_error_names_operation_index_and_leaves_doc_intact() -> None:
    doc = copy.deepcopy(DOC)
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 10},
        {"op": "test", "path": "/spec/replicas", "value": 3},
    ]
    with pytest.raises(PatchError, match=r"operation 1 \(test\)"):
        jp(doc, ops)
    assert doc == DOC


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [
        ("", []),
        ("/", [""]),
        ("/a~1b/c~0d", ["a/b", "c~d"]),
        ("/~01", ["~1"]),
        ("/a//b", ["a", "", "b"]),
    ],
)
def test_parse_pointer(pointer: str, tokens: list[str]) -> None:
    assert parse_pointer(pointer) == tokens


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        (1, 1.0, True),
        (True, 1, False),
        (False, 0, False),
        (None, None, True),
        ("1", 1, False),
        ({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2.0}]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [2, 1], False),
    ],
)
def test_json_equal(a: Any, b: Any, equal: bool) -> None:
    assert json_equal(a, b) is equal


# ---------------------------------------------------------------- apply_patch


def test_bytes_and_str_bodies() -> None:
    body = b'[{"op":"replace","path":"/spec/replicas","value":1}]'
    assert jp(DOC, body)["spec"]["replicas"] == 1  # type: ignore[arg-type]
    assert apply_patch(DOC, body.decode(), JSON_PATCH, model=None)["spec"]["replicas"] == 1


def test_content_type_parameters_and_case_are_ignored() -> None:
    out = apply_patch(
        DOC, {"spec": {"replicas": 7}}, "Application/Merge-Patch+JSON; charset=utf-8", model=None
    )
    assert out["spec"]["replicas"] == 7


@pytest.mark.parametrize("patch_type", [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH])
def test_invalid_json_body(patch_type: str) -> None:
    with pytest.raises(PatchError, match="invalid JSON"):
        apply_patch(DOC, b"{not json", patch_type, model=None)


@pytest.mark.parametrize("patch_type", [APPLY_PATCH, "application/json", "text/plain", ""])
def test_unsupported_patch_types(patch_type: str) -> None:
    with pytest.raises(UnsupportedPatchError, match="unsupported patch type"):
        apply_patch(DOC, b"{}", patch_type, model=None)


def test_unsupported_is_not_a_patch_error() -> None:
    assert not issubclass(UnsupportedPatchError, PatchError)
    assert issubclass(PatchError, ValueError)


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"null", b"3"])
def test_object_patches_must_be_objects(body: bytes) -> None:
    for patch_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
        with pytest.raises(PatchError, match="must be a JSON object"):
            apply_patch(DOC, body, patch_type, model=None)
