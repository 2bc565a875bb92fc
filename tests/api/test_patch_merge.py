"""JSON Merge Patch (RFC 7386): the RFC's own examples plus Kubernetes-shaped ones."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shoal.api.patch import MERGE_PATCH, apply_patch
from shoal.api.patch_merge import apply_merge_patch

# RFC 7386 appendix A, row by row (target, patch, result).
RFC_EXAMPLES: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_EXAMPLES)
def test_rfc7386_examples(target: Any, patch: Any, result: Any) -> None:
    patch_before = copy.deepcopy(patch)
    assert apply_merge_patch(copy.deepcopy(target), patch) == result
    assert patch == patch_before


POD: dict[str, Any] = {
    "metadata": {"name": "p", "labels": {"app": "web", "tier": "fe"}, "finalizers": ["a"]},
    "spec": {
        "containers": [{"name": "c", "image": "nginx"}],
        "tolerations": [{"key": "k"}],
    },
}

K8S_CASES = [
    (
        "kubectl label adds and removes",
        {"metadata": {"labels": {"tier": None, "env": "prod"}}},
        {"app": "web", "env": "prod"},
        lambda out: out["metadata"]["labels"],
    ),
    (
        "kubectl scale",
        {"spec": {"replicas": 4}},
        4,
        lambda out: out["spec"]["replicas"],
    ),
    (
        "lists are replaced, never merged",
        {"spec": {"containers": [{"name": "d"}]}},
        [{"name": "d"}],
        lambda out: out["spec"]["containers"],
    ),
    (
        "directives are plain keys in a merge patch",
        {"metadata": {"labels": {"$patch": "replace"}}},
        {"app": "web", "tier": "fe", "$patch": "replace"},
        lambda out: out["metadata"]["labels"],
    ),
    (
        "null removes a whole subtree",
        {"spec": None},
        None,
        lambda out: out.get("spec"),
    ),
    (
        "new nested object drops its nulls",
        {"status": {"phase": "Running", "reason": None}},
        {"phase": "Running"},
        lambda out: out["status"],
    ),
]


@pytest.mark.parametrize(
    ("patch", "expected", "pick"), [c[1:] for c in K8S_CASES], ids=[c[0] for c in K8S_CASES]
)
def test_kubernetes_merge_patches(patch: dict[str, Any], expected: Any, pick: Any) -> None:
    before = copy.deepcopy(POD)
    out = apply_patch(POD, patch, MERGE_PATCH, model=None)
    assert pick(out) == expected
    assert before == POD


def test_result_shares_nothing_with_patch() -> None:
    patch = {"spec": {"containers": [{"name": "d", "args": ["x"]}]}}
    out = apply_patch(POD, patch, MERGE_PATCH, model=None)
    out["spec"]["containers"][0]["args"].append("y")
    assert patch["spec"]["containers"][0]["args"] == ["x"]
