"""Task definitions: validated and completed as ECS does, and turned into a pod template.

``normalise(request)`` checks a RegisterTaskDefinition request with ECS's
rules and messages and fills ECS's defaults (what DescribeTaskDefinition
returns: ``essential: true``, ``cpu: 0``, empty lists, ``protocol: tcp``, the
host ports networkMode implies); the result is what is stored. ``pod_spec``
turns a stored task definition into a pod spec:

==========================  ==================================================
``image``, ``workingDirectory``  ``image``, ``workingDir``
``entryPoint`` / ``command``     ``command`` / ``args`` (Docker's ENTRYPOINT / CMD)
``cpu`` (units, 1024 a vCPU)     ``requests.cpu`` in millicores (a share, as ECS's)
``memory`` / ``memoryReservation``  ``limits.memory`` / ``requests.memory`` (MiB)
task ``cpu`` / ``memory``        split evenly as requests over the containers that
                                 set none, each limited to the task's size
``portMappings``                 ports; ``hostPort`` with networkMode host (the
                                 container port) or bridge (0 or absent: dynamic,
                                 no host port); awsvpc: the pod's own address
``networkMode: host``            ``hostNetwork``; ``none`` is refused
``links`` (bridge)               host aliases to 127.0.0.1 (a pod's containers
                                 share one network namespace)
``environment`` / ``secrets``    env / ``secretKeyRef`` (``valueFrom``: a name, or
                                 a Secrets Manager / SSM ARN whose last part names
                                 the Secret; the key is the ARN's JSON key, else
                                 ``value``)
``healthCheck``                  liveness and readiness exec probes (``CMD-SHELL``
                                 through ``/bin/sh -c``)
``mountPoints`` + ``volumes``    volumeMounts; ``host.sourcePath`` a hostPath, a
                                 ``dockerVolumeConfig`` with scope ``shared`` a
                                 claim of the volume's name, else an emptyDir
``volumesFrom``                  the source container's mounts
``dependsOn``                    ``COMPLETE``/``SUCCESS`` targets become init
                                 containers in dependency order (an init container
                                 must exit 0, so COMPLETE is as strict as SUCCESS);
                                 ``START``/``HEALTHY`` order the app containers,
                                 dependencies first, and become the pod annotation
                                 ``shoal.io/start-after``: the node agent starts a
                                 dependent once its dependency has started or is
                                 ready by its readiness probe (the healthCheck),
                                 and never when the dependency exited before
``essential``                    annotation read by ``shoal.compat.ecs.essential``:
                                 a standalone task whose essential container exits
                                 is stopped; a service's pods restart it in place
``ulimits``                      the pod annotation ``shoal.io/ulimits`` (by
                                 Kubernetes container name), which the docker
                                 runtime applies as the container's ulimits
==========================  ==================================================
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from shoal.api import podhints
from shoal.formats.ecs import names
from shoal.formats.ecs.errors import client

Obj = dict[str, Any]

NETWORK_MODES = ("bridge", "host", "awsvpc", "none")
CONDITIONS = ("START", "COMPLETE", "SUCCESS", "HEALTHY")
_TOP_LEVEL = frozenset({"family", "taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions",
                        "volumes", "placementConstraints", "requiresCompatibilities", "cpu", "memory", "tags",
                        "pidMode", "ipcMode", "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage",
                        "runtimePlatform", "enableFaultInjection"})
_CONTAINER_LIST_DEFAULTS = ("portMappings", "environment", "mountPoints", "volumesFrom", "systemControls")
_VCPU = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*vcpu\s*$", re.I)
_GB = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*gb\s*$", re.I)


# --- validation and defaults ------------------------------------------------------------------------
def task_cpu_units(value: object) -> int | None:
    """Task-level cpu: ``"256"`` (units) or ``"0.25 vCPU"``."""
    if value is None or value == "":
        return None
    text = str(value)
    m = _VCPU.match(text)
    if m:
        return round(float(m.group(1)) * 1024)
    if text.strip().isdigit():
        return int(text)
    raise client(f"Invalid 'cpu' setting for task. Unable to parse '{text}'.")


def task_memory_mib(value: object) -> int | None:
    """Task-level memory: ``"512"`` (MiB) or ``"1 GB"``."""
    if value is None or value == "":
        return None
    text = str(value)
    m = _GB.match(text)
    if m:
        return round(float(m.group(1)) * 1024)
    if text.strip().isdigit():
        return int(text)
    raise client(f"Invalid 'memory' setting for task. Unable to parse '{text}'.")


def _int(c: Obj, key: str, name: str) -> int | None:
    v = c.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise client(f"Invalid '{key}' setting for container '{name}'.")
    return v


def _check_health(hc: Obj, name: str) -> Obj:
    cmd = hc.get("command")
    if not isinstance(cmd, list) or not cmd or not all(isinstance(x, str) for x in cmd) or \
            cmd[0] not in ("CMD", "CMD-SHELL") or len(cmd) < 2:
        raise client(f"Invalid 'healthCheck' setting for container '{name}'. The command must start with "
                     "'CMD' or 'CMD-SHELL' followed by the command to run.")
    out = {"command": cmd, "interval": hc.get("interval", 30), "timeout": hc.get("timeout", 5),
           "retries": hc.get("retries", 3)}
    if hc.get("startPeriod") is not None:
        out["startPeriod"] = hc["startPeriod"]
    for key, lo, hi in (("interval", 5, 300), ("timeout", 2, 60), ("retries", 1, 10), ("startPeriod", 0, 300)):
        v = out.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi):
            raise client(f"Invalid 'healthCheck.{key}' setting for container '{name}'. "
                         f"It must be between {lo} and {hi}.")
    return out


def _normalise_container(c: Any, mode: str, task_memory: int | None) -> Obj:
    if not isinstance(c, dict):
        raise client("Container definition must be an object.")
    name = c.get("name")
    if not isinstance(name, str) or not name:
        raise client("Container.name should not be null or empty.")
    names.check_name(name, "Container name")
    if not isinstance(c.get("image"), str) or not c["image"].strip():
        raise client("Container.image should not be null or empty.")
    out = copy.deepcopy(c)
    out.setdefault("cpu", 0)
    _int(out, "cpu", name)
    memory, reservation = _int(out, "memory", name), _int(out, "memoryReservation", name)
    if memory is None and reservation is None and task_memory is None:
        raise client(f"Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' "
                     "must be specified.")
    for key, v in (("memory", memory), ("memoryReservation", reservation)):
        if v is not None and v < 6:
            raise client(f"Invalid '{key}' setting for container '{name}'. The minimum is 6 MiB.")
    if memory is not None and reservation is not None and reservation > memory:
        raise client(f"Invalid 'memoryReservation' setting for container '{name}'. memoryReservation must be "
                     "less than or equal to memory.")
    out.setdefault("essential", True)
    if not isinstance(out["essential"], bool):
        raise client(f"Invalid 'essential' setting for container '{name}'.")
    for key in _CONTAINER_LIST_DEFAULTS:
        out.setdefault(key, [])
        if not isinstance(out[key], list):
            raise client(f"Invalid '{key}' setting for container '{name}': expected a list.")
    ports = []
    for p in out["portMappings"]:
        if not isinstance(p, dict) or not isinstance(p.get("containerPort"), int) or \
                not 0 < p["containerPort"] < 65536:
            raise client(f"Invalid 'portMappings' setting for container '{name}': containerPort must be a port "
                         "number.")
        p = dict(p)
        proto = p.setdefault("protocol", "tcp")
        if proto not in ("tcp", "udp"):
            raise client(f"Invalid protocol '{proto}' for container '{name}'. Valid values are tcp and udp.")
        if mode in ("awsvpc", "host"):
            if p.get("hostPort") not in (None, p["containerPort"]):
                raise client(f"When networkMode={mode}, the host ports and container ports in port mappings "
                             "must match.")
            p["hostPort"] = p["containerPort"]
        elif p.get("hostPort") is not None and (not isinstance(p["hostPort"], int) or not 0 <= p["hostPort"] < 65536):
            raise client(f"Invalid 'hostPort' setting for container '{name}'.")
        ports.append(p)
    out["portMappings"] = ports
    for e in out["environment"]:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not e["name"]:
            raise client(f"Invalid 'environment' setting for container '{name}': each entry needs a name.")
    for s in out.get("secrets") or []:
        if not isinstance(s, dict) or not s.get("name") or not isinstance(s.get("valueFrom"), str) or \
                not s["valueFrom"]:
            raise client(f"Invalid 'secrets' setting for container '{name}': each entry needs a name and valueFrom.")
    if out.get("environmentFiles"):
        raise client(f"Invalid 'environmentFiles' setting for container '{name}': shoal reads no files from S3; "
                     "use 'environment' or 'secrets'.")
    for key in ("command", "entryPoint", "links"):
        v = out.get(key)
        if v is not None and (not isinstance(v, list) or not all(isinstance(x, str) for x in v)):
            raise client(f"Invalid '{key}' setting for container '{name}': expected a list of strings.")
    if out.get("links") and mode != "bridge":
        raise client(f"Links are not supported when networkMode={mode}.")
    if out.get("healthCheck") is not None:
        if not isinstance(out["healthCheck"], dict):
            raise client(f"Invalid 'healthCheck' setting for container '{name}'.")
        out["healthCheck"] = _check_health(out["healthCheck"], name)
    for u in out.get("ulimits") or []:
        if not isinstance(u, dict) or u.get("name") not in podhints.ULIMIT_NAMES or \
                not _limit(u.get("softLimit")) or not _limit(u.get("hardLimit")) or \
                (u["hardLimit"] != -1 and (u["softLimit"] == -1 or u["softLimit"] > u["hardLimit"])):
            raise client(f"Invalid 'ulimits' setting for container '{name}'.")
    return out


def _limit(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= -1


def _check_dependencies(containers: list[Obj]) -> None:
    by_name = {c["name"]: c for c in containers}
    for c in containers:
        for d in c.get("dependsOn") or []:
            target = d.get("containerName") if isinstance(d, dict) else None
            cond = d.get("condition") if isinstance(d, dict) else None
            if target not in by_name:
                raise client(f"Container '{c['name']}' depends on container '{target}', which is not defined "
                             "in the task definition.")
            if cond not in CONDITIONS:
                raise client(f"Invalid dependency condition '{cond}' for container '{c['name']}'. Valid values are "
                             "START, COMPLETE, SUCCESS and HEALTHY.")
            if cond == "HEALTHY" and not by_name[target].get("healthCheck"):
                raise client(f"Dependency condition HEALTHY requires container '{target}' to have a healthCheck.")
            if cond in ("COMPLETE", "SUCCESS") and by_name[target]["essential"]:
                raise client(f"Container '{target}' is essential and cannot be a dependency with condition "
                             f"{cond}: an essential container's exit stops the task.")
    order(containers)  # refuses a cycle


def order(containers: list[Obj]) -> list[Obj]:
    """The containers, each after the ones it depends on (stable otherwise); a cycle is refused."""
    by_name = {c["name"]: c for c in containers}
    done: list[str] = []
    visiting: set[str] = set()

    def visit(n: str) -> None:
        if n in done:
            return
        if n in visiting:
            raise client(f"Container dependency cycle detected involving container '{n}'.")
        visiting.add(n)
        for d in by_name[n].get("dependsOn") or []:
            visit(d["containerName"])
        visiting.discard(n)
        done.append(n)

    for c in containers:
        visit(c["name"])
    return [by_name[n] for n in done]


def _normalise_volumes(volumes: Any) -> list[Obj]:
    if volumes is None:
        return []
    if not isinstance(volumes, list):
        raise client("Invalid 'volumes' setting: expected a list.")
    out, seen = [], set()
    for v in volumes:
        if not isinstance(v, dict) or not isinstance(v.get("name"), str) or not v["name"]:
            raise client("Volume name should not be null or empty.")
        if v["name"] in seen:
            raise client(f"Duplicate volume name: {v['name']}")
        seen.add(v["name"])
        if v.get("efsVolumeConfiguration") or v.get("fsxWindowsFileServerVolumeConfiguration"):
            raise client(f"Volume '{v['name']}': EFS and FSx volumes are not supported by shoal; use a host path "
                         "or a dockerVolumeConfig.")
        out.append(copy.deepcopy(v))
    return out


def normalise(request: Any) -> Obj:
    """A RegisterTaskDefinition request, checked, with ECS's defaults (no revision, ARN or status yet)."""
    if not isinstance(request, dict):
        raise client("Task definition must be an object.")
    unknown = sorted(set(request) - _TOP_LEVEL)
    if unknown:
        raise client(f"Unknown parameter in input: \"{unknown[0]}\".")
    family = request.get("family")
    if not isinstance(family, str) or not family:
        raise client("Family should not be null or empty.")
    names.check_name(family, "Family")
    mode = request.get("networkMode") or "bridge"
    if mode not in NETWORK_MODES:
        raise client(f"Invalid networkMode '{mode}'. Valid values are bridge, host, awsvpc and none.")
    if mode == "none":
        raise client("networkMode none is not supported by shoal: a task needs a network namespace; "
                     "use awsvpc or bridge.")
    cpu, memory = task_cpu_units(request.get("cpu")), task_memory_mib(request.get("memory"))
    defs = request.get("containerDefinitions")
    if not isinstance(defs, list) or not defs:
        raise client("Container list cannot be empty.")
    containers = [_normalise_container(c, mode, memory) for c in defs]
    seen: set[str] = set()
    for c in containers:
        folded = names.fold(c["name"])
        if folded in seen:
            raise client(f"Duplicate container name: {c['name']}")
        seen.add(folded)
    if not any(c["essential"] for c in containers):
        raise client("Task definition must have at least one essential container.")
    _check_dependencies(containers)
    volumes = _normalise_volumes(request.get("volumes"))
    vnames = {v["name"] for v in volumes}
    for c in containers:
        for m in c["mountPoints"]:
            if not isinstance(m, dict) or m.get("sourceVolume") not in vnames or \
                    not isinstance(m.get("containerPath"), str) or not m["containerPath"].startswith("/"):
                raise client(f"Invalid 'mountPoints' setting for container '{c['name']}'. sourceVolume "
                             f"'{m.get('sourceVolume') if isinstance(m, dict) else m}' is not a volume of the task "
                             "definition, or containerPath is not an absolute path.")
        for vf in c["volumesFrom"]:
            if not isinstance(vf, dict) or vf.get("sourceContainer") not in {x["name"] for x in containers}:
                raise client(f"Invalid 'volumesFrom' setting for container '{c['name']}': unknown sourceContainer.")
    out: Obj = {"family": family, "containerDefinitions": containers, "networkMode": mode, "volumes": volumes,
                "placementConstraints": list(request.get("placementConstraints") or []),
                "compatibilities": ["EC2"], "requiresAttributes": []}
    for key in ("taskRoleArn", "executionRoleArn", "requiresCompatibilities", "pidMode", "ipcMode"):
        if request.get(key) is not None:
            out[key] = request[key]
    if cpu is not None:
        out["cpu"] = str(cpu)
    if memory is not None:
        out["memory"] = str(memory)
    return out


