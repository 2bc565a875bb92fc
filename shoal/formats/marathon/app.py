"""A normalised Marathon app onto a workload and a Service, and the workload back to Marathon's JSON.

``to_objects(app, stamp)`` -> ``Objects``: a Deployment (a StatefulSet when a
volume is persistent: each task owns its volume, which is a claim template),
and a Service when the app has ports. What Kubernetes has a field for is in
that field (replicas, image, command, requests, env, probes, affinity, the
rolling update); the definition itself is kept in the annotation
``marathon.shoal.io/app`` with the version history, for what has no field
(dependencies, the constraints as written). The launch back-off
(``backoffSeconds``, ``backoffFactor``, ``maxLaunchDelaySeconds``) is also the
pod annotation ``shoal.io/restart-backoff``, which the node agent's restart
delays follow (as the kubelet's: the first restart is at once, then ``base``,
multiplied by the factor per crash, at most the cap).

``to_app(workload, pods)`` reads it back: the kept definition, with
what a ``kubectl`` edit may have changed read from the live object (replicas,
image, command, resources, env, labels), plus Marathon's status fields
(``tasksRunning``, ``tasksHealthy``, ``deployments``, ``version``,
``versionInfo``). A workload someone made with kubectl and labelled
``app.kubernetes.io/managed-by=marathon`` is read from its fields alone.

Ports: each pod has its own address on shoal, so host networking does not
need Marathon's random host ports: a task listens on the app's port
(``$PORT0``) on its own address. ``requirePorts`` asks for the node's port
itself (host networking, ``hostPort``). In container networking
``hostPort: N`` is the pod's host port N and ``hostPort: 0`` (a dynamic host
port) is a NodePort of the app's Service, allocated by the cluster. Every
port is also a port of the Service (``servicePort``), reachable at
``<name>.marathon.svc``, as marathon-lb served it.

``upgradeStrategy`` becomes the rolling update: ``maxUnavailable`` =
``1 - minimumHealthCapacity`` and ``maxSurge`` = ``maximumOverCapacity``, as
percentages (Kubernetes rounds the first down and the second up, which is
Marathon's rounding too).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.api import podhints, quantity
from shoal.formats.marathon import ids, placement, probes
from shoal.formats.marathon.errors import invalid
from shoal.formats.marathon.validate import DEFAULT_IMAGE, network_mode, ports_of

CONFIG = "marathon.shoal.io/app"
VERSION = "marathon.shoal.io/version"
CONFIG_CHANGE = "marathon.shoal.io/last-config-change"
SCALING = "marathon.shoal.io/last-scaling"
DEPLOYMENT = "marathon.shoal.io/deployment"
VERSIONS = "marathon.shoal.io/versions"
TARGET = "marathon.shoal.io/target-instances"  # instances held back until dependencies are healthy
WAITING_FOR = "marathon.shoal.io/waiting-for"  # JSON list of the app ids a held-back app waits for
CANCELLED = "marathon.shoal.io/cancelled"  # the deployment id DELETE /v2/deployments/<id>?force=true stopped
DEPLOYMENT_STATE = frozenset({TARGET, WAITING_FOR, CANCELLED})  # what the next write starts afresh
SANDBOX = "/mnt/mesos/sandbox"
MAX_VERSIONS = 20
_INJECTED = re.compile(r"^(PORT\d*|PORTS|PORT_[A-Z0-9_]+|HOST|MESOS_SANDBOX|MARATHON_APP_[A-Z_]+)$")
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_OUR_LABELS = frozenset({ids.MANAGED_BY, ids.APP_LABEL})


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a write records besides the definition: its version, the deployment it starts, the history."""

    version: str
    deployment_id: str
    last_config_change: str
    last_scaling: str
    history: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Objects:
    kind: str  # Deployment | StatefulSet
    resource: str  # deployments | statefulsets
    workload: dict[str, Any]
    service: dict[str, Any] | None


def stamp_for(old: Mapping[str, Any] | None, new_app: Mapping[str, Any], *, version: str,
              deployment_id: str) -> Stamp:
    """The stamp of writing ``new_app`` over the workload ``old`` (None: a create). A change of
    ``instances`` alone is a scaling (``lastConfigChangeAt`` stays), anything else a config change."""
    if old is None:
        return Stamp(version, deployment_id, version, version, [(version, dict(new_app))])
    ann = _ann(old)
    before = to_app(old, [], status=False)
    history = history_of(old)
    same_config = {k: v for k, v in before.items() if k not in ("instances", "version", "versionInfo")} == \
        {k: v for k, v in new_app.items() if k != "instances"}
    last_change = ann.get(CONFIG_CHANGE, version) if same_config else version
    history = [*history, (version, dict(new_app))][-MAX_VERSIONS:]
    return Stamp(version, deployment_id, last_change, version, history)


