"""Pods as Swarm tasks; a service's replica counts and update status.

A task's state is read from its pod, in Swarm's words:

==============================================  ===========================
not bound to a node                             ``pending`` (Err: why not)
bound, no container status yet                  ``assigned``
waiting: ContainerCreating / PodInitializing    ``preparing``
waiting: the image cannot be pulled             ``rejected`` (Err: why)
waiting: CrashLoopBackOff                       ``failed`` (Err: exit code)
running, not Ready (its healthcheck pending)    ``starting``
running and Ready                               ``running``
Succeeded / Failed                              ``complete`` / ``failed``
==============================================  ===========================

The desired state is ``running``, or ``shutdown`` for a pod being deleted or
one of an older template (a rollout replaces it), or ``complete`` for a job's.
``REPLICAS 2/2`` counts pods that are Ready (running, and healthy where there
is a healthcheck) over the replicas asked for, as Swarm counts running tasks.

Slots: a Deployment's pods have no ordinal, so the caller numbers a service's
pods 1..N by age (``slots``); a global service's tasks are named by node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shoal.api import views
from shoal.formats.swarm.names import swarm_id

_PULL = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"})


def state(pod: Mapping[str, Any]) -> tuple[str, str, str]:
    """(state, message, err) of a pod as a Swarm task."""
    ph = views.phase(pod)
    statuses = views.container_statuses(pod)
    if ph == "Succeeded":
        return "complete", "finished", ""
    if ph == "Failed":
        code = _exit_code(statuses)
        reason = str(views.status(pod).get("message") or views.status(pod).get("reason") or "")
        return "failed", "started", reason or f"task: non-zero exit ({code})"
    if not views.node_name(pod):
        cond = views.condition(pod, "PodScheduled") or {}
        return "pending", "pending task scheduling", str(cond.get("message") or "")
    if not statuses:
        return "assigned", "assigned", ""
    cs = statuses[0]
    st = cs.get("state") or {}
    if "running" in st:
        return ("running", "started", "") if cs.get("ready") else ("starting", "starting", "")
    waiting = st.get("waiting") or {}
    reason = str(waiting.get("reason") or "")
    if reason in _PULL:
        return "rejected", "preparing", str(waiting.get("message") or f"No such image: {cs.get('image', '')}")
    if reason == "CrashLoopBackOff":
        last = (cs.get("lastState") or {}).get("terminated") or {}
        return "failed", "started", f"task: non-zero exit ({int(last.get('exitCode') or 1)})"
    if "terminated" in st:
        code = int((st.get("terminated") or {}).get("exitCode") or 0)
        return ("complete", "finished", "") if code == 0 else ("failed", "started", f"task: non-zero exit ({code})")
    return "preparing", "preparing", str(waiting.get("message") or "")


def _exit_code(statuses: Sequence[Mapping[str, Any]]) -> int:
    for cs in statuses:
        t = (cs.get("state") or {}).get("terminated") or {}
        if t:
            return int(t.get("exitCode") or 0)
    return 1


def desired_state(pod: Mapping[str, Any], *, current: bool, job: bool = False) -> str:
    if views.is_terminating(pod) or not current:
        return "shutdown"
    return "complete" if job else "running"


def task(pod: Mapping[str, Any], *, service_id: str, slot: int, node_id: str, current: bool, job: bool,
         spec: Mapping[str, Any]) -> dict[str, Any]:
    """The Swarm task of a pod (``spec``: its TaskTemplate)."""
    md = views.meta(pod)
    st, message, err = state(pod)
    cs = (views.container_statuses(pod) or [{}])[0]
    created = md.get("creationTimestamp") or ""
    ts = str((((cs.get("state") or {}).get("running") or {}).get("startedAt")) or views.status(pod).get("startTime")
             or created)
    status: dict[str, Any] = {"Timestamp": ts, "State": st, "Message": message,
                              "ContainerStatus": {"ContainerID": str(cs.get("containerID") or "").split("//")[-1],
                                                  "PID": 0, "ExitCode": 0}, "PortStatus": {}}
    if err:
        status["Err"] = err
    t: dict[str, Any] = {"ID": swarm_id(str(md.get("uid") or "")),
                         "Version": {"Index": int(md.get("resourceVersion") or 0)},
                         "CreatedAt": created, "UpdatedAt": ts or created, "Labels": {}, "Spec": dict(spec),
                         "ServiceID": service_id, "NodeID": node_id, "Status": status,
                         "DesiredState": desired_state(pod, current=current, job=job)}
    if slot:
        t["Slot"] = slot
    ip = views.pod_ip(pod)
    if ip:
        t["NetworksAttachments"] = [{"Network": {"ID": "", "Spec": {"Name": "shoal"}}, "Addresses": [f"{ip}/32"]}]
    return t


def slots(pods: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Slot numbers 1..N for a replicated service's pods, oldest first (by uid)."""
    order = sorted(pods, key=lambda p: (str(views.meta(p).get("creationTimestamp") or ""), views.name(p)))
    return {views.uid(p): i + 1 for i, p in enumerate(order)}


def running(pods: Sequence[Mapping[str, Any]]) -> int:
    return sum(1 for p in pods if views.is_ready(p) and not views.is_terminating(p) and views.phase(p) == "Running")


def service_status(workload: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """``ServiceStatus``: running tasks over desired ones (and completed ones of a job)."""
    kind = workload.get("kind")
    spec, st = views.spec(workload), views.status(workload)
    if kind == "DaemonSet":
        desired = int(st.get("desiredNumberScheduled") or 0)
    elif kind == "Job":
        done = int(st.get("succeeded") or 0)
        total = int(spec.get("completions") or 1)
        return {"RunningTasks": sum(1 for p in pods if views.phase(p) == "Running"),
                "DesiredTasks": max(0, min(int(spec.get("parallelism") or 1), total - done)),
                "CompletedTasks": done}
    else:
        desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    return {"RunningTasks": running(pods), "DesiredTasks": desired}


def update_status(workload: Mapping[str, Any], *, updated: bool, rolled_back: bool) -> dict[str, Any] | None:
    """``UpdateStatus`` of a service that was updated (None for one that never was)."""
    if not updated and not rolled_back:
        return None
    spec, st, md = views.spec(workload), views.status(workload), views.meta(workload)
    if workload.get("kind") == "DaemonSet":
        done = (int(st.get("observedGeneration") or 0) >= int(md.get("generation") or 0)
                and int(st.get("updatedNumberScheduled") or 0) >= int(st.get("desiredNumberScheduled") or 0)
                and int(st.get("numberUnavailable") or 0) == 0)
    else:
        want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        done = (int(st.get("observedGeneration") or 0) >= int(md.get("generation") or 0)
                and int(st.get("updatedReplicas") or 0) >= want and int(st.get("replicas") or 0) <= want
                and int(st.get("availableReplicas") or 0) >= want)
    auto = next((c for c in views.conditions(workload) if c.get("reason") == "DeploymentRollback"), None)
    if rolled_back or auto is not None:
        message = str(auto.get("message")) if auto else "manually requested rollback"
        return {"State": "rollback_completed" if done else "rollback_started", "Message": message}
    return {"State": "completed" if done else "updating",
            "Message": "update completed" if done else "update in progress"}
