"""Swarm placement onto Kubernetes scheduling, and back.

``Placement.Constraints`` are ANDed ``key==value`` / ``key!=value`` terms; they
become one required node-affinity term:

=========================  ==============================================
``node.hostname==h``       ``matchFields metadata.name In [h]``
``node.id==<id>``          the same, by the node the id names (resolved by
                           the caller; it reads back as ``node.hostname``)
``node.role==manager``     ``node-role.kubernetes.io/control-plane Exists``
``node.role==worker``      ``... DoesNotExist``
``node.platform.os==x``    ``kubernetes.io/os In [x]``
``node.platform.arch==x``  ``kubernetes.io/arch In [x]`` (``x86_64`` is amd64)
``node.labels.k==v``       ``k In [v]``
=========================  ==============================================

``!=`` is the negation (``NotIn`` / ``DoesNotExist`` / ``Exists``).
``Preferences`` ``spread: node.labels.zone`` become a soft topology spread
(``ScheduleAnyway``, skew 1) over the label, as Swarm spreads tasks evenly
over its values without refusing to place one. ``MaxReplicas: 1`` (one task a
node) is a required pod anti-affinity over ``kubernetes.io/hostname``; a larger
``MaxReplicas: N`` has no exact Kubernetes form and becomes a hard spread over
nodes with skew N, which bounds how unevenly tasks pile up rather than the
count per node (the number itself is kept in an annotation by ``service``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shoal.formats.swarm.wire import SpecError

MANAGER_LABEL = "node-role.kubernetes.io/control-plane"
HOSTNAME_KEY = "kubernetes.io/hostname"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}
_ARCH_BACK = {v: k for k, v in _ARCH.items()}
_CONSTRAINT = re.compile(r"^\s*([^=!\s]+)\s*(==|!=)\s*(.*?)\s*$")


def _expr(key: str, op: str, values: list[str] | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {"key": key, "operator": op}
    if values is not None:
        e["values"] = values
    return e


def parse_constraint(text: str, node_ids: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """One constraint as ("expr" | "field", requirement); ``node_ids`` maps Swarm node ids to node names."""
    m = _CONSTRAINT.match(text)
    if not m or "=" in m.group(3) or not m.group(3):
        raise SpecError(f"invalid constraint {text!r}: expected KEY==VALUE or KEY!=VALUE")
    key, op, value = m.group(1), m.group(2), m.group(3)
    eq = op == "=="
    inn = "In" if eq else "NotIn"
    k = key.lower()
    if k == "node.hostname":
        return "field", _expr("metadata.name", inn, [value])
    if k == "node.id":
        found = node_ids.get(value) or next((n for i, n in node_ids.items() if i.startswith(value)), None)
        if found is None:
            raise SpecError(f"constraint {text!r}: no node with id {value!r}")
        return "field", _expr("metadata.name", inn, [found])
    if k == "node.role":
        if value not in ("manager", "worker"):
            raise SpecError(f"invalid constraint {text!r}: node.role is manager or worker")
        return "expr", _expr(MANAGER_LABEL, "Exists" if (value == "manager") == eq else "DoesNotExist")
    if k == "node.platform.os":
        return "expr", _expr("kubernetes.io/os", inn, [value])
    if k == "node.platform.arch":
        return "expr", _expr("kubernetes.io/arch", inn, [_ARCH.get(value, value)])
    if k.startswith("node.labels.") and len(key) > len("node.labels."):
        return "expr", _expr(key[len("node.labels."):], inn, [value])
    raise SpecError(f"invalid constraint {text!r}: unsupported key {key!r} (node.id, node.hostname, node.role, "
                    "node.platform.os, node.platform.arch, node.labels.<label>)")


def check_constraint(text: str) -> None:
    """``SpecError`` unless ``text`` is a constraint Swarm accepts (a ``node.id`` is not looked up)."""
    m = _CONSTRAINT.match(text)
    if m and m.group(1).lower() == "node.id":
        text = "node.hostname" + text[m.end(1):]
    parse_constraint(text, {})


def constraint_text(kind: str, req: Mapping[str, Any]) -> str | None:
    """A requirement written by ``parse_constraint`` back as a constraint (None: not one of ours)."""
    key, op, values = str(req.get("key") or ""), req.get("operator"), list(req.get("values") or [])
    if kind == "field":
        if key == "metadata.name" and op in ("In", "NotIn") and len(values) == 1:
            return f"node.hostname{'==' if op == 'In' else '!='}{values[0]}"
        return None
    if key == MANAGER_LABEL and op in ("Exists", "DoesNotExist"):
        return f"node.role=={'manager' if op == 'Exists' else 'worker'}"
    if op not in ("In", "NotIn") or len(values) != 1:
        return None
    sign = "==" if op == "In" else "!="
    if key == "kubernetes.io/os":
        return f"node.platform.os{sign}{values[0]}"
    if key == "kubernetes.io/arch":
        return f"node.platform.arch{sign}{_ARCH_BACK.get(values[0], values[0])}"
    return f"node.labels.{key}{sign}{values[0]}"


def affinity(constraints: list[str], node_ids: Mapping[str, str]) -> dict[str, Any] | None:
    """The pod ``affinity`` for these constraints (None when there are none)."""
    exprs: list[dict[str, Any]] = []
    fields: list[dict[str, Any]] = []
    for c in constraints:
        kind, req = parse_constraint(c, node_ids)
        (fields if kind == "field" else exprs).append(req)
    if not exprs and not fields:
        return None
    term: dict[str, Any] = {}
    if exprs:
        term["matchExpressions"] = exprs
    if fields:
        term["matchFields"] = fields
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def constraints_of(pod_spec: Mapping[str, Any]) -> list[str]:
    """The constraints a pod spec's required node affinity says (its first term; ours write one)."""
    na = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
    terms = (na.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or []
    if not terms:
        return []
    out: list[str] = []
    for kind, key in (("expr", "matchExpressions"), ("field", "matchFields")):
        for req in terms[0].get(key) or []:
            text = constraint_text(kind, req)
            if text is not None:
                out.append(text)
    return out


def spread(preferences: list[Any], max_replicas: int, selector: Mapping[str, str]) -> list[dict[str, Any]]:
    """Topology spread constraints for ``Preferences`` (and ``MaxReplicas`` above 1)."""
    out: list[dict[str, Any]] = []
    for p in preferences:
        desc = str(((p or {}).get("Spread") or {}).get("SpreadDescriptor") or "") if isinstance(p, dict) else ""
        if not desc.startswith(("node.labels.", "engine.labels.")) or desc.endswith("."):
            raise SpecError(f"invalid placement preference {p!r}: spread over node.labels.<label>")
        out.append({"maxSkew": 1, "topologyKey": desc.split(".", 2)[2], "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": dict(selector)}})
    if max_replicas > 1:
        out.append({"maxSkew": max_replicas, "topologyKey": HOSTNAME_KEY, "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": dict(selector)}})
    return out


def one_per_node(selector: Mapping[str, str]) -> dict[str, Any]:
    """The pod anti-affinity of ``MaxReplicas: 1``."""
    return {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": dict(selector)}, "topologyKey": HOSTNAME_KEY}]}


def preferences_of(pod_spec: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """(Preferences, MaxReplicas) from a pod spec's topology spread constraints and anti-affinity."""
    prefs: list[dict[str, Any]] = []
    max_replicas = 0
    for c in pod_spec.get("topologySpreadConstraints") or []:
        key = str(c.get("topologyKey") or "")
        if c.get("whenUnsatisfiable") == "DoNotSchedule" and key == HOSTNAME_KEY:
            max_replicas = int(c.get("maxSkew") or 0)
        elif c.get("whenUnsatisfiable") == "ScheduleAnyway" and key:
            prefs.append({"Spread": {"SpreadDescriptor": f"node.labels.{key}"}})
    anti = ((pod_spec.get("affinity") or {}).get("podAntiAffinity") or {})
    if any(t.get("topologyKey") == HOSTNAME_KEY for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []):
        max_replicas = 1
    return prefs, max_replicas
