"""Tasks and container instances: pods and nodes as ECS describes them, and RunTask's pods.

A task is a pod (of a service's Deployment, or made by RunTask with
``restartPolicy: Never``); its ``lastStatus`` follows ECS's lifecycle from the
pod's: not yet bound PROVISIONING, bound but not running PENDING, running
RUNNING, being deleted STOPPING (desired STOPPED), finished STOPPED. A
container instance is a node: its registered resources are the node's
allocatable (1024 CPU units a core, memory in MiB), the remaining ones that
minus what the pods on it request.

``essential_exit`` is the pure half of "an essential container's exit stops
the task": given a standalone task's pod, the reason to stop it (its other
containers keep running otherwise, since a pod ends only when all have).
"""

from __future__ import annotations

import json
import secrets as _secrets
from collections.abc import Mapping
from typing import Any

from shoal.api import podhints, quantity
from shoal.formats.ecs import names, placement, taskdef
from shoal.formats.ecs.errors import invalid
from shoal.formats.ecs.service import epoch, template_taskdef

Obj = dict[str, Any]
ESSENTIAL_EXITED = "EssentialContainerExited"
USER_INITIATED = "UserInitiated"
_RUN_KEYS = frozenset({"cluster", "taskDefinition", "count", "startedBy", "group", "overrides", "launchType",
                       "placementConstraints", "placementStrategy", "networkConfiguration", "tags",
                       "enableECSManagedTags", "propagateTags", "referenceId", "clientToken",
                       "capacityProviderStrategy", "platformVersion", "enableExecuteCommand",
                       "volumeConfigurations"})


def _md(o: Obj) -> Obj:
    return o.get("metadata") or {}


def _ann(o: Obj) -> dict[str, str]:
    return _md(o).get("annotations") or {}


def ecs_container_names(pod: Obj) -> dict[str, str]:
    try:
        renamed = json.loads(_ann(pod).get(names.CONTAINERS_ANNOTATION) or "{}")
    except ValueError:
        renamed = {}
    return renamed if isinstance(renamed, dict) else {}


def last_status(pod: Obj) -> str:
    st = pod.get("status") or {}
    phase = st.get("phase")
    if phase in ("Succeeded", "Failed"):
        return "STOPPED"
    if _md(pod).get("deletionTimestamp"):
        return "STOPPING"
    if phase == "Running":
        return "RUNNING"
    if not (pod.get("spec") or {}).get("nodeName"):
        return "PROVISIONING"
    return "PENDING"


def desired_status(pod: Obj) -> str:
    if last_status(pod) in ("STOPPED", "STOPPING") or _ann(pod).get(names.STOP_CODE_ANNOTATION):
        return "STOPPED"
    return "RUNNING"


def _container_status(cs: Obj) -> tuple[str, int | None, str]:
    state = cs.get("state") or {}
    if "terminated" in state:
        t = state["terminated"] or {}
        return "STOPPED", t.get("exitCode"), str(t.get("reason") or "")
    if "running" in state:
        return "RUNNING", None, ""
    w = state.get("waiting") or {}
    return "PENDING", None, str(w.get("reason") or "")


def _units(cpu: Any) -> int:
    return round(quantity.milli_value(cpu) * 1024 / 1000) if cpu else 0


def _mib(mem: Any) -> int:
    return quantity.int_value(mem) // (1024 * 1024) if mem else 0