def history_of(w: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    try:
        raw = json.loads(_ann(w).get(VERSIONS) or "[]")
    except ValueError:
        return []
    return [(str(v), dict(a)) for v, a in raw if isinstance(a, dict)]


def _ann(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def _dns(text: str, fallback: str) -> str:
    s = _NOT_DNS.sub("-", text.lower()).strip("-")[:63].strip("-")
    return s or fallback


def secret_ref(source: str) -> tuple[str, str]:
    """A DC/OS secret path as (Secret name, key): ``db/password`` -> (``db``, ``password``), ``db`` ->
    (``db``, ``value``)."""
    parts = [p for p in source.split("/") if p]
    if len(parts) >= 2:
        return _dns("-".join(parts[:-1]), "secret"), parts[-1]
    return _dns(parts[0] if parts else source, "secret"), "value"


def _mount_path(path: str) -> str:
    return path if path.startswith("/") else f"{SANDBOX}/{path}"


def _labels(app: Mapping[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (app.get("labels") or {}).items()
            if k not in _OUR_LABELS and _LABEL_KEY.match(k) and isinstance(v, str) and _LABEL_VALUE.match(v)}


def _container_ports(app: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The container's ports and whether the pod uses the host's network."""
    out: list[dict[str, Any]] = []
    host_net = network_mode(app) == "host" and bool(app.get("requirePorts"))
    for i, p in enumerate(ports_of(app)):
        port = int(p.get("containerPort") or p.get("port") or 0)
        for proto in str(p.get("protocol") or "tcp").split(","):
            cp: dict[str, Any] = {"containerPort": port, "protocol": proto.upper()}
            name = _dns(str(p.get("name") or ""), "")
            if name and len(name) <= 15:
                cp["name"] = name if proto == "tcp" or "," not in str(p.get("protocol")) else f"{name[:11]}-udp"
            if host_net:
                cp["hostPort"] = port
            elif network_mode(app) != "host" and p.get("hostPort"):
                cp["hostPort"] = int(p["hostPort"])
            out.append(cp)
        del i
    return out, host_net


def _probe_ports(app: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"containerPort": int(p.get("containerPort") or p.get("port") or 0), "name": p.get("name")}
            for p in ports_of(app)]


def _env(app: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [{"name": "MARATHON_APP_ID", "value": app["id"]},
                                 {"name": "MESOS_SANDBOX", "value": SANDBOX},
                                 {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
    ports = ports_of(app)
    for i, p in enumerate(ports):
        env.append({"name": f"PORT{i}", "value": str(p.get("containerPort") or p.get("port"))})
    if ports:
        first = str(ports[0].get("containerPort") or ports[0].get("port"))
        env += [{"name": "PORT", "value": first},
                {"name": "PORTS", "value": ",".join(str(p.get("containerPort") or p.get("port")) for p in ports)}]
    user = app.get("env") or {}
    env = [e for e in env if e["name"] not in user]
    secrets = app.get("secrets") or {}
    for k, v in user.items():
        if isinstance(v, dict):
            sname, key = secret_ref(str(secrets[v["secret"]]["source"]))
            env.append({"name": k, "valueFrom": {"secretKeyRef": {"name": sname, "key": key}}})
        else:
            env.append({"name": k, "value": v})
    del name
    return env


def _volumes(app: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumeMounts, pod volumes, claim templates)."""
    mounts: list[dict[str, Any]] = []
    vols: list[dict[str, Any]] = []
    claims: list[dict[str, Any]] = []
    secrets = app.get("secrets") or {}
    for i, v in enumerate((app.get("container") or {}).get("volumes") or []):
        vname = _dns(str(v["containerPath"]), f"volume-{i}")
        if any(m["name"] == vname for m in mounts):
            vname = f"{vname[:55]}-{i}"
        mounts.append({"name": vname, "mountPath": _mount_path(str(v["containerPath"])),
                       "readOnly": v.get("mode") == "RO"})
        if "persistent" in v:
            claims.append({"metadata": {"name": vname, "labels": {ids.MANAGED_BY: ids.MADE_BY}},
                           "spec": {"accessModes": ["ReadWriteOnce"],
                                    "resources": {"requests": {"storage": f"{int(v['persistent']['size'])}Mi"}}}})
        elif v.get("hostPath"):
            vols.append({"name": vname, "hostPath": {"path": str(v["hostPath"])}})
        else:
            sname, key = secret_ref(str((secrets.get(v["secret"]) or {}).get("source") or v["secret"]))
            vols.append({"name": vname, "secret": {"secretName": sname}})
            mounts[-1]["subPath"] = key
    return mounts, vols, claims


def _strategy(app: Mapping[str, Any]) -> dict[str, Any]:
    us = app.get("upgradeStrategy") or {}
    unavailable = round((1 - float(us.get("minimumHealthCapacity", 1))) * 100)
    surge = round(float(us.get("maximumOverCapacity", 1)) * 100)
    if unavailable == 0 and surge == 0:
        return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": f"{unavailable}%",
                                                       "maxSurge": f"{surge}%"}}


def to_objects(app: Mapping[str, Any], stamp: Stamp, *, instances: int | None = None,
               waiting_for: Sequence[str] = ()) -> Objects:
    """The objects of the normalised ``app``; ``instances`` overrides its count (held back until the apps
    ``waiting_for`` are healthy)."""
    name = ids.k8s_name(app["id"])
    selector = {ids.APP_LABEL: name}
    sched, problems = placement.to_scheduling(app.get("constraints") or [], selector)
    if problems:
        raise invalid([(p, [e]) for p, e in problems])
    docker = (app.get("container") or {}).get("docker") or {}
    image = str(docker.get("image") or DEFAULT_IMAGE)
    ports, host_net = _container_ports(app)
    mounts, vols, claims = _volumes(app)
    container: dict[str, Any] = {"name": "main", "image": image, "env": _env(app, name),
                                 "imagePullPolicy": "Always" if docker.get("forcePullImage") else "IfNotPresent"}
    if app.get("cmd"):
        container["command"] = ["/bin/sh", "-c", app["cmd"]]
    elif app.get("args"):
        container["args"] = list(app["args"])
    requests = {"cpu": f"{round(float(app['cpus']) * 1000)}m", "memory": f"{round(float(app['mem']))}Mi"}
    if float(app.get("disk") or 0) > 0:
        requests["ephemeral-storage"] = f"{round(float(app['disk']))}Mi"
    container["resources"] = {"requests": requests, "limits": {"memory": requests["memory"]}}
    if ports:
        container["ports"] = ports
    if mounts:
        container["volumeMounts"] = mounts
    if docker.get("privileged"):
        container["securityContext"] = {"privileged": True}
    container.update(probes.to_probes(app.get("healthChecks") or [], app.get("readinessChecks") or [],
                                      _probe_ports(app)))
    pod: dict[str, Any] = {"containers": [container], **sched}
    if vols:
        pod["volumes"] = vols
    if host_net:
        pod["hostNetwork"] = True
    if app.get("taskKillGracePeriodSeconds") is not None:
        pod["terminationGracePeriodSeconds"] = int(app["taskKillGracePeriodSeconds"])
    labels = {**_labels(app), ids.MANAGED_BY: ids.MADE_BY, ids.APP_LABEL: name}
    replicas = int(app["instances"]) if instances is None else instances
    annotations = {ids.ID_ANNOTATION: app["id"], CONFIG: json.dumps(app, sort_keys=True),
                   VERSION: stamp.version, CONFIG_CHANGE: stamp.last_config_change, SCALING: stamp.last_scaling,
                   DEPLOYMENT: stamp.deployment_id,
                   VERSIONS: json.dumps([[v, a] for v, a in stamp.history], sort_keys=True)}
    if instances is not None and instances != int(app["instances"]):
        annotations[TARGET] = str(app["instances"])
        if waiting_for:
            annotations[WAITING_FOR] = json.dumps(sorted(waiting_for))
    meta = {"name": name, "namespace": ids.NAMESPACE, "labels": labels, "annotations": annotations}
    template = {"metadata": {"labels": {ids.MANAGED_BY: ids.MADE_BY, ids.APP_LABEL: name},
                             "annotations": {podhints.RESTART_BACKOFF: restart_backoff(app)}}, "spec": pod}
    if claims:
        spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": selector}, "serviceName": name,
                                "podManagementPolicy": "Parallel", "template": template,
                                "updateStrategy": {"type": "RollingUpdate"}, "volumeClaimTemplates": claims}
        kind, resource = "StatefulSet", "statefulsets"
    else:
        spec = {"replicas": replicas, "selector": {"matchLabels": selector}, "template": template,
                "strategy": _strategy(app), "revisionHistoryLimit": 10}
        kind, resource = "Deployment", "deployments"
    workload = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta, "spec": spec}
    return Objects(kind, resource, workload, _service(app, name))


