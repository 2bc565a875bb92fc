"""Random uids and generateName suffixes: well-formed, distinct, unbiased enough to notice."""

from __future__ import annotations

import collections
import uuid

import pytest

from shoal.apiserver.ids import new_uid, random_suffix


def test_uids_are_version_4_and_distinct() -> None:
    seen = set()
    for _ in range(5000):
        u = new_uid()
        parsed = uuid.UUID(u)
        assert str(parsed) == u
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        seen.add(u)
    assert len(seen) == 5000


def test_suffix_draws_from_the_alphabet_evenly() -> None:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # 27 characters: 256 is not a multiple
    counts = collections.Counter("".join(random_suffix(alphabet, 5) for _ in range(20000)))
    assert set(counts) == set(alphabet)
    expected = 100000 / len(alphabet)
    assert all(abs(c - expected) < 0.1 * expected for c in counts.values())
    assert len(random_suffix(alphabet, 5)) == 5 and random_suffix(alphabet, 0) == ""


@pytest.mark.parametrize("alphabet", ["", "x" * 257])
def test_bad_alphabet(alphabet: str) -> None:
    with pytest.raises(ValueError):
        random_suffix(alphabet, 3)
