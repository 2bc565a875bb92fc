"""Marathon's event bus from watch events: two states of an object -> the events Marathon would send.

The event stream (``/v2/events``) watches the app workloads and their pods
and calls these with the object's previous state (None: new) and its current
state (None: deleted). A pod whose task state changes is a
``status_update_event``; one whose readiness changes, in an app with health
checks, a ``health_status_changed_event``; a workload whose rollout starts is
a ``deployment_info``, one whose rollout completes a ``deployment_success``,
one deleted an ``app_terminated_event``. ``sse`` frames one event as
server-sent events do (``event:`` its type, ``data:`` its JSON).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shoal.formats.marathon import app as appx
from shoal.formats.marathon import ids, tasks

Obj = Mapping[str, Any]


def sse(event: Mapping[str, Any]) -> bytes:
    return f"event: {event['eventType']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _ready(pod: Obj | None) -> bool:
    return pod is not None and any(c.get("type") == "Ready" and c.get("status") == "True"
                                   for c in (pod.get("status") or {}).get("conditions") or [])


def pod_events(old: Obj | None, new: Obj | None, app: Obj, *, now: str) -> list[dict[str, Any]]:
    """The events of a pod of ``app`` (its Marathon JSON) going from ``old`` to ``new``."""
    cur = new if new is not None else old
    if cur is None:
        return []
    t = tasks.task(cur, app)
    before = tasks.state(old) if old is not None else None
    after = "TASK_KILLED" if new is None else tasks.state(new)
    out: list[dict[str, Any]] = []
    if after != before:
        out.append({"eventType": "status_update_event", "timestamp": now, "slaveId": t["slaveId"],
                    "taskId": t["id"], "instanceId": t["id"], "taskStatus": after, "message": "",
                    "appId": app["id"], "host": t["host"], "ipAddresses": t["ipAddresses"], "ports": t["ports"],
                    "version": app.get("version")})
    if app.get("healthChecks") and new is not None and _ready(old) != _ready(new) and (
            old is not None or _ready(new)):
        out.append({"eventType": "health_status_changed_event", "timestamp": now, "appId": app["id"],
                    "taskId": t["id"], "instanceId": t["id"], "version": app.get("version"), "alive": _ready(new)})
    return out


def workload_events(old: Obj | None, new: Obj | None, *, now: str) -> list[dict[str, Any]]:
    """The events of an app's workload going from ``old`` to ``new``."""
    if new is None:
        if old is None:
            return []
        return [{"eventType": "app_terminated_event", "timestamp": now, "appId": appx.app_id(old)}]
    aid = appx.app_id(new)
    plan = {"id": appx.deployment_id(new), "version": (new.get("metadata") or {}).get("annotations", {})
            .get(appx.VERSION), "original": {"id": ids.parent(aid)}, "target": {"id": ids.parent(aid)},
            "steps": [{"actions": [{"action": "RestartApplication", "app": aid}]}]}
    was = old is not None and appx.in_progress(old)
    same = old is not None and appx.deployment_id(old) == appx.deployment_id(new)
    out: list[dict[str, Any]] = []
    if appx.in_progress(new) and not (was and same):
        out.append({"eventType": "deployment_info", "timestamp": now, "plan": plan,
                    "currentStep": plan["steps"][0]})
    if not appx.in_progress(new) and was:
        out.append({"eventType": "deployment_success", "timestamp": now, "id": plan["id"], "plan": plan})
    return out
