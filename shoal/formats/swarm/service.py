"""A Swarm ``ServiceSpec`` onto a workload and its Services, and back.

``Mode.Replicated`` is a Deployment, ``Mode.Global`` a DaemonSet and
``Mode.ReplicatedJob`` a Job (``GlobalJob`` is refused). The workload carries
the stack and service labels (``com.docker.stack.namespace``,
``com.docker.swarm.service.name``; the latter is its selector), the Swarm
labels (as labels where Kubernetes allows the key and value, and all of them
in the annotation ``swarm.shoal.io/labels``), and in ``swarm.shoal.io/spec``
the parts of the spec Kubernetes has no field for (networks, restart delay
and window, the update and rollback configs' delay, monitor and failure
ratio, container labels ...), so ``docker service inspect`` shows back what
was sent. Every other field is read back from the Kubernetes object, so a
``kubectl scale`` or ``kubectl set image`` shows in ``docker service ls``.

Update config: ``Order: start-first`` surges ``Parallelism`` new tasks before
stopping old ones (maxSurge P, maxUnavailable 0), ``stop-first`` (Swarm's
default) the reverse; parallelism 0 (all at once) is 100%. ``Delay`` is the
Deployment's ``minReadySeconds`` (a new task must stay up that long before
the next batch). ``FailureAction: rollback`` turns on shoal's automatic
rollback (``shoal.io/auto-rollback``) with ``Monitor`` as how long a new task
may stay unready. ``RestartPolicy.Condition`` ``none``/``on-failure`` are
honoured for jobs; a Deployment's pods always restart (Kubernetes allows
nothing else), so for services they are only kept and shown back.

Endpoint: the Service ``<name>`` gives the name a virtual IP over the target
ports (mode ``vip``), or is headless (``dnsrr``, or ``vip`` without ports:
Swarm's VIP forwards every port, a ClusterIP only declared ones, so a name
that resolves to the tasks serves any port). Published ``ingress`` ports go
on a second Service ``<name>-published``: of type LoadBalancer with the
published port as its port, which shoal's ServiceLB opens on every node at
exactly that number — Swarm's routing mesh (a NodePort could not: its range
is 30000-32767); a port published as 0 asks for any, which is a NodePort the
API allocates from 30000-32767, as Swarm does. ``host`` ports are hostPorts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.api.validation_base import label_value, qualified_name
from shoal.formats.swarm import networks, placement
from shoal.formats.swarm.container import FORCE_ANNOTATION, SecretRef, pod_spec, task_template
from shoal.formats.swarm.names import NAME_ANNOTATION, SERVICE_LABEL, STACK_LABEL, place, swarm_name
from shoal.formats.swarm.wire import (
    SECOND,
    SpecError,
    duration,
    integer,
    obj,
    seconds_ceil,
    str_map,
    strs,
)

SPEC_ANNOTATION = "swarm.shoal.io/spec"
LABELS_ANNOTATION = "swarm.shoal.io/labels"
PREVIOUS_ANNOTATION = "swarm.shoal.io/previous-spec"
AUTO_ROLLBACK = "shoal.io/auto-rollback"
AUTO_ROLLBACK_SECONDS = "shoal.io/auto-rollback-readiness-seconds"
PUBLISHED_SUFFIX = networks.PUBLISHED_SUFFIX
_PROTOCOLS = {"tcp": "TCP", "udp": "UDP", "sctp": "SCTP"}


@dataclass(frozen=True, slots=True)
class Objects:
    """What one service is in Kubernetes."""

    namespace: str
    name: str
    kind: str  # Deployment | DaemonSet | Job
    workload: dict[str, Any]
    services: list[dict[str, Any]] = field(default_factory=list)  # the name's Service, then the published one
    claims: list[str] = field(default_factory=list)  # named volumes: claims the caller makes if missing


def _mode(spec: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    mode = obj(spec.get("Mode"), "Mode")
    if not mode or "Replicated" in mode:
        r = obj(mode.get("Replicated"), "Mode.Replicated")
        return "Deployment", {"replicas": integer(r.get("Replicas", 1), "Replicas")}
    if "Global" in mode:
        return "DaemonSet", {}
    if "ReplicatedJob" in mode:
        j = obj(mode.get("ReplicatedJob"), "Mode.ReplicatedJob")
        total = integer(j.get("TotalCompletions", 1), "TotalCompletions")
        return "Job", {"completions": total, "parallelism": integer(j.get("MaxConcurrent", total), "MaxConcurrent")}
    if "GlobalJob" in mode:
        raise SpecError("Mode.GlobalJob is not supported by shoal (a Job runs a number of completions, not one a node)")
    raise SpecError(f"invalid Mode {sorted(mode)}")


def _ports(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    ports: list[dict[str, Any]] = []
    for i, p in enumerate(obj(spec.get("EndpointSpec"), "EndpointSpec").get("Ports") or []):
        p = obj(p, f"EndpointSpec.Ports[{i}]")
        target = integer(p.get("TargetPort"), "TargetPort")
        published = integer(p.get("PublishedPort"), "PublishedPort")
        proto = str(p.get("Protocol") or "tcp").lower()
        mode = str(p.get("PublishMode") or "ingress")
        if not 1 <= target <= 65535:
            raise SpecError(f"invalid target port {target}: it must be 1-65535")
        if published > 65535:
            raise SpecError(f"invalid published port {published}: it must be 0-65535")
        if proto not in _PROTOCOLS:
            raise SpecError(f"invalid protocol {proto!r}: tcp, udp or sctp")
        if mode not in ("ingress", "host"):
            raise SpecError(f"invalid publish mode {mode!r}: ingress or host")
        ports.append({"Protocol": proto, "TargetPort": target, "PublishedPort": published, "PublishMode": mode,
                      **({"Name": p["Name"]} if p.get("Name") else {})})
    return ports


def _strategy(kind: str, uc: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    """(update strategy, minReadySeconds) for an UpdateConfig."""
    par = integer(uc.get("Parallelism", 1), "UpdateConfig.Parallelism")
    amount: int | str = par if par else "100%"
    order = str(uc.get("Order") or "stop-first")
    if order not in ("stop-first", "start-first"):
        raise SpecError(f"invalid UpdateConfig.Order {order!r}: stop-first or start-first")
    if str(uc.get("FailureAction") or "pause") not in ("pause", "continue", "rollback"):
        raise SpecError(f"invalid UpdateConfig.FailureAction {uc.get('FailureAction')!r}: pause, continue or rollback")
    ratio = uc.get("MaxFailureRatio", 0)
    if not isinstance(ratio, int | float) or isinstance(ratio, bool) or not 0 <= ratio <= 1:
        raise SpecError(f"invalid UpdateConfig.MaxFailureRatio {ratio!r}: a number from 0 to 1")
    ru = {"maxSurge": amount, "maxUnavailable": 0} if order == "start-first" else {"maxSurge": 0,
                                                                                     "maxUnavailable": amount}
    delay = seconds_ceil(duration(uc.get("Delay"), "UpdateConfig.Delay"))
    duration(uc.get("Monitor"), "UpdateConfig.Monitor")
    return {"type": "RollingUpdate", "rollingUpdate": ru}, delay


def _labels(spec_labels: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in spec_labels.items() if not qualified_name(k) and not label_value(v)}


def to_objects(raw: Mapping[str, Any], *, secrets: Mapping[str, SecretRef] | None = None,
               configs: Mapping[str, SecretRef] | None = None,
               node_ids: Mapping[str, str] | None = None, network_names: Mapping[str, str] | None = None
               ) -> Objects:
    """The Kubernetes objects of a (canonical) ServiceSpec; ``SpecError`` if Swarm would refuse it.

    ``network_names`` maps the networks' ids and names to their names (None: the spec names them); each
    network the service joins is a pod-template label (``networks``)."""
    spec = dict(raw)
    name = spec.get("Name")
    if not isinstance(name, str):
        raise SpecError("name must be provided" if not name else "invalid Name")
    labels = str_map(spec.get("Labels"), "Labels")
    ns, k8s = place(name, labels, what="service name")
    kind, mode_fields = _mode(spec)
    tt = obj(spec.get("TaskTemplate"), "TaskTemplate")
    pspec, aside, claims = pod_spec(tt, name=k8s, secrets=secrets or {}, configs=configs or {})
    selector = {SERVICE_LABEL: name}
    tmpl_labels = {**selector, **({STACK_LABEL: labels[STACK_LABEL]} if STACK_LABEL in labels else {}),
                   **networks.template_labels(networks.resolve(networks.targets(spec), network_names))}
    pl = obj(tt.get("Placement"), "Placement")
    aff = placement.affinity(strs(pl.get("Constraints"), "Placement.Constraints"), node_ids or {})
    max_rep = integer(pl.get("MaxReplicas"), "Placement.MaxReplicas")
    spread = placement.spread(pl.get("Preferences") or [], max_rep, selector)
    if max_rep == 1:
        aff = {**(aff or {}), "podAntiAffinity": placement.one_per_node(selector)}
    if aff:
        pspec["affinity"] = aff
    if spread:
        pspec["topologySpreadConstraints"] = spread
    rp = obj(tt.get("RestartPolicy"), "RestartPolicy")
    cond = str(rp.get("Condition") or "any")
    if cond not in ("any", "on-failure", "none"):
        raise SpecError(f"invalid RestartPolicy.Condition {cond!r}: any, on-failure or none")
    duration(rp.get("Delay"), "RestartPolicy.Delay")
    duration(rp.get("Window"), "RestartPolicy.Window")
    ports = _ports(spec)
    host_ports = [p for p in ports if p["PublishMode"] == "host"]
    c = pspec["containers"][0]
    declared = {(p["TargetPort"], p["Protocol"]): p for p in ports}
    if declared:
        c["ports"] = [{"containerPort": t, "protocol": _PROTOCOLS[pr],
                       **({"hostPort": p["PublishedPort"] or t} if p in host_ports else {})}
                      for (t, pr), p in declared.items()]
    uc, rc = obj(spec.get("UpdateConfig"), "UpdateConfig"), obj(spec.get("RollbackConfig"), "RollbackConfig")
    if rc:
        _strategy(kind, rc)
    template_ann: dict[str, str] = {}
    force = integer(tt.get("ForceUpdate"), "ForceUpdate")
    if force:
        template_ann[FORCE_ANNOTATION] = str(force)
    template: dict[str, Any] = {"metadata": {"labels": tmpl_labels}, "spec": pspec}
    if template_ann:
        template["metadata"]["annotations"] = template_ann
    # what Kubernetes has no field for
    endpoint_mode = str(obj(spec.get("EndpointSpec"), "EndpointSpec").get("Mode") or "vip")
    if endpoint_mode not in ("vip", "dnsrr"):
        raise SpecError(f"invalid EndpointSpec.Mode {endpoint_mode!r}: vip or dnsrr")
    if endpoint_mode == "dnsrr" and any(p["PublishMode"] == "ingress" for p in ports):
        raise SpecError("port published with ingress mode can't be used with dnsrr mode")
    kept: dict[str, Any] = {"ContainerSpec": aside} if aside else {}
    for key in ("Networks", "LogDriver"):
        if tt.get(key):
            kept[key] = tt[key]
    if spec.get("Networks"):
        kept["Networks"] = [*kept.get("Networks", []), *spec["Networks"]]
    if {k: v for k, v in rp.items() if k != "Condition"} or cond != "any":
        kept["RestartPolicy"] = rp
    for key in ("UpdateConfig", "RollbackConfig"):
        if spec.get(key):
            kept[key] = spec[key]
    if endpoint_mode != "vip":
        kept["EndpointMode"] = endpoint_mode
    if max_rep > 1:
        kept["MaxReplicas"] = max_rep
    if pl.get("Platforms"):
        kept["Platforms"] = pl["Platforms"]
    annotations = {NAME_ANNOTATION: name, LABELS_ANNOTATION: json.dumps(labels, sort_keys=True)}
    if kept:
        annotations[SPEC_ANNOTATION] = json.dumps(kept, sort_keys=True)
    if str(uc.get("FailureAction") or "") == "rollback":
        annotations[AUTO_ROLLBACK] = "true"
        if uc.get("Monitor"):
            annotations[AUTO_ROLLBACK_SECONDS] = str(seconds_ceil(duration(uc["Monitor"], "Monitor")))
    meta = {"name": k8s, "namespace": ns, "labels": {**_labels(labels), SERVICE_LABEL: name},
            "annotations": annotations}
    body: dict[str, Any] = {"selector": {"matchLabels": selector}, "template": template}
    if kind == "Deployment":
        strategy, delay = _strategy(kind, uc)
        body.update(mode_fields, strategy=strategy)
        if delay:
            body["minReadySeconds"] = delay
    elif kind == "DaemonSet":
        strategy, delay = _strategy(kind, uc)
        ru = strategy["rollingUpdate"]
        if ru["maxSurge"] == 0 and ru["maxUnavailable"] == 0:
            ru["maxUnavailable"] = 1
        body["updateStrategy"] = strategy
        if delay:
            body["minReadySeconds"] = delay
    else:
        body = {"template": template, **mode_fields}
        pspec["restartPolicy"] = "Never" if cond == "none" else "OnFailure"
        if rp.get("MaxAttempts") is not None:
            body["backoffLimit"] = integer(rp["MaxAttempts"], "RestartPolicy.MaxAttempts")
    api = "batch/v1" if kind == "Job" else "apps/v1"
    workload = {"apiVersion": api, "kind": kind, "metadata": meta, "spec": body}
    return Objects(ns, k8s, kind, workload, _services(ns, k8s, name, selector, labels, ports, endpoint_mode), claims)


def _services(ns: str, k8s: str, name: str, selector: dict[str, str], labels: Mapping[str, str],
              ports: list[dict[str, Any]], endpoint_mode: str) -> list[dict[str, Any]]:
    svc_labels = {SERVICE_LABEL: name, **({STACK_LABEL: labels[STACK_LABEL]} if STACK_LABEL in labels else {})}
    meta = {"namespace": ns, "labels": svc_labels, "annotations": {NAME_ANNOTATION: name}}
    targets: dict[tuple[int, str], None] = {(p["TargetPort"], p["Protocol"]): None for p in ports}
    internal: dict[str, Any] = {"selector": selector}
    if endpoint_mode == "dnsrr" or not targets:
        internal["clusterIP"] = "None"
    if targets:
        internal["ports"] = [{"name": f"{pr}-{t}", "port": t, "targetPort": t, "protocol": _PROTOCOLS[pr]}
                             for t, pr in targets]
    out = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": k8s, **meta}, "spec": internal}]
    ingress = [p for p in ports if p["PublishMode"] == "ingress"]
    if ingress:
        fixed = [p for p in ingress if p["PublishedPort"]]
        if fixed and len(fixed) != len(ingress):
            raise SpecError("shoal publishes a service's ingress ports either all at given numbers or all at "
                            "ports it picks, not a mix")
        if len({(p["PublishedPort"], p["Protocol"]) for p in fixed}) != len(fixed):
            raise SpecError("a published port is given twice")
        sp: dict[str, Any] = {"type": "LoadBalancer" if fixed else "NodePort", "selector": selector, "ports": [
            {"name": f"{p['Protocol']}-{p['PublishedPort'] or p['TargetPort']}-{i}",
             "port": p["PublishedPort"] or p["TargetPort"], "targetPort": p["TargetPort"],
             "protocol": _PROTOCOLS[p["Protocol"]]} for i, p in enumerate(ingress)]}
        out.append({"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": (k8s + PUBLISHED_SUFFIX)[:63], **meta}, "spec": sp})
    return out


def _kept(workload: Mapping[str, Any]) -> dict[str, Any]:
    raw = ((workload.get("metadata") or {}).get("annotations") or {}).get(SPEC_ANNOTATION)
    try:
        kept = json.loads(raw) if raw else {}
    except ValueError:
        kept = {}
    return kept if isinstance(kept, dict) else {}


def _update_config_of(body: Mapping[str, Any], kind: str, kept: Mapping[str, Any]) -> dict[str, Any] | None:
    strategy = body.get("strategy" if kind == "Deployment" else "updateStrategy") or {}
    if kind == "Job" or strategy.get("type") not in (None, "RollingUpdate"):
        return dict(kept["UpdateConfig"]) if kept.get("UpdateConfig") else None
    ru = strategy.get("rollingUpdate") or {}
    surge, unavail = ru.get("maxSurge", 0), ru.get("maxUnavailable", 0)
    start_first = surge not in (0, "0", "0%", None) and unavail in (0, "0", "0%")
    amount = surge if start_first else unavail
    uc: dict[str, Any] = dict(kept.get("UpdateConfig") or {"FailureAction": "pause", "MaxFailureRatio": 0})
    uc["Parallelism"] = 0 if amount == "100%" else (int(amount) if isinstance(amount, int) else 1)
    uc["Order"] = "start-first" if start_first else "stop-first"
    if body.get("minReadySeconds"):
        uc["Delay"] = int(body["minReadySeconds"]) * SECOND
    else:
        uc.pop("Delay", None)
    return uc


def _endpoint_of(services: Sequence[Mapping[str, Any]], pod: Mapping[str, Any], kept: Mapping[str, Any]
                 ) -> dict[str, Any]:
    ports: list[dict[str, Any]] = []
    for svc in services[1:2]:
        sp = svc.get("spec") or {}
        for p in sp.get("ports") or []:
            published = int(p.get("port") or 0) if sp.get("type") == "LoadBalancer" else int(p.get("nodePort") or 0)
            ports.append({"Protocol": str(p.get("protocol") or "TCP").lower(),
                          "TargetPort": int(p.get("targetPort") or p.get("port") or 0),
                          "PublishedPort": published, "PublishMode": "ingress"})
    for c in pod.get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                ports.append({"Protocol": str(p.get("protocol") or "TCP").lower(), "TargetPort": p["containerPort"],
                              "PublishedPort": p["hostPort"], "PublishMode": "host"})
    if not ports and services:
        for p in (services[0].get("spec") or {}).get("ports") or []:
            ports.append({"Protocol": str(p.get("protocol") or "TCP").lower(),
                          "TargetPort": int(p.get("targetPort") or p.get("port") or 0),
                          "PublishMode": "ingress"})
    es: dict[str, Any] = {"Mode": kept.get("EndpointMode", "vip")}
    if ports:
        es["Ports"] = ports
    return es


def to_spec(workload: Mapping[str, Any], services: Sequence[Mapping[str, Any]] | None = None, *,
            secrets: Mapping[str, SecretRef] | None = None,
            configs: Mapping[str, SecretRef] | None = None) -> dict[str, Any]:
    """The ServiceSpec a workload (and its Services: the name's, then the published one) says."""
    md = workload.get("metadata") or {}
    labels, annotations = dict(md.get("labels") or {}), dict(md.get("annotations") or {})
    kind = str(workload.get("kind") or "Deployment")
    body = workload.get("spec") or {}
    kept = _kept(workload)
    name = labels.get(SERVICE_LABEL) or swarm_name(str(md.get("namespace") or ""), str(md.get("name") or ""),
                                                   labels, annotations)
    try:
        swarm_labels = json.loads(annotations.get(LABELS_ANNOTATION) or "{}")
    except ValueError:
        swarm_labels = {}
    swarm_labels = {**(swarm_labels if isinstance(swarm_labels, dict) else {}),
                    **{k: v for k, v in labels.items() if k != SERVICE_LABEL}}
    tmpl = body.get("template") or {}
    pod = tmpl.get("spec") or {}
    tt = task_template(pod, (tmpl.get("metadata") or {}).get("annotations") or {}, kept.get("ContainerSpec") or {},
                       secrets=secrets or {}, configs=configs or {})
    pl: dict[str, Any] = {}
    constraints = placement.constraints_of(pod)
    prefs, max_rep = placement.preferences_of(pod)
    if constraints:
        pl["Constraints"] = constraints
    if prefs:
        pl["Preferences"] = prefs
    if kept.get("MaxReplicas") or max_rep:
        pl["MaxReplicas"] = int(kept.get("MaxReplicas") or max_rep)
    if kept.get("Platforms"):
        pl["Platforms"] = kept["Platforms"]
    tt["Placement"] = pl
    rp = dict(kept.get("RestartPolicy") or {"Condition": "any", "MaxAttempts": 0})
    if kind == "Job":
        rp["Condition"] = "none" if pod.get("restartPolicy") == "Never" else "on-failure"
        if body.get("backoffLimit") is not None:
            rp["MaxAttempts"] = int(body["backoffLimit"])
    tt["RestartPolicy"] = rp
    for key in ("Networks", "LogDriver"):
        if kept.get(key):
            tt[key] = kept[key]
    tt["Runtime"] = "container"
    mode: dict[str, Any]
    if kind == "DaemonSet":
        mode = {"Global": {}}
    elif kind == "Job":
        total = int(body.get("completions") or 1)
        mode = {"ReplicatedJob": {"MaxConcurrent": int(body.get("parallelism") or total), "TotalCompletions": total}}
    else:
        mode = {"Replicated": {"Replicas": int(body.get("replicas", 1) if body.get("replicas") is not None else 1)}}
    spec: dict[str, Any] = {"Name": name, "Labels": swarm_labels, "TaskTemplate": tt, "Mode": mode}
    uc = _update_config_of(body, kind, kept)
    if uc is not None:
        spec["UpdateConfig"] = uc
    if kept.get("RollbackConfig"):
        spec["RollbackConfig"] = kept["RollbackConfig"]
    spec["EndpointSpec"] = _endpoint_of(list(services or []), pod, kept)
    return spec


def previous_spec(workload: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = ((workload.get("metadata") or {}).get("annotations") or {}).get(PREVIOUS_ANNOTATION)
    try:
        prev = json.loads(raw) if raw else None
    except ValueError:
        return None
    return prev if isinstance(prev, dict) else None


_OURS = (SPEC_ANNOTATION, LABELS_ANNOTATION, PREVIOUS_ANNOTATION, AUTO_ROLLBACK, AUTO_ROLLBACK_SECONDS)


def updated(existing: Mapping[str, Any], desired: Mapping[str, Any], *, previous: Mapping[str, Any] | None
            ) -> dict[str, Any]:
    """``existing`` (a workload or Service) changed to ``desired``: its spec, labels and our annotations.

    What others wrote (``deployment.kubernetes.io/revision``, kubectl's annotations, a selector that
    Kubernetes will not let change, a Service's allocated clusterIP and nodePorts) is kept; ``previous``
    (the ServiceSpec before this update) is recorded for ``docker service rollback``."""
    old_md, new_md = existing.get("metadata") or {}, desired.get("metadata") or {}
    ann = {k: v for k, v in (old_md.get("annotations") or {}).items() if k not in _OURS}
    ann.update(new_md.get("annotations") or {})
    if previous is not None:
        ann[PREVIOUS_ANNOTATION] = json.dumps(previous, sort_keys=True)
    md = {**old_md, "labels": dict(new_md.get("labels") or {}), "annotations": ann}
    spec = dict(desired.get("spec") or {})
    old_spec = existing.get("spec") or {}
    if desired.get("kind") == "Service":
        for k in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if k in old_spec and (spec.get("clusterIP") != "None") == (old_spec.get("clusterIP") != "None"):
                spec[k] = old_spec[k]
        nodeports = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in old_spec.get("ports") or []}
        spec["ports"] = [{**p, **({"nodePort": nodeports[(p["port"], p["protocol"])]}
                                  if nodeports.get((p["port"], p["protocol"])) and spec.get("type") in
                                  ("NodePort", "LoadBalancer") else {})} for p in spec.get("ports") or []]
    elif "selector" in old_spec:
        spec["selector"] = old_spec["selector"]
    return {**existing, "metadata": md, "spec": spec}
