"""ECS services onto Deployments (and a Service for their load balancers), and back.

A service is a Deployment named after it in its cluster's namespace:
``desiredCount`` is ``spec.replicas`` (so ``kubectl scale`` is what
DescribeServices reports), the task definition is the pod template (its
``family:revision`` in the template's annotations, so every ReplicaSet knows
which revision it runs and a rollback carries it back), and what Kubernetes
has no field for (placement as given, load balancers, deployment
configuration) is kept as JSON in an annotation.

``deploymentConfiguration`` onto the rolling update: ``maxUnavailable`` is
``100 - minimumHealthyPercent`` percent and ``maxSurge`` ``maximumPercent -
100`` percent (percentages, so they follow a ``kubectl scale``; Kubernetes
rounds ``maxSurge`` up where ECS rounds ``maximumPercent`` down, the one
difference). ``deploymentCircuitBreaker`` sets a progress deadline, and with
``rollback`` the ``shoal.io/auto-rollback`` annotation, so the deployment
controller (``shoal.controllers.autorollback``) goes back to the last revision
that was fully available when new tasks crash-loop, cannot pull their image,
stay unready or miss the deadline, as ECS's breaker does.

``loadBalancers`` become one ClusterIP Service named after the ECS service,
one port per entry (``containerPort``), selecting the service's tasks: what a
target group gives its callers, a stable address in front of the tasks. No
cloud load balancer is made.

``describe`` reads a Deployment, its ReplicaSets, pods and events back as
DescribeServices answers: one ``deployments`` entry per ReplicaSet that has
tasks (PRIMARY the newest, ACTIVE the others), with ``rolloutState``
COMPLETED / IN_PROGRESS / FAILED, and ECS's ``events`` sentences, newest first.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shoal.formats.ecs import names, placement, taskdef
from shoal.formats.ecs.errors import invalid

Obj = dict[str, Any]
AUTO_ROLLBACK = "shoal.io/auto-rollback"  # read by shoal.controllers.autorollback
RESTARTED_AT = "ecs.shoal.io/restarted-at"
PROGRESS_DEADLINE = 600
BREAKER_DEADLINE = 300
DEFAULT_DEPLOYMENT = {"minimumHealthyPercent": 100, "maximumPercent": 200,
                      "deploymentCircuitBreaker": {"enable": False, "rollback": False}}
_CREATE_KEYS = frozenset({"cluster", "serviceName", "taskDefinition", "loadBalancers", "serviceRegistries",
                          "desiredCount", "clientToken", "launchType", "capacityProviderStrategy", "platformVersion",
                          "role", "deploymentConfiguration", "placementConstraints", "placementStrategy",
                          "networkConfiguration", "healthCheckGracePeriodSeconds", "schedulingStrategy",
                          "deploymentController", "tags", "enableECSManagedTags", "propagateTags",
                          "enableExecuteCommand", "availabilityZoneRebalancing", "serviceConnectConfiguration",
                          "volumeConfigurations", "vpcLatticeConfigurations"})
_KEPT = ("placementConstraints", "placementStrategy", "deploymentConfiguration", "loadBalancers", "launchType",
         "networkConfiguration", "healthCheckGracePeriodSeconds", "tags", "enableECSManagedTags", "propagateTags",
         "enableExecuteCommand", "role")


@dataclass(frozen=True, slots=True)
class Objects:
    deployment: Obj
    service: Obj | None  # the load balancers' Service


def _count(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise invalid(f"{what} must be a non-negative integer.")
    return v


def deployment_config(raw: Any, base: Obj | None = None) -> Obj:
    cfg: Obj = json.loads(json.dumps(base or DEFAULT_DEPLOYMENT))
    if raw is None:
        return cfg
    if not isinstance(raw, dict):
        raise invalid("deploymentConfiguration must be an object.")
    for key in ("minimumHealthyPercent", "maximumPercent"):
        if key in raw:
            cfg[key] = _count(raw[key], key)
    cb = raw.get("deploymentCircuitBreaker")
    if cb is not None:
        if not isinstance(cb, dict) or not isinstance(cb.get("enable"), bool) or \
                not isinstance(cb.get("rollback"), bool):
            raise invalid("deploymentCircuitBreaker needs the booleans enable and rollback.")
        cfg["deploymentCircuitBreaker"] = {"enable": cb["enable"], "rollback": cb["rollback"]}
    if cfg["minimumHealthyPercent"] > 100:
        raise invalid("minimumHealthyPercent must be between 0 and 100.")
    if cfg["maximumPercent"] < 100:
        raise invalid("maximumPercent must be at least 100.")
    if cfg["minimumHealthyPercent"] == 100 and cfg["maximumPercent"] == 100:
        raise invalid("The deployment cannot proceed with minimumHealthyPercent 100 and maximumPercent 100: "
                      "raise maximumPercent or lower minimumHealthyPercent.")
    return cfg


def rolling_update(cfg: Obj) -> Obj:
    out: Obj = {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": f"{100 - cfg['minimumHealthyPercent']}%", "maxSurge": f"{cfg['maximumPercent'] - 100}%"}}
    return out


def _load_balancers(raw: Any, td: Obj) -> list[Obj]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("loadBalancers must be a list.")
    out = []
    for lb in raw:
        if not isinstance(lb, dict) or not lb.get("containerName") or not isinstance(lb.get("containerPort"), int):
            raise invalid("A load balancer needs containerName and containerPort.")
        c = next((c for c in td["containerDefinitions"] if c["name"] == lb["containerName"]), None)
        if c is None:
            raise invalid(f"The container {lb['containerName']} does not exist in the task definition.")
        if all(p["containerPort"] != lb["containerPort"] for p in c.get("portMappings") or []):
            raise invalid(f"The container {lb['containerName']} did not have a container port "
                          f"{lb['containerPort']} defined.")
        out.append(dict(lb))
    return out


def check_create(req: Any) -> Obj:
    """A CreateService request, checked: the config kept for the service (task definition unresolved)."""
    if not isinstance(req, dict):
        raise invalid("The request must be an object.")
    unknown = sorted(set(req) - _CREATE_KEYS)
    if unknown:
        raise invalid(f"Unknown parameter in input: \"{unknown[0]}\".")
    name = names.check_name(req.get("serviceName"), "Service name")
    if req.get("schedulingStrategy", "REPLICA") != "REPLICA":
        raise invalid("shoal supports schedulingStrategy REPLICA only (a DAEMON service is a Kubernetes "
                      "DaemonSet: make one with kubectl).")
    if req.get("launchType") not in (None, "EC2", "EXTERNAL", "FARGATE"):
        raise invalid(f"Invalid launchType: {req.get('launchType')}")
    if req.get("desiredCount") is None:
        raise invalid("desiredCount is required for a service with schedulingStrategy REPLICA.")
    desired = _count(req["desiredCount"], "desiredCount")
    grace = req.get("healthCheckGracePeriodSeconds")
    if grace is not None:
        _count(grace, "healthCheckGracePeriodSeconds")
    cfg: Obj = {"serviceName": name, "desiredCount": desired,
                "placementConstraints": placement.check_constraints(req.get("placementConstraints")),
                "placementStrategy": placement.check_strategies(req.get("placementStrategy")),
                "deploymentConfiguration": deployment_config(req.get("deploymentConfiguration")),
                "launchType": req.get("launchType") or "EC2", "loadBalancers": req.get("loadBalancers") or []}
    for key in ("networkConfiguration", "healthCheckGracePeriodSeconds", "tags", "enableECSManagedTags",
                "propagateTags", "enableExecuteCommand", "role"):
        if req.get(key) is not None:
            cfg[key] = req[key]
    return cfg


def _template(td: Obj, revision: int, cfg: Obj, own: Mapping[str, str], known: Mapping[str, set[str]],
              extra_annotations: Mapping[str, str]) -> Obj:
    spec, ann = taskdef.pod_spec({**td, "revision": revision})
    td_constraints = placement.check_constraints(td.get("placementConstraints"))
    spec.update(placement.scheduling([*cfg["placementConstraints"], *td_constraints], cfg["placementStrategy"],
                                     own=own, known=known))
    labels = {**own, names.MANAGED_BY: names.MANAGER, names.FAMILY_LABEL: names.label_value(td["family"])}
    return {"metadata": {"labels": labels, "annotations": {**ann, **extra_annotations}}, "spec": spec}


def _kept(cfg: Obj) -> str:
    return json.dumps({k: cfg[k] for k in _KEPT if k in cfg}, sort_keys=True)


def to_objects(cfg: Obj, td: Obj, revision: int, *, namespace: str,
               known: Mapping[str, set[str]] | None = None) -> Objects:
    """The Deployment (and load balancers' Service) of a checked service config and its task definition."""
    name = names.fold(cfg["serviceName"])
    own = {names.SERVICE_LABEL: name}
    lbs = _load_balancers(cfg.get("loadBalancers"), td)
    cfg = {**cfg, "loadBalancers": lbs}
    dc = cfg["deploymentConfiguration"]
    breaker = dc["deploymentCircuitBreaker"]
    ann = {names.NAME_ANNOTATION: cfg["serviceName"], names.SERVICE_CONFIG_ANNOTATION: _kept(cfg)}
    if breaker["enable"] and breaker["rollback"]:
        ann[AUTO_ROLLBACK] = "true"
    labels = {names.MANAGED_BY: names.MANAGER, **own}
    d: Obj = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": ann},
              "spec": {"replicas": cfg["desiredCount"], "selector": {"matchLabels": dict(own)},
                       "strategy": rolling_update(dc),
                       "progressDeadlineSeconds": BREAKER_DEADLINE if breaker["enable"] else PROGRESS_DEADLINE,
                       "template": _template(td, revision, cfg, own, known or {}, {})}}
    svc = None
    if lbs:
        ports, seen = [], set()
        for lb in lbs:
            if lb["containerPort"] in seen:
                continue
            seen.add(lb["containerPort"])
            ports.append({"name": f"port-{lb['containerPort']}", "port": lb["containerPort"],
                          "targetPort": lb["containerPort"], "protocol": "TCP"})
        svc = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                            "annotations": {names.NAME_ANNOTATION: cfg["serviceName"]}},
               "spec": {"type": "ClusterIP", "selector": dict(own), "ports": ports}}
    return Objects(d, svc)


