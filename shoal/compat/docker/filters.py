"""Docker's ``filters`` query parameter, and the filters of each list endpoint.

The parameter is JSON: ``{"label": {"k=v": true}, "name": {"web": true}}``
(or, from old clients, ``{"name": ["web"]}``). Values of one key are ORed,
keys ANDed. A key the endpoint does not know is a 400, as Docker answers
``invalid filter 'x'``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from shoal.formats.swarm.wire import SpecError

Filters = dict[str, list[str]]


def parse(raw: str | None, allowed: frozenset[str]) -> Filters:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise SpecError(f"invalid filters: {raw!r} is not JSON") from None
    if not isinstance(value, dict):
        raise SpecError("invalid filters: expected an object")
    out: Filters = {}
    for key, vals in value.items():
        if key not in allowed:
            raise SpecError(f"invalid filter '{key}'")
        if isinstance(vals, dict):
            out[key] = [str(k) for k, on in vals.items() if on]
        elif isinstance(vals, list):
            out[key] = [str(v) for v in vals]
        else:
            raise SpecError(f"invalid filter '{key}': expected an object")
    return out


def labels_match(wanted: list[str], labels: Mapping[str, str]) -> bool:
    """Every ``k`` / ``k=v`` of ``wanted`` holds (Docker ANDs label filters)."""
    for w in wanted:
        k, eq, v = w.partition("=")
        if k not in labels or (eq and labels[k] != v):
            return False
    return True


def match(f: Filters, checks: Mapping[str, Callable[[str], bool]], labels: Mapping[str, str] | None = None) -> bool:
    """Whether an object passes: each key's values ORed (labels ANDed), keys ANDed."""
    for key, vals in f.items():
        if not vals:
            continue
        if key in ("label", "node.label") and labels is not None:
            if not labels_match(vals, labels):
                return False
        elif key in checks and not any(checks[key](v) for v in vals):
            return False
    return True


def prefix(value: str) -> Callable[[str], bool]:
    return lambda v: value.startswith(v)


def equals(value: Any) -> Callable[[str], bool]:
    return lambda v: str(value) == v


def one_of(*values: str) -> Callable[[str], bool]:
    return lambda v: v in values


def within(value: str) -> Callable[[str], bool]:
    return lambda v: v in value


def up_to_date(current: bool) -> Callable[[str], bool]:
    """The CLI's ``_up-to-date=true``: only tasks of the current spec."""
    return lambda v: v != "true" or current
