"""The Pod row: READY, STATUS and RESTARTS computed as kubectl users know them.

STATUS is not a field but a summary, and upstream's ``printPod`` defines it:
the pod's phase or reason, overridden by ``SchedulingGated``; then by the
first init container that has not finished (``Init:0/2``, ``Init:CrashLoopBackOff``,
``Init:Error``, ``Init:ExitCode:1``); once initialised, by the first regular
container that waits or terminated (``ContainerCreating``, ``ImagePullBackOff``,
``CrashLoopBackOff``, ``Completed``, ``Error``, ``Signal:9``), ``Completed``
becoming ``Running``/``NotReady`` while a container still runs; and finally
``Terminating`` (or ``Unknown`` on a lost node) once deletion has begun.
Sidecars (init containers with ``restartPolicy: Always``) count in READY.
RESTARTS adds ``(5m ago)`` from the newest ``lastState.terminated.finishedAt``.
"""

from __future__ import annotations

from datetime import datetime

from shoal.apiserver.tables.fields import (
    NONE,
    Obj,
    age_of,
    as_dict,
    as_int,
    as_list,
    as_str,
    dig,
    name_of,
    parse_time,
    since,
)
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column

TERMINAL_PHASES = ("Succeeded", "Failed")
NODE_LOST = "NodeLost"

COLUMNS = (
    name_column(),
    Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column(
        "Restarts",
        description=(
            "The number of times the containers in this pod have been restarted and when "
            "the last container in this pod has restarted."
        ),
    ),
    age_column(),
    Column("IP", priority=1, description="IP address allocated to the pod."),
    Column("Node", priority=1, description="The node the pod is scheduled onto."),
    Column(
        "Nominated Node",
        priority=1,
        description="The node that preemption chose for this pod, before it is scheduled.",
    ),
    Column(
        "Readiness Gates",
        priority=1,
        description="How many of the pod's readiness gates have a True condition.",
    ),
)


def _later(current: datetime | None, candidate: datetime | None) -> datetime | None:
    if candidate is None:
        return current
    if current is None or current < candidate:
        return candidate
    return current


def _last_terminated(status: Obj) -> datetime | None:
    return parse_time(dig(status, "lastState", "terminated", "finishedAt"))


def _state(status: Obj, which: str) -> Obj | None:
    value = dig(status, "state", which)
    return value if isinstance(value, dict) else None


def _is_sidecar(container: Obj | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"


def _condition_true(pod_status: Obj, kind: str) -> bool:
    for cond in as_list(pod_status.get("conditions")):
        if as_dict(cond).get("type") == kind:
            return as_dict(cond).get("status") == "True"
    return False


def _exit_reason(terminated: Obj, prefix: str) -> str:
    signal = as_int(terminated.get("signal"))
    if signal != 0:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{as_int(terminated.get('exitCode'))}"


def pod_summary(pod: Obj, now: datetime) -> tuple[str, str, str]:
    """The READY, STATUS and RESTARTS cells of a pod."""
    spec = as_dict(pod.get("spec"))
    status = as_dict(pod.get("status"))
    init_specs = [as_dict(c) for c in as_list(spec.get("initContainers"))]
    init_by_name = {as_str(c.get("name")): c for c in init_specs}

    total = len(as_list(spec.get("containers"))) + sum(1 for c in init_specs if _is_sidecar(c))
    ready = 0
    restarts = 0
    sidecar_restarts = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = as_str(status.get("phase"))
    reason = as_str(status.get("reason")) or phase
    for cond in as_list(status.get("conditions")):
        cond = as_dict(cond)
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    initializing = False
    for index, raw in enumerate(as_list(status.get("initContainerStatuses"))):
        cs = as_dict(raw)
        count = as_int(cs.get("restartCount"))
        finished = _last_terminated(cs)
        restarts += count
        last_restart = _later(last_restart, finished)
        sidecar = _is_sidecar(init_by_name.get(as_str(cs.get("name"))))
        if sidecar:
            sidecar_restarts += count
            last_sidecar_restart = _later(last_sidecar_restart, finished)
        terminated = _state(cs, "terminated")
        waiting = _state(cs, "waiting")
        if terminated is not None and as_int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started") is True:
            if cs.get("ready") is True:
                ready += 1
            continue
        if terminated is not None:
            term_reason = as_str(terminated.get("reason"))
            reason = f"Init:{term_reason}" if term_reason else _exit_reason(terminated, "Init:")
        elif waiting is not None and as_str(waiting.get("reason")) not in ("", "PodInitializing"):
            reason = f"Init:{as_str(waiting.get('reason'))}"
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(status, "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for raw in reversed(as_list(status.get("containerStatuses"))):
            cs = as_dict(raw)
            restarts += as_int(cs.get("restartCount"))
            last_restart = _later(last_restart, _last_terminated(cs))
            waiting = _state(cs, "waiting")
            terminated = _state(cs, "terminated")
            if waiting is not None and as_str(waiting.get("reason")):
                reason = as_str(waiting.get("reason"))
            elif terminated is not None and as_str(terminated.get("reason")):
                reason = as_str(terminated.get("reason"))
            elif terminated is not None:
                reason = _exit_reason(terminated, "")
            elif cs.get("ready") is True and _state(cs, "running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(status, "Ready") else "NotReady"

    if dig(pod, "metadata", "deletionTimestamp") is not None:
        if status.get("reason") == NODE_LOST:
            reason = "Unknown"
        elif phase not in TERMINAL_PHASES:
            reason = "Terminating"

    restarts_cell = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_cell = f"{restarts} ({since(last_restart, now)} ago)"
    return f"{ready}/{total}", reason, restarts_cell


def _readiness_gates(spec: Obj, status: Obj) -> str:
    gates = [as_dict(g) for g in as_list(spec.get("readinessGates"))]
    if not gates:
        return NONE
    conditions = [as_dict(c) for c in as_list(status.get("conditions"))]
    true_count = 0
    for gate in gates:
        for cond in conditions:
            if cond.get("type") == gate.get("conditionType"):
                if cond.get("status") == "True":
                    true_count += 1
                break
    return f"{true_count}/{len(gates)}"


def _pod_ip(status: Obj) -> str:
    ips = as_list(status.get("podIPs"))
    if ips:
        return as_str(as_dict(ips[0]).get("ip")) or NONE
    # podIP and podIPs[0] are the same address; older writers set only podIP.
    return as_str(status.get("podIP")) or NONE


def pod_row(pod: Obj, now: datetime) -> list[Cell]:
    spec = as_dict(pod.get("spec"))
    status = as_dict(pod.get("status"))
    ready, reason, restarts = pod_summary(pod, now)
    return [
        name_of(pod),
        ready,
        reason,
        restarts,
        age_of(pod, now),
        _pod_ip(status),
        as_str(spec.get("nodeName")) or NONE,
        as_str(status.get("nominatedNodeName")) or NONE,
        _readiness_gates(spec, status),
    ]


def pod_conditions(pod: Obj) -> list[dict[str, str]]:
    """Upstream marks rows of finished pods with a ``Completed`` row condition."""
    phase = dig(pod, "status", "phase")
    if phase == "Succeeded":
        message = "The pod has completed successfully."
    elif phase == "Failed":
        message = "The pod failed."
    else:
        return []
    return [{"type": "Completed", "status": "True", "reason": phase, "message": message}]


PRINTERS = {"Pod": Printer(COLUMNS, pod_row, pod_conditions)}
