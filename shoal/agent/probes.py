"""Liveness, readiness and startup probes (exec, httpGet, tcpSocket).

One asyncio task per (container instance, probe kind), honouring
initialDelaySeconds, periodSeconds, timeoutSeconds, successThreshold and
failureThreshold. A result only flips after the threshold of consecutive
outcomes, and each flip calls ``on_change(pod_uid)`` so the pod worker
re-syncs: readiness drives the Ready condition, a failed liveness or startup
probe makes the worker restart the container, and until a startup probe has
succeeded the other two do not run. Workers are tied to a container id, so a
restarted container starts from fresh results, as upstream does.

This module only schedules and counts: each attempt is resolved into a typed
``ProbeRequest`` and answered by the driver (``Driver.probe``), so where a
probe really connects is the driver's decision. The simulated driver's pods
have made-up addresses, and it decides their outcomes without a packet sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shoal.agent.drivers.base import (
    Driver,
    ExecCheck,
    HttpCheck,
    ProbeCheck,
    ProbeKind,
    ProbeOutcome,
    ProbeRequest,
    TcpCheck,
)

log = logging.getLogger(__name__)

KINDS: tuple[ProbeKind, ...] = ("startupProbe", "readinessProbe", "livenessProbe")


Outcome = ProbeOutcome


@dataclass(slots=True)
class ProbeState:
    container_id: str
    results: dict[str, bool | None] = field(default_factory=dict)  # kind -> result
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    gave_up: set[str] = field(default_factory=set)  # liveness/startup kinds that failed for good


def _port(value: Any, container: dict[str, Any]) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    for p in container.get("ports") or []:
        if p.get("name") == value:
            return int(p["containerPort"])
    raise ValueError(f"port {value!r} is not a number or a named port of the container")


class ProbeManager:
    def __init__(self, driver: Driver, *, on_change: Callable[[str], None],
                 on_event: Callable[[str, str, str], None]) -> None:
        self.driver = driver
        self.on_change = on_change
        self.on_event = on_event  # (pod uid, reason, message)
        self._states: dict[tuple[str, str], ProbeState] = {}

    async def close(self) -> None:
        for key in list(self._states):
            self._stop(key)

    # ---- what the pod worker asks ---------------------------------------------------------
    def ensure(self, uid: str, container: dict[str, Any], container_id: str, pod_ip: str | None) -> None:
        """Run this container instance's probes (once); a new instance replaces the old workers."""
        name = container["name"]
        key = (uid, name)
        st = self._states.get(key)
        if st is not None and st.container_id == container_id:
            return
        if st is not None:
            self._stop(key)
        st = ProbeState(container_id)
        self._states[key] = st
        if not container.get("startupProbe"):
            st.started.set()
        for kind in KINDS:
            probe = container.get(kind)
            if not probe:
                continue
            st.results[kind] = kind == "livenessProbe"
            st.tasks.append(asyncio.create_task(
                self._run(uid, container, container_id, kind, probe, pod_ip, st), name=f"probe:{kind}:{name}"))

    def forget_container(self, uid: str, name: str) -> None:
        self._stop((uid, name))

    def forget_pod(self, uid: str) -> None:
        for key in [k for k in self._states if k[0] == uid]:
            self._stop(key)

    def _stop(self, key: tuple[str, str]) -> None:
        st = self._states.pop(key, None)
        if st is not None:
            for t in st.tasks:
                t.cancel()

    def result(self, uid: str, name: str, container_id: str, kind: str) -> bool | None:
        """The probe's current result for this instance; None when it has no such probe."""
        st = self._states.get((uid, name))
        if st is None or st.container_id != container_id:
            return None
        return st.results.get(kind)

    def startup_failed(self, uid: str, name: str, container_id: str) -> bool:
        """True once a startup probe has given up (it reads False before its first success too)."""
        st = self._states.get((uid, name))
        if st is None or st.container_id != container_id or st.started.is_set():
            return False
        return "startupProbe" in st.gave_up

    # ---- the probe loop ------------------------------------------------------------------
    async def _run(self, uid: str, container: dict[str, Any], cid: str, kind: ProbeKind, probe: dict[str, Any],
                   pod_ip: str | None, st: ProbeState) -> None:
        period = max(1, int(probe.get("periodSeconds") or 10))
        timeout = max(1, int(probe.get("timeoutSeconds") or 1))
        ok_needed = max(1, int(probe.get("successThreshold") or 1))
        fail_needed = max(1, int(probe.get("failureThreshold") or 3))
        label = {"startupProbe": "Startup", "readinessProbe": "Readiness", "livenessProbe": "Liveness"}[kind]
        try:
            if kind != "startupProbe":
                await st.started.wait()
            await asyncio.sleep(max(0, int(probe.get("initialDelaySeconds") or 0)))
            oks = fails = 0
            while True:
                out = await self.check(probe, container, cid, pod_ip, timeout, kind)
                if out.ok:
                    oks, fails = oks + 1, 0
                else:
                    oks, fails = 0, fails + 1
                    self.on_event(uid, "Unhealthy", f"{label} probe failed: {out.message}".strip())
                current = st.results.get(kind)
                if out.ok and oks >= ok_needed and current is not True:
                    st.results[kind] = True
                    if kind == "startupProbe":
                        st.started.set()
                    self.on_change(uid)
                    if kind == "startupProbe":
                        return  # a startup probe stops once it has succeeded
                elif not out.ok and fails >= fail_needed and (current is not False or kind == "startupProbe"):
                    st.results[kind] = False
                    if kind != "readinessProbe":
                        st.gave_up.add(kind)
                    self.on_change(uid)
                    if kind != "readinessProbe":
                        return  # the worker restarts the container; a new instance gets new probes
                await asyncio.sleep(period)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("probe %s of %s failed unexpectedly", kind, container.get("name"))

    async def check(self, probe: dict[str, Any], container: dict[str, Any], cid: str, pod_ip: str | None,
                    timeout: float, kind: ProbeKind = "livenessProbe") -> Outcome:
        """One attempt, answered by the driver (for real, or decided by the simulated one)."""
        try:
            request = probe_request(kind, probe, container, cid, pod_ip, timeout)
        except ValueError as e:
            return Outcome(False, str(e))
        if request is None:
            return Outcome(False, "the probe has no handler (exec, httpGet or tcpSocket)")
        try:
            return await asyncio.wait_for(self.driver.probe(request), timeout)
        except TimeoutError:
            return Outcome(False, f"timeout: probe did not answer within {timeout:g}s")
        except Exception as e:  # a driver that broke its promise not to raise
            return Outcome(False, str(e) or type(e).__name__)