def restart_backoff(app: Mapping[str, Any]) -> str:
    """Marathon's launch back-off as the pod annotation the node agent honours (``shoal.api.podhints``)."""
    return podhints.format_restart_backoff(podhints.RestartBackoff(
        float(app.get("backoffSeconds", 1)), float(app.get("backoffFactor", 1.15)),
        float(app.get("maxLaunchDelaySeconds", 300))))


def _service(app: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    ports = ports_of(app)
    if not ports:
        return None
    sports: list[dict[str, Any]] = []
    dynamic = False
    for i, p in enumerate(ports):
        target = int(p.get("containerPort") or p.get("port") or 0)
        service_port = int(p.get("servicePort") or p.get("port") or target)
        if network_mode(app) != "host" and p.get("hostPort") == 0:
            dynamic = True
        for proto in str(p.get("protocol") or "tcp").split(","):
            sports.append({"name": f"{_dns(str(p.get('name') or ''), 'port')[:50]}-{i}-{proto}",
                           "port": service_port, "targetPort": target, "protocol": proto.upper()})
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ids.NAMESPACE,
                         "labels": {ids.MANAGED_BY: ids.MADE_BY, ids.APP_LABEL: name},
                         "annotations": {ids.ID_ANNOTATION: app["id"]}},
            "spec": {"type": "NodePort" if dynamic else "ClusterIP", "selector": {ids.APP_LABEL: name},
                     "ports": sports}}