# --- onto a pod -------------------------------------------------------------------------------------
def millicores(units: int) -> str:
    return f"{max(1, round(units * 1000 / 1024))}m"


def _secret_ref(value_from: str) -> tuple[str, str]:
    """(Secret name, key) of a ``valueFrom``: a name, or an ARN (``...:secret:NAME[:json-key::]``,
    ``...:parameter/NAME``)."""
    key = "value"
    name = value_from
    if value_from.startswith("arn:"):
        parts = value_from.split(":")
        if len(parts) >= 7 and parts[2] == "secretsmanager" and parts[5] == "secret":
            name = parts[6]
            if len(parts) >= 8 and parts[7]:
                key = parts[7]
        else:
            name = parts[-1].rsplit("/", 1)[-1]
    else:
        name = value_from.rsplit("/", 1)[-1]
    return names.fold(name), key


def _probe(hc: Obj) -> Obj:
    cmd = hc["command"]
    exec_ = ["/bin/sh", "-c", " ".join(cmd[1:])] if cmd[0] == "CMD-SHELL" else list(cmd[1:])
    return {"exec": {"command": exec_}, "periodSeconds": hc.get("interval", 30),
            "timeoutSeconds": hc.get("timeout", 5), "failureThreshold": hc.get("retries", 3),
            "initialDelaySeconds": hc.get("startPeriod") or 0}


