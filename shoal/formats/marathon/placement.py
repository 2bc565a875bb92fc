"""Marathon constraints onto the scheduler's fields, as far as they have a Kubernetes form.

A constraint is ``[field, OPERATOR, value?]``; the field is ``hostname`` (the
node's name) or an agent attribute, which on shoal is a node label of the
same key. Each maps to one scheduling rule over the app's own pods (selected
by ``marathon.shoal.io/app``):

=========================  =====================================================
``hostname UNIQUE``        required pod anti-affinity, topology ``kubernetes.io/hostname``
``attr UNIQUE``            required pod anti-affinity, topology ``attr``
``hostname CLUSTER h``     required node affinity ``metadata.name In [h]``
``attr CLUSTER v``         required node affinity ``attr In [v]``
``attr CLUSTER``           required pod affinity, topology ``attr`` (all on one value)
``attr GROUP_BY n``        topology spread over ``attr``, skew 1, DoNotSchedule,
                           ``minDomains n`` (without ``n``: as many as there are)
``attr MAX_PER 1``         as ``attr UNIQUE``
``attr MAX_PER n``         topology spread over ``attr`` with skew ``n``: bounds how
                           unevenly tasks pile up, not the count per value (no exact form)
``attr IS v``              required node affinity ``attr In [v]``
``attr LIKE re``           ``attr In [...]`` when ``re`` is literal alternatives (``a|b``),
``attr UNLIKE re``         ``NotIn`` likewise; any other regular expression is refused (422):
                           node affinity matches values, not patterns
=========================  =====================================================

``to_scheduling`` returns the pod spec fields (``affinity``,
``topologySpreadConstraints``) or a list of (path, error) problems.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

HOSTNAME_KEY = "kubernetes.io/hostname"
_LITERAL = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _key(field: str) -> str:
    return HOSTNAME_KEY if field == "hostname" else field


def _literals(pattern: str) -> list[str] | None:
    """``a|b|c`` as its alternatives (each a plain value); None for a real regular expression."""
    body = pattern[1:-1] if pattern.startswith("(") and pattern.endswith(")") else pattern
    parts = body.split("|")
    return parts if all(_LITERAL.match(p) for p in parts) else None


def _node_term(field: str, op: str, values: list[str]) -> dict[str, Any]:
    if field == "hostname":
        return {"matchFields": [{"key": "metadata.name", "operator": op, "values": values}]}
    return {"matchExpressions": [{"key": field, "operator": op, "values": values}]}


def to_scheduling(constraints: Sequence[Sequence[str]], selector: dict[str, str]
                  ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """(pod spec fields, problems) for ``constraints`` over the pods ``selector`` matches."""
    node_terms: list[dict[str, Any]] = []
    anti: list[dict[str, Any]] = []
    pod_aff: list[dict[str, Any]] = []
    spread: list[dict[str, Any]] = []
    problems: list[tuple[str, str]] = []
    sel = {"matchLabels": dict(selector)}
    for i, c in enumerate(constraints):
        field, op = c[0], c[1]
        value = c[2] if len(c) > 2 else None
        key = _key(field)
        if op == "UNIQUE" or (op == "MAX_PER" and value == "1"):
            anti.append({"labelSelector": sel, "topologyKey": key})
        elif op in ("CLUSTER", "IS") and value is not None:
            node_terms.append(_node_term(field, "In", [value]))
        elif op == "CLUSTER":
            pod_aff.append({"labelSelector": sel, "topologyKey": key})
        elif op == "GROUP_BY":
            s: dict[str, Any] = {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
                                 "labelSelector": sel}
            if value and int(value) > 1:
                s["minDomains"] = int(value)
            spread.append(s)
        elif op == "MAX_PER":
            spread.append({"maxSkew": int(value or 1), "topologyKey": key, "whenUnsatisfiable": "DoNotSchedule",
                           "labelSelector": sel})
        elif op in ("LIKE", "UNLIKE"):
            values = _literals(value or "")
            if values is None:
                problems.append((f"/constraints({i})", f"shoal cannot schedule on the regular expression "
                                                       f"{value!r}: use a value or alternatives (a|b|c)"))
                continue
            node_terms.append(_node_term(field, "In" if op == "LIKE" else "NotIn", values))
    out: dict[str, Any] = {}
    affinity: dict[str, Any] = {}
    if node_terms:
        merged: dict[str, Any] = {}
        for t in node_terms:  # one term: its requirements are ANDed, as Marathon's constraints are
            for k, v in t.items():
                merged.setdefault(k, []).extend(v)
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [merged]}}
    if anti:
        affinity["podAntiAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": anti}
    if pod_aff:
        affinity["podAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": pod_aff}
    if affinity:
        out["affinity"] = affinity
    if spread:
        out["topologySpreadConstraints"] = spread
    return out, problems
