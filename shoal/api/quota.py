"""What an object costs a namespace's ResourceQuotas, and whether a quota can pay for it.

Upstream's quota system in three pure parts, over objects as decoded JSON:

* ``usage(group, plural, obj)``: what one object counts against a quota —
  ``pods`` and ``count/pods``, a pod's ``requests.cpu`` (also plain ``cpu``),
  ``limits.memory`` ... (the sum over its containers, at least each init
  container's, plus its overhead; a finished pod counts nothing), a Service's
  ``services.nodeports`` and ``services.loadbalancers``, a claim's
  ``requests.storage`` overall and per StorageClass, and ``count/<resource>.<group>``
  for anything;
* ``matches(quota, group, plural, obj)``: whether a quota's scopes take in the
  object (scoped quotas count pods only: ``Terminating``, ``NotBestEffort``,
  a ``PriorityClass`` selector ...);
* ``charge(quotas, ...)``: admitting a create — each matching quota's new
  ``status.used``, or the refusal with upstream's words
  (``exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2``;
  ``failed quota: q: must specify limits.cpu for: app``).

The quota controller (``shoal.controllers.resourcequota``) sums ``usage`` over
a namespace to write ``status.used``; admission (``shoal.apiserver.policyadmission``)
charges each create against it, so both count with the same function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from shoal.api import podresources
from shoal.api.quantity import InvalidQuantity, format_quantity, parse_quantity

Usage = dict[str, Fraction]

# core resources whose count has a name of its own besides count/<plural>
_LEGACY_COUNTS = {"pods": "pods", "services": "services", "replicationcontrollers": "replicationcontrollers",
                  "resourcequotas": "resourcequotas", "secrets": "secrets", "configmaps": "configmaps",
                  "persistentvolumeclaims": "persistentvolumeclaims"}
_COMPUTE = ("cpu", "memory", "ephemeral-storage")
_BINARY_RESOURCES = ("memory", "storage", "ephemeral-storage")
_FINISHED = ("Succeeded", "Failed")
# quota resources a pod must state for every container once a quota limits them
_REQUIRED_BY_QUOTA = {"requests.cpu": ("requests", "cpu"), "cpu": ("requests", "cpu"),
                      "requests.memory": ("requests", "memory"), "memory": ("requests", "memory"),
                      "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory"),
                      "requests.ephemeral-storage": ("requests", "ephemeral-storage"),
                      "limits.ephemeral-storage": ("limits", "ephemeral-storage")}


def count_name(group: str, plural: str) -> str:
    return f"count/{plural}" if not group else f"count/{plural}.{group}"


def amount(raw: Any) -> Fraction:
    """A quantity's value; 0 for what is not one (validation has refused those already)."""
    try:
        return parse_quantity(raw)
    except (InvalidQuantity, TypeError):
        return Fraction(0)


def _add(into: Usage, key: str, value: Fraction) -> None:
    into[key] = into.get(key, Fraction(0)) + value


def pod_is_counted(pod: Mapping[str, Any]) -> bool:
    """A finished pod no longer holds its resources (upstream's ``QuotaV1Pod``)."""
    return ((pod.get("status") or {}).get("phase")) not in _FINISHED


def pod_resources(spec: Mapping[str, Any], which: str) -> Usage:
    """The pod's effective ``requests`` or ``limits`` (``shoal.api.podresources``: sidecars summed, the
    largest init step, ``spec.overhead`` — for limits only on resources the containers limit)."""
    def of(c: Mapping[str, Any]) -> Usage:
        return {name: amount(raw) for name, raw in (((c.get("resources") or {}).get(which)) or {}).items()}

    overhead = {name: amount(raw) for name, raw in (spec.get("overhead") or {}).items()}
    if which != "requests":
        limited = podresources.effective(spec, of, {})
        overhead = {k: v for k, v in overhead.items() if k in limited}
    return podresources.effective(spec, of, overhead)


