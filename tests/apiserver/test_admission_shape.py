"""check_shape: the exact limits of nesting and size that every write body is held to."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.apiserver import admission, errors
from shoal.apiserver.admission import MAX_DEPTH, MAX_NODES, check_shape
from shoal.apiserver.handlers import parse_body


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


# ---- json_within_shape: the byte test that lets parse_body skip the walk -----------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet="ab{[]}\"\\", max_size=4),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=2), children, max_size=4),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_json_within_shape_never_clears_a_body_the_walk_refuses(value: Any) -> None:
    # small limits so that generated values reach both of them; the property must hold at any limits
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(admission, "MAX_DEPTH", 4)
        mp.setattr(admission, "MAX_NODES", 40)
        raw = msgspec.json.encode(value)
        if admission.json_within_shape(raw):
            check_shape(value)  # must not raise


def test_json_within_shape_at_the_real_limits() -> None:
    assert admission.json_within_shape(msgspec.json.encode(nested(MAX_DEPTH - 1)))
    assert not admission.json_within_shape(msgspec.json.encode(nested(MAX_DEPTH)))
    assert not admission.json_within_shape(b"[" + b"0," * MAX_NODES + b"0]")
    assert not admission.json_within_shape(b'{"a":"' + b"[" * MAX_DEPTH + b'"}')  # over-counts: walked, passes


@pytest.mark.parametrize("raw", [msgspec.json.encode(nested(MAX_DEPTH)), msgspec.json.encode(nested(MAX_DEPTH + 50))])
def test_parse_body_still_refuses_deep_json(raw: bytes) -> None:
    with pytest.raises(errors.ApiError) as e:
        parse_body(raw, "application/json")
    assert e.value.code == 400 and "nested deeper" in e.value.message
