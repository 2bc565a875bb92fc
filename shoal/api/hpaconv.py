"""autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscalers, as upstream converts them.

v2 is stored; v1 is a view. v1 has one metric, a CPU utilization target
(``targetCPUUtilizationPercentage``), and one status figure
(``currentCPUUtilizationPercentage``). Whatever else a v2 object holds travels
in annotations of the v1 form, under upstream's names, so a v1 client that
reads, changes and writes an object keeps its other metrics, its behavior and
its conditions: ``autoscaling.alpha.kubernetes.io/metrics``,
``.../behavior``, ``.../conditions`` and ``.../current-metrics``, as JSON of
the v2 shapes. Pure dict-to-dict functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shoal.api.fields import unknown_fields as model_unknown_fields
from shoal.api.validation_base import FieldError

V1 = "autoscaling/v1"
V2 = "autoscaling/v2"
METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
_ANNOTATIONS = (METRICS_ANNOTATION, BEHAVIOR_ANNOTATION, CONDITIONS_ANNOTATION, CURRENT_METRICS_ANNOTATION)


def _is_cpu_utilization(m: Mapping[str, Any]) -> bool:
    r = m.get("resource") or {}
    return (m.get("type") == "Resource" and r.get("name") == "cpu"
            and (r.get("target") or {}).get("type") == "Utilization")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def to_v1(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The v1 form of a stored (v2) object."""
    out: dict[str, Any] = {k: v for k, v in obj.items() if k not in ("spec", "status", "apiVersion")}
    out["apiVersion"] = V1
    md = dict(obj.get("metadata") or {})
    ann = {k: v for k, v in (md.get("annotations") or {}).items() if k not in _ANNOTATIONS}
    spec = obj.get("spec") or {}
    v1spec: dict[str, Any] = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    others = []
    for m in spec.get("metrics") or []:
        if _is_cpu_utilization(m) and "targetCPUUtilizationPercentage" not in v1spec:
            v1spec["targetCPUUtilizationPercentage"] = m["resource"]["target"].get("averageUtilization")
        else:
            others.append(m)
    if others:
        ann[METRICS_ANNOTATION] = _dumps(others)
    if spec.get("behavior"):
        ann[BEHAVIOR_ANNOTATION] = _dumps(spec["behavior"])
    if "spec" in obj:
        out["spec"] = v1spec
    st = obj.get("status")
    if isinstance(st, dict):
        v1st: dict[str, Any] = {k: st[k] for k in ("observedGeneration", "lastScaleTime") if k in st}
        v1st["currentReplicas"] = st.get("currentReplicas") or 0
        v1st["desiredReplicas"] = st.get("desiredReplicas") or 0
        rest = []
        for cm in st.get("currentMetrics") or []:
            r = cm.get("resource") or {}
            util = (r.get("current") or {}).get("averageUtilization")
            if cm.get("type") == "Resource" and r.get("name") == "cpu" and util is not None:
                v1st["currentCPUUtilizationPercentage"] = util
            else:
                rest.append(cm)
        if rest:
            ann[CURRENT_METRICS_ANNOTATION] = _dumps(rest)
        if st.get("conditions"):
            ann[CONDITIONS_ANNOTATION] = _dumps(st["conditions"])
        out["status"] = v1st
    if ann:
        md["annotations"] = ann
    else:
        md.pop("annotations", None)
    out["metadata"] = md
    return out


def _loads(ann: dict[str, str], key: str) -> Any:
    raw = ann.pop(key, None)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def to_v2(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The stored (v2) form of a v1 object."""
    out: dict[str, Any] = {k: v for k, v in obj.items() if k not in ("spec", "status", "apiVersion")}
    out["apiVersion"] = V2
    md = dict(obj.get("metadata") or {})
    ann = dict(md.get("annotations") or {})
    others = _loads(ann, METRICS_ANNOTATION)
    behavior = _loads(ann, BEHAVIOR_ANNOTATION)
    conditions = _loads(ann, CONDITIONS_ANNOTATION)
    current = _loads(ann, CURRENT_METRICS_ANNOTATION)
    spec = obj.get("spec")
    if isinstance(spec, dict):
        v2spec: dict[str, Any] = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
        metrics: list[Any] = []
        cpu = spec.get("targetCPUUtilizationPercentage")
        if cpu is not None:
            metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": cpu}}})
        if isinstance(others, list):
            metrics += [m for m in others if isinstance(m, dict) and not _is_cpu_utilization(m)]
        if metrics:
            v2spec["metrics"] = metrics
        if isinstance(behavior, dict):
            v2spec["behavior"] = behavior
        out["spec"] = v2spec
    st = obj.get("status")
    if isinstance(st, dict):
        v2st: dict[str, Any] = {k: st[k] for k in ("observedGeneration", "lastScaleTime", "currentReplicas",
                                                   "desiredReplicas") if k in st}
        cms: list[Any] = []
        if st.get("currentCPUUtilizationPercentage") is not None:
            cms.append({"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": st["currentCPUUtilizationPercentage"]}}})
        if isinstance(current, list):
            cms += current
        if cms:
            v2st["currentMetrics"] = cms
        if isinstance(conditions, list):
            v2st["conditions"] = conditions
        out["status"] = v2st
    if ann:
        md["annotations"] = ann
    else:
        md.pop("annotations", None)
    out["metadata"] = md
    return out


def unknown_fields(obj: Mapping[str, Any]) -> list[str]:
    """Fields of a v1 body that the v1 kind does not have."""
    from shoal.api.models.autoscaling_v1 import HorizontalPodAutoscaler as V1

    return model_unknown_fields(dict(obj), V1)


def validate_create(obj: Mapping[str, Any]) -> list[FieldError]:
    """What v1 checks beyond v2: nothing (the v2 rules run on the converted object)."""
    return []
