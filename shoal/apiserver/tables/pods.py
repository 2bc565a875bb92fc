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

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from shoal.api import views
from shoal.apiserver.tables.fields import (
    NONE,
    Obj,
    age_of,
    as_dict,
    as_int,
    as_list,
    as_str,
    dig,
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


def _last_terminated(status: Mapping[str, object]) -> datetime | None:
    return views.parse_time(dig(status, "lastState", "terminated", "finishedAt"))


def _state(status: Mapping[str, object], which: str) -> Obj | None:
    value = dig(status, "state", which)
    return value if isinstance(value, dict) else None


def _is_sidecar(container: Obj | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"


def _exit_reason(terminated: Obj, prefix: str) -> str:
    signal = as_int(terminated.get("signal"))
    if signal != 0:
        return f"{prefix}Signal:{signal}"
    return f"{prefix}ExitCode:{as_int(terminated.get('exitCode'))}"


@dataclass(slots=True)
class _Restarts:
    """Restarts counted so far, and the newest time one of those containers last terminated."""

    count: int = 0
    last: datetime | None = None

    def add(self, cs: Mapping[str, object]) -> None:
        self.count += as_int(cs.get("restartCount"))
        self.last = _later(self.last, _last_terminated(cs))

    def cell(self, now: datetime) -> str:
        if self.count != 0 and self.last is not None:
            return f"{self.count} ({since(self.last, now)} ago)"
        return str(self.count)


@dataclass(slots=True)
class _Init:
    """What the init containers say: the ``Init:`` reason while one has not finished, ready sidecars."""

    reason: str | None = None
    ready: int = 0
    restarts: _Restarts = field(default_factory=_Restarts)  # of every init container
    sidecar_restarts: _Restarts = field(default_factory=_Restarts)


def _init_reason(terminated: Obj | None, waiting: Obj | None, index: int, count: int) -> str:
    if terminated is not None:
        term_reason = as_str(terminated.get("reason"))
        return f"Init:{term_reason}" if term_reason else _exit_reason(terminated, "Init:")
    if waiting is not None and as_str(waiting.get("reason")) not in ("", "PodInitializing"):
        return f"Init:{as_str(waiting.get('reason'))}"
    return f"Init:{index}/{count}"


def _init_containers(status: Obj, init_specs: list[Obj]) -> _Init:
    """Init containers in order, up to the first that has not finished (a started sidecar has)."""
    init_by_name = {as_str(c.get("name")): c for c in init_specs}
    out = _Init()
    # a malformed entry reads as an init container that has not finished, as Go's zero value would
    for index, raw in enumerate(as_list(status.get("initContainerStatuses"))):
        cs = as_dict(raw)
        out.restarts.add(cs)
        sidecar = _is_sidecar(init_by_name.get(as_str(cs.get("name"))))
        if sidecar:
            out.sidecar_restarts.add(cs)
        terminated = _state(cs, "terminated")
        if terminated is not None and as_int(terminated.get("exitCode")) == 0:
            continue
        if sidecar and cs.get("started") is True:
            if cs.get("ready") is True:
                out.ready += 1
            continue
        out.reason = _init_reason(terminated, _state(cs, "waiting"), index, len(init_specs))
        break
    return out


def _containers(pod: Obj, reason: str, restarts: _Restarts) -> tuple[str, int]:
    """The regular containers, last first: the reason they override the pod's with, and how many are ready."""
    ready = 0
    has_running = False
    for cs in reversed(views.container_statuses(pod)):
        restarts.add(cs)
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
        reason = "Running" if views.is_ready(pod) else "NotReady"
    return reason, ready


def _scheduling_gated(status: Obj) -> bool:
    return any(as_dict(c).get("type") == "PodScheduled" and as_dict(c).get("reason") == "SchedulingGated"
               for c in as_list(status.get("conditions")))


def pod_summary(pod: Obj, now: datetime) -> tuple[str, str, str]:
    """The READY, STATUS and RESTARTS cells of a pod."""
    spec = as_dict(pod.get("spec"))
    status = as_dict(pod.get("status"))
    init_specs = [as_dict(c) for c in as_list(spec.get("initContainers"))]
    total = len(as_list(spec.get("containers"))) + sum(1 for c in init_specs if _is_sidecar(c))
    phase = as_str(status.get("phase"))
    reason = "SchedulingGated" if _scheduling_gated(status) else (as_str(status.get("reason")) or phase)

    init = _init_containers(status, init_specs)
    ready, restarts = init.ready, init.restarts
    if init.reason is not None:
        reason = init.reason
    if init.reason is None or views.condition_true(pod, "Initialized"):
        restarts = init.sidecar_restarts  # once initialised, only sidecars' restarts count beside the containers'
        reason, running = _containers(pod, reason, restarts)
        ready += running

    if dig(pod, "metadata", "deletionTimestamp") is not None:  # set at all (upstream: DeletionTimestamp != nil)
        if status.get("reason") == NODE_LOST:
            reason = "Unknown"
        elif phase not in TERMINAL_PHASES:
            reason = "Terminating"
    return f"{ready}/{total}", reason, restarts.cell(now)


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
        views.name(pod),
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