def task_view(pod: Obj, *, arns: names.Arns, cluster: str, node_ids: Mapping[str, str],
              zones: Mapping[str, str] | None = None) -> Obj:
    """A pod as DescribeTasks answers; ``node_ids`` maps node names to container instance ids."""
    md, spec, st = _md(pod), pod.get("spec") or {}, pod.get("status") or {}
    tid = names.pod_task_id(pod)
    task_arn = arns.task(cluster, tid)
    back = ecs_container_names(pod)
    statuses = {cs.get("name"): cs for cs in [*(st.get("initContainerStatuses") or []),
                                             *(st.get("containerStatuses") or [])]}
    has_health = any(c.get("readinessProbe") for c in spec.get("containers") or [])
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
    status = last_status(pod)
    containers, cpu, mem = [], 0, 0
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        cs = statuses.get(c["name"]) or {}
        c_last, code, reason = _container_status(cs) if cs else ("PENDING", None, "")
        if status == "STOPPED" and c_last != "STOPPED":
            c_last = "STOPPED"
        res = c.get("resources") or {}
        c_cpu = _units((res.get("requests") or {}).get("cpu"))
        c_mem = _mib((res.get("limits") or {}).get("memory") or (res.get("requests") or {}).get("memory"))
        cpu, mem = cpu + c_cpu, mem + c_mem
        bindings = [{"bindIP": st.get("hostIP") or "0.0.0.0", "containerPort": p["containerPort"],
                     "hostPort": p.get("hostPort") or p["containerPort"], "protocol": str(p.get("protocol", "TCP")).lower()}
                    for p in c.get("ports") or [] if p.get("hostPort") or spec.get("hostNetwork")]
        view: Obj = {"containerArn": arns.container(cluster, tid, names.container_uuid(str(md.get("uid") or ""),
                                                                                    c["name"])),
                     "taskArn": task_arn, "name": back.get(c["name"], c["name"]), "image": c.get("image", ""),
                     "lastStatus": c_last, "networkBindings": bindings,
                     "networkInterfaces": [{"attachmentId": tid, "privateIpv4Address": st["podIP"]}]
                     if st.get("podIP") else [],
                     "healthStatus": ("HEALTHY" if cs.get("ready") else "UNHEALTHY" if c_last == "RUNNING"
                                      else "UNKNOWN") if c.get("readinessProbe") else "UNKNOWN",
                     "cpu": str(c_cpu)}
        if cs.get("imageID"):
            view["imageDigest"] = str(cs["imageID"]).rpartition("@")[2] or cs["imageID"]
        if cs.get("containerID"):
            view["runtimeId"] = str(cs["containerID"]).rpartition("//")[2]
        if code is not None:
            view["exitCode"] = code
        if reason and c_last != "RUNNING":
            view["reason"] = reason
        if c_mem:
            view["memory"] = str(c_mem)
        containers.append(view)
    ref = template_taskdef(pod)
    labels = md.get("labels") or {}
    svc = labels.get(names.SERVICE_LABEL)
    node = str(spec.get("nodeName") or "")
    out: Obj = {"taskArn": task_arn, "clusterArn": arns.cluster(cluster),
                "taskDefinitionArn": arns.taskdef(*ref) if ref else "", "lastStatus": status,
                "desiredStatus": desired_status(pod), "containers": containers, "cpu": str(cpu), "memory": str(mem),
                "createdAt": epoch(md.get("creationTimestamp")), "launchType": "EC2", "connectivity": "CONNECTED",
                "healthStatus": ("HEALTHY" if ready else "UNHEALTHY" if status == "RUNNING" else "UNKNOWN")
                if has_health else "UNKNOWN",
                "group": _ann(pod).get(names.GROUP_ANNOTATION) or (f"service:{svc}" if svc else
                                                                  f"family:{ref[0] if ref else ''}"),
                "version": int(md.get("resourceVersion") or 1) if str(md.get("resourceVersion") or "").isdigit()
                else 1, "attachments": [], "tags": [], "overrides": {"containerOverrides": [], "inferenceAcceleratorOverrides": []}}
    if node and node in node_ids:
        out["containerInstanceArn"] = arns.container_instance(cluster, node_ids[node])
        out["connectivityAt"] = out["createdAt"]
    if zones and node in zones:
        out["availabilityZone"] = zones[node]
    if st.get("startTime"):
        out["startedAt"] = epoch(st["startTime"])
        out["pullStartedAt"] = out["startedAt"]
    started_by = _ann(pod).get(names.STARTED_BY_ANNOTATION)
    if started_by:
        out["startedBy"] = started_by
    if desired_status(pod) == "STOPPED":
        out["stopCode"] = _ann(pod).get(names.STOP_CODE_ANNOTATION) or (
            ESSENTIAL_EXITED if status == "STOPPED" else USER_INITIATED)
        out["stoppedReason"] = _ann(pod).get(names.STOPPED_REASON_ANNOTATION) or (
            "Essential container in task exited" if status == "STOPPED" else "Task stopped by user")
        if status == "STOPPED":
            ends = [epoch(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
                    for cs in statuses.values()]
            out["stoppedAt"] = max([e for e in ends if e] or [epoch(md.get("deletionTimestamp")) or 0.0])
            out["executionStoppedAt"] = out["stoppedAt"]
        if md.get("deletionTimestamp"):
            out["stoppingAt"] = epoch(md["deletionTimestamp"])
    return out


def essential_exit(pod: Obj) -> str | None:
    """Why a started standalone task must stop, or None: an essential container exited, or can never start
    because a container it depends on (``dependsOn`` START/HEALTHY) exited first (the node agent's waiting
    reason ``DependencyFailed``). A task whose dependents are held is PENDING (a container never ran), so
    PENDING tasks on a node are judged too."""
    if last_status(pod) not in ("RUNNING", "PENDING") or (pod.get("spec") or {}).get("activeDeadlineSeconds"):
        return None
    essential = set((_ann(pod).get(names.ESSENTIAL_ANNOTATION) or "").split(","))
    back = ecs_container_names(pod)
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        state = cs.get("state") or {}
        if cs.get("name") not in essential:
            continue
        if "terminated" in state:
            code = (state.get("terminated") or {}).get("exitCode")
            return f"Essential container in task exited: {back.get(cs['name'], cs['name'])} (exit code {code})"
        if (state.get("waiting") or {}).get("reason") == podhints.DEPENDENCY_FAILED:
            why = (state.get("waiting") or {}).get("message") or ""
            return f"Essential container in task cannot start: {back.get(cs['name'], cs['name'])} ({why})"
    return None


# --- RunTask --------------------------------------------------------------------------------------
def check_run(req: Any) -> Obj:
    if not isinstance(req, dict):
        raise invalid("The request must be an object.")
    unknown = sorted(set(req) - _RUN_KEYS)
    if unknown:
        raise invalid(f"Unknown parameter in input: \"{unknown[0]}\".")
    count = req.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10:
        raise invalid("count must be between 1 and 10.")
    ov = req.get("overrides") or {}
    if not isinstance(ov, dict):
        raise invalid("overrides must be an object.")
    for o in ov.get("containerOverrides") or []:
        if not isinstance(o, dict) or not o.get("name"):
            raise invalid("Each container override needs the name of a container.")
    started_by = req.get("startedBy")
    if started_by is not None and (not isinstance(started_by, str) or len(started_by) > 128):
        raise invalid("startedBy can have up to 128 characters.")
    return {"count": count, "overrides": ov, "startedBy": started_by, "group": req.get("group"),
            "placementConstraints": placement.check_constraints(req.get("placementConstraints")),
            "placementStrategy": placement.check_strategies(req.get("placementStrategy"))}


def run_pods(run: Obj, td: Obj, revision: int, *, namespace: str,
             known: Mapping[str, set[str]] | None = None, token: str | None = None) -> list[Obj]:
    """The pods of one RunTask call (``token`` ties them together for distinctInstance)."""
    names_in_td = {c["name"] for c in td["containerDefinitions"]}
    for o in run["overrides"].get("containerOverrides") or []:
        if o["name"] not in names_in_td:
            raise invalid(f"Override for container named {o['name']} is not a container in the TaskDefinition.")
    token = token or _secrets.token_hex(4)
    own = {"ecs.shoal.io/run": token}
    spec, ann = taskdef.pod_spec({**td, "revision": revision}, restart_policy="Never", overrides=run["overrides"])
    spec.update(placement.scheduling([*run["placementConstraints"],
                                      *placement.check_constraints(td.get("placementConstraints"))],
                                     run["placementStrategy"], own=own, known=known))
    ann = {**ann, names.GROUP_ANNOTATION: run.get("group") or f"family:{td['family']}"}
    if run.get("startedBy"):
        ann[names.STARTED_BY_ANNOTATION] = run["startedBy"]
    labels = {**own, names.MANAGED_BY: names.MANAGER, names.STANDALONE_LABEL: "true",
              names.FAMILY_LABEL: names.label_value(td["family"])}
    base = names.fold(td["family"])[:40].strip("-")
    return [{"apiVersion": "v1", "kind": "Pod",
             "metadata": {"generateName": f"{base}-", "namespace": namespace, "labels": dict(labels),
                          "annotations": dict(ann)}, "spec": json.loads(json.dumps(spec))}
            for _ in range(run["count"])]


# --- container instances -----------------------------------------------------------------------
def _resource(name: str, value: int) -> Obj:
    return {"name": name, "type": "INTEGER", "doubleValue": 0.0, "longValue": 0, "integerValue": value}


def _ports(name: str, ports: list[str]) -> Obj:
    return {"name": name, "type": "STRINGSET", "doubleValue": 0.0, "longValue": 0, "integerValue": 0,
            "stringSetValue": ports}


def instance_view(node: Obj, pods: list[Obj], *, arns: names.Arns, cluster: str, version: str) -> Obj:
    """A node as DescribeContainerInstances answers; ``pods`` are those bound to it."""
    md, st = _md(node), node.get("status") or {}
    alloc = st.get("allocatable") or st.get("capacity") or {}
    cpu, mem = _units(alloc.get("cpu") or "0"), _mib(alloc.get("memory") or "0")
    live = [p for p in pods if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    used_cpu = sum(_units(((c.get("resources") or {}).get("requests") or {}).get("cpu"))
                   for p in live for c in (p.get("spec") or {}).get("containers") or [])
    used_mem = sum(_mib(((c.get("resources") or {}).get("requests") or {}).get("memory"))
                   for p in live for c in (p.get("spec") or {}).get("containers") or [])
    ports = {proto: sorted({str(pt["hostPort"]) for p in live for c in (p.get("spec") or {}).get("containers") or []
                            for pt in c.get("ports") or [] if pt.get("hostPort")
                            and str(pt.get("protocol", "TCP")).upper() == proto}) for proto in ("TCP", "UDP")}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
    labels = md.get("labels") or {}
    info = st.get("nodeInfo") or {}
    attrs = [{"name": k[len("attribute:"):], "value": v}
             for k, v in sorted(placement.node_attributes(str(md.get("name")), labels).items())
             if k.startswith("attribute:")]
    mine = [p for p in live if (p.get("metadata") or {}).get("namespace") == cluster_namespace(cluster)]
    iid = names.instance_id(str(md.get("uid") or ""))
    return {"containerInstanceArn": arns.container_instance(cluster, iid), "ec2InstanceId": md.get("name"),
            "version": int(md.get("resourceVersion") or 1) if str(md.get("resourceVersion") or "").isdigit() else 1,
            "versionInfo": {"agentVersion": version, "agentHash": "", "dockerVersion":
                            str(info.get("containerRuntimeVersion") or "")},
            "remainingResources": [_resource("CPU", max(0, cpu - used_cpu)), _resource("MEMORY", max(0, mem - used_mem)),
                                   _ports("PORTS", ports["TCP"]), _ports("PORTS_UDP", ports["UDP"])],
            "registeredResources": [_resource("CPU", cpu), _resource("MEMORY", mem), _ports("PORTS", []),
                                    _ports("PORTS_UDP", [])],
            "status": "DRAINING" if (node.get("spec") or {}).get("unschedulable") else "ACTIVE",
            "agentConnected": ready,
            "runningTasksCount": sum(1 for p in mine if (p.get("status") or {}).get("phase") == "Running"),
            "pendingTasksCount": sum(1 for p in mine if (p.get("status") or {}).get("phase") in (None, "Pending")),
            "attributes": attrs, "registeredAt": epoch(md.get("creationTimestamp")), "attachments": [], "tags": []}


def instance_attributes(node: Obj, running: int) -> dict[str, str]:
    """The subjects ``ListContainerInstances --filter`` may test, for one node."""
    md = _md(node)
    attrs = placement.node_attributes(str(md.get("name")), md.get("labels") or {})
    attrs["runningTasksCount"] = str(running)
    attrs["agentConnected"] = str(any(c.get("type") == "Ready" and c.get("status") == "True"
                                      for c in (node.get("status") or {}).get("conditions") or [])).lower()
    attrs["registeredAt"] = str(md.get("creationTimestamp") or "")
    return attrs


def cluster_namespace(cluster: str) -> str:
    return names.fold(cluster)
