"""Kubernetes resource quantities (``100m``, ``1.5``, ``2Gi``, ``1e3``) as exact numbers.

A quantity is a decimal number with a suffix: binary SI (``Ki`` .. ``Ei``),
decimal SI (``n u m "" k M G T P E``) or a decimal exponent (``e3``). Values are
kept as ``fractions.Fraction`` so that ``0.1 + 0.2`` CPUs is exactly ``300m``;
like upstream, precision finer than one nano-unit is rounded up.

``canonical_quantity`` reproduces how the API server re-serialises a quantity
(``0.5`` -> ``500m``, ``2048Mi`` -> ``2Gi``, ``1000m`` -> ``1``), keeping the
format family (binary, decimal, exponent) the user wrote.

Admission parses each pod's cpu/memory strings about 16 times (defaulting,
QoS class, validation), and ``Fraction`` arithmetic costs ~10 µs a parse; a
cluster uses a handful of distinct values (``100m``, ``256Mi``). So ``parse``
and ``canonical_quantity`` remember the results for short strings (the results
are immutable: a ``Fraction`` and a ``str``) in bounded LRU caches. Only short
strings are kept, so a hostile body cannot pin megabytes in the cache, and
errors are never cached (they are raised again on each call).
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache
from typing import Literal

# What a quantity may be in a decoded manifest: YAML ``cpu: 1`` arrives as an int.
QuantityValue = int | float | str

Format = Literal["BinarySI", "DecimalSI", "DecimalExponent"]

# The pattern upstream quotes in its validation message.
QUANTITY_PATTERN = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

_NUMBER = re.compile(r"^([+-]?)([0-9]+\.?[0-9]*|\.[0-9]+)(.*)$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {v: k for k, v in _DECIMAL.items()}
_EXPONENT = re.compile(r"^[eE]([+-]?[0-9]+)$")
_NANO = Fraction(1, 10**9)
# Strings at most this long have their results cached (every real quantity is far shorter).
_CACHE_MAX_LEN = 32
_CACHE_SIZE = 1024


class InvalidQuantity(ValueError):
    """The text is not a Kubernetes quantity."""


def _text(raw: QuantityValue) -> str:
    if isinstance(raw, bool):
        raise InvalidQuantity(f"quantity must be a string or a number, not {raw!r}")
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise InvalidQuantity(f"quantity {raw!r} is not finite")
        text = repr(raw)
        return text[:-2] if text.endswith(".0") else text
    return str(raw)


def parse(raw: QuantityValue) -> tuple[Fraction, Format]:
    """The exact value (rounded up to nano precision) and the format family."""
    if type(raw) is str and len(raw) <= _CACHE_MAX_LEN:
        return _parse_cached(raw)
    return _parse(raw)


def _parse(raw: QuantityValue) -> tuple[Fraction, Format]:
    text = _text(raw).strip()
    m = _NUMBER.match(text)
    if not m or not text:
        raise InvalidQuantity(f"quantities must match the regular expression '{QUANTITY_PATTERN}'")
    sign, number, suffix = m.groups()
    value = Fraction(number if not number.endswith(".") else number[:-1] or "0")
    fmt: Format
    if suffix in _BINARY:
        value *= 2 ** _BINARY[suffix]
        fmt = "BinarySI"
    elif suffix in _DECIMAL:
        value *= Fraction(10) ** _DECIMAL[suffix]
        fmt = "DecimalSI"
    elif em := _EXPONENT.match(suffix):
        exp = int(em.group(1))
        if abs(exp) > 100:
            raise InvalidQuantity("quantity exponent is out of range")
        value *= Fraction(10) ** exp
        fmt = "DecimalExponent"
    else:
        raise InvalidQuantity(f"quantities must match the regular expression '{QUANTITY_PATTERN}'")
    if sign == "-":
        value = -value
    return _round_up_nano(value), fmt


_parse_cached = lru_cache(maxsize=_CACHE_SIZE)(_parse)


def _round_up_nano(value: Fraction) -> Fraction:
    scaled = value / _NANO
    if scaled.denominator == 1:
        return value
    return Fraction(math.ceil(scaled)) * _NANO


def parse_quantity(raw: QuantityValue) -> Fraction:
    """The exact value of a quantity; raises ``InvalidQuantity``."""
    return parse(raw)[0]


def is_quantity(raw: object) -> bool:
    if not isinstance(raw, int | float | str):
        return False
    try:
        parse(raw)
    except InvalidQuantity:
        return False
    return True


def milli_value(raw: QuantityValue) -> int:
    """Thousandths, rounded up: ``100m`` -> 100, ``1.5`` -> 1500 (CPU millicores)."""
    return math.ceil(parse_quantity(raw) * 1000)


def int_value(raw: QuantityValue) -> int:
    """The value rounded up to a whole number: ``1Ki`` -> 1024, ``500m`` -> 1 (bytes)."""
    return math.ceil(parse_quantity(raw))


def format_quantity(value: Fraction | int, *, fmt: Format = "DecimalSI") -> str:
    """The canonical text of ``value`` in the given format family."""
    value = _round_up_nano(Fraction(value))
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mag = abs(value)
    if fmt == "BinarySI" and mag.denominator == 1 and mag >= 1024:
        n = mag.numerator
        best = ""
        for suffix, bits in _BINARY.items():
            if n % (1 << bits) == 0:
                best = suffix
        shift = _BINARY.get(best, 0)
        return f"{sign}{n >> shift}{best}"
    # Decimal: the largest exponent (multiple of 3, at least -9) leaving an integer mantissa.
    exp = -9
    mantissa = mag * 10**9
    while exp < 18 and (mantissa / 1000).denominator == 1:
        mantissa /= 1000
        exp += 3
    if fmt == "DecimalExponent":
        return f"{sign}{mantissa.numerator}" + (f"e{exp}" if exp else "")
    return f"{sign}{mantissa.numerator}{_DECIMAL_BY_EXP[exp]}"


def canonical_quantity(raw: QuantityValue) -> str:
    """How the API server writes ``raw`` back: ``0.5`` -> ``500m``, ``2048Mi`` -> ``2Gi``."""
    if type(raw) is str and len(raw) <= _CACHE_MAX_LEN:
        return _canonical_cached(raw)
    return _canonical(raw)


def _canonical(raw: QuantityValue) -> str:
    value, fmt = parse(raw)
    return format_quantity(value, fmt=fmt)


_canonical_cached = lru_cache(maxsize=_CACHE_SIZE)(_canonical)