def config_of(d: Obj) -> Obj:
    """The service config a Deployment carries (what ECS returns that Kubernetes has no field for)."""
    ann = (d.get("metadata") or {}).get("annotations") or {}
    try:
        kept = json.loads(ann.get(names.SERVICE_CONFIG_ANNOTATION) or "{}")
    except ValueError:
        kept = {}
    kept = kept if isinstance(kept, dict) else {}
    return {"serviceName": service_name(d), "placementConstraints": [], "placementStrategy": [],
            "deploymentConfiguration": json.loads(json.dumps(DEFAULT_DEPLOYMENT)), "launchType": "EC2",
            "loadBalancers": [], **kept, "desiredCount": int((d.get("spec") or {}).get("replicas") or 0)}


def service_name(d: Obj) -> str:
    md = d.get("metadata") or {}
    return str((md.get("annotations") or {}).get(names.NAME_ANNOTATION) or md.get("name") or "")


def template_taskdef(template: Obj) -> tuple[str, int] | None:
    """(family, revision) a pod template (or pod) runs, from its annotation."""
    ref = ((template.get("metadata") or {}).get("annotations") or {}).get(names.TASKDEF_ANNOTATION)
    if not ref or ":" not in ref:
        return None
    family, _, rev = ref.rpartition(":")
    return (family, int(rev)) if rev.isdigit() else None


