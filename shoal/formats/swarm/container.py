"""A Swarm ``TaskTemplate`` onto a pod spec, and back.

The container: image, command (the entrypoint) and args, env, dir, user
(numeric ``uid[:gid]``; a user *name* has no Kubernetes form and is kept
aside), hostname, read-only root, stop grace period
(``terminationGracePeriodSeconds``, left at the API's default when unset),
resources (``Limits`` -> limits, ``Reservations`` -> requests; Pids kept
aside), healthcheck (-> a readiness probe, so a task counts as running once
healthy as Swarm's do, and a liveness probe with the start period as its
initial delay, so an unhealthy task is replaced; Docker's defaults — 30s
interval, 30s timeout, 3 retries — fill what is unset and read back unset),
mounts (bind -> hostPath, named volume -> a claim of that name, anonymous
volume and tmpfs -> emptyDir) and secret/config files (one volume each,
mounted at its target with ``subPath`` so ``/run/secrets/NAME`` or ``/NAME``
do not hide the rest of the directory).

``SecretRef`` tells the translation where a secret or config the caller has
resolved lives: its Kubernetes name and the key holding its data.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shoal.api.quantity import format_quantity, parse_quantity
from shoal.formats.swarm.names import fold
from shoal.formats.swarm.wire import SECOND, SpecError, duration, integer, obj, seconds_ceil, strs

DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_RETRIES = 3
K8S_DEFAULT_GRACE = 30
FORCE_ANNOTATION = "swarm.shoal.io/force-update"
_USER = re.compile(r"^(\d+)(?::(\d+))?$")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A secret or config as the translation needs it."""

    id: str  # the Swarm id
    name: str  # the Swarm name
    k8s_name: str
    key: str  # the data key of the Secret / ConfigMap the file is


