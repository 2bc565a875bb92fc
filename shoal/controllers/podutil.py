"""Small, pure facts about pods and owner references that the workload controllers share.

DaemonSets, Jobs, CronJobs and the node lifecycle controller all ask the same
questions of a pod (is it active, terminal, ready, available; who controls it)
and build children the same way (a pod from a template, with a controller
reference that blocks the owner's foreground deletion). Answering them in one
place keeps those answers consistent. Everything here works on plain dicts as
they come from informers and never mutates its arguments.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

Obj = dict[str, Any]


def meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with ``controller: true``, if any."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def owner_ref(owner: Obj, *, block: bool = True) -> Obj:
    """A controller ownerReference to ``owner`` (blockOwnerDeletion as upstream's controllers set it)."""
    m = meta(owner)
    return {
        "apiVersion": owner.get("apiVersion"), "kind": owner.get("kind"), "name": m.get("name"),
        "uid": m.get("uid"), "controller": True, "blockOwnerDeletion": block,
    }


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == meta(owner).get("uid")


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_terminal(pod: Obj) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def is_terminating(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def is_active(pod: Obj) -> bool:
    """Neither finished nor on its way out: what a controller counts as running its work."""
    return not is_terminal(pod) and not is_terminating(pod)


def condition(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def is_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def parse_time(text: str | None) -> dt.datetime | None:
    """An RFC 3339 time (with or without fractional seconds) as an aware datetime."""
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def fmt_time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_micro(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def is_available(pod: Obj, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (by the Ready condition's transition time)."""
    if not is_active(pod) or not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    c = condition(pod, "Ready") or {}
    since = parse_time(c.get("lastTransitionTime"))
    return since is None or (now - since).total_seconds() >= min_ready_seconds


def pod_from_template(template: Obj, *, owner: Obj, generate_name: str, namespace: str) -> Obj:
    """A new pod for ``owner`` from a pod template: labels, annotations and spec copied."""
    tm = template.get("metadata") or {}
    md: Obj = {"generateName": generate_name, "namespace": namespace, "ownerReferences": [owner_ref(owner)]}
    if tm.get("labels"):
        md["labels"] = dict(tm["labels"])
    if tm.get("annotations"):
        md["annotations"] = dict(tm["annotations"])
    if tm.get("finalizers"):
        md["finalizers"] = list(tm["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": copy.deepcopy(template.get("spec") or {})}


def restart_count(pod: Obj) -> int:
    st = pod.get("status") or {}
    return sum(int(c.get("restartCount") or 0)
               for c in [*(st.get("initContainerStatuses") or []), *(st.get("containerStatuses") or [])])