def check_update(req: Any) -> Obj:
    if not isinstance(req, dict):
        raise invalid("The request must be an object.")
    if not req.get("service"):
        raise invalid("service is required.")
    out: Obj = {}
    if req.get("desiredCount") is not None:
        out["desiredCount"] = _count(req["desiredCount"], "desiredCount")
    if req.get("placementConstraints") is not None:
        out["placementConstraints"] = placement.check_constraints(req["placementConstraints"])
    if req.get("placementStrategy") is not None:
        out["placementStrategy"] = placement.check_strategies(req["placementStrategy"])
    if req.get("healthCheckGracePeriodSeconds") is not None:
        out["healthCheckGracePeriodSeconds"] = _count(req["healthCheckGracePeriodSeconds"],
                                                      "healthCheckGracePeriodSeconds")
    for key in ("loadBalancers", "networkConfiguration", "enableExecuteCommand", "propagateTags",
                "enableECSManagedTags"):
        if req.get(key) is not None:
            out[key] = req[key]
    return out


def updated(d: Obj, changes: Obj, td: Obj | None, revision: int | None, *, force_new: bool, now: str,
            known: Mapping[str, set[str]] | None = None) -> Objects:
    """The Deployment after an UpdateService: ``changes`` checked by ``check_update``; ``td`` the task
    definition to run (the current one when the request named none)."""
    cfg = {**config_of(d), **changes}
    if "deploymentConfiguration" in changes:
        cfg["deploymentConfiguration"] = deployment_config(changes["deploymentConfiguration"],
                                                           config_of(d)["deploymentConfiguration"])
    assert td is not None and revision is not None
    fresh = to_objects(cfg, td, revision, namespace=str(d["metadata"]["namespace"]), known=known)
    new = json.loads(json.dumps(d))
    new.pop("status", None)
    md = new["metadata"]
    md.setdefault("annotations", {}).update(fresh.deployment["metadata"]["annotations"])
    if AUTO_ROLLBACK not in fresh.deployment["metadata"]["annotations"]:
        md["annotations"].pop(AUTO_ROLLBACK, None)
    spec = new["spec"]
    old_template = spec.get("template") or {}
    spec["replicas"] = cfg["desiredCount"]
    spec["strategy"] = fresh.deployment["spec"]["strategy"]
    spec["progressDeadlineSeconds"] = fresh.deployment["spec"]["progressDeadlineSeconds"]
    tmpl = fresh.deployment["spec"]["template"]
    restarted = ((old_template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT)
    if force_new:
        restarted = now
    if restarted:
        tmpl["metadata"]["annotations"][RESTARTED_AT] = restarted
    spec["template"] = tmpl
    return Objects(new, fresh.service)


# --- reading back -------------------------------------------------------------------------------------
def epoch(ts: Any) -> float | None:
    if not ts:
        return None
    try:
        return dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def deployment_id(rs_uid: str) -> str:
    """ECS's ``ecs-svc/<19 digits>`` from a ReplicaSet's uid (stable, needs no storage)."""
    digits = str(int(rs_uid.replace("-", "") or "0", 16))
    return f"ecs-svc/{digits[:19].rjust(19, '0')}"


def _cond(obj: Obj, type_: str) -> Obj | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


def _running(p: Obj) -> bool:
    return (p.get("status") or {}).get("phase") == "Running" and not (p.get("metadata") or {}).get("deletionTimestamp")


def _pending(p: Obj) -> bool:
    return (p.get("status") or {}).get("phase") in (None, "Pending") and \
        not (p.get("metadata") or {}).get("deletionTimestamp")


def _owned(child: Obj, owner: Obj) -> bool:
    uid = (owner.get("metadata") or {}).get("uid")
    return any(r.get("uid") == uid for r in (child.get("metadata") or {}).get("ownerReferences") or [])


def complete(d: Obj) -> bool:
    st, sp, md = d.get("status") or {}, d.get("spec") or {}, d.get("metadata") or {}
    want = int(sp.get("replicas") or 0)
    return int(st.get("observedGeneration") or 0) >= int(md.get("generation") or 1) and \
        int(st.get("updatedReplicas") or 0) == want and int(st.get("availableReplicas") or 0) == want and \
        int(st.get("replicas") or 0) == want


def rollout_state(d: Obj) -> tuple[str, str]:
    prog = _cond(d, "Progressing")
    if prog and prog.get("status") == "False":
        return "FAILED", str(prog.get("message") or "ECS deployment circuit breaker: the deployment failed.")
    if complete(d):
        return "COMPLETED", "ECS deployment completed."
    if prog and prog.get("reason") == "DeploymentRollback":
        return "IN_PROGRESS", f"ECS deployment circuit breaker: {prog.get('message')}"
    return "IN_PROGRESS", "ECS deployment in progress."


def _arn_of(arns: names.Arns, ref: tuple[str, int] | None) -> str:
    return arns.taskdef(*ref) if ref else ""


def deployments(d: Obj, rss: list[Obj], pods: list[Obj], arns: names.Arns) -> list[Obj]:
    mine = [rs for rs in rss if _owned(rs, d)]
    mine.sort(key=lambda rs: int(((rs.get("metadata") or {}).get("annotations") or {})
                                 .get("deployment.kubernetes.io/revision") or 0), reverse=True)
    cfg = config_of(d)
    state, reason = rollout_state(d)
    out = []
    for i, rs in enumerate(mine):
        rs_pods = [p for p in pods if _owned(p, rs)]
        replicas = int((rs.get("spec") or {}).get("replicas") or 0)
        if i > 0 and replicas == 0 and not rs_pods:
            continue
        md = rs.get("metadata") or {}
        primary = i == 0
        did = deployment_id(str(md.get("uid") or ""))
        e: Obj = {"id": did, "status": "PRIMARY" if primary else "ACTIVE",
                  "taskDefinition": _arn_of(arns, template_taskdef((rs.get("spec") or {}).get("template") or {})),
                  "desiredCount": int((d.get("spec") or {}).get("replicas") or 0) if primary else replicas,
                  "pendingCount": sum(1 for p in rs_pods if _pending(p)),
                  "runningCount": sum(1 for p in rs_pods if _running(p)), "failedTasks": 0,
                  "createdAt": epoch(md.get("creationTimestamp")), "updatedAt": epoch(md.get("creationTimestamp")),
                  "launchType": cfg.get("launchType", "EC2")}
        if primary:
            e["rolloutState"] = state
            e["rolloutStateReason"] = reason.replace("ECS deployment ", f"ECS deployment {did} ", 1) \
                if reason.startswith("ECS deployment ") and "circuit" not in reason else reason
        else:
            e["rolloutState"] = "IN_PROGRESS" if state != "COMPLETED" else "COMPLETED"
        if cfg.get("networkConfiguration"):
            e["networkConfiguration"] = cfg["networkConfiguration"]
        out.append(e)
    return out


def _event_time(e: Obj) -> float:
    return epoch(e.get("lastTimestamp") or e.get("eventTime") or (e.get("metadata") or {}).get("creationTimestamp")) \
        or 0.0


def events(d: Obj, rss: list[Obj], pods: list[Obj], k8s_events: list[Obj], *, limit: int = 100) -> list[Obj]:
    """ECS's service events from the Kubernetes events of the Deployment, its ReplicaSets and pods."""
    name = service_name(d)
    ids = {str((d.get("metadata") or {}).get("uid"))} | {str((rs.get("metadata") or {}).get("uid"))
                                                         for rs in rss if _owned(rs, d)}
    ns = str((d.get("metadata") or {}).get("namespace") or "")
    pod_names = {str((p.get("metadata") or {}).get("name")) for p in pods}
    out: list[tuple[float, int, Obj]] = []
    for e in k8s_events:
        rank = 1
        io = e.get("involvedObject") or {}
        reason, msg = str(e.get("reason") or ""), str(e.get("message") or "")
        if io.get("uid") in ids:
            if reason == "SuccessfulCreate" and msg.startswith("Created pod: "):
                pod = msg[len("Created pod: "):]
                text = f"(service {name}) has started 1 tasks: (task {names.task_id(ns, pod)})."
                rank = 0
            elif reason == "SuccessfulDelete" and msg.startswith("Deleted pod: "):
                pod = msg[len("Deleted pod: "):]
                text = f"(service {name}) has stopped 1 running tasks: (task {names.task_id(ns, pod)})."
                rank = 1
            elif reason == "ScalingReplicaSet":
                continue
            elif e.get("type") == "Warning" and reason == "FailedCreate":
                text = f"(service {name}) was unable to place a task. Reason: {msg}."
            else:
                text = f"(service {name}) {msg}"
        elif io.get("kind") == "Pod" and io.get("name") in pod_names and reason == "FailedScheduling":
            text = (f"(service {name}) was unable to place a task because no container instance met all of its "
                    f"requirements. Reason: {msg}")
        else:
            continue
        when = _event_time(e)
        out.append((when, rank, {"id": str((e.get("metadata") or {}).get("uid") or ""), "createdAt": when,
                                 "message": text}))
    prog = _cond(d, "Progressing")
    if complete(d) and prog is not None:
        when = epoch(prog.get("lastUpdateTime") or prog.get("lastTransitionTime")) or 0.0
        out.append((when, 2, {"id": f"{(d.get('metadata') or {}).get('uid')}-steady-{int(when)}", "createdAt": when,
                              "message": f"(service {name}) has reached a steady state."}))
    out.sort(key=lambda x: (x[0], x[1]), reverse=True)  # at one time: steady after stops after starts
    return [e for _, _, e in out[:limit]]


def describe(d: Obj, rss: list[Obj], pods: list[Obj], k8s_events: list[Obj], *, arns: names.Arns,
             cluster: str) -> Obj:
    """A Deployment as DescribeServices answers."""
    cfg = config_of(d)
    md = d.get("metadata") or {}
    name = cfg["serviceName"]
    tmpl = (d.get("spec") or {}).get("template") or {}
    own = [p for p in pods if any(_owned(p, rs) for rs in rss if _owned(rs, d))]
    out: Obj = {"serviceArn": arns.service(cluster, name), "serviceName": name, "clusterArn": arns.cluster(cluster),
                "loadBalancers": cfg.get("loadBalancers") or [], "serviceRegistries": [],
                "status": "DRAINING" if md.get("deletionTimestamp") else "ACTIVE",
                "desiredCount": cfg["desiredCount"], "runningCount": sum(1 for p in own if _running(p)),
                "pendingCount": sum(1 for p in own if _pending(p)), "launchType": cfg.get("launchType", "EC2"),
                "taskDefinition": _arn_of(arns, template_taskdef(tmpl)),
                "deploymentConfiguration": cfg["deploymentConfiguration"],
                "deployments": deployments(d, rss, pods, arns), "events": events(d, rss, pods, k8s_events),
                "createdAt": epoch(md.get("creationTimestamp")),
                "placementConstraints": cfg.get("placementConstraints") or [],
                "placementStrategy": cfg.get("placementStrategy") or [], "schedulingStrategy": "REPLICA",
                "deploymentController": {"type": "ECS"}, "createdBy": f"arn:aws:iam::{arns.account}:root",
                "enableECSManagedTags": bool(cfg.get("enableECSManagedTags", False)),
                "propagateTags": cfg.get("propagateTags", "NONE"),
                "enableExecuteCommand": bool(cfg.get("enableExecuteCommand", False))}
    for key in ("networkConfiguration", "healthCheckGracePeriodSeconds", "tags"):
        if cfg.get(key) is not None:
            out[key] = cfg[key]
    if cfg.get("role"):
        out["roleArn"] = cfg["role"]
    return out

