"""The checker itself, on histories whose answer is known (it must say no when it should)."""

from __future__ import annotations

import math

import pytest

from tests.ha.linearizability import Op, linearizable


def r(call: float, ret: float, value: str | None, client: int = 0) -> Op:
    return Op("read", call, ret, value=value, client=client)


def cas(call: float, ret: float, expected: str | None, new: str, ok: bool | None, client: int = 0) -> Op:
    return Op("cas", call, ret, expected=expected, new=new, ok=ok, client=client)


CASES = [
    ("sequential", [cas(0, 1, "a", "b", True), r(2, 3, "b")], True),
    ("stale read after a write completed", [cas(0, 1, "a", "b", True), r(2, 3, "a")], False),
    ("a read overlapping the write may see either",
     [cas(0, 3, "a", "b", True), r(1, 2, "a"), r(1, 2, "b", client=1)], True),
    ("two reads overlapping a write cannot see new then old in real-time order",
     [cas(0, 10, "a", "b", True), r(1, 2, "b"), r(3, 4, "a", client=1)], False),
    ("both CAS from the same value cannot both succeed",
     [cas(0, 2, "a", "b", True), cas(0, 2, "a", "c", True, client=1)], False),
    ("one wins, the other is refused", [cas(0, 2, "a", "b", True), cas(0, 2, "a", "c", False, client=1)], True),
    ("a refused CAS whose value was current is wrong", [cas(0, 1, "a", "b", False)], False),
    ("an unknown write may have happened", [cas(0, math.inf, "a", "b", None), r(5, 6, "b")], True),
    ("or not", [cas(0, math.inf, "a", "b", None), r(5, 6, "a")], True),
    ("but not undone once seen", [cas(0, math.inf, "a", "b", None), r(5, 6, "b"), r(7, 8, "a")], False),
    ("a value out of nowhere", [r(0, 1, "z")], False),
]


@pytest.mark.parametrize(("name", "history", "expected"), CASES, ids=[c[0] for c in CASES])
def test_checker(name: str, history: list[Op], expected: bool) -> None:
    assert linearizable(history, "a") is expected


def test_checker_is_quick_on_a_long_valid_history() -> None:
    history = []
    value = "a"
    t = 0.0
    for i in range(60):
        new = f"v{i}"
        history.append(cas(t, t + 1.5, value, new, True, client=i % 3))  # overlapping neighbours
        history.append(r(t + 2, t + 2.5, new, client=(i + 1) % 3))
        value, t = new, t + 3
    assert linearizable(history, "a")
