"""Placement constraints and strategies onto the scheduler's fields.

What shoal's scheduler supports and how each ECS placement rule uses it:

=========================================  =========================================
``distinctInstance``                       required pod anti-affinity over
                                           ``kubernetes.io/hostname`` against the
                                           same service's (or RunTask call's) tasks
``memberOf`` (service or task definition)  required node affinity (``query``);
                                           several are ANDed
``spread`` ``instanceId`` / ``host``       soft topology spread (ScheduleAnyway,
                                           skew 1) over ``kubernetes.io/hostname``
``spread`` ``attribute:ecs.availability-   the same over
zone``                                     ``topology.kubernetes.io/zone`` (any other
                                           ``attribute:X``: over label ``X``)
``binpack`` ``memory`` / ``cpu``           a preferred pod affinity (weight 100) to
                                           the same tasks over the hostname: tasks
                                           fill a node before the next one. The
                                           resource-aware form is a scheduler profile
                                           with ``MostAllocated`` scoring, which is
                                           the server's configuration, not a task's
``random``                                 nothing: the default scoring, ties broken
                                           at random
=========================================  =========================================

Strategies are soft (scores), constraints hard (filters), as in ECS. Each
strategy's weight falls by its position, so the first one given wins ties.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoal.formats.ecs import query
from shoal.formats.ecs.errors import invalid

HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
MAX_CONSTRAINTS = 10
MAX_STRATEGIES = 5

Obj = dict[str, Any]


def check_constraints(raw: Any, *, where: str = "placementConstraints") -> list[Obj]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_CONSTRAINTS:
        raise invalid(f"{where} must be a list of at most {MAX_CONSTRAINTS} constraints.")
    out = []
    for c in raw:
        t = c.get("type") if isinstance(c, dict) else None
        if t == "distinctInstance":
            if c.get("expression"):
                raise invalid("An expression cannot be specified for a distinctInstance constraint.")
            out.append({"type": t})
        elif t == "memberOf":
            query.parse(c.get("expression"))
            out.append({"type": t, "expression": c["expression"]})
        else:
            raise invalid(f"Invalid placement constraint type: {t}. Valid values are distinctInstance and memberOf.")
    return out


def check_strategies(raw: Any) -> list[Obj]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_STRATEGIES:
        raise invalid(f"placementStrategy must be a list of at most {MAX_STRATEGIES} strategies.")
    out = []
    for s in raw:
        t = s.get("type") if isinstance(s, dict) else None
        field = s.get("field") if isinstance(s, dict) else None
        if t == "random":
            out.append({"type": t})
        elif t == "binpack":
            if not isinstance(field, str) or field.lower() not in ("cpu", "memory"):
                raise invalid(f"Invalid field for binpack placement strategy: {field}. Valid values are cpu and "
                              "memory.")
            out.append({"type": t, "field": field})
        elif t == "spread":
            if not isinstance(field, str) or not field:
                raise invalid("A field must be specified for a spread placement strategy.")
            if field not in ("instanceId", "host") and not field.startswith("attribute:"):
                raise invalid(f"Invalid field for spread placement strategy: {field}. Valid values are instanceId, "
                              "host and attribute:<name>.")
            out.append({"type": t, "field": field})
        else:
            raise invalid(f"Invalid placement strategy type: {t}. Valid values are random, spread and binpack.")
    return out


def scheduling(constraints: list[Obj], strategies: list[Obj], *, own: Mapping[str, str],
               known: Mapping[str, set[str]] | None = None) -> Obj:
    """The pod spec fields (``affinity``, ``topologySpreadConstraints``) for checked constraints and
    strategies; ``own`` selects the tasks they are about (the service's, or one RunTask call's)."""
    selector = {"matchLabels": dict(own)}
    terms: list[Obj] = []
    anti: list[Obj] = []
    for c in constraints:
        if c["type"] == "distinctInstance":
            anti = [{"labelSelector": selector, "topologyKey": HOSTNAME}]
        else:
            terms = query.and_terms(terms, query.node_affinity(query.parse(c["expression"]), known))
    spread: list[Obj] = []
    preferred: list[Obj] = []
    for i, s in enumerate(strategies):
        if s["type"] == "spread":
            field = s["field"]
            key = HOSTNAME if field in ("instanceId", "host") else query.ATTRIBUTE_LABELS.get(
                field[len("attribute:"):], field[len("attribute:"):])
            if all(t["topologyKey"] != key for t in spread):
                spread.append({"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
                               "labelSelector": selector})
        elif s["type"] == "binpack" and not preferred:
            preferred.append({"weight": max(1, 100 - 20 * i),
                              "podAffinityTerm": {"labelSelector": selector, "topologyKey": HOSTNAME}})
    out: Obj = {}
    affinity: Obj = {}
    if terms:
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}
    if anti:
        affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": anti}
    if preferred:
        affinity["podAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": preferred}
    if affinity:
        out["affinity"] = affinity
    if spread:
        out["topologySpreadConstraints"] = spread
    return out


def node_attributes(name: str, labels: Mapping[str, str]) -> dict[str, str]:
    """A node's attributes as the query language names them (``attribute:ecs.os-type``, ``ec2InstanceId``)."""
    back = {v: k for k, v in query.ATTRIBUTE_LABELS.items()}
    attrs = {f"attribute:{back.get(k, k)}": v for k, v in labels.items()}
    attrs[query.NODE_NAME] = name
    return attrs


def known_values(nodes: list[tuple[str, Mapping[str, str]]]) -> dict[str, set[str]]:
    """Every subject's values over ``nodes`` (name, labels), to resolve regular expressions."""
    out: dict[str, set[str]] = {}
    for name, labels in nodes:
        for k, v in node_attributes(name, labels).items():
            out.setdefault(k, set()).add(v)
    return out
