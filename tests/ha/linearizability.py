"""An exact linearizability checker for a compare-and-swap register (Wing & Gong's search, Lowe's memo).

A history is a list of operations, each with its invocation and response times
(the client's clock) and its outcome. An operation that did not come back
(a timeout, a 503 on a write) has an unknown outcome: its response time is
infinite and it may have taken effect or not. The history is linearizable if
some order of the operations (every one placed between its invocation and its
response) is a run of the register: a read returns the current value, a
successful CAS found its expected value and wrote its new one, a failed CAS
found another value. The search tries, at each step, every pending operation
that was invoked before the earliest response among those not yet placed, and
remembers (placed set, value) pairs already explored: exact, and quick for the
few dozen operations a test records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Op:
    kind: Literal["read", "cas"]
    call: float
    ret: float  # float("inf"): no answer (unknown outcome)
    value: str | None = None  # read: what it returned
    expected: str | None = None  # cas
    new: str | None = None  # cas
    ok: bool | None = None  # cas: True applied, False refused (409), None unknown
    client: int = 0


def _steps(op: Op, state: str | None) -> list[str | None]:
    """The states ``op`` may leave when applied to ``state`` ([] if it cannot happen there)."""
    if op.kind == "read":
        return [state] if op.value == state else []
    if op.ok is True:
        return [op.new] if state == op.expected else []
    if op.ok is False:
        return [state] if state != op.expected else []
    # unknown: it happened (if it could) or not
    return [op.new, state] if state == op.expected else [state]


def linearizable(history: list[Op], initial: str | None) -> bool:
    ops = sorted(history, key=lambda o: o.call)
    n = len(ops)
    full = (1 << n) - 1
    seen: set[tuple[int, str | None]] = set()

    def search(done: int, state: str | None) -> bool:
        if done == full:
            return True
        if (done, state) in seen:
            return False
        seen.add((done, state))
        horizon = min(o.ret for i, o in enumerate(ops) if not done >> i & 1)
        for i, o in enumerate(ops):
            if done >> i & 1:
                continue
            if o.call > horizon:
                break  # sorted by call: none after this can go first
            for nxt in _steps(o, state):
                if search(done | 1 << i, nxt):
                    return True
        return False

    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 10 * n + 100))
    try:
        return search(0, initial)
    finally:
        sys.setrecursionlimit(old)


__all__ = ["Op", "linearizable"]