def _probe(hc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(readiness, liveness) probes for a Healthcheck; None for ``NONE`` or no test."""
    test = strs(hc.get("Test"), "Healthcheck.Test")
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD" and len(test) > 1:
        command = test[1:]
    elif test[0] == "CMD-SHELL" and len(test) == 2:
        command = ["/bin/sh", "-c", test[1]]
    else:
        raise SpecError(f"invalid Healthcheck.Test {test!r}: expected [\"CMD\", ...], [\"CMD-SHELL\", cmd] or [\"NONE\"]")
    interval = duration(hc.get("Interval"), "Healthcheck.Interval") or DEFAULT_INTERVAL
    timeout = duration(hc.get("Timeout"), "Healthcheck.Timeout") or DEFAULT_TIMEOUT
    retries = integer(hc.get("Retries"), "Healthcheck.Retries") or DEFAULT_RETRIES
    start = duration(hc.get("StartPeriod"), "Healthcheck.StartPeriod")
    base = {"exec": {"command": command}, "periodSeconds": seconds_ceil(interval),
            "timeoutSeconds": seconds_ceil(timeout), "failureThreshold": retries}
    ready = {**base, "failureThreshold": 1, "successThreshold": 1}
    live = {**base, **({"initialDelaySeconds": seconds_ceil(start)} if start else {})}
    return ready, live


def _healthcheck_of(c: Mapping[str, Any]) -> dict[str, Any] | None:
    live = c.get("livenessProbe") or {}
    command = list((live.get("exec") or {}).get("command") or [])
    if not command:
        return None
    test = ["CMD-SHELL", command[2]] if len(command) == 3 and command[:2] == ["/bin/sh", "-c"] else ["CMD", *command]
    hc: dict[str, Any] = {"Test": test}
    period, timeout = int(live.get("periodSeconds") or 30) * SECOND, int(live.get("timeoutSeconds") or 30) * SECOND
    if period != DEFAULT_INTERVAL:
        hc["Interval"] = period
    if timeout != DEFAULT_TIMEOUT:
        hc["Timeout"] = timeout
    if int(live.get("failureThreshold") or 3) != DEFAULT_RETRIES:
        hc["Retries"] = int(live["failureThreshold"])
    if live.get("initialDelaySeconds"):
        hc["StartPeriod"] = int(live["initialDelaySeconds"]) * SECOND
    return hc


def _quantities(r: Mapping[str, Any], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    nano = integer(r.get("NanoCPUs"), f"{what}.NanoCPUs")
    mem = integer(r.get("MemoryBytes"), f"{what}.MemoryBytes")
    if nano:
        out["cpu"] = f"{-(-nano // 1_000_000)}m"
    if mem:
        out["memory"] = format_quantity(mem, fmt="BinarySI")
    return out


def _from_quantities(q: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    if q.get("cpu") is not None:
        out["NanoCPUs"] = int(parse_quantity(q["cpu"]) * 1_000_000_000)
    if q.get("memory") is not None:
        out["MemoryBytes"] = int(parse_quantity(q["memory"]))
    return out


def _mounts(mounts: list[Any], volumes: list[dict[str, Any]], vmounts: list[dict[str, Any]]) -> list[str]:
    """Volumes and mounts for ``Mounts``; returns the claim names the service needs."""
    claims: list[str] = []
    for i, m in enumerate(mounts):
        m = obj(m, f"Mounts[{i}]")
        typ, source, target = str(m.get("Type") or "volume"), str(m.get("Source") or ""), str(m.get("Target") or "")
        if not target.startswith("/"):
            raise SpecError(f"invalid mount target {target!r}: it must be an absolute path")
        vname = f"mount-{i}"
        if typ == "bind":
            if not source.startswith("/"):
                raise SpecError(f"invalid bind mount source {source!r}: it must be an absolute path")
            volumes.append({"name": vname, "hostPath": {"path": source}})
        elif typ == "volume" and source:
            claim = fold(source)
            claims.append(claim)
            volumes.append({"name": vname, "persistentVolumeClaim": {"claimName": claim}})
        elif typ in ("volume", "tmpfs"):
            ed: dict[str, Any] = {}
            if typ == "tmpfs":
                ed["medium"] = "Memory"
                size = integer((m.get("TmpfsOptions") or {}).get("SizeBytes"), "TmpfsOptions.SizeBytes")
                if size:
                    ed["sizeLimit"] = format_quantity(size, fmt="BinarySI")
            volumes.append({"name": vname, "emptyDir": ed})
        else:
            raise SpecError(f"invalid mount type {typ!r}: bind, volume or tmpfs")
        vm: dict[str, Any] = {"name": vname, "mountPath": target}
        if m.get("ReadOnly"):
            vm["readOnly"] = True
        vmounts.append(vm)
    return claims


def _mounts_of(pod: Mapping[str, Any], c: Mapping[str, Any]) -> list[dict[str, Any]]:
    vols = {v.get("name"): v for v in pod.get("volumes") or []}
    out: list[dict[str, Any]] = []
    for vm in c.get("volumeMounts") or []:
        v = vols.get(vm.get("name")) or {}
        m: dict[str, Any] = {"Target": vm.get("mountPath")}
        if "hostPath" in v:
            m = {"Type": "bind", "Source": v["hostPath"].get("path"), **m}
        elif "persistentVolumeClaim" in v:
            m = {"Type": "volume", "Source": v["persistentVolumeClaim"].get("claimName"), **m}
        elif "emptyDir" in v:
            ed = v["emptyDir"] or {}
            if ed.get("medium") == "Memory":
                m = {"Type": "tmpfs", **m}
                if ed.get("sizeLimit"):
                    m["TmpfsOptions"] = {"SizeBytes": int(parse_quantity(ed["sizeLimit"]))}
            else:
                m = {"Type": "volume", **m}
        else:
            continue  # a secret or config file, or a volume Swarm has no word for
        if vm.get("readOnly"):
            m["ReadOnly"] = True
        out.append(m)
    return out


def _files(refs: list[Any], kind: str, resolved: Mapping[str, SecretRef], default_dir: str,
           volumes: list[dict[str, Any]], vmounts: list[dict[str, Any]]) -> None:
    """Volumes and mounts for secret (``kind`` "secret") or config references."""
    id_key, name_key = ("SecretID", "SecretName") if kind == "secret" else ("ConfigID", "ConfigName")
    for i, r in enumerate(refs):
        r = obj(r, f"{kind} reference")
        name = str(r.get(name_key) or r.get(id_key) or "")
        ref = resolved.get(name) or resolved.get(str(r.get(id_key) or ""))
        if ref is None:
            raise SpecError(f"{kind} not found: {name}", 404)
        f = obj(r.get("File"), f"{kind} {name} File")
        target = str(f.get("Name") or name)
        path = target if target.startswith("/") else posixpath.join(default_dir, target)
        item: dict[str, Any] = {"key": ref.key, "path": ref.key}
        if f.get("Mode"):
            item["mode"] = integer(f.get("Mode"), f"{kind} {name} File.Mode")
        vname = f"{kind}-{i}"
        src = ({"secret": {"secretName": ref.k8s_name, "items": [item]}} if kind == "secret"
               else {"configMap": {"name": ref.k8s_name, "items": [item]}})
        volumes.append({"name": vname, **src})
        vmounts.append({"name": vname, "mountPath": path, "subPath": ref.key, "readOnly": True})


def _files_of(pod: Mapping[str, Any], c: Mapping[str, Any], kind: str,
              by_k8s: Mapping[str, SecretRef], default_dir: str) -> list[dict[str, Any]]:
    vols = {v.get("name"): v for v in pod.get("volumes") or []}
    out: list[dict[str, Any]] = []
    for vm in c.get("volumeMounts") or []:
        v = vols.get(vm.get("name")) or {}
        src = v.get("secret") if kind == "secret" else v.get("configMap")
        if not src:
            continue
        k8s = str(src.get("secretName") if kind == "secret" else src.get("name"))
        ref = by_k8s.get(k8s)
        path = str(vm.get("mountPath") or "")
        target = path[len(default_dir) + 1:] if default_dir and path.startswith(default_dir + "/") else path
        items = src.get("items") or [{}]
        f: dict[str, Any] = {"Name": target, "UID": "0", "GID": "0", "Mode": int(items[0].get("mode") or 0o444)}
        ids = ("SecretID", "SecretName") if kind == "secret" else ("ConfigID", "ConfigName")
        out.append({"File": f, ids[0]: ref.id if ref else "", ids[1]: ref.name if ref else k8s})
    return out


def pod_spec(tt: Mapping[str, Any], *, name: str, secrets: Mapping[str, SecretRef],
             configs: Mapping[str, SecretRef]) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(pod spec, what Swarm says that Kubernetes cannot hold, claim names) for a TaskTemplate."""
    cs = obj(tt.get("ContainerSpec"), "ContainerSpec")
    image = cs.get("Image")
    if not isinstance(image, str) or not image:
        raise SpecError("ContainerSpec: Image must be provided")
    c: dict[str, Any] = {"name": name, "image": image}
    aside: dict[str, Any] = {}
    if cs.get("Command"):
        c["command"] = strs(cs["Command"], "ContainerSpec.Command")
    if cs.get("Args"):
        c["args"] = strs(cs["Args"], "ContainerSpec.Args")
    env = []
    for e in strs(cs.get("Env"), "ContainerSpec.Env"):
        k, eq, v = e.partition("=")
        if not k:
            raise SpecError(f"invalid environment variable {e!r}")
        env.append({"name": k, "value": v} if eq else {"name": k})
    if env:
        c["env"] = env
    if cs.get("Dir"):
        c["workingDir"] = str(cs["Dir"])
    sc: dict[str, Any] = {}
    if cs.get("User"):
        m = _USER.match(str(cs["User"]))
        if m:
            sc["runAsUser"] = int(m.group(1))
            if m.group(2):
                sc["runAsGroup"] = int(m.group(2))
        else:
            aside["User"] = cs["User"]
    if cs.get("ReadOnly"):
        sc["readOnlyRootFilesystem"] = True
    if sc:
        c["securityContext"] = sc
    probes = _probe(obj(cs.get("Healthcheck"), "Healthcheck"))
    if probes:
        c["readinessProbe"], c["livenessProbe"] = probes
    res = obj(tt.get("Resources"), "Resources")
    limits = _quantities(obj(res.get("Limits"), "Resources.Limits"), "Resources.Limits")
    requests = _quantities(obj(res.get("Reservations"), "Resources.Reservations"), "Resources.Reservations")
    if limits or requests:
        c["resources"] = {k: v for k, v in (("limits", limits), ("requests", requests)) if v}
    if (res.get("Limits") or {}).get("Pids"):
        aside["Pids"] = res["Limits"]["Pids"]
    spec: dict[str, Any] = {"containers": [c]}
    volumes: list[dict[str, Any]] = []
    vmounts: list[dict[str, Any]] = []
    claims = _mounts(cs.get("Mounts") or [], volumes, vmounts)
    _files(cs.get("Secrets") or [], "secret", secrets, "/run/secrets", volumes, vmounts)
    _files(cs.get("Configs") or [], "config", configs, "", volumes, vmounts)
    if volumes:
        spec["volumes"] = volumes
        c["volumeMounts"] = vmounts
    if cs.get("Hostname"):
        hostname = str(cs["Hostname"])
        if re.match(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", hostname):
            spec["hostname"] = hostname
        else:
            aside["Hostname"] = hostname  # a template such as {{.Node.Hostname}}, or not a DNS label
    grace = duration(cs.get("StopGracePeriod"), "StopGracePeriod")
    if cs.get("StopGracePeriod") is not None:
        spec["terminationGracePeriodSeconds"] = seconds_ceil(grace)
    for key in ("Labels", "Groups", "Hosts", "DNSConfig", "StopSignal", "TTY", "OpenStdin", "Init", "Privileges",
                "Sysctls", "CapabilityAdd", "CapabilityDrop", "Ulimits", "Isolation", "OomScoreAdj"):
        if cs.get(key):
            aside[key] = cs[key]
    return spec, aside, claims


def task_template(pod: Mapping[str, Any], template_annotations: Mapping[str, str], aside: Mapping[str, Any], *,
                  secrets: Mapping[str, SecretRef], configs: Mapping[str, SecretRef]) -> dict[str, Any]:
    """The TaskTemplate (ContainerSpec, Resources) a pod spec says; ``aside`` fills what it cannot."""
    c = (pod.get("containers") or [{}])[0]
    cs: dict[str, Any] = {"Image": c.get("image", "")}
    if c.get("command"):
        cs["Command"] = list(c["command"])
    if c.get("args"):
        cs["Args"] = list(c["args"])
    env = [f"{e['name']}={e.get('value', '')}" if "value" in e else str(e["name"])
           for e in c.get("env") or [] if "valueFrom" not in e]
    if env:
        cs["Env"] = env
    if c.get("workingDir"):
        cs["Dir"] = c["workingDir"]
    sc = c.get("securityContext") or {}
    if sc.get("runAsUser") is not None:
        cs["User"] = str(sc["runAsUser"]) + (f":{sc['runAsGroup']}" if sc.get("runAsGroup") is not None else "")
    elif aside.get("User"):
        cs["User"] = aside["User"]
    if sc.get("readOnlyRootFilesystem"):
        cs["ReadOnly"] = True
    hc = _healthcheck_of(c)
    if hc:
        cs["Healthcheck"] = hc
    mounts = _mounts_of(pod, c)
    if mounts:
        cs["Mounts"] = mounts
    sref = _files_of(pod, c, "secret", {r.k8s_name: r for r in secrets.values()}, "/run/secrets")
    cref = _files_of(pod, c, "config", {r.k8s_name: r for r in configs.values()}, "")
    if sref:
        cs["Secrets"] = sref
    if cref:
        cs["Configs"] = cref
    if pod.get("hostname"):
        cs["Hostname"] = pod["hostname"]
    elif aside.get("Hostname"):
        cs["Hostname"] = aside["Hostname"]
    grace = pod.get("terminationGracePeriodSeconds")
    if grace is not None and int(grace) != K8S_DEFAULT_GRACE:
        cs["StopGracePeriod"] = int(grace) * SECOND
    for key in ("Labels", "Groups", "Hosts", "DNSConfig", "StopSignal", "TTY", "OpenStdin", "Init", "Privileges",
                "Sysctls", "CapabilityAdd", "CapabilityDrop", "Ulimits", "Isolation", "OomScoreAdj"):
        if aside.get(key):
            cs[key] = aside[key]
    tt: dict[str, Any] = {"ContainerSpec": cs}
    res = c.get("resources") or {}
    limits, reservations = _from_quantities(res.get("limits") or {}), _from_quantities(res.get("requests") or {})
    if aside.get("Pids"):
        limits["Pids"] = aside["Pids"]
    if limits or reservations:
        tt["Resources"] = {k: v for k, v in (("Limits", limits), ("Reservations", reservations)) if v}
    force = template_annotations.get(FORCE_ANNOTATION)
    tt["ForceUpdate"] = int(force) if force and force.isdigit() else 0
    return tt
