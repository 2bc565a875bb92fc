"""An app as a client posts it -> the app with Marathon's defaults, or Marathon's 422.

``normalize`` fills every field Marathon fills (``cpus`` 1, ``mem`` 128,
``upgradeStrategy`` 1/1, a health check's grace period 300 ...), resolves the
id against the group it was posted in, and checks the whole definition,
gathering every problem by its JSON path (``/instances``,
``/healthChecks(0)/protocol``) into one 422, as Marathon's validators do.
What shoal cannot honour is refused the same way and says so (``gpus``,
external volumes, more than one health check), never accepted and dropped.

The normalised app is what the annotation keeps and what GET starts from; it
holds no status (``tasksRunning``, ``version`` ...): those are computed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from shoal.formats.marathon import ids
from shoal.formats.marathon.errors import Problems

# read-only fields a client may send back (a GET's answer PUT again): ignored
READ_ONLY = frozenset({"version", "versionInfo", "tasksStaged", "tasksRunning", "tasksHealthy", "tasksUnhealthy",
                       "deployments", "tasks", "lastTaskFailure", "taskStats", "readinessCheckResults",
                       "counts", "ports", "uris", "storeUrls"})
KNOWN = frozenset({"id", "cmd", "args", "user", "env", "instances", "cpus", "mem", "disk", "gpus", "executor",
                   "constraints", "fetch", "backoffSeconds", "backoffFactor", "maxLaunchDelaySeconds", "container",
                   "healthChecks", "readinessChecks", "dependencies", "upgradeStrategy", "labels",
                   "acceptedResourceRoles", "portDefinitions", "requirePorts", "networks", "residency", "secrets",
                   "taskKillGracePeriodSeconds", "unreachableStrategy", "killSelection", "role", "tty",
                   "ipAddress", "executorResources", "resourceLimits"})
OPERATORS = frozenset({"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"})
HEALTH_PROTOCOLS = frozenset({"HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"})
KILL_SELECTIONS = frozenset({"YOUNGEST_FIRST", "OLDEST_FIRST"})
DEFAULT_IMAGE = "busybox"  # what a ``cmd`` without a container runs in (Mesos ran it on the agent's own system)

APP_DEFAULTS: dict[str, Any] = {
    "instances": 1, "cpus": 1.0, "mem": 128.0, "disk": 0.0, "gpus": 0, "executor": "", "constraints": [],
    "fetch": [], "backoffSeconds": 1, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 300,
    "healthChecks": [], "readinessChecks": [], "dependencies": [], "labels": {}, "env": {}, "secrets": {},
    "portDefinitions": [], "requirePorts": False, "killSelection": "YOUNGEST_FIRST", "role": "*",
    "taskKillGracePeriodSeconds": None, "unreachableStrategy": {"inactiveAfterSeconds": 0,
                                                                "expungeAfterSeconds": 0},
}
HEALTH_DEFAULTS: dict[str, Any] = {"gracePeriodSeconds": 300, "intervalSeconds": 60, "timeoutSeconds": 20,
                                   "maxConsecutiveFailures": 3, "delaySeconds": 15}
READINESS_DEFAULTS: dict[str, Any] = {"name": "readinessCheck", "protocol": "HTTP", "path": "/",
                                      "portName": "http-api", "intervalSeconds": 30, "timeoutSeconds": 10,
                                      "httpStatusCodesForReady": [200], "preserveLastResponse": False}
SERVICE_PORT_RANGE = (10000, 20000)


def _num(p: Problems, path: str, value: Any, *, minimum: float = 0, integer: bool = False,
         maximum: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and
                                                                          not math.isfinite(value)):
        p.add(path, "error.expected.jsnumber")
        return
    if integer and not float(value).is_integer():
        p.add(path, "error.expected.int")
    elif value < minimum:
        p.add(path, f"got {value}, expected {minimum if not integer else int(minimum)} or more")
    elif maximum is not None and value > maximum:
        p.add(path, f"got {value}, expected {maximum} or less")


def assign_port(app_id: str, index: int, taken: set[int]) -> int:
    """A port for ``port: 0`` / ``servicePort: 0``: stable for the app (a hash of its id), unused in it."""
    lo, hi = SERVICE_PORT_RANGE
    h = 0
    for ch in f"{app_id}#{index}":
        h = (h * 131 + ord(ch)) % 1_000_003
    port = lo + h % (hi - lo)
    while port in taken:
        port = lo + (port - lo + 1) % (hi - lo)
    return port


def network_mode(app: Mapping[str, Any]) -> str:
    """``host`` or ``container`` (``container/bridge`` counts as container: each pod has its own address)."""
    nets = app.get("networks") or [{"mode": "host"}]
    return "host" if (nets[0].get("mode") or "host") == "host" else "container"


def normalize(raw: Any, *, base: str = "/", path_id: str | None = None) -> dict[str, Any]:
    """The app ``raw`` with Marathon's defaults, its id absolute; a 422 ``MarathonError`` if it is not valid.

    ``path_id`` is the id the URL names (a PUT to /v2/apps/web): it wins when the body has none."""
    p = Problems()
    if not isinstance(raw, dict):
        p.add("/", "error.expected.jsobject")
        p.raise_if_any()
    app: dict[str, Any] = {k: copy.deepcopy(v) for k, v in raw.items() if k not in READ_ONLY}
    for k in app:
        if k not in KNOWN:
            p.add(f"/{k}", "error.unknown.field (shoal's Marathon API does not know this field)")
    raw_id = app.get("id", path_id)
    if not isinstance(raw_id, str) or not raw_id:
        p.add("/id", "error.path.missing")
        p.raise_if_any()
        raise AssertionError("unreachable")
    app["id"] = ids.canonical(raw_id, base)
    why = ids.problem(app["id"])
    if why:
        p.add("/id", why)
    for k, v in APP_DEFAULTS.items():
        app.setdefault(k, copy.deepcopy(v))
    _num(p, "/instances", app["instances"], integer=True)
    _num(p, "/cpus", app["cpus"])
    _num(p, "/mem", app["mem"])
    _num(p, "/disk", app["disk"])
    _num(p, "/gpus", app["gpus"], integer=True)
    if isinstance(app["gpus"], (int, float)) and app["gpus"] > 0:
        p.add("/gpus", "shoal does not schedule GPUs: gpus must be 0")
    _num(p, "/backoffSeconds", app["backoffSeconds"])
    _num(p, "/backoffFactor", app["backoffFactor"], minimum=1)
    _num(p, "/maxLaunchDelaySeconds", app["maxLaunchDelaySeconds"])
    if app["killSelection"] not in KILL_SELECTIONS:
        p.add("/killSelection", f"error.expected.enum: one of {', '.join(sorted(KILL_SELECTIONS))}")
    _command(p, app)
    _container(p, app)
    _networks(p, app)
    _ports(p, app)
    _env(p, app)
    if not isinstance(app["labels"], dict) or not all(isinstance(v, str) for v in app["labels"].values()):
        p.add("/labels", "error.expected.jsobject of strings")
    _constraints(p, app)
    _health(p, app)
    _upgrade(p, app)
    deps = app["dependencies"]
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        p.add("/dependencies", "error.expected.jsarray of ids")
    else:
        app["dependencies"] = [ids.canonical(d, ids.parent(app["id"])) for d in deps]
    p.raise_if_any()
    return app


def _command(p: Problems, app: dict[str, Any]) -> None:
    cmd, args = app.get("cmd"), app.get("args")
    if cmd is not None and not isinstance(cmd, str):
        p.add("/cmd", "error.expected.jsstring")
    if args is not None and (not isinstance(args, list) or not all(isinstance(a, str) for a in args)):
        p.add("/args", "error.expected.jsarray of strings")
    if cmd and args:
        p.add("/", "AppDefinition must either contain a 'cmd' or a 'args', but not both")
    if not cmd and not args and not app.get("container"):
        p.add("/", "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.")


def _container(p: Problems, app: dict[str, Any]) -> None:
    c = app.get("container")
    if c is None:
        return
    if not isinstance(c, dict):
        p.add("/container", "error.expected.jsobject")
        return
    c.setdefault("type", "DOCKER")
    if c["type"] not in ("DOCKER", "MESOS"):
        p.add("/container/type", "error.expected.enum: one of DOCKER, MESOS")
    docker = c.get("docker")
    image = (docker or {}).get("image") if isinstance(docker, dict) else None
    if not isinstance(image, str) or not image:
        p.add("/container/docker/image", "error.path.missing (shoal runs every app from an image)")
    if isinstance(docker, dict):
        docker.setdefault("forcePullImage", False)
        docker.setdefault("privileged", False)
        docker.setdefault("parameters", [])
        # Marathon 1.4's docker.network / docker.portMappings, moved to where 1.5 keeps them
        legacy = docker.pop("network", None)
        if legacy and "networks" not in app:
            app["networks"] = [{"mode": "host"}] if legacy == "HOST" else [{"mode": "container/bridge"}]
        if "portMappings" in docker and "portMappings" not in c:
            c["portMappings"] = docker.pop("portMappings")
    c.setdefault("volumes", [])
    for i, v in enumerate(c["volumes"] if isinstance(c["volumes"], list) else []):
        at = f"/container/volumes({i})"
        if not isinstance(v, dict) or not isinstance(v.get("containerPath"), str) or not v["containerPath"]:
            p.add(f"{at}/containerPath", "error.path.missing")
            continue
        v.setdefault("mode", "RW")
        if v["mode"] not in ("RW", "RO"):
            p.add(f"{at}/mode", "error.expected.enum: one of RO, RW")
        if "external" in v:
            p.add(f"{at}/external", "shoal has no external volume providers: use a persistent local volume")
        elif "persistent" in v:
            size = (v.get("persistent") or {}).get("size")
            _num(p, f"{at}/persistent/size", size, minimum=1, integer=True)
            v["persistent"].setdefault("type", "root")
            if v["containerPath"].startswith("/"):
                p.add(f"{at}/containerPath", "value must not contain \"/\" at the start (a persistent volume "
                                              "lives in the task's sandbox)")
        elif not v.get("hostPath") and not v.get("secret"):
            p.add(at, "a volume needs one of hostPath, persistent or secret")
    if any(isinstance(v, dict) and "persistent" in v for v in c["volumes"] if isinstance(c["volumes"], list)):
        app.setdefault("residency", {"relaunchEscalationTimeoutSeconds": 3600, "taskLostBehavior": "WAIT_FOREVER"})
        app.setdefault("upgradeStrategy", {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0})


def _networks(p: Problems, app: dict[str, Any]) -> None:
    nets = app.setdefault("networks", [{"mode": "host"}])
    if not isinstance(nets, list) or not nets:
        p.add("/networks", "error.expected.jsarray (at least one network)")
        app["networks"] = [{"mode": "host"}]
        return
    modes = []
    for i, n in enumerate(nets):
        mode = n.get("mode", "container") if isinstance(n, dict) else None
        if mode not in ("host", "container", "container/bridge"):
            p.add(f"/networks({i})/mode", "error.expected.enum: one of host, container, container/bridge")
        else:
            n["mode"] = mode
        modes.append(mode)
    if "host" in modes and len(modes) > 1:
        p.add("/networks", "host networking may not be mixed with other networks")
    if "container/bridge" in modes and len(modes) > 1:
        p.add("/networks", "bridge networking may not be mixed with other networks")


def _ports(p: Problems, app: dict[str, Any]) -> None:
    mode = network_mode(app)
    c = app.get("container") if isinstance(app.get("container"), dict) else None
    mappings = (c or {}).get("portMappings")
    if mode == "host":
        if mappings:
            p.add("/container/portMappings", "portMappings are for container networking; "
                                             "host networking uses portDefinitions")
        defs = app["portDefinitions"]
        if not isinstance(defs, list):
            p.add("/portDefinitions", "error.expected.jsarray")
            return
        taken = {d.get("port") for d in defs if isinstance(d, dict) and d.get("port")}
        for i, d in enumerate(defs):
            if not isinstance(d, dict):
                p.add(f"/portDefinitions({i})", "error.expected.jsobject")
                continue
            d.setdefault("port", 0)
            d.setdefault("protocol", "tcp")
            _num(p, f"/portDefinitions({i})/port", d["port"], integer=True, maximum=65535)
            _protocol(p, f"/portDefinitions({i})/protocol", d["protocol"])
            if d["port"] == 0 and not isinstance(d["port"], bool):
                if app.get("requirePorts"):
                    p.add(f"/portDefinitions({i})/port", "requirePorts needs fixed ports (not 0)")
                d["port"] = assign_port(app["id"], i, taken)  # type: ignore[arg-type]
                taken.add(d["port"])
            d.setdefault("name", f"port{i}" if i else "default")
        if len({d.get("port") for d in defs}) != len(defs):
            p.add("/portDefinitions", "Ports must be unique.")
        return
    app["portDefinitions"] = []
    if c is None:
        if mode != "host":
            c = app["container"] = {"type": "MESOS", "volumes": []}
        else:
            return
    if mappings is None:
        c["portMappings"] = []
        return
    if not isinstance(mappings, list):
        p.add("/container/portMappings", "error.expected.jsarray")
        return
    taken = {m.get("servicePort") for m in mappings if isinstance(m, dict) and m.get("servicePort")}
    for i, m in enumerate(mappings):
        at = f"/container/portMappings({i})"
        if not isinstance(m, dict):
            p.add(at, "error.expected.jsobject")
            continue
        m.setdefault("containerPort", 0)
        m.setdefault("servicePort", 0)
        m.setdefault("protocol", "tcp")
        for f in ("containerPort", "servicePort", "hostPort"):
            if f in m:
                _num(p, f"{at}/{f}", m[f], integer=True, maximum=65535)
        _protocol(p, f"{at}/protocol", m["protocol"])
        if m["servicePort"] == 0:
            m["servicePort"] = assign_port(app["id"], i, taken)  # type: ignore[arg-type]
            taken.add(m["servicePort"])
        if m["containerPort"] == 0:
            m["containerPort"] = m.get("hostPort") or m["servicePort"]
        m.setdefault("name", f"port{i}" if i else "default")
    if len({m.get("servicePort") for m in mappings if isinstance(m, dict)}) != len(mappings):
        p.add("/container/portMappings", "Service ports must be unique.")


def _protocol(p: Problems, path: str, value: Any) -> None:
    if not isinstance(value, str) or not set(value.split(",")) <= {"tcp", "udp"}:
        p.add(path, "error.expected.enum: one of tcp, udp, udp,tcp")


def _env(p: Problems, app: dict[str, Any]) -> None:
    env, secrets = app["env"], app["secrets"]
    if not isinstance(secrets, dict):
        p.add("/secrets", "error.expected.jsobject")
        secrets = {}
    for k, s in secrets.items():
        if not isinstance(s, dict) or not isinstance(s.get("source"), str) or not s["source"]:
            p.add(f"/secrets/{k}/source", "error.path.missing")
    if not isinstance(env, dict):
        p.add("/env", "error.expected.jsobject")
        return
    for k, v in env.items():
        if isinstance(v, dict):
            ref = v.get("secret")
            if ref not in secrets:
                p.add(f"/env/{k}", f"references an undefined secret named '{ref}'")
        elif not isinstance(v, str):
            p.add(f"/env/{k}", "error.expected.jsstring or a secret reference")


def _constraints(p: Problems, app: dict[str, Any]) -> None:
    cs = app["constraints"]
    if not isinstance(cs, list):
        p.add("/constraints", "error.expected.jsarray")
        return
    for i, c in enumerate(cs):
        at = f"/constraints({i})"
        if not isinstance(c, list) or not 2 <= len(c) <= 3 or not all(isinstance(x, str) for x in c):
            p.add(at, "Each constraint must have either 2 or 3 fields")
            continue
        op, value = c[1], (c[2] if len(c) == 3 else None)
        if op not in OPERATORS:
            p.add(at, f"Constraint operator must be one of the following: [{', '.join(sorted(OPERATORS))}]")
        elif op in ("LIKE", "UNLIKE", "IS") and value is None:
            p.add(at, f"{op} requires a value")
        elif (op == "MAX_PER" and (value is None or not value.isdigit() or int(value) < 1)) or (
                op == "GROUP_BY" and value is not None and not value.isdigit()):
            p.add(at, "Value was not a valid integer")
        elif op == "UNIQUE" and value is not None:
            p.add(at, "UNIQUE does not accept a value")


def _health(p: Problems, app: dict[str, Any]) -> None:
    hcs, rcs = app["healthChecks"], app["readinessChecks"]
    if not isinstance(hcs, list) or not isinstance(rcs, list):
        p.add("/healthChecks", "error.expected.jsarray")
        return
    if len(hcs) > 1:
        p.add("/healthChecks", "shoal maps one health check per app (a container has one liveness probe)")
    for i, hc in enumerate(hcs):
        at = f"/healthChecks({i})"
        if not isinstance(hc, dict):
            p.add(at, "error.expected.jsobject")
            continue
        hc.setdefault("protocol", "HTTP")
        for k, v in HEALTH_DEFAULTS.items():
            hc.setdefault(k, v)
            _num(p, f"{at}/{k}", hc[k], integer=True)
        if hc["protocol"] not in HEALTH_PROTOCOLS:
            p.add(f"{at}/protocol", f"error.expected.enum: one of {', '.join(sorted(HEALTH_PROTOCOLS))}")
        elif hc["protocol"] == "COMMAND":
            if not isinstance((hc.get("command") or {}).get("value"), str):
                p.add(f"{at}/command", "A command health check needs a command value")
        else:
            if "HTTP" in hc["protocol"]:
                hc.setdefault("path", "/")
                hc.setdefault("ignoreHttp1xx", False)
            if "port" not in hc:
                hc.setdefault("portIndex", 0)
                if hc["portIndex"] >= len(_ports_of(app)):
                    p.add(at, "Health check port indices must address an element of the ports array "
                              "or container port mappings.")
    names = {str(x.get("name")) for x in _ports_of(app)}
    if len(rcs) > 1:
        p.add("/readinessChecks", "Only one readiness check is supported")
    for i, rc in enumerate(rcs):
        if not isinstance(rc, dict):
            p.add(f"/readinessChecks({i})", "error.expected.jsobject")
            continue
        for k, v in READINESS_DEFAULTS.items():
            rc.setdefault(k, copy.deepcopy(v))
        if rc["protocol"] not in ("HTTP", "HTTPS"):
            p.add(f"/readinessChecks({i})/protocol", "error.expected.enum: one of HTTP, HTTPS")
        if rc["portName"] not in names:
            p.add(f"/readinessChecks({i})/portName", "The portName must be one of the app's port names")


def _ports_of(app: Mapping[str, Any]) -> list[dict[str, Any]]:
    if network_mode(app) == "host":
        return [d for d in app.get("portDefinitions") or [] if isinstance(d, dict)]
    c = app.get("container") if isinstance(app.get("container"), dict) else {}
    return [m for m in (c or {}).get("portMappings") or [] if isinstance(m, dict)]


def _upgrade(p: Problems, app: dict[str, Any]) -> None:
    us = app.setdefault("upgradeStrategy", {})
    if not isinstance(us, dict):
        p.add("/upgradeStrategy", "error.expected.jsobject")
        return
    us.setdefault("minimumHealthCapacity", 1.0)
    us.setdefault("maximumOverCapacity", 1.0)
    for k in ("minimumHealthCapacity", "maximumOverCapacity"):
        _num(p, f"/upgradeStrategy/{k}", us[k], maximum=1)
    if "residency" in app and isinstance(us.get("maximumOverCapacity"), (int, float)) and \
            us["maximumOverCapacity"] != 0:
        p.add("/upgradeStrategy/maximumOverCapacity", f"got {us['maximumOverCapacity']}, expected 0 (a resident app "
                                                     "cannot run more tasks than volumes)")


def ports_of(app: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The app's ports: portDefinitions in host mode, container.portMappings otherwise."""
    return _ports_of(app)
