"""The quantity caches: cached and uncached answers agree, and only short strings are kept."""

from __future__ import annotations

from fractions import Fraction

import pytest

from shoal.api import quantity
from shoal.api.quantity import InvalidQuantity, canonical_quantity, parse

SAMPLES = ["100m", "256Mi", "1", "2Gi", "0.5", "1e3", "1.5k", "-2", "2048Mi", "0.1", "1n", "0.0000000001"]


@pytest.mark.parametrize("text", SAMPLES)
def test_cached_equals_uncached(text: str) -> None:
    assert parse(text) == quantity._parse(text)
    assert parse(text) == parse(text)  # second call: from the cache
    assert canonical_quantity(text) == quantity._canonical(text)


def test_numbers_and_strings_keep_their_own_answers() -> None:
    assert parse(1) == (Fraction(1), "DecimalSI")
    assert parse("1") == (Fraction(1), "DecimalSI")
    assert canonical_quantity(0.5) == "500m"
    assert canonical_quantity("0.5") == "500m"
    with pytest.raises(InvalidQuantity):
        parse(True)


def test_errors_are_raised_every_time() -> None:
    for _ in range(3):
        with pytest.raises(InvalidQuantity):
            parse("12 apples")
        with pytest.raises(InvalidQuantity):
            canonical_quantity("1Zi")


def test_long_strings_are_not_cached() -> None:
    long = "1" + "0" * 100
    before = quantity._parse_cached.cache_info().currsize
    assert parse(long) == (Fraction(10**100), "DecimalSI")
    assert canonical_quantity(long) == "1" + "0" * 82 + "E"
    assert quantity._parse_cached.cache_info().currsize == before


def test_cache_is_bounded() -> None:
    for i in range(quantity._CACHE_SIZE + 50):
        parse(f"{i}m")
    assert quantity._parse_cached.cache_info().currsize <= quantity._CACHE_SIZE
