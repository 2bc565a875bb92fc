"""Label selectors (string form and metav1.LabelSelector) and field selectors."""

from __future__ import annotations

import time
from typing import Any

import pytest

from shoal.api.meta import LabelSelector, LabelSelectorRequirement
from shoal.api.selectors import (
    EVERYTHING,
    NOTHING,
    FieldRequirement,
    Requirement,
    Selector,
    SelectorError,
    field_value,
    from_label_selector,
    from_label_selector_or_everything,
    from_set,
    parse_field_selector,
    parse_selector,
    selector_to_string,
)

WEB = {"app": "web", "tier": "frontend", "version": "3"}

# (selector string, labels, matches)
MATCH_CASES: list[tuple[str, dict[str, str] | None, bool]] = [
    ("", WEB, True),
    ("", None, True),
    ("app=web", WEB, True),
    ("app==web", WEB, True),
    ("app=db", WEB, False),
    ("app!=db", WEB, True),
    ("app!=web", WEB, False),
    ("missing!=x", WEB, True),
    ("app", WEB, True),
    ("missing", WEB, False),
    ("!missing", WEB, True),
    ("!app", WEB, False),
    ("tier in (frontend, backend)", WEB, True),
    ("tier in (backend)", WEB, False),
    ("missing in (x)", WEB, False),
    ("tier notin (backend)", WEB, True),
    ("tier notin (frontend)", WEB, False),
    ("missing notin (x)", WEB, True),
    ("app=web,tier=frontend", WEB, True),
    ("app=web,tier=backend", WEB, False),
    ("app=web, tier in (frontend), !canary, version", WEB, True),
    ("  app = web ,  tier  notin ( a , b )  ", WEB, True),
    ("app=web,app=db", WEB, False),
    ("version>2", WEB, True),
    ("version>3", WEB, False),
    ("version<4", WEB, True),
    ("missing>1", WEB, False),
    ("app>1", WEB, False),  # non-integer label value never matches gt/lt
    ("a=", {"a": ""}, True),
    ("a=", {}, False),
    ("a in ()", {"a": ""}, True),
    ("a in (x,,y)", {"a": ""}, True),
    ("in in (in, notin)", {"in": "notin"}, True),
    ("example.com/team=a", {"example.com/team": "a"}, True),
    ("app=web", None, False),
    ("!app", None, True),
]


@pytest.mark.parametrize(("text", "labels", "expected"), MATCH_CASES)
def test_label_selector_matching(text: str, labels: dict[str, str] | None, expected: bool) -> None:
    assert parse_selector(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("b=2,a=1", "a=1,b=2"),
        ("a==1", "a==1"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("!a , b!=c", "!a,b!=c"),
        ("a in (c,b,a)", "a in (a,b,c)"),
        ("v>1,w<2", "v>1,w<2"),
    ],
)
def test_canonical_string_round_trips(text: str, canonical: str) -> None:
    sel = parse_selector(text)
    assert str(sel) == canonical
    assert parse_selector(str(sel)) == sel


