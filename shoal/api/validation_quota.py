"""Validation of core/v1 ResourceQuotas and LimitRanges, as upstream's ``ValidateResourceQuota``
and ``ValidateLimitRange``.

A quota's ``hard`` names resources a quota can count (object counts, compute and storage sums,
``count/<resource>.<group>``) with non-negative quantities; its scopes are upstream's five and
must not contradict each other. A LimitRange item's bounds must be ordered
(``min <= defaultRequest <= default <= max``) with upstream's messages; a ``Pod`` item has no
defaults and a ``PersistentVolumeClaim`` item bounds storage alone.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from shoal.api.models.quota import LimitRange, ResourceQuota
from shoal.api.quantity import InvalidQuantity, parse_quantity
from shoal.api.validation_base import (
    FieldError,
    child,
    forbidden,
    index,
    invalid,
    required,
    unsupported,
)

QUOTA_SCOPES = ("Terminating", "NotTerminating", "BestEffort", "NotBestEffort", "PriorityClass",
                "CrossNamespacePodAffinity")
SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
LIMIT_TYPES = ("Container", "Pod", "PersistentVolumeClaim")
# quota resource names besides count/..., requests.*, limits.*, hugepages and <class>.storageclass...
QUOTA_RESOURCES = frozenset({
    "pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
    "persistentvolumeclaims", "services.nodeports", "services.loadbalancers", "cpu", "memory",
    "ephemeral-storage", "storage",
})
_CONTRADICTIONS = (("Terminating", "NotTerminating"), ("BestEffort", "NotBestEffort"))
# what a BestEffort-scoped quota may count (upstream: pods alone)
_BEST_EFFORT_RESOURCES = frozenset({"pods", "count/pods"})


def _quantities(values: dict[str, Any], path: str) -> list[FieldError]:
    """Each value a non-negative quantity (names are checked by the caller: a quota's are not a container's)."""
    errs: list[FieldError] = []
    for name, raw in values.items():
        try:
            value = parse_quantity(raw)
        except InvalidQuantity as exc:
            errs.append(invalid(index(path, name), raw if isinstance(raw, str) else str(raw), str(exc)))
            continue
        if value < 0:
            errs.append(invalid(index(path, name), str(raw), "must be greater than or equal to 0"))
    return errs


def is_quota_resource(name: str) -> bool:
    return (name in QUOTA_RESOURCES or name.startswith(("count/", "requests.", "limits.", "hugepages-"))
            or ".storageclass.storage.k8s.io/" in name or "/" in name)


def validate_resource_quota(q: ResourceQuota) -> list[FieldError]:
    errs: list[FieldError] = []
    spec = q.spec
    if spec is None:
        return errs
    hard = spec.hard or {}
    errs += _quantities(hard, "spec.hard")
    for name in hard:
        if not is_quota_resource(name):
            errs.append(invalid(index("spec.hard", name), name,
                                "must be a standard resource for quota"))
    scopes = list(spec.scopes or [])
    for i, s in enumerate(scopes):
        if s not in QUOTA_SCOPES:
            errs.append(unsupported(index("spec.scopes", i), s, QUOTA_SCOPES))
    sel = spec.scope_selector
    for i, req in enumerate((sel.match_expressions or []) if sel is not None else []):
        at = index("spec.scopeSelector.matchExpressions", i)
        if req.scope_name not in QUOTA_SCOPES:
            errs.append(unsupported(child(at, "scopeName"), req.scope_name, QUOTA_SCOPES))
        else:
            scopes.append(req.scope_name)
        if req.operator not in SELECTOR_OPERATORS:
            errs.append(unsupported(child(at, "operator"), req.operator, SELECTOR_OPERATORS))
        elif req.operator in ("In", "NotIn") and not req.values:
            errs.append(required(child(at, "values"),
                                 "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
        elif req.operator in ("Exists", "DoesNotExist") and req.values:
            errs.append(invalid(child(at, "values"), req.values,
                                "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
    for a, b in _CONTRADICTIONS:
        if a in scopes and b in scopes:
            errs.append(invalid("spec.scopeSelector", sorted(set(scopes)), "conflicting scopes"))
    if "BestEffort" in scopes:
        for name in hard:
            if name not in _BEST_EFFORT_RESOURCES:
                errs.append(invalid(index("spec.hard", name), name,
                                    "unsupported scope applied to resource"))
    if q.status is not None:
        errs += _quantities(q.status.hard or {}, "status.hard")
        errs += _quantities(q.status.used or {}, "status.used")
    return errs


def _q(raw: Any) -> Fraction | None:
    try:
        return parse_quantity(raw)
    except InvalidQuantity:
        return None


def validate_limit_range(lr: LimitRange) -> list[FieldError]:
    errs: list[FieldError] = []
    items = (lr.spec.limits or []) if lr.spec is not None else []
    seen: set[str] = set()
    for i, item in enumerate(items):
        at = index("spec.limits", i)
        if item.type not in LIMIT_TYPES:
            errs.append(unsupported(child(at, "type"), item.type, LIMIT_TYPES))
            continue
        if item.type in seen:
            errs.append(invalid(child(at, "type"), item.type, "may not have more than one limit type"))
        seen.add(item.type)
        lists = {"max": item.max or {}, "min": item.min or {}, "default": item.default or {},
                 "defaultRequest": item.default_request or {},
                 "maxLimitRequestRatio": item.max_limit_request_ratio or {}}
        for field, values in lists.items():
            errs += _quantities(values, child(at, field))
        if item.type == "Pod":
            for field in ("default", "defaultRequest"):
                if lists[field]:
                    errs.append(forbidden(child(at, field), "may not be specified when `type` is 'Pod'"))
        if item.type == "PersistentVolumeClaim" and "storage" not in lists["min"] \
                and "storage" not in lists["max"]:
            errs.append(required(at, "either minimum or maximum storage value is required, "
                                     "but neither was provided"))
        errs += _ordered(at, lists)
    return errs


def _ordered(at: str, lists: dict[str, dict[str, Any]]) -> list[FieldError]:
    errs: list[FieldError] = []
    names = set().union(*(v.keys() for v in lists.values()))
    for k in sorted(names):
        mn, mx = _q(lists["min"].get(k)), _q(lists["max"].get(k))
        dflt, dreq = _q(lists["default"].get(k)), _q(lists["defaultRequest"].get(k))
        raw = {f: lists[f].get(k) for f in lists}
        if mn is not None and mx is not None and mn > mx:
            errs.append(invalid(index(child(at, "min"), k), raw["min"],
                                f"min value {raw['min']} is greater than max value {raw['max']}"))
        if dreq is not None and mn is not None and mn > dreq:
            errs.append(invalid(index(child(at, "defaultRequest"), k), raw["defaultRequest"],
                                f"min value {raw['min']} is greater than default request value "
                                f"{raw['defaultRequest']}"))
        if dreq is not None and mx is not None and dreq > mx:
            errs.append(invalid(index(child(at, "defaultRequest"), k), raw["defaultRequest"],
                                f"default request value {raw['defaultRequest']} is greater than max value "
                                f"{raw['max']}"))
        if dreq is not None and dflt is not None and dreq > dflt:
            errs.append(invalid(index(child(at, "defaultRequest"), k), raw["defaultRequest"],
                                f"default request value {raw['defaultRequest']} is greater than default limit "
                                f"value {raw['default']}"))
        if dflt is not None and mn is not None and mn > dflt:
            errs.append(invalid(index(child(at, "default"), k), raw["default"],
                                f"min value {raw['min']} is greater than default value {raw['default']}"))
        if dflt is not None and mx is not None and dflt > mx:
            errs.append(invalid(index(child(at, "default"), k), raw["default"],
                                f"default value {raw['default']} is greater than max value {raw['max']}"))
        ratio = _q(lists["maxLimitRequestRatio"].get(k))
        if ratio is not None:
            if ratio < 1:
                errs.append(invalid(index(child(at, "maxLimitRequestRatio"), k), raw["maxLimitRequestRatio"],
                                    f"ratio {raw['maxLimitRequestRatio']} is less than 1"))
            elif mn is not None and mx is not None and mn > 0 and ratio > mx / mn:
                errs.append(invalid(index(child(at, "maxLimitRequestRatio"), k), raw["maxLimitRequestRatio"],
                                    f"ratio {raw['maxLimitRequestRatio']} is greater than max/min = "
                                    f"{float(mx / mn):f}"))
    return errs