def usage(group: str, plural: str, obj: Mapping[str, Any]) -> Usage:
    """What ``obj`` counts against a quota (an empty dict for a finished pod)."""
    out: Usage = {count_name(group, plural): Fraction(1)}
    if not group and plural in _LEGACY_COUNTS:
        out[_LEGACY_COUNTS[plural]] = Fraction(1)
    spec = obj.get("spec") or {}
    if not group and plural == "pods":
        if not pod_is_counted(obj):
            return {}
        for name, v in pod_resources(spec, "requests").items():
            out[f"requests.{name}"] = v
            if name in _COMPUTE:
                out[name] = v
        for name, v in pod_resources(spec, "limits").items():
            out[f"limits.{name}"] = v
    elif not group and plural == "services":
        kind = spec.get("type") or "ClusterIP"
        if kind == "LoadBalancer":
            out["services.loadbalancers"] = Fraction(1)
        if kind in ("NodePort", "LoadBalancer"):
            out["services.nodeports"] = Fraction(len(spec.get("ports") or []))
    elif not group and plural == "persistentvolumeclaims":
        storage = amount(((spec.get("resources") or {}).get("requests") or {}).get("storage", 0))
        out["requests.storage"] = storage
        sc = spec.get("storageClassName")
        if sc:
            out[f"{sc}.storageclass.storage.k8s.io/requests.storage"] = storage
            out[f"{sc}.storageclass.storage.k8s.io/persistentvolumeclaims"] = Fraction(1)
    return out


def is_best_effort(spec: Mapping[str, Any]) -> bool:
    for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        res = c.get("resources") or {}
        for which in ("requests", "limits"):
            if any(k in (res.get(which) or {}) for k in ("cpu", "memory")):
                return False
    return True


def _scope_matches(scope: str, spec: Mapping[str, Any], operator: str = "Exists",
                   values: Iterable[str] = ()) -> bool:
    if scope == "Terminating":
        return spec.get("activeDeadlineSeconds") is not None
    if scope == "NotTerminating":
        return spec.get("activeDeadlineSeconds") is None
    if scope == "BestEffort":
        return is_best_effort(spec)
    if scope == "NotBestEffort":
        return not is_best_effort(spec)
    if scope == "PriorityClass":
        pc = spec.get("priorityClassName") or ""
        vals = set(values)
        return {"Exists": bool(pc), "DoesNotExist": not pc, "In": pc in vals,
                "NotIn": pc not in vals}.get(operator, False)
    if scope == "CrossNamespacePodAffinity":
        return False  # shoal's scheduler takes pod affinity within the pod's namespace only
    return False


def matches(quota: Mapping[str, Any], group: str, plural: str, obj: Mapping[str, Any]) -> bool:
    """Whether ``quota`` counts ``obj``: an unscoped quota counts everything; a scoped one only pods
    whose spec meets every scope (``spec.scopes`` and ``spec.scopeSelector``)."""
    qspec = quota.get("spec") or {}
    scopes = [(s, "Exists", ()) for s in qspec.get("scopes") or []]
    for req in ((qspec.get("scopeSelector") or {}).get("matchExpressions") or []):
        scopes.append((req.get("scopeName") or "", req.get("operator") or "", req.get("values") or ()))
    if not scopes:
        return True
    if group or plural != "pods":
        return False
    spec = obj.get("spec") or {}
    return all(_scope_matches(s, spec, op, vals) for s, op, vals in scopes)


def render(name: str, value: Fraction) -> str:
    binary = any(name == r or name.endswith(("." + r, "/" + r)) for r in _BINARY_RESOURCES) \
        or name.startswith(("requests.hugepages-", "limits.hugepages-", "hugepages-"))
    if binary and value.denominator == 1 and value % 1024 == 0:
        return format_quantity(value, fmt="BinarySI")
    return format_quantity(value)


def render_list(values: Mapping[str, Fraction]) -> dict[str, str]:
    return {k: render(k, v) for k, v in sorted(values.items())}


def _pretty(values: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v if isinstance(v, str) else render(k, v)}" for k, v in sorted(values.items()))


