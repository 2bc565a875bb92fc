"""The DaemonSet controller's decisions, apart from its I/O. Pure.

* ``placement(ds, node)``: whether a daemon pod should run on a node (node
  selector, required node affinity, taints with effect NoSchedule or
  NoExecute tolerated), and whether one already there may stay (only
  NoExecute taints and the node's labels can push it out: a NoSchedule taint
  added later does not evict, as upstream).
* ``daemon_tolerations``: what upstream adds to every daemon pod, so daemons
  run on not-ready, unreachable, pressured and cordoned nodes.
* ``manage``: per node, which pods to create and which to delete.
* ``rolling_update``: which old pods to replace now, within ``maxUnavailable``
  (or, with ``maxSurge``, which nodes get a new pod beside the old one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.api.views import (
    Body,
    condition,
    is_active,
    is_ready,
    is_terminal,
    is_terminating,
    labels,
    meta,
    name,
    parse_time,
    spec,
    taints,
)
from shoal.controllers import taints as tl

HASH_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"


def template_hash(template: Body) -> str:
    raw = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:10]


def daemon_tolerations(pod_spec: Body) -> list[dict[str, Any]]:
    """The template's tolerations plus upstream's daemon defaults (without tolerationSeconds: for ever)."""
    tols = [dict(t) for t in pod_spec.get("tolerations") or []]
    extra = [(tl.NOT_READY, "NoExecute"), (tl.UNREACHABLE, "NoExecute"),
             ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
             ("node.kubernetes.io/pid-pressure", "NoSchedule"), (tl.UNSCHEDULABLE, "NoSchedule")]
    if pod_spec.get("hostNetwork"):
        extra.append(("node.kubernetes.io/network-unavailable", "NoSchedule"))
    for key, effect in extra:
        probe = {"key": key, "effect": effect}
        if not any(tl.tolerates(t, probe) for t in tols):
            tols.append({"key": key, "operator": "Exists", "effect": effect})
    return tols


def _match_expression(expr: Body, value: str | None) -> bool:
    op, values = expr.get("operator"), [str(v) for v in expr.get("values") or []]
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            a, b = int(value), int(values[0])
        except ValueError:
            return False
        return a > b if op == "Gt" else a < b
    return False


def _term_matches(term: Body, node: Body) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches nothing, as upstream
    node_labels = labels(node)
    if not all(_match_expression(e, node_labels.get(e.get("key"))) for e in exprs):
        return False
    node_name = meta(node).get("name")
    return all(_match_expression(f, node_name if f.get("key") == "metadata.name" else None) for f in fields)


def node_matches(pod_spec: Body, node: Body) -> bool:
    """nodeSelector and requiredDuringSchedulingIgnoredDuringExecution node affinity."""
    node_labels = labels(node)
    if any(node_labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    req = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    if req is None:
        return True
    return any(_term_matches(t, node) for t in req.get("nodeSelectorTerms") or [])


@dataclass(frozen=True, slots=True)
class Placement:
    should_run: bool
    may_stay: bool


def template_spec(ds: Body) -> dict[str, Any]:
    """The DaemonSet's ``spec.template.spec``."""
    return spec(spec(ds).get("template") or {})


def placement(ds: Body, node: Body) -> Placement:
    tmpl_spec = template_spec(ds)
    if not node_matches(tmpl_spec, node):
        return Placement(False, False)
    tols = daemon_tolerations(tmpl_spec)
    node_taints = taints(node)
    may_stay = tl.tolerates_all(tols, node_taints, effects=("NoExecute",))
    should_run = may_stay and tl.tolerates_all(tols, node_taints, effects=("NoSchedule",))
    return Placement(should_run, may_stay)


def pod_hash(pod: Body) -> str | None:
    return labels(pod).get(HASH_LABEL)


def is_available(pod: Body, min_ready_seconds: int, now: dt.datetime) -> bool:
    """Active and Ready for at least ``min_ready_seconds`` by the Ready condition's transition time.

    A daemon pod whose Ready condition has no transition time counts as available (a ReplicaSet's
    ``podstate.is_available`` falls back to the creation time instead, as upstream's ReplicaSet does)."""
    if not is_active(pod) or not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return since is None or (now - since).total_seconds() >= min_ready_seconds


