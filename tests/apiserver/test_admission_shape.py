"""check_shape: the exact limits of nesting and size that every write body is held to."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.apiserver import errors
from shoal.apiserver.admission import MAX_DEPTH, MAX_NODES, check_shape


def nested(levels: int, leaf: Any = 1) -> Any:
    out = leaf
    for i in range(levels):
        out = {"a": out} if i % 2 else [out]
    return out


@pytest.mark.parametrize("body", [1, "x", None, {}, [], nested(MAX_DEPTH - 1), nested(MAX_DEPTH - 1, {}),
                                  [0] * (MAX_NODES - 1), {"metadata": {"name": "a"}, "spec": [{"x": [1, 2]}]}])
def test_within_limits(body: Any) -> None:
    check_shape(body)


@pytest.mark.parametrize("body", [nested(MAX_DEPTH), nested(MAX_DEPTH, {}), nested(MAX_DEPTH + 50)])
def test_too_deep(body: Any) -> None:
    with pytest.raises(errors.ApiError) as e:
        check_shape(body)
    assert e.value.code == 400 and "nested deeper" in e.value.message


def test_cycle_is_too_deep() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(errors.ApiError, match="nested deeper"):
        check_shape({"a": loop})


def test_too_many_values() -> None:
    with pytest.raises(errors.ApiError) as e:
        check_shape([0] * MAX_NODES)  # the list itself is one more value
    assert e.value.code == 400 and "more than" in e.value.message
    shared = [0] * 1000
    with pytest.raises(errors.ApiError, match="more than"):
        check_shape([shared] * 1001)  # the same list counted at each place it appears (YAML aliases)
