from fractions import Fraction

import pytest

from shoal.api.quantity import (
    InvalidQuantity,
    canonical_quantity,
    format_quantity,
    int_value,
    is_quantity,
    milli_value,
    parse,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("100m", Fraction(1, 10)),
        ("1.5", Fraction(3, 2)),
        ("2Gi", 2 * 2**30),
        ("1Ki", 1024),
        ("1e3", 1000),
        ("1E3", 1000),
        ("500M", 500_000_000),
        ("1k", 1000),
        ("5n", Fraction(5, 10**9)),
        ("-1", -1),
        ("+2", 2),
        (".5", Fraction(1, 2)),
        ("1.", 1),
        (1, 1),
        (0.25, Fraction(1, 4)),
        ("0", 0),
        ("1e-3", Fraction(1, 1000)),
    ],
)
def test_parse(raw: str | int | float, value: Fraction | int) -> None:
    assert parse_quantity(raw) == value


@pytest.mark.parametrize("raw", ["5x", "", "abc", "1.2.3", "Gi", "1Gb", "1e", "--1", "1 Gi", True])
def test_invalid(raw: object) -> None:
    with pytest.raises(InvalidQuantity):
        parse_quantity(raw)  # type: ignore[arg-type]
    assert not is_quantity(raw)


def test_error_message_quotes_the_pattern() -> None:
    with pytest.raises(InvalidQuantity, match=r"quantities must match the regular expression"):
        parse_quantity("5x")


def test_precision_rounds_up_to_nano() -> None:
    assert parse_quantity("0.0000000001") == Fraction(1, 10**9)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("0.5", "500m"),
        ("1.5", "1500m"),
        ("1000m", "1"),
        ("2048Mi", "2Gi"),
        ("1536", "1536"),
        ("2000", "2k"),
        ("1500", "1500"),
        ("100m", "100m"),
        ("512Mi", "512Mi"),
        ("1536Mi", "1536Mi"),
        ("0.5Gi", "512Mi"),
        ("1e3", "1e3"),
        (1, "1"),
        (0.1, "100m"),
        ("0", "0"),
        ("-100m", "-100m"),
        ("128974848", "128974848"),
    ],
)
def test_canonical(raw: str | int | float, canonical: str) -> None:
    assert canonical_quantity(raw) == canonical


def test_helpers() -> None:
    assert milli_value("100m") == 100
    assert milli_value("2") == 2000
    assert milli_value("1n") == 1  # rounds up
    assert int_value("1Ki") == 1024
    assert int_value("500m") == 1
    assert parse("1Gi")[1] == "BinarySI"
    assert parse("1G")[1] == "DecimalSI"
    assert format_quantity(Fraction(3, 2)) == "1500m"
    assert format_quantity(2**20, fmt="BinarySI") == "1Mi"
