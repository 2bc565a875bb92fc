"""The ``simulated`` driver: hollow pods for scale tests, as KWOK does.

No process runs. A container is a small record whose state moves on timers:
created, then running ``start_delay`` seconds after start, and, for pods whose
restartPolicy is OnFailure or Never (Jobs), exited with code 0 after
``complete_after`` seconds, so batch work can be simulated too. A pod may
override both through annotations the agent copies into labels:
``sim.shoal.io/complete-after`` (seconds) and ``sim.shoal.io/exit-code``.

Probes are decided here, never run: pod addresses come from 100.64.0.0/10
and lead nowhere, so a real HTTP or TCP probe would send packets off the
machine by the default route. Every probe succeeds unless the driver's
``probe_result`` is ``failure``, or the pod overrides one kind with
``sim.shoal.io/liveness-probe``, ``sim.shoal.io/readiness-probe`` or
``sim.shoal.io/startup-probe`` set to ``success`` or ``failure``. The outcome
then goes through the same thresholds as a real one: a failing readiness
probe keeps the pod unready, a failing liveness probe restarts the container.

Volumes are accepted and nothing is mounted: the agent's volume manager runs
dry for this driver (no directory, no mount, no file), and ``mounts`` in a
container spec are ignored, so hollow nodes cost no I/O per volume.

Records are slotted objects indexed by pod uid, so one agent can hold tens of
thousands of pods without scanning them all for each sync.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
from collections.abc import AsyncIterator

from shoal.agent.drivers.base import (
    LABEL_CONTAINER,
    LABEL_POD_UID,
    LABEL_RESTART_POLICY,
    LABEL_ROLE,
    ChangeHandler,
    ContainerSpec,
    ContainerStatus,
    NotFoundError,
    ProbeOutcome,
    ProbeRequest,
    Sandbox,
    SandboxSpec,
)
from shoal.api import views

SIM_COMPLETE_AFTER = "sim.shoal.io/complete-after"
SIM_EXIT_CODE = "sim.shoal.io/exit-code"
SIM_PROBE = {"livenessProbe": "sim.shoal.io/liveness-probe", "readinessProbe": "sim.shoal.io/readiness-probe",
             "startupProbe": "sim.shoal.io/startup-probe"}
PROBE_RESULTS = ("success", "failure")
_NET = ipaddress.IPv4Network("100.64.0.0/10")


def _now() -> str:
    return views.format_time(views.utcnow())


class _Rec:
    __slots__ = ("exit_code", "finished_at", "id", "image", "ip", "labels", "started_at", "state", "timer", "uid")

    def __init__(self, cid: str, uid: str, labels: dict[str, str], image: str, ip: str | None) -> None:
        self.id = cid
        self.uid = uid
        self.labels = labels
        self.image = image
        self.ip = ip
        self.state = "created"
        self.exit_code: int | None = None
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.timer: asyncio.TimerHandle | None = None

    def status(self) -> ContainerStatus:
        return ContainerStatus(
            id=self.id, name=self.labels.get(LABEL_CONTAINER, "sandbox"), pod_uid=self.uid, state=self.state,
            exit_code=self.exit_code, started_at=self.started_at, finished_at=self.finished_at,
            image=self.image, image_id=f"sim://{self.image}", labels=self.labels, ip=self.ip,
        )


class SimulatedDriver:
    name = "simulated"

    def __init__(self, *, start_delay: float = 0.0, complete_after: float | None = None,
                 probe_result: str = "success") -> None:
        if probe_result not in PROBE_RESULTS:
            raise ValueError(f"probe result {probe_result!r}: expected success or failure")
        self.start_delay = start_delay
        self.complete_after = complete_after
        self.probe_result = probe_result
        self._recs: dict[str, _Rec] = {}
        self._by_uid: dict[str, set[str]] = {}
        self._ids = itertools.count(1)
        self._ips = itertools.count(1)
        self._handler: ChangeHandler | None = None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for r in self._recs.values():
            if r.timer is not None:
                r.timer.cancel()

    async def version(self) -> str:
        return "simulated://1"

    def set_change_handler(self, handler: ChangeHandler) -> None:
        self._handler = handler

    def __len__(self) -> int:
        return len(self._recs)

    def _add(self, rec: _Rec) -> None:
        self._recs[rec.id] = rec
        self._by_uid.setdefault(rec.uid, set()).add(rec.id)

    def _get(self, cid: str) -> _Rec:
        rec = self._recs.get(cid)
        if rec is None:
            raise NotFoundError(f"no such container: {cid}")
        return rec

    def _changed(self, rec: _Rec) -> None:
        if self._handler is not None:
            self._handler(rec.uid)

    # ---- sandboxes -----------------------------------------------------------------------
    async def run_sandbox(self, spec: SandboxSpec) -> Sandbox:
        n = next(self._ips) % (_NET.num_addresses - 2) + 1
        ip = str(_NET.network_address + n)
        rec = _Rec(f"sim-{next(self._ids):x}", spec.pod_uid, {**spec.labels, LABEL_ROLE: "sandbox"}, "pause", ip)
        rec.state = "running"
        rec.started_at = _now()
        self._add(rec)
        return Sandbox(rec.id, ip)

    async def stop_sandbox(self, sandbox_id: str) -> None:
        await self.stop_container(sandbox_id, 0)

    async def remove_sandbox(self, sandbox_id: str) -> None:
        await self.remove_container(sandbox_id)

    # ---- containers ----------------------------------------------------------------------
    async def ensure_image(self, image: str, pull_policy: str) -> None:
        return None

    async def create_container(self, spec: ContainerSpec) -> str:
        labels = {**spec.labels, LABEL_CONTAINER: spec.name, LABEL_POD_UID: spec.pod_uid}
        labels.setdefault(LABEL_ROLE, "container")
        sb = self._recs.get(spec.sandbox_id)
        rec = _Rec(f"sim-{next(self._ids):x}", spec.pod_uid, labels, spec.image, sb.ip if sb else None)
        self._add(rec)
        return rec.id

    async def start_container(self, container_id: str) -> None:
        rec = self._get(container_id)
        if self.start_delay > 0:
            loop = asyncio.get_running_loop()
            rec.timer = loop.call_later(self.start_delay, self._run, rec)
        else:
            self._run(rec, notify=False)

    def _run(self, rec: _Rec, notify: bool = True) -> None:
        rec.timer = None
        if rec.state != "created":
            return
        rec.state = "running"
        rec.started_at = _now()
        after = rec.labels.get(SIM_COMPLETE_AFTER)
        batch = rec.labels.get(LABEL_RESTART_POLICY) in ("OnFailure", "Never")
        delay = float(after) if after else (self.complete_after if batch else None)
        if delay is not None and rec.labels.get(LABEL_ROLE) != "sandbox":
            rec.timer = asyncio.get_running_loop().call_later(max(0.0, delay), self._finish, rec)
        if notify:
            self._changed(rec)

    def _finish(self, rec: _Rec) -> None:
        rec.timer = None
        if rec.state != "running":
            return
        rec.state = "exited"
        try:
            rec.exit_code = int(rec.labels.get(SIM_EXIT_CODE, "0"))
        except ValueError:
            rec.exit_code = 1
        rec.finished_at = _now()
        self._changed(rec)

    async def stop_container(self, container_id: str, timeout: float) -> None:
        rec = self._recs.get(container_id)
        if rec is None or rec.state == "exited":
            return
        if rec.timer is not None:
            rec.timer.cancel()
            rec.timer = None
        was_running = rec.state == "running"
        rec.state = "exited"
        rec.exit_code = 143 if was_running else 0
        rec.finished_at = _now()

    async def remove_container(self, container_id: str) -> None:
        rec = self._recs.pop(container_id, None)
        if rec is None:
            return
        if rec.timer is not None:
            rec.timer.cancel()
        ids = self._by_uid.get(rec.uid)
        if ids is not None:
            ids.discard(container_id)
            if not ids:
                del self._by_uid[rec.uid]

    async def inspect(self, container_id: str) -> ContainerStatus:
        return self._get(container_id).status()

    async def list_containers(self, labels: dict[str, str] | None = None) -> list[ContainerStatus]:
        labels = labels or {}
        uid = labels.get(LABEL_POD_UID)
        if uid is not None:
            recs = [self._recs[i] for i in self._by_uid.get(uid, ())]
        else:
            recs = list(self._recs.values())
        want = labels.items()
        return [r.status() for r in recs if all(r.labels.get(k) == v for k, v in want)]

    # ---- logs and exec --------------------------------------------------------------------
    async def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
    ) -> AsyncIterator[bytes]:
        rec = self._get(container_id)
        if tail == 0:
            return
        line = f"simulated container {rec.labels.get(LABEL_CONTAINER, '')} (no process runs on a hollow node)\n"
        yield ((rec.started_at or _now()) + " " + line).encode() if timestamps else line.encode()
        while follow and rec.state != "exited" and container_id in self._recs:
            await asyncio.sleep(0.5)

    async def exec(
        self, container_id: str, command: list[str], *, tty: bool = False, stdin: bool = False
    ) -> SimulatedExec:
        self._get(container_id)
        return SimulatedExec()


    # ---- probes ---------------------------------------------------------------------------
    async def probe(self, request: ProbeRequest) -> ProbeOutcome:
        """Decided from the driver's setting and the pod's annotation; nothing is connected to."""
        rec = self._recs.get(request.container_id)
        if rec is None or rec.state != "running":
            return ProbeOutcome(False, f"container {request.container_id} is not running")
        key = SIM_PROBE[request.kind]
        own = rec.labels.get(key)
        if own not in PROBE_RESULTS:  # no annotation (or a value it does not know): the driver's setting
            own = None
        if (own or self.probe_result) == "failure":
            why = f"{key}=failure" if own else "the simulated runtime's probe result is failure"
            return ProbeOutcome(False, f"simulated probe failure ({why})")
        return ProbeOutcome(True)


class SimulatedExec:
    """An exec on a hollow node: no output, exit code 0."""

    async def write_stdin(self, data: bytes) -> None:
        return None

    async def close_stdin(self) -> None:
        return None

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        return
        yield

    async def resize(self, width: int, height: int) -> None:
        return None

    async def wait(self) -> int:
        return 0

    async def kill(self) -> None:
        return None