def _volume(v: Obj) -> Obj:
    name = names.fold(v["name"])
    host = v.get("host") or {}
    if host.get("sourcePath"):
        return {"name": name, "hostPath": {"path": host["sourcePath"]}}
    dvc = v.get("dockerVolumeConfig") or {}
    if dvc.get("scope") == "shared":
        return {"name": name, "persistentVolumeClaim": {"claimName": name}}
    return {"name": name, "emptyDir": {}}


def shared_claims(td: Obj) -> list[str]:
    """The claims a task definition's shared Docker volumes need (created by the caller when missing)."""
    return [names.fold(v["name"]) for v in td.get("volumes") or []
            if (v.get("dockerVolumeConfig") or {}).get("scope") == "shared"]


def init_names(td: Obj) -> set[str]:
    """Containers some other container waits on to COMPLETE or SUCCEED: init containers."""
    return {d["containerName"] for c in td["containerDefinitions"] for d in c.get("dependsOn") or []
            if d["condition"] in ("COMPLETE", "SUCCESS")}


def start_order(td: Obj, inits: set[str]) -> dict[str, tuple[podhints.Dependency, ...]]:
    """START/HEALTHY dependencies between app containers, by Kubernetes name, for ``shoal.io/start-after``.
    A dependency on an init container needs no wait: init containers finish before any app container starts."""
    out: dict[str, tuple[podhints.Dependency, ...]] = {}
    for c in td["containerDefinitions"]:
        if c["name"] in inits:
            continue
        deps = tuple(podhints.Dependency(names.fold(d["containerName"]), d["condition"])
                     for d in c.get("dependsOn") or []
                     if d["condition"] in podhints.START_CONDITIONS and d["containerName"] not in inits)
        if deps:
            out[names.fold(c["name"])] = deps
    return out


