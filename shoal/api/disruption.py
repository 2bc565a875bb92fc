"""What a PodDisruptionBudget means, shared by the eviction subresource and the disruption controller.

Both sides must agree on which pods a budget covers and on the one condition
they both write, so it lives here once:

* a budget covers the pods of its namespace that its selector matches; in
  policy/v1 a missing selector covers none and an empty one (``{}``) all;
* ``DisruptionAllowed`` is True (``SufficientPods``) while disruptions are
  allowed, else False (``InsufficientPods``), or False with ``SyncFailed``
  when the controller could not compute the budget; its transition time moves
  only when its status does (upstream's ``meta.SetStatusCondition``);
* ``int_or_percent`` scales ``minAvailable``/``maxUnavailable`` against a pod
  count, rounding up as upstream's ``GetScaledValueFromIntOrPercent(..., true)``.

Pure: typed views of wire dicts in, values out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from shoal.api.selectors import SelectorError, from_label_selector
from shoal.api.views import Body, labels, meta, namespace, spec, status

DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS = "SufficientPods"
INSUFFICIENT_PODS = "InsufficientPods"
SYNC_FAILED = "SyncFailed"
ALWAYS_ALLOW = "AlwaysAllow"
IF_HEALTHY_BUDGET = "IfHealthyBudget"
# an eviction's entry in status.disruptedPods stops counting after this long (upstream's DeletionTimeout)
DELETION_TIMEOUT_SECONDS = 120
# more unconfirmed evictions than this and the eviction subresource refuses (upstream's MaxDisruptedPodSize)
MAX_DISRUPTED_PODS = 2000


def covers(pdb: Body, pod: Body) -> bool:
    """Whether ``pdb`` guards ``pod`` (same namespace, selector matches; an invalid selector matches nothing)."""
    if namespace(pdb) != namespace(pod):
        return False
    try:
        return from_label_selector(spec(pdb).get("selector")).matches(labels(pod))
    except SelectorError:
        return False


def budgets_for(pod: Body, pdbs: Sequence[Body]) -> list[Body]:
    return [p for p in pdbs if covers(p, pod)]


def int_or_percent(value: object, total: int) -> int:
    """An int as is; ``"N%"`` of ``total`` rounded up. Raises ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return math.ceil(int(value[:-1]) * total / 100)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {value!r}")


def status_int(pdb: Body, field: str) -> int:
    v = status(pdb).get(field)
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def generation(obj: Body) -> int:
    g = meta(obj).get("generation")
    return g if isinstance(g, int) else 0


def set_condition(conditions: Sequence[Mapping[str, Any]], cond: dict[str, Any], now: str) -> list[dict[str, Any]]:
    """``conditions`` with ``cond`` set by type; the transition time moves only if the status changes."""
    out: list[dict[str, Any]] = []
    found = False
    for c in conditions:
        if c.get("type") != cond["type"]:
            out.append(dict(c))
            continue
        found = True
        ltt = c.get("lastTransitionTime") if c.get("status") == cond["status"] and c.get("lastTransitionTime") else now
        out.append({**cond, "lastTransitionTime": ltt})
    if not found:
        out.append({**cond, "lastTransitionTime": now})
    return out


def allowed_condition(allowed: int, observed_generation: int, *, reason: str | None = None,
                      message: str = "") -> dict[str, Any]:
    """The ``DisruptionAllowed`` condition for ``allowed`` disruptions (or a forced reason, e.g. SyncFailed)."""
    ok = allowed > 0 and reason is None
    return {"type": DISRUPTION_ALLOWED, "status": "True" if ok else "False",
            "observedGeneration": observed_generation,
            "reason": reason or (SUFFICIENT_PODS if ok else INSUFFICIENT_PODS), "message": message}