def probe_request(kind: ProbeKind, probe: dict[str, Any], container: dict[str, Any], cid: str,
                  pod_ip: str | None, timeout: float) -> ProbeRequest | None:
    """The probe's handler with its target resolved (named ports, the pod IP); None without a handler."""
    check: ProbeCheck
    if probe.get("exec"):
        check = ExecCheck(tuple(str(x) for x in probe["exec"].get("command") or []))
    elif probe.get("httpGet"):
        hg = probe["httpGet"]
        path = hg.get("path") or "/"
        headers = [("User-Agent", "kube-probe/1.32")]
        headers += [(str(h.get("name", "")), str(h.get("value", ""))) for h in hg.get("httpHeaders") or []]
        check = HttpCheck(host=hg.get("host") or pod_ip or "127.0.0.1", port=_port(hg.get("port"), container),
                          scheme=str(hg.get("scheme") or "HTTP").lower(),
                          path=path if path.startswith("/") else "/" + path, headers=tuple(dict(headers).items()))
    elif probe.get("tcpSocket") or probe.get("grpc"):
        sock = probe.get("tcpSocket") or probe.get("grpc") or {}
        check = TcpCheck(host=sock.get("host") or pod_ip or "127.0.0.1", port=_port(sock.get("port"), container))
    else:
        return None
    return ProbeRequest(kind=kind, container_id=cid, check=check, timeout=timeout)