BAD_SELECTORS = [
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a=(", "unable to parse requirement: found '(', expected: identifier"),
    ("a in x", "unable to parse requirement: found 'x' expected: '('"),
    ("a in (x", "expected: ',' or ')'"),
    ("a in (x y)", "found 'y', expected: ',' or ')'"),
    ("(a)", "found '(', expected: !, identifier, or 'end of string'"),
    ("=a", "found '=', expected: !, identifier, or 'end of string'"),
    ("a,", "found '', expected: identifier after ','"),
    ("a,,b", "found ',', expected: identifier after ','"),
    ("!", "unable to parse requirement: found '', expected: identifier"),
    ("!a=b", "found '=', expected: ',' or 'end of string'"),
    ("Bad_/x=1", 'key: Invalid value: "Bad_/x"'),
    ("a/b/c=1", "a qualified name must consist of"),
    ("-a=1", "name part must consist of alphanumeric characters"),
    ("/a=1", "prefix part must be non-empty"),
    ("a/=1", "name part must be non-empty"),
    ("a" * 64 + "=1", "name part must be no more than 63 characters"),
    ("a=-x", 'Invalid value: "-x": a valid label must be an empty string'),
    ("a=" + "x" * 64, "must be no more than 63 characters"),
    ("a in (ok, -bad)", 'Invalid value: "-bad"'),
    ("a>x", "for 'Gt', 'Lt' operators, the value must be an integer"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SELECTORS)
def test_bad_label_selectors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector(text)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_empty_everything_and_nothing() -> None:
    assert parse_selector("").empty
    assert parse_selector("  ").empty
    assert EVERYTHING.empty and EVERYTHING.matches({}) and EVERYTHING.matches(None)
    assert not NOTHING.empty and not NOTHING.matches({}) and not NOTHING.matches(WEB)
    assert not parse_selector("a").empty


def test_requires_exact_match() -> None:
    sel = parse_selector("app=web,tier in (a),x in (a,b),y!=z")
    assert sel.requires_exact_match("app") == "web"
    assert sel.requires_exact_match("tier") == "a"
    assert sel.requires_exact_match("x") is None
    assert sel.requires_exact_match("y") is None
    assert sel.requires_exact_match("nope") is None


def test_requirements_are_exposed_sorted_by_key() -> None:
    sel = parse_selector("b in (2,1),a")
    assert sel.requirements == (Requirement("a", "exists"), Requirement("b", "in", ["1", "2"]))


# ---------------------------------------------------------------- metav1.LabelSelector

STRUCTURED_CASES: list[tuple[Any, dict[str, str] | None, bool]] = [
    (None, WEB, False),
    ({}, WEB, True),
    ({"matchLabels": {}, "matchExpressions": []}, {}, True),
    ({"matchLabels": {"app": "web"}}, WEB, True),
    ({"matchLabels": {"app": "db"}}, WEB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend"]}]}, WEB, True),
    (
        {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]},
        WEB,
        False,
    ),
    ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, WEB, True),
    ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, WEB, False),
    (
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}],
        },
        WEB,
        True,
    ),
    (LabelSelector(match_labels={"app": "web"}), WEB, True),
    (
        LabelSelector(
            match_expressions=[LabelSelectorRequirement(key="tier", operator="In", values=["x"])]
        ),
        WEB,
        False,
    ),
    (LabelSelector(), {}, True),
]


@pytest.mark.parametrize(("selector", "labels", "expected"), STRUCTURED_CASES)
def test_from_label_selector(selector: Any, labels: dict[str, str] | None, expected: bool) -> None:
    assert from_label_selector(selector).matches(labels) is expected


def test_none_selector_semantics_are_both_available() -> None:
    assert from_label_selector(None) is NOTHING
    assert from_label_selector_or_everything(None) is EVERYTHING
    assert from_label_selector({}) is EVERYTHING
    assert from_label_selector_or_everything({"matchLabels": {"a": "b"}}).matches({"a": "b"})


BAD_STRUCTURED = [
    (
        {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]},
        '"Equals" is not a valid label selector operator',
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "In", "values": []}]},
        "values set can't be empty",
    ),
    (
        {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
        "values set must be empty",
    ),
    ({"matchExpressions": [{"key": "a b", "operator": "Exists"}]}, 'key: Invalid value: "a b"'),
    ({"matchLabels": {"app": "no good"}}, 'Invalid value: "no good"'),
    ({"matchLabels": {"app": 3}}, "value must be a string"),
    ({"matchLabels": ["app"]}, "matchLabels must be an object"),
    ({"matchExpressions": {"key": "a"}}, "matchExpressions must be a list"),
    ("app=web", "a label selector must be an object"),
]


@pytest.mark.parametrize(("selector", "message"), BAD_STRUCTURED)
def test_bad_label_selector_objects(selector: Any, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        from_label_selector(selector)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("selector", "text"),
    [
        (None, ""),
        ({}, ""),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["b", "a"]},
                    {"key": "env", "operator": "NotIn", "values": ["prod"]},
                    {"key": "x", "operator": "Exists"},
                    {"key": "canary", "operator": "DoesNotExist"},
                ],
            },
            "app=web,!canary,env notin (prod),tier in (a,b),x",
        ),
        (LabelSelector(match_labels={"app": "d"}), "app=d"),
    ],
)
def test_selector_to_string(selector: Any, text: str) -> None:
    assert selector_to_string(selector) == text
    if text:
        assert parse_selector(text) == from_label_selector(selector)


