"""Pods as Marathon tasks, rollouts as Marathon deployments, unplaced pods as the launch queue.

A task's id is Marathon's form ``<id segments joined by _>.<pod uid>``, so a
task names its app and its pod without storage. Its state follows the pod:
unbound -> ``TASK_STAGING``, bound and pending -> ``TASK_STARTING``, running
-> ``TASK_RUNNING``, succeeded -> ``TASK_FINISHED``, failed ->
``TASK_FAILED``, being deleted -> ``TASK_KILLING``. Its ``host`` is the
node, its ``ipAddresses`` the pod's, its ``ports`` the ports a client uses
(the host port when there is one, else the container port on the pod's
address); ``healthCheckResults`` is the pod's readiness.

A deployment is a workload whose rollout is not complete (``app.in_progress``),
named by the id the write that started it recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shoal.formats.marathon import app as appx
from shoal.formats.marathon import ids
from shoal.formats.marathon.validate import ports_of


def _ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def state(pod: Mapping[str, Any]) -> str:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "TASK_KILLING"
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    if phase == "Pending":
        return "TASK_STARTING" if (pod.get("spec") or {}).get("nodeName") else "TASK_STAGING"
    return {"Running": "TASK_RUNNING", "Succeeded": "TASK_FINISHED", "Failed": "TASK_FAILED"}.get(phase,
                                                                                                "TASK_LOST")


def _started(pod: Mapping[str, Any]) -> str | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        running = (cs.get("state") or {}).get("running")
        if running:
            return str(running.get("startedAt") or "") or None
    return None


def task(pod: Mapping[str, Any], app: Mapping[str, Any], *, node_ports: Sequence[int] = ()) -> dict[str, Any]:
    """The task ``pod`` is, of the Marathon ``app`` (its JSON, with ``version`` and ``healthChecks``)."""
    md, st = pod.get("metadata") or {}, pod.get("status") or {}
    tid = ids.task_id(str(app["id"]), str(md.get("uid") or ""))
    ports: list[int] = []
    container = ((pod.get("spec") or {}).get("containers") or [{}])[0]
    for cp in container.get("ports") or []:
        port = int(cp.get("hostPort") or cp.get("containerPort") or 0)
        if port not in ports:
            ports.append(port)
    if node_ports:
        ports = list(node_ports)
    ip = str(st.get("podIP") or "")
    staged = str(md.get("creationTimestamp") or "")
    out: dict[str, Any] = {
        "id": tid, "appId": app["id"], "host": str((pod.get("spec") or {}).get("nodeName") or ""),
        "slaveId": str((pod.get("spec") or {}).get("nodeName") or ""), "agentId": str((pod.get("spec") or {})
                                                                                   .get("nodeName") or ""),
        "state": state(pod), "ports": ports, "servicePorts": [int(p.get("servicePort") or p.get("port") or 0)
                                                              for p in ports_of(app)],
        "ipAddresses": [{"ipAddress": ip, "protocol": "IPv6" if ":" in ip else "IPv4"}] if ip else [],
        "stagedAt": staged, "startedAt": _started(pod), "version": app.get("version"),
        "localVolumes": [],
    }
    if app.get("healthChecks"):
        alive = _ready(pod)
        out["healthCheckResults"] = [{"alive": alive, "consecutiveFailures": 0 if alive else 1,
                                      "firstSuccess": _started(pod) if alive else None,
                                      "lastFailure": None, "lastSuccess": _started(pod) if alive else None,
                                      "lastFailureCause": None, "taskId": tid, "instanceId": tid}]
    return out


def node_ports(service: Mapping[str, Any] | None) -> list[int]:
    """The NodePorts a Service got for ``hostPort: 0`` (one per Marathon port, first protocol)."""
    if service is None or (service.get("spec") or {}).get("type") != "NodePort":
        return []
    out: list[int] = []
    seen: set[str] = set()
    for p in (service.get("spec") or {}).get("ports") or []:
        idx = str(p.get("name") or "").rsplit("-", 2)[-2] if str(p.get("name") or "").count("-") >= 2 else ""
        if idx not in seen:
            seen.add(idx)
            out.append(int(p.get("nodePort") or 0))
    return out


def deployment(w: Mapping[str, Any], app: Mapping[str, Any]) -> dict[str, Any]:
    """Marathon's deployment JSON of a workload whose rollout runs."""
    st = w.get("status") or {}
    want = int((w.get("spec") or {}).get("replicas") or 0)
    action = "ScaleApplication" if int(st.get("updatedReplicas") or 0) >= int(st.get("replicas") or 0) \
        and int(st.get("replicas") or 0) != want else (
        "StartApplication" if not st.get("replicas") else "RestartApplication")
    return {"id": appx.deployment_id(w), "version": app.get("version"), "affectedApps": [app["id"]],
            "affectedPods": [], "steps": [{"actions": [{"action": action, "app": app["id"]}]}],
            "currentActions": [{"action": action, "app": app["id"], "readinessCheckResults": []}],
            "currentStep": 1, "totalSteps": 1}


def queue_item(app: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The launch queue's entry for an app with pods not yet placed, or None."""
    waiting = [p for p in pods if state(p) == "TASK_STAGING"]
    if not waiting:
        return None
    since = min(str((p.get("metadata") or {}).get("creationTimestamp") or "") for p in waiting)
    reasons = [c.get("message") for p in waiting for c in (p.get("status") or {}).get("conditions") or []
               if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("message")]
    return {"app": dict(app), "count": len(waiting), "delay": {"timeLeftSeconds": 0, "overdue": False},
            "since": since, "lastUnusedOffers": [],
            "processedOffersSummary": {"processedOffersCount": 0, "unusedOffersCount": 0,
                                       "rejectSummaryLastOffers": [{"reason": r, "declined": 1, "processed": 1}
                                                                   for r in dict.fromkeys(reasons)]}}