@dataclass(slots=True)
class Plan:
    create_on: list[str] = field(default_factory=list)  # node names
    delete: list[Body] = field(default_factory=list)
    failed_nodes: list[str] = field(default_factory=list)  # nodes whose daemon pod failed (back off)


def _oldest_first(pods: Sequence[Body]) -> list[Body]:
    return sorted(pods, key=lambda p: (str(meta(p).get("creationTimestamp") or ""), str(meta(p).get("name"))))


def manage(ds: Body, nodes: Sequence[Body], pods_by_node: Mapping[str, Sequence[Body]], *, new_hash: str,
           surge: bool) -> Plan:
    """Per node: create a missing daemon pod, delete failed, excess and misplaced ones."""
    plan = Plan()
    names = set()
    for node in nodes:
        node_name = str(meta(node).get("name"))
        names.add(node_name)
        place = placement(ds, node)
        pods = [p for p in pods_by_node.get(node_name, []) if not is_terminating(p)]
        if place.should_run or (place.may_stay and pods):
            failed = [p for p in pods if is_terminal(p)]
            if failed:
                plan.delete += failed
                plan.failed_nodes.append(node_name)
            running = [p for p in pods if not is_terminal(p)]
            if not running:
                if place.should_run and not failed:
                    plan.create_on.append(node_name)
            elif len(running) > 1:
                if surge:
                    # keep the oldest new pod and the oldest old one; rolling_update settles the pair
                    new = _oldest_first([p for p in running if pod_hash(p) == new_hash])
                    old = _oldest_first([p for p in running if pod_hash(p) != new_hash])
                    plan.delete += new[1:] + old[1:]
                else:
                    plan.delete += _oldest_first(running)[1:]
        else:
            plan.delete += pods
    for node_name, node_pods in pods_by_node.items():
        if node_name not in names:
            plan.delete += [p for p in node_pods if not is_terminating(p)]  # the node is gone
    return plan


def scaled(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString (``2`` or ``"25%"``) against ``total``."""
    if value is None:
        return 0
    if isinstance(value, str) and value.endswith("%"):
        pct = int(value[:-1]) * total / 100
        return int(math.ceil(pct) if round_up else math.floor(pct))
    return int(value)


def rolling_update(ds: Body, nodes: Sequence[Body], pods_by_node: Mapping[str, Sequence[Body]], *, new_hash: str,
                   now: dt.datetime) -> Plan:
    """Old pods to delete now (maxUnavailable), or nodes to surge a new pod onto (maxSurge)."""
    ds_spec = spec(ds)
    strategy = ds_spec.get("updateStrategy") or {}
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        return Plan()  # OnDelete: users delete old pods themselves
    ru = strategy.get("rollingUpdate") or {}
    min_ready = int(ds_spec.get("minReadySeconds") or 0)
    desired = [n for n in nodes if placement(ds, n).should_run]
    surge = scaled(ru.get("maxSurge"), len(desired), round_up=True)
    max_unavailable = scaled(ru.get("maxUnavailable", 1), len(desired), round_up=True)
    if surge == 0 and max_unavailable == 0:
        max_unavailable = 1
    plan = Plan()
    unavailable = 0
    candidates: list[Body] = []
    surge_candidates: list[str] = []
    surging = 0
    for node in desired:
        node_name = name(node)
        running = [p for p in pods_by_node.get(node_name, []) if not is_terminating(p) and not is_terminal(p)]
        new = [p for p in running if pod_hash(p) == new_hash]
        old = [p for p in running if pod_hash(p) != new_hash]
        if not old:
            if not new or not is_available(new[0], min_ready, now):
                unavailable += 1  # (no pod at all: being replaced; counted, to stay within the budget)
            continue
        if surge > 0:
            if new:
                if is_available(new[0], min_ready, now):
                    plan.delete += old  # the replacement is up: the old one may go
                else:
                    surging += 1
            elif not is_available(old[0], min_ready, now):
                plan.create_on.append(node_name)  # nothing to lose: replace at once
            else:
                surge_candidates.append(node_name)
            continue
        if new:
            continue  # both: manage() removes the excess
        if not is_available(old[0], min_ready, now):
            plan.delete.append(old[0])  # already unavailable: replacing costs nothing
        else:
            candidates.append(old[0])
    if surge > 0:
        plan.create_on += surge_candidates[: max(0, surge - surging)]
    else:
        budget = max(0, max_unavailable - unavailable)
        plan.delete += _oldest_first(candidates)[:budget]
    return plan
