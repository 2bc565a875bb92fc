"""A bounded memo: the answers of a pure function for the last few keys it was asked.

Why: every pod of a Deployment, a Job or a DaemonSet is its template's spec, so the
pure work done per spec (validation in the API server, parsing in the scheduler)
repeats for thousands of pods; keyed by the spec's encoding, the answer is computed
once per template. Least recently used keys go first; the size bounds the memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """``get`` an answer (``None`` when not remembered) and ``put`` one; at most ``size`` are kept."""

    __slots__ = ("_items", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        hit = self._items.get(key)
        if hit is not None:
            self._items.move_to_end(key)
        return hit

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


__all__ = ["Memo"]