# --- back ---------------------------------------------------------------------------------------------
def config_of(w: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        raw = json.loads(_ann(w).get(CONFIG) or "null")
    except ValueError:
        return None
    return raw if isinstance(raw, dict) else None


def app_id(w: Mapping[str, Any]) -> str:
    return _ann(w).get(ids.ID_ANNOTATION) or "/" + str((w.get("metadata") or {}).get("name") or "")


def _main(w: Mapping[str, Any]) -> dict[str, Any]:
    cs = (((w.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or [{}]
    return dict(cs[0])


def _live(app: dict[str, Any], w: Mapping[str, Any]) -> None:
    """What kubectl may have changed, read from the workload into ``app``."""
    spec = w.get("spec") or {}
    target = _ann(w).get(TARGET)
    app["instances"] = int(target) if target and target.isdigit() else int(spec.get("replicas") or 0)
    c = _main(w)
    image = str(c.get("image") or "")
    container = app.get("container")
    if isinstance(container, dict) and "docker" in container:
        container["docker"]["image"] = image
    elif image and image != DEFAULT_IMAGE:
        app["container"] = {**(container or {"volumes": []}), "type": "DOCKER", "docker": {
            "image": image, "forcePullImage": False, "privileged": False, "parameters": []}}
    cmd = c.get("command") or []
    if len(cmd) == 3 and cmd[:2] == ["/bin/sh", "-c"]:
        app["cmd"] = cmd[2]
        app.pop("args", None)
    elif c.get("args") and not cmd:
        app["args"] = list(c["args"])
        app.pop("cmd", None)
    req = (c.get("resources") or {}).get("requests") or {}
    if "cpu" in req:
        app["cpus"] = quantity.milli_value(req["cpu"]) / 1000
    if "memory" in req:
        app["mem"] = float(quantity.parse_quantity(req["memory"]) / (1024 * 1024))
    if "ephemeral-storage" in req:
        app["disk"] = float(quantity.parse_quantity(req["ephemeral-storage"]) / (1024 * 1024))
    kept_env = app.get("env") or {}
    env: dict[str, Any] = {}
    for e in c.get("env") or []:
        k = e.get("name")
        if k in kept_env and isinstance(kept_env[k], dict):
            env[k] = kept_env[k]
        elif "value" in e and (k in kept_env or not _INJECTED.match(str(k))):
            env[k] = str(e.get("value") or "")
    app["env"] = env
    live = {k: v for k, v in ((w.get("metadata") or {}).get("labels") or {}).items() if k not in _OUR_LABELS}
    labels = dict(app.get("labels") or {})
    for k in list(labels):
        if _LABEL_KEY.match(k) and _LABEL_VALUE.match(labels[k]) and k not in live:
            del labels[k]  # removed with kubectl
    app["labels"] = {**labels, **live}


def _skeleton(w: Mapping[str, Any]) -> dict[str, Any]:
    """A definition for a workload made without one (kubectl, with the managed-by label)."""
    return {"id": app_id(w), "cmd": None, "args": None, "instances": 0, "cpus": 0.0, "mem": 0.0, "disk": 0.0,
            "gpus": 0, "env": {}, "labels": {}, "constraints": [], "healthChecks": [], "readinessChecks": [],
            "dependencies": [], "portDefinitions": [], "networks": [{"mode": "container"}],
            "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
            "backoffSeconds": 1, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 300,
            "killSelection": "YOUNGEST_FIRST", "requirePorts": False, "secrets": {}}


def counts(pods: Sequence[Mapping[str, Any]], *, has_health: bool) -> dict[str, int]:
    staged = running = healthy = unhealthy = 0
    for p in pods:
        if (p.get("metadata") or {}).get("deletionTimestamp"):
            continue
        phase = (p.get("status") or {}).get("phase") or "Pending"
        if phase == "Pending":
            staged += 1
        elif phase == "Running":
            running += 1
            if has_health:
                ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                            for c in (p.get("status") or {}).get("conditions") or [])
                healthy += ready
                unhealthy += not ready
    return {"tasksStaged": staged, "tasksRunning": running, "tasksHealthy": healthy, "tasksUnhealthy": unhealthy}


def in_progress(w: Mapping[str, Any]) -> bool:
    """A deployment runs while instances are held back for dependencies, or while the workload's rollout has
    not reached its spec: the controller has not seen the last change, or not every replica is of the new
    template, or old replicas remain. Readiness is not asked: a new app whose tasks crash is deployed (its
    tasks are the new version's) and not locked, while a rolling update that cannot replace its old tasks
    because the new ones never become healthy stays in progress, as in Marathon. A paused workload (a
    deployment cancelled with ``force``) runs no deployment."""
    if _ann(w).get(TARGET):
        return True
    if (w.get("spec") or {}).get("paused") or _ann(w).get(CANCELLED) == deployment_id(w):
        return False
    st, want = w.get("status") or {}, _want(w)
    gen = int((w.get("metadata") or {}).get("generation") or 1)
    return not (int(st.get("observedGeneration") or 0) >= gen and int(st.get("replicas") or 0) == want
                and int(st.get("updatedReplicas") or 0) == want)


def ready(w: Mapping[str, Any]) -> bool:
    """Deployed with every instance healthy (available), nothing held back: what a dependant waits for."""
    if _ann(w).get(TARGET):
        return False
    key = "availableReplicas" if w.get("kind") != "StatefulSet" else "readyReplicas"
    st, want = w.get("status") or {}, _want(w)
    gen = int((w.get("metadata") or {}).get("generation") or 1)
    return (int(st.get("observedGeneration") or 0) >= gen and int(st.get(key) or 0) == want
            and int(st.get("replicas") or 0) == want and int(st.get("updatedReplicas") or 0) == want)


def _want(w: Mapping[str, Any]) -> int:
    spec = w.get("spec") or {}
    return int(spec["replicas"]) if spec.get("replicas") is not None else 1


def deployment_id(w: Mapping[str, Any]) -> str:
    return _ann(w).get(DEPLOYMENT) or str((w.get("metadata") or {}).get("uid") or "")


def to_app(w: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], *, status: bool = True) -> dict[str, Any]:
    """Marathon's JSON of the workload ``w`` (with ``pods`` its pods)."""
    app = config_of(w) or _skeleton(w)
    app["id"] = app_id(w)
    _live(app, w)
    if not status:
        return app
    ann = _ann(w)
    ts = str((w.get("metadata") or {}).get("creationTimestamp") or "")
    app["version"] = ann.get(VERSION) or ts
    app["versionInfo"] = {"lastScalingAt": ann.get(SCALING) or ts, "lastConfigChangeAt": ann.get(CONFIG_CHANGE) or ts}
    app.update(counts(pods, has_health=bool(app.get("healthChecks") or app.get("readinessChecks"))))
    app["deployments"] = [{"id": deployment_id(w)}] if in_progress(w) else []
    return app
