"""Apps held back for their dependencies, and when to start them: a decision over the workloads alone.

A group deployment starts its apps in dependency order (``groups.stages``):
an app whose dependencies are not healthy yet is written with 0 replicas,
its instances in ``marathon.shoal.io/target-instances`` and the app ids it
waits for in ``marathon.shoal.io/waiting-for``. Everything the decision needs
is in the store, so whichever process runs the release loop (``shoal
server``'s, resumed at every start) reaches the same answer, and a restart
between the write and the release loses nothing.

``releases(workloads)`` names the held-back apps whose every dependency is
``app.ready`` (deployed, every instance available, nothing held back itself:
so a chain starts link by link); a dependency that no longer exists holds
nothing back. ``released(w)`` is the workload to write: the target replicas,
the two annotations gone. A workload held back by an older shoal (a target
without ``waiting-for``) waits for the ``dependencies`` of its kept
definition.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from shoal.formats.marathon import app as appx
from shoal.formats.marathon import ids


def target(w: Mapping[str, Any]) -> int | None:
    """The instances a held-back workload will have, or None when it is not held back."""
    raw = str(((w.get("metadata") or {}).get("annotations") or {}).get(appx.TARGET) or "")
    return int(raw) if raw.isdigit() else None


def waiting_for(w: Mapping[str, Any]) -> list[str]:
    """The app (or group) ids a held-back workload waits for."""
    raw = ((w.get("metadata") or {}).get("annotations") or {}).get(appx.WAITING_FOR)
    if raw is not None:
        try:
            got = json.loads(raw)
        except ValueError:
            got = None
        if isinstance(got, list):
            return [str(x) for x in got]
    return [str(d) for d in (appx.config_of(w) or {}).get("dependencies") or []]


def releases(workloads: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The ids of the held-back apps (``workloads``: app id -> workload) whose dependencies are all healthy."""
    out = []
    for aid, w in sorted(workloads.items()):
        if target(w) is None:
            continue
        deps = [x for d in waiting_for(w) for x in workloads if x != aid and ids.is_under(x, d)]
        if all(appx.ready(workloads[d]) for d in deps):
            out.append(aid)
    return out


def released(w: Mapping[str, Any]) -> dict[str, Any]:
    """The workload with its held-back instances restored (for an update carrying its resourceVersion)."""
    new = copy.deepcopy(dict(w))
    n = target(w)
    ann = new["metadata"].get("annotations") or {}
    for k in (appx.TARGET, appx.WAITING_FOR):
        ann.pop(k, None)
    if n is not None:
        new["spec"]["replicas"] = n
    new.pop("status", None)
    return new
