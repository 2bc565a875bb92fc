"""The numbers of a rolling update: maxSurge, maxUnavailable, and how many pods each ReplicaSet gets.

As upstream: a percentage of ``replicas`` rounds *up* for maxSurge and *down*
for maxUnavailable (so 25% of 3 is a surge of 1 and an unavailability of 0);
if both resolve to 0, maxUnavailable becomes 1 so a rollout can always move.
When a Deployment is resized in the middle of a rollout, the extra (or
missing) replicas are spread over its ReplicaSets in proportion to their size
(``proportional_sizes``), so a scale-up neither favours nor stalls the rollout.
Pure integer arithmetic over typed views of the objects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from shoal.api.views import Body, name, spec, status
from shoal.controllers.history import MAX_REPLICAS, creation_key, int_annotation

T = TypeVar("T", bound=Body)
_PERCENT = re.compile(r"^(\d+)%$")


def spec_replicas(o: Body) -> int:
    r = spec(o).get("replicas")
    return 1 if r is None else int(r)


def scaled_value(value: int | str | None, total: int, *, round_up: bool) -> int:
    """An int-or-percent against ``total`` (upstream's GetScaledValueFromIntOrPercent)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    m = _PERCENT.match(value.strip())
    if m is None:
        if value.strip().isdigit():
            return int(value)
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    exact = int(m.group(1)) * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def _strategy(d: Body) -> dict[str, Any]:
    s = spec(d).get("strategy")
    return s if isinstance(s, dict) else {}


def is_rolling(d: Body) -> bool:
    return (_strategy(d).get("type") or "RollingUpdate") == "RollingUpdate"


def fenceposts(d: Body) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against ``spec.replicas``."""
    ru = _strategy(d).get("rollingUpdate") or {}
    n = spec_replicas(d)
    surge = scaled_value(ru.get("maxSurge", "25%"), n, round_up=True)
    unavailable = scaled_value(ru.get("maxUnavailable", "25%"), n, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Body) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Body) -> int:
    if not is_rolling(d) or spec_replicas(d) == 0:
        return 0
    return min(fenceposts(d)[1], spec_replicas(d))


def total_spec(rss: Sequence[Body | None]) -> int:
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def new_rs_new_replicas(d: Body, all_rss: Sequence[Body | None], new_rs: Body) -> int:
    """How far the new ReplicaSet may grow now (surge room, at most ``replicas``)."""
    want = spec_replicas(d)
    if not is_rolling(d):
        return want
    current = total_spec(all_rss)
    max_total = want + max_surge(d)
    if current >= max_total:
        return spec_replicas(new_rs)
    up = min(max_total - current, want - spec_replicas(new_rs))
    return spec_replicas(new_rs) + up


def active(rss: Sequence[T | None]) -> list[T]:
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


def find_active_or_latest(new_rs: T | None, old: Sequence[T]) -> T | None:
    """The only ReplicaSet with replicas (or the newest if none has any); None if several have."""
    act = active([*old, new_rs])
    if len(act) == 0:
        if new_rs is not None:
            return new_rs
        return max(old, key=creation_key) if old else None
    if len(act) == 1:
        return act[0]
    return None


def _fraction(rs: Body, d: Body) -> int:
    if spec_replicas(d) == 0:
        return -spec_replicas(rs)
    deployment_replicas = spec_replicas(d) + max_surge(d)
    annotated = int_annotation(rs, MAX_REPLICAS)
    if annotated is None:
        annotated = int(status(d).get("replicas") or 0)
    if annotated <= 0:
        return 0
    size = spec_replicas(rs) * deployment_replicas / annotated
    return int(math.floor(size + 0.5)) - spec_replicas(rs)


def _proportion(rs: Body, d: Body, to_add: int, added: int) -> int:
    if spec_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    frac = _fraction(rs, d)
    allowed = to_add - added
    return min(frac, allowed) if to_add > 0 else max(frac, allowed)


def proportional_sizes(d: Body, rss: Sequence[Body]) -> dict[str, int]:
    """New sizes of the active ReplicaSets when the Deployment was resized mid-rollout."""
    act = active(rss)
    allowed = spec_replicas(d) + max_surge(d) if spec_replicas(d) > 0 else 0
    to_add = allowed - total_spec(act)
    # bigger first; among equals newer first when growing, older first when shrinking (stable sorts)
    act.sort(key=creation_key, reverse=to_add > 0)
    act.sort(key=lambda rs: -spec_replicas(rs))
    sizes: dict[str, int] = {}
    added = 0
    for rs in act:
        p = _proportion(rs, d, to_add, added) if to_add else 0
        sizes[name(rs)] = spec_replicas(rs) + p
        added += p
    if act and to_add:
        first = name(act[0])
        sizes[first] = max(0, sizes[first] + to_add - added)
    return sizes