def test_from_set() -> None:
    assert from_set(None) is EVERYTHING
    assert from_set({}) is EVERYTHING
    sel = from_set({"app": "web", "tier": "frontend"})
    assert sel.matches(WEB)
    assert not sel.matches({"app": "web"})
    assert str(sel) == "app=web,tier=frontend"
    with pytest.raises(SelectorError):
        from_set({"app": "bad value"})


def test_matching_is_fast() -> None:
    labels = [{"app": "web", "tier": "a" if i % 2 else "b", "pod": str(i)} for i in range(10_000)]
    sel = parse_selector("app=web,tier in (a,c),!canary")
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        count = sum(1 for item in labels if sel.matches(item))
        best = min(best, time.perf_counter() - start)
    assert count == 5_000
    assert best < 0.05  # typically ~4 ms; generous for slow CI machines


def test_selector_equality_and_hash() -> None:
    assert parse_selector("a=1,b=2") == parse_selector("b=2, a=1")
    assert hash(parse_selector("a=1,b=2")) == hash(parse_selector("b=2,a=1"))
    assert parse_selector("a=1") != parse_selector("a==1")
    assert Selector() != NOTHING


# ---------------------------------------------------------------- field selectors

POD = {
    "metadata": {"name": "web-1", "namespace": "default"},
    "spec": {"nodeName": "n1", "unschedulable": False, "priority": 0},
    "status": {"phase": "Running"},
}
EVENT = {"involvedObject": {"name": "web-1", "kind": "Pod"}, "reason": "Started"}

FIELD_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("", POD, True),
    ("metadata.name=web-1", POD, True),
    ("metadata.name==web-1", POD, True),
    ("metadata.name!=web-1", POD, False),
    ("metadata.namespace=default,status.phase=Running", POD, True),
    ("metadata.namespace=default,status.phase!=Running", POD, False),
    ("spec.nodeName=n2", POD, False),
    ("spec.nodeName=", POD, False),
    ("spec.nodeName=", {"spec": {}}, True),
    ("spec.nodeName!=", POD, True),
    ("spec.unschedulable=false", POD, True),
    ("spec.priority=0", POD, True),
    ("status.phase!=Failed", {}, True),
    ("involvedObject.name=web-1,involvedObject.kind=Pod", EVENT, True),
    ("reason=Started", EVENT, True),
    (" metadata.name = web-1 ", POD, True),
    ("metadata.name=web\\,1", {"metadata": {"name": "web,1"}}, True),
    ("metadata.name=a\\=b", {"metadata": {"name": "a=b"}}, True),
    ("spec.nodeName.deeper=x", POD, False),
]


@pytest.mark.parametrize(("text", "obj", "expected"), FIELD_CASES)
def test_field_selector_matching(text: str, obj: dict[str, Any], expected: bool) -> None:
    assert parse_field_selector(text).matches(obj) is expected


def test_field_selector_requirements() -> None:
    sel = parse_field_selector("status.phase!=Failed,metadata.name=x")
    assert sel.requirements == (
        FieldRequirement("metadata.name", "=", "x"),
        FieldRequirement("status.phase", "!=", "Failed"),
    )
    assert [(f, op, v) for f, op, v in sel.requirements] == [
        ("metadata.name", "=", "x"),
        ("status.phase", "!=", "Failed"),
    ]
    assert sel.fields == {"metadata.name", "status.phase"}
    assert sel.requires_exact_match("metadata.name") == "x"
    assert sel.requires_exact_match("status.phase") is None
    assert not sel.empty and parse_field_selector("").empty
    assert str(sel) == "metadata.name=x,status.phase!=Failed"
    assert str(parse_field_selector("a=x\\,y")) == "a=x\\,y"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("a=b,c", "can't understand 'c'"),
        ("=x", "can't understand '=x'"),
        ("a=b=c", "unescaped '='"),
        ("a=b\\x", "invalid escape sequence"),
    ],
)
def test_bad_field_selectors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_field_selector(text)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("metadata.name", "web-1"),
        ("spec.unschedulable", "false"),
        ("spec.priority", "0"),
        ("spec.missing", ""),
        ("metadata", ""),
        ("metadata.name.x", ""),
    ],
)
def test_field_value(path: str, value: str) -> None:
    assert field_value(POD, path) == value