def _resources(c: Obj, *, cpu_share: int | None, mem_share: int | None, task_cpu: int | None,
               task_mem: int | None) -> Obj:
    req: dict[str, str] = {}
    lim: dict[str, str] = {}
    if c.get("cpu"):
        req["cpu"] = millicores(c["cpu"])
    elif cpu_share:
        req["cpu"] = millicores(cpu_share)
        if task_cpu:
            lim["cpu"] = millicores(task_cpu)
    memory, reservation = c.get("memory"), c.get("memoryReservation")
    if memory:
        lim["memory"] = f"{memory}Mi"
        req["memory"] = f"{reservation or memory}Mi"
    elif reservation:
        req["memory"] = f"{reservation}Mi"
        if task_mem:
            lim["memory"] = f"{task_mem}Mi"
    elif mem_share:
        req["memory"] = f"{mem_share}Mi"
        if task_mem:
            lim["memory"] = f"{task_mem}Mi"
    out: Obj = {}
    if req:
        out["requests"] = req
    if lim:
        out["limits"] = lim
    return out


def _container(c: Obj, td: Obj, resources: Obj, mounts: dict[str, list[Obj]], override: Obj) -> Obj:
    k: Obj = {"name": names.fold(c["name"]), "image": c["image"].strip()}
    if c.get("entryPoint"):
        k["command"] = list(c["entryPoint"])
    command = override.get("command") if override.get("command") is not None else c.get("command")
    if command:
        k["args"] = list(command)
    if c.get("workingDirectory"):
        k["workingDir"] = c["workingDirectory"]
    env = {e["name"]: e.get("value", "") for e in c.get("environment") or []}
    env.update({e["name"]: e.get("value", "") for e in override.get("environment") or []})
    envs: list[Obj] = [{"name": n, "value": str(v)} for n, v in env.items()]
    for s in c.get("secrets") or []:
        sname, key = _secret_ref(s["valueFrom"])
        envs.append({"name": s["name"], "valueFrom": {"secretKeyRef": {"name": sname, "key": key}}})
    if envs:
        k["env"] = envs
    ports = []
    for p in c.get("portMappings") or []:
        port: Obj = {"containerPort": p["containerPort"], "protocol": p.get("protocol", "tcp").upper()}
        if p.get("name"):
            port["name"] = names.fold(p["name"])[:15].strip("-")
        if td["networkMode"] == "bridge" and p.get("hostPort"):
            port["hostPort"] = p["hostPort"]
        ports.append(port)
    if ports:
        k["ports"] = ports
    if resources:
        k["resources"] = resources
    if c.get("healthCheck"):
        k["livenessProbe"] = _probe(c["healthCheck"])
        k["readinessProbe"] = _probe(c["healthCheck"])
    vm = mounts.get(c["name"]) or []
    if vm:
        k["volumeMounts"] = vm
    if c.get("privileged") or c.get("readonlyRootFilesystem") or c.get("user"):
        sc: Obj = {}
        if c.get("privileged"):
            sc["privileged"] = True
        if c.get("readonlyRootFilesystem"):
            sc["readOnlyRootFilesystem"] = True
        user = str(c.get("user") or "")
        if user.split(":")[0].isdigit():
            sc["runAsUser"] = int(user.split(":")[0])
        k["securityContext"] = sc
    return k


