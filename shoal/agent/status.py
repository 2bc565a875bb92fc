"""Pod status from what the runtime reports: pure functions, no I/O.

The pod worker gathers, per container, the latest runtime container, the one
before it (for ``lastState``), the restart count, readiness and any reason it
is waiting (ContainerCreating, CrashLoopBackOff, ErrImagePull...). This module
turns that into the status the kubelet would write: phase, the four
conditions (keeping ``lastTransitionTime`` when a condition did not change),
container states with reasons and exit codes (OOMKilled included), podIP,
hostIP, startTime.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shoal.agent.drivers.base import ContainerStatus
from shoal.api import views


@dataclass(slots=True)
class ContainerView:
    name: str
    image: str
    current: ContainerStatus | None = None  # the latest attempt
    previous: ContainerStatus | None = None  # the attempt before (lastState)
    restart_count: int = 0
    waiting_reason: str | None = None
    waiting_message: str | None = None
    ready: bool = False
    started: bool = False

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.state == "running"

    @property
    def exited(self) -> bool:
        return self.current is not None and self.current.state == "exited"

    @property
    def succeeded(self) -> bool:
        return self.exited and self.current is not None and self.current.exit_code == 0

    @property
    def ever_ran(self) -> bool:
        return self.running or self.exited or self.previous is not None


def terminated_reason(c: ContainerStatus) -> str:
    if c.oom_killed:
        return "OOMKilled"
    if c.reason:
        return c.reason
    return "Completed" if c.exit_code == 0 else "Error"


def _terminated(c: ContainerStatus, scheme: str) -> dict[str, Any]:
    t: dict[str, Any] = {"exitCode": c.exit_code if c.exit_code is not None else 0, "reason": terminated_reason(c),
                         "startedAt": c.started_at, "finishedAt": c.finished_at, "containerID": f"{scheme}://{c.id}"}
    if c.message:
        t["message"] = c.message
    return t


def container_status(v: ContainerView, *, scheme: str, default_waiting: str = "ContainerCreating") -> dict[str, Any]:
    state: dict[str, Any]
    cur = v.current
    if v.waiting_reason and not v.running:
        w: dict[str, Any] = {"reason": v.waiting_reason}
        if v.waiting_message:
            w["message"] = v.waiting_message
        state = {"waiting": w}
    elif cur is not None and cur.state == "running":
        state = {"running": {"startedAt": cur.started_at}}
    elif cur is not None and cur.state == "exited":
        state = {"terminated": _terminated(cur, scheme)}
    else:
        state = {"waiting": {"reason": default_waiting}}
    out: dict[str, Any] = {
        "name": v.name, "state": state, "lastState": {}, "ready": v.ready, "restartCount": v.restart_count,
        "image": v.image, "imageID": (cur.image_id if cur is not None else "") or "",
        "started": v.started if v.running else False,
    }
    if cur is not None:
        out["containerID"] = f"{scheme}://{cur.id}"
    prev = v.previous
    if prev is not None and prev.state == "exited":
        out["lastState"] = {"terminated": _terminated(prev, scheme)}
    elif "waiting" in state and cur is not None and cur.state == "exited":
        out["lastState"] = {"terminated": _terminated(cur, scheme)}
    return out


def init_done(inits: list[ContainerView]) -> bool:
    return all(v.succeeded for v in inits)


def pod_phase(restart_policy: str, inits: list[ContainerView], apps: list[ContainerView]) -> str:
    """Upstream's getPhase, for the states the agent can observe."""
    if not init_done(inits):
        failed = any(v.exited and not v.succeeded for v in inits)
        if failed and restart_policy == "Never":
            return "Failed"
        return "Pending"
    if not apps:
        return "Pending"
    if any(not v.ever_ran for v in apps):
        return "Pending"
    if any(v.running for v in apps):
        return "Running"
    # every container has stopped (or waits to restart)
    if restart_policy == "Always":
        return "Running"
    if all(v.succeeded for v in apps):
        return "Succeeded"
    if restart_policy == "OnFailure":
        return "Running"
    return "Failed"


def _cond(old: Mapping[str, views.Condition], type_: str, ok: bool, now: str, reason: str | None = None,
          message: str | None = None) -> dict[str, Any]:
    status = "True" if ok else "False"
    prev = old.get(type_)
    since = prev.get("lastTransitionTime") if prev and prev.get("status") == status else now
    c: dict[str, Any] = {"type": type_, "status": status, "lastProbeTime": None, "lastTransitionTime": since}
    if not ok and reason:
        c["reason"] = reason
        if message:
            c["message"] = message
    return c


def build_status(
    pod: views.Pod,
    *,
    inits: list[ContainerView],
    apps: list[ContainerView],
    ephemeral: list[ContainerView] | None = None,
    pod_ip: str | None,
    host_ip: str | None,
    sandbox_ready: bool,
    scheme: str,
    now: str,
    phase: str | None = None,
) -> dict[str, Any]:
    spec, old = views.spec(pod), views.status(pod)
    old_conds = {str(c.get("type")): c for c in views.conditions(pod)}
    phase = phase or pod_phase(views.restart_policy(pod), inits, apps)
    initialized = init_done(inits)
    not_ready = [v.name for v in apps if not v.ready]
    incomplete = [v.name for v in inits if not v.succeeded]
    gates_ok = all(old_conds.get(str(g.get("conditionType")), {}).get("status") == "True"
                   for g in spec.get("readinessGates") or [])
    terminal = phase in ("Succeeded", "Failed")
    conds: list[Mapping[str, Any]] = [
        _cond(old_conds, "PodReadyToStartContainers", sandbox_ready, now),
        _cond(old_conds, "Initialized", initialized, now, "ContainersNotInitialized",
              f"containers with incomplete status: [{' '.join(incomplete)}]"),
    ]
    if terminal:
        ready_reason, ready_msg = "PodCompleted", None
        containers_ready = False
    else:
        ready_reason, ready_msg = "ContainersNotReady", f"containers with unready status: [{' '.join(not_ready)}]"
        containers_ready = bool(apps) and not not_ready
    conds.append(_cond(old_conds, "Ready", containers_ready and gates_ok, now, ready_reason,
                       ready_msg if not containers_ready else "the status of pod readiness gates is not true"))
    conds.append(_cond(old_conds, "ContainersReady", containers_ready, now, ready_reason, ready_msg))
    sched = old_conds.get("PodScheduled") or {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                              "lastTransitionTime": now}
    conds.append(sched)
    for t, c in old_conds.items():  # conditions others own (readiness gates, DisruptionTarget...)
        if t not in {c2["type"] for c2 in conds}:
            conds.append(c)
    init_default = "PodInitializing"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conds,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}] if host_ip else None,
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}] if pod_ip else None,
        "startTime": old.get("startTime") or now,
        "containerStatuses": [container_status(v, scheme=scheme, default_waiting=init_default if not initialized
                                               else "ContainerCreating") for v in apps],
        "initContainerStatuses": [container_status(v, scheme=scheme) for v in inits] if inits else None,
        "ephemeralContainerStatuses": [container_status(v, scheme=scheme) for v in ephemeral] if ephemeral else None,
    }
    return status


def same_status(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether writing ``new`` would change anything the agent owns."""
    return all(old.get(k) == v or (v is None and k not in old) for k, v in new.items())
