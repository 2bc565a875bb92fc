"""Taints and tolerations as the node lifecycle controller and DaemonSets need them. Pure.

Eviction by ``NoExecute`` taints follows Kubernetes' taint manager: a pod that
does not tolerate every NoExecute taint of its node goes at once; one that
tolerates them all stays for the smallest ``tolerationSeconds`` among the
tolerations used (for ever if none sets it), counted from the taint's
``timeAdded``.

Shoal's default differs on purpose. Kubernetes' DefaultTolerationSeconds
admission plugin gives every pod a 300 s toleration of
``node.kubernetes.io/not-ready`` and ``node.kubernetes.io/unreachable``, so a
dead node's pods come back elsewhere after about six minutes. Shoal applies
the default at eviction time instead of writing it into pods: a *replicated*
pod (one with a controller owner reference, which its controller will
recreate) that has no toleration of its own for these taints counts as
tolerating them for 0 s, so it is replaced as soon as its node is declared
lost (``--node-monitor-grace-period``, 6 s). A bare pod, which nobody would
recreate, keeps Kubernetes' 300 s. A pod's own toleration always wins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from shoal.api.views import Body, Taint, controller_ref, parse_time, spec

NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
NODE_LOST_TAINTS = (NOT_READY, UNREACHABLE)
REPLICATED_DEFAULT_SECONDS = 0
BARE_POD_DEFAULT_SECONDS = 300


def tolerates(toleration: Body, taint: Body) -> bool:
    """Whether one toleration matches one taint (upstream's ToleratesTaint)."""
    eff = toleration.get("effect") or ""
    if eff and eff != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def tolerates_all(tolerations: Sequence[Body], taints: Sequence[Body], *, effects: tuple[str, ...]) -> bool:
    """Every taint with one of ``effects`` is matched by some toleration."""
    return all(any(tolerates(t, taint) for t in tolerations)
               for taint in taints if taint.get("effect") in effects)


def effective_tolerations(pod: Body) -> list[dict[str, Any]]:
    """The pod's tolerations plus shoal's defaults for the node-lost taints (see the module doc)."""
    tols = [dict(t) for t in spec(pod).get("tolerations") or []]
    replicated = controller_ref(pod) is not None
    seconds = REPLICATED_DEFAULT_SECONDS if replicated else BARE_POD_DEFAULT_SECONDS
    for key in NODE_LOST_TAINTS:
        probe = {"key": key, "effect": "NoExecute"}
        if not any(tolerates(t, probe) for t in tols):
            tols.append({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds})
    return tols


def eviction_time(pod: Body, taints: Sequence[Body], now: dt.datetime) -> dt.datetime | None:
    """When ``pod`` must leave a node with ``taints``: ``now`` or later, or ``None`` for never."""
    noexec = [t for t in taints if t.get("effect") == "NoExecute"]
    if not noexec:
        return None
    tols = effective_tolerations(pod)
    when: dt.datetime | None = None
    for taint in noexec:
        used = [t for t in tols if tolerates(t, taint)]
        if not used:
            return now
        secs = [int(t["tolerationSeconds"]) for t in used if t.get("tolerationSeconds") is not None]
        if not secs:
            continue  # tolerated for ever
        added = parse_time(taint.get("timeAdded")) or now
        at = added + dt.timedelta(seconds=max(0, min(secs)))
        when = at if when is None or at < when else when
    if when is not None and when < now:
        return now
    return when


def with_taint(taints: Sequence[Taint], taint: Taint) -> list[Taint]:
    """``taints`` with ``taint`` added (replacing one of the same key and effect)."""
    out = [t for t in taints if (t.get("key"), t.get("effect")) != (taint.get("key"), taint.get("effect"))]
    return [*out, taint]


def without_taints(taints: Sequence[Taint], keys: tuple[str, ...], effect: str | None = None) -> list[Taint]:
    return [t for t in taints if not (t.get("key") in keys and (effect is None or t.get("effect") == effect))]


def has_taint(taints: Sequence[Body], key: str, effect: str) -> bool:
    return any(t.get("key") == key and t.get("effect") == effect for t in taints)