def _mounts(td: Obj) -> dict[str, list[Obj]]:
    own = {c["name"]: [{"name": names.fold(m["sourceVolume"]), "mountPath": m["containerPath"],
                        **({"readOnly": True} if m.get("readOnly") else {})} for m in c.get("mountPoints") or []]
           for c in td["containerDefinitions"]}
    out = {}
    for c in td["containerDefinitions"]:
        ms = list(own[c["name"]])
        for vf in c.get("volumesFrom") or []:
            for m in own.get(vf["sourceContainer"]) or []:
                if all(x["mountPath"] != m["mountPath"] for x in ms):
                    ms.append({**m, "readOnly": True} if vf.get("readOnly") else dict(m))
        out[c["name"]] = ms
    return out


def pod_spec(td: Obj, *, restart_policy: str = "Always", overrides: Obj | None = None) -> tuple[Obj, Obj]:
    """(pod spec, pod annotations) for a stored task definition; ``overrides`` is RunTask's."""
    ov = overrides or {}
    by_override = {o.get("name"): o for o in ov.get("containerOverrides") or [] if isinstance(o, dict)}
    containers = order(td["containerDefinitions"])
    task_cpu = task_cpu_units(ov.get("cpu") or td.get("cpu"))
    task_mem = task_memory_mib(ov.get("memory") or td.get("memory"))
    no_cpu = [c for c in containers if not c.get("cpu")]
    no_mem = [c for c in containers if not c.get("memory") and not c.get("memoryReservation")]
    cpu_share = task_cpu // len(no_cpu) if task_cpu and no_cpu else None
    mem_share = task_mem // len(no_mem) if task_mem and no_mem else None
    inits = init_names(td)
    mounts = _mounts(td)
    spec: Obj = {"restartPolicy": restart_policy, "containers": [], "enableServiceLinks": False}
    renamed: dict[str, str] = {}
    for c in containers:
        o = by_override.get(c["name"]) or {}
        cc = {**c, **{k: o[k] for k in ("cpu", "memory", "memoryReservation") if o.get(k) is not None}}
        res = _resources(cc, cpu_share=cpu_share, mem_share=mem_share, task_cpu=task_cpu, task_mem=task_mem)
        k = _container(cc, td, res, mounts, o)
        if k["name"] != c["name"]:
            renamed[k["name"]] = c["name"]
        spec.setdefault("initContainers" if c["name"] in inits else "containers", []).append(k)
    volumes = [_volume(v) for v in td.get("volumes") or []]
    if volumes:
        spec["volumes"] = volumes
    if td["networkMode"] == "host":
        spec["hostNetwork"] = True
    aliases = sorted({alias for c in containers for link in c.get("links") or []
                      for alias in (link.split(":", 1)[-1], link.split(":", 1)[0])})
    if aliases:
        spec["hostAliases"] = [{"ip": "127.0.0.1", "hostnames": aliases}]
    if td.get("pidMode") == "task":
        spec["shareProcessNamespace"] = True
    ann: dict[str, str] = {names.TASKDEF_ANNOTATION: f"{td['family']}:{td.get('revision', 0)}",
                           names.ESSENTIAL_ANNOTATION: ",".join(names.fold(c["name"]) for c in containers
                                                                if c["essential"])}
    if renamed:
        ann[names.CONTAINERS_ANNOTATION] = json.dumps(renamed, sort_keys=True)
    start_after = start_order(td, inits)
    if start_after:
        ann[podhints.START_AFTER] = podhints.format_start_after(start_after)
    ulimits = {c["name"]: c["ulimits"] for c in containers if c.get("ulimits")}
    if ulimits:
        ann[names.ULIMITS_ANNOTATION] = json.dumps(ulimits, sort_keys=True)
        ann[podhints.ULIMITS] = podhints.format_ulimits({  # what the node agent applies
            names.fold(c["name"]): [podhints.Ulimit(u["name"], u["softLimit"], u["hardLimit"]) for u in c["ulimits"]]
            for c in containers if c.get("ulimits")})
    return spec, ann


def describe(td: Obj, *, revision: int, status: str, arn: str, registered_at: float | None,
             deregistered_at: float | None = None) -> Obj:
    """The task definition as DescribeTaskDefinition answers it."""
    out = {"taskDefinitionArn": arn, **copy.deepcopy(td), "revision": revision, "status": status}
    if registered_at is not None:
        out["registeredAt"] = registered_at
    if deregistered_at is not None:
        out["deregisteredAt"] = deregistered_at
    return out