def missing_required(hard: Mapping[str, Any], pod: Mapping[str, Any]) -> str:
    """``limits.cpu for: app; ...`` when ``hard`` limits compute the pod does not state for every
    container (upstream's pod evaluator constraint), else ``""``."""
    parts: list[str] = []
    spec = pod.get("spec") or {}
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    for qname in sorted(hard):
        need = _REQUIRED_BY_QUOTA.get(qname)
        if need is None:
            continue
        which, res = need
        lacking = [str(c.get("name")) for c in containers
                   if res not in (((c.get("resources") or {}).get(which)) or {})]
        if lacking:
            parts.append(f"{qname} for: {','.join(lacking)}")
    return "; ".join(dict.fromkeys(parts))


class Refused(Exception):
    """A quota cannot pay for the object (the text of upstream's Forbidden)."""


@dataclass
class Charge:
    """One quota's new ``status.used`` after admitting the object."""

    name: str
    used: dict[str, str]
    hard: dict[str, str]
    changed: list[str] = field(default_factory=list)  # the quota resources this object costs


def charge(quota: Mapping[str, Any], cost: Usage, obj: Mapping[str, Any], *, is_pod: bool,
           used_now: Usage | None = None) -> Charge | None:
    """Admit ``cost`` against one quota: its new usage, ``None`` when the quota counts none of it,
    or ``Refused``. ``used_now``: the usage to charge on top of (default: the quota's
    ``status.used``)."""
    name = str((quota.get("metadata") or {}).get("name") or "")
    hard_raw = (quota.get("spec") or {}).get("hard") or {}
    hard = {k: amount(v) for k, v in hard_raw.items()}
    relevant = [k for k in hard if k in cost]
    if is_pod:
        missing = missing_required(hard, obj)
        if missing:
            raise Refused(f"failed quota: {name}: must specify {missing}")
    if not relevant:
        return None
    if used_now is None:
        used_now = {k: amount(v) for k, v in (((quota.get("status") or {}).get("used")) or {}).items()}
    new_used = dict(used_now)
    exceeded: list[str] = []
    for k in relevant:
        new_used[k] = used_now.get(k, Fraction(0)) + cost[k]
        if cost[k] > 0 and new_used[k] > hard[k]:
            exceeded.append(k)
    if exceeded:
        raise Refused(
            f"exceeded quota: {name}, requested: {_pretty({k: cost[k] for k in exceeded})}, "
            f"used: {_pretty({k: used_now.get(k, Fraction(0)) for k in exceeded})}, "
            f"limited: {_pretty({k: hard_raw[k] for k in exceeded})}")
    for k in hard:
        new_used.setdefault(k, Fraction(0))
    return Charge(name, render_list({k: v for k, v in new_used.items() if k in hard}),
                  {k: str(v) for k, v in sorted(hard_raw.items())}, relevant)


def total_usage(quota: Mapping[str, Any], group: str, plural: str, objs: Iterable[Mapping[str, Any]]) -> Usage:
    """What the objects of one resource that ``quota`` counts add up to (for the controller)."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    out: Usage = {}
    for obj in objs:
        if not matches(quota, group, plural, obj):
            continue
        for k, v in usage(group, plural, obj).items():
            if k in hard:
                _add(out, k, v)
    return out


def resources_counted(hard: Iterable[str]) -> set[tuple[str, str]]:
    """The (group, plural) resources whose objects a quota with these ``hard`` names counts."""
    out: set[tuple[str, str]] = set()
    for name in hard:
        if name.startswith("count/"):
            plural, _, group = name[len("count/"):].partition(".")
            out.add((group, plural))
        elif name in _LEGACY_COUNTS:
            out.add(("", _LEGACY_COUNTS[name]))
        elif name.startswith("services."):
            out.add(("", "services"))
        elif "storageclass.storage.k8s.io/" in name or name == "requests.storage":
            out.add(("", "persistentvolumeclaims"))
        else:
            out.add(("", "pods"))  # compute: requests.*, limits.*, cpu, memory, hugepages
    return out
