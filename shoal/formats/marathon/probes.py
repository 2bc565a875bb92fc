"""Marathon's health and readiness checks onto a container's probes.

A Marathon health check does two things: it makes a task healthy (the app's
``tasksHealthy``, what a deployment waits for) and kills a task after
``maxConsecutiveFailures`` failures in a row, ignoring failures during
``gracePeriodSeconds``. So it becomes two probes with one handler:

- a readiness probe (healthy = ready: ``tasksHealthy`` counts ready pods and a
  rolling update waits for them), every ``intervalSeconds``, from the start;
- a liveness probe with ``initialDelaySeconds = gracePeriodSeconds`` and
  ``failureThreshold = maxConsecutiveFailures`` (none when that is 0: Marathon
  then never kills).

HTTP / MESOS_HTTP -> ``httpGet``, HTTPS / MESOS_HTTPS -> ``httpGet`` with
scheme HTTPS, TCP / MESOS_TCP -> ``tcpSocket``, COMMAND -> ``exec sh -c``. The
port is ``port`` or the ``portIndex``-th port of the app. A readiness check
(Marathon's check that gates a deployment, on a named port) takes the
readiness probe when there is one; the health check keeps the liveness probe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _handler(check: Mapping[str, Any], ports: Sequence[Mapping[str, Any]], *, readiness: bool = False
             ) -> dict[str, Any]:
    proto = str(check.get("protocol") or "HTTP")
    if readiness:
        port = next((int(p["containerPort"]) for p in ports if p.get("name") == check.get("portName")), 0)
    else:
        port = int(check["port"]) if check.get("port") else (
            int(ports[int(check.get("portIndex") or 0)]["containerPort"]) if ports else 0)
    if proto == "COMMAND":
        return {"exec": {"command": ["/bin/sh", "-c", str((check.get("command") or {}).get("value") or "")]}}
    if proto.endswith("TCP"):
        return {"tcpSocket": {"port": port}}
    return {"httpGet": {"path": str(check.get("path") or "/"), "port": port,
                        "scheme": "HTTPS" if proto.endswith("HTTPS") else "HTTP"}}


def to_probes(health: Sequence[Mapping[str, Any]], readiness: Sequence[Mapping[str, Any]],
              ports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The container fields ``livenessProbe`` / ``readinessProbe``; ``ports`` carry ``containerPort``/``name``."""
    out: dict[str, Any] = {}
    if health:
        hc = health[0]
        handler = _handler(hc, ports)
        timeout = max(1, int(hc.get("timeoutSeconds") or 20))
        period = max(1, int(hc.get("intervalSeconds") or 60))
        if int(hc.get("maxConsecutiveFailures") or 0) > 0:
            out["livenessProbe"] = {**handler, "initialDelaySeconds": int(hc.get("gracePeriodSeconds") or 0),
                                    "periodSeconds": period, "timeoutSeconds": timeout,
                                    "failureThreshold": int(hc["maxConsecutiveFailures"]), "successThreshold": 1}
        out["readinessProbe"] = {**handler, "periodSeconds": period, "timeoutSeconds": timeout,
                                 "failureThreshold": 1, "successThreshold": 1}
    if readiness:
        rc = readiness[0]
        out["readinessProbe"] = {**_handler(rc, ports, readiness=True),
                                 "periodSeconds": max(1, int(rc.get("intervalSeconds") or 30)),
                                 "timeoutSeconds": max(1, int(rc.get("timeoutSeconds") or 10)),
                                 "failureThreshold": 1, "successThreshold": 1}
    return out
