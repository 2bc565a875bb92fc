"""LabelColumn's domain sums and per-node reads, held to a plain loop over random columns.

The column keeps its codes with the absent label as one extra slot and knows when every node is
a domain of its own (a hostname); both shortcuts must answer as the definition does.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.scheduler.snapshot import LabelColumn


def column(codes: list[int], values: int) -> LabelColumn:
    return LabelColumn(np.array(codes, dtype=np.int32), [f"v{i}" for i in range(values)])


@st.composite
def columns(draw: st.DrawFn) -> tuple[list[int], int]:
    values = draw(st.integers(0, 6))
    n = draw(st.integers(0, 12))
    codes = draw(st.lists(st.integers(-1, values - 1), min_size=n, max_size=n))
    return codes, values


def reference_domain_sum(codes: list[int], per_node: list[float]) -> list[float]:
    return [0.0 if c < 0 else sum(w for d, w in zip(codes, per_node, strict=True) if d == c) for c in codes]


@settings(max_examples=300, deadline=None)
@given(col=columns(), data=st.data())
def test_domain_sum_is_the_sum_over_each_nodes_domain(col: tuple[list[int], int], data: st.DataObject) -> None:
    codes, values = col
    weights = data.draw(st.lists(st.integers(0, 5), min_size=len(codes), max_size=len(codes)))
    got = column(codes, values).domain_sum(np.array(weights, dtype=np.int64))
    assert got.dtype == np.float64
    assert got.tolist() == reference_domain_sum(codes, [float(w) for w in weights])


@settings(max_examples=300, deadline=None)
@given(col=columns(), data=st.data())
def test_per_node_reads_each_nodes_domain(col: tuple[list[int], int], data: st.DataObject) -> None:
    codes, values = col
    per_domain = data.draw(st.lists(st.integers(0, 9), min_size=values, max_size=values))
    got = column(codes, values).per_node(np.array(per_domain, dtype=np.int64))
    assert got.tolist() == [0.0 if c < 0 else float(per_domain[c]) for c in codes]


def test_a_hostname_column_sums_each_node_alone_into_a_new_array() -> None:
    col = column([0, 1, 2, 3], 4)
    counts = np.array([2, 0, 1, 0])
    got = col.domain_sum(counts)
    assert got.tolist() == [2.0, 0.0, 1.0, 0.0]
    got[0] = 99.0
    assert counts[0] == 2  # the answer is not the caller's array


def test_bool_weights_and_all_absent() -> None:
    assert column([0, 0, 1], 2).domain_sum(np.array([True, False, True])).tolist() == [1.0, 1.0, 1.0]
    assert column([-1, -1], 0).domain_sum(np.array([3, 4])).tolist() == [0.0, 0.0]


@settings(max_examples=300, deadline=None)
@given(col=columns(), data=st.data())
def test_domain_totals_count_only_the_nodes_among(col: tuple[list[int], int], data: st.DataObject) -> None:
    codes, values = col
    n = len(codes)
    weights = data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    among = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    sums, seen = column(codes, values).domain_totals(np.array(weights, dtype=np.int64), np.array(among, dtype=np.bool_))
    assert sums.dtype == np.float64 and seen.dtype == np.bool_
    assert sums.tolist() == [float(sum(w for c, w, a in zip(codes, weights, among, strict=True) if a and c == d))
                             for d in range(values)]
    assert seen.tolist() == [any(a and c == d for c, a in zip(codes, among, strict=True)) for d in range(values)]
