"""Validation of autoscaling/v2 HorizontalPodAutoscalers, as upstream's ``ValidateHorizontalPodAutoscaler``.

The target names a kind and a name; ``minReplicas`` is at least 1 (0 only
behind a feature gate upstream does not enable by default) and at most
``maxReplicas``; each metric has exactly the source its type names, a target
of a known type with the value that type needs (a utilization for cpu or
memory above 0); behavior's policies are positive, periods at most 1800 s,
windows at most 3600 s, ``selectPolicy`` one of Max, Min, Disabled.
"""

from __future__ import annotations

from shoal.api.models.autoscaling import (
    HorizontalPodAutoscaler,
    HPAScalingRules,
    MetricSpec,
    MetricTarget,
)
from shoal.api.quantity import InvalidQuantity, parse_quantity
from shoal.api.validation_base import FieldError, index, invalid, one_of, required

METRIC_SOURCES = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
                  "Object": "object", "External": "external"}
TARGET_TYPES = ("AverageValue", "Utilization", "Value")
SELECT_POLICIES = ("Disabled", "Max", "Min")
POLICY_TYPES = ("Percent", "Pods")
MAX_PERIOD = 1800
MAX_WINDOW = 3600


def _positive_quantity(path: str, value: object) -> list[FieldError]:
    try:
        q = parse_quantity(value)  # type: ignore[arg-type]
    except InvalidQuantity:
        return [invalid(path, value, "must be a quantity")]
    return [] if q > 0 else [invalid(path, value, "must be positive")]


def _target(path: str, t: MetricTarget, *, resource: bool) -> list[FieldError]:
    errs = one_of(f"{path}.type", t.type, TARGET_TYPES)
    if not t.type:
        errs.append(required(f"{path}.type", "must specify a metric target type"))
    if t.type == "Utilization" and t.average_utilization is None:
        errs.append(required(f"{path}.averageUtilization", "must set either a target raw value or a target "
                                                            "utilization"))
    if t.type == "Utilization" and not resource:
        errs.append(invalid(f"{path}.type", t.type, "must be Value or AverageValue"))
    if t.average_utilization is not None and t.average_utilization < 1:
        errs.append(invalid(f"{path}.averageUtilization", t.average_utilization, "must be greater than 0"))
    if t.type == "AverageValue":
        if t.average_value is None:
            errs.append(required(f"{path}.averageValue", "must set averageValue when type is AverageValue"))
        else:
            errs += _positive_quantity(f"{path}.averageValue", t.average_value)
    if t.type == "Value":
        if t.value is None:
            errs.append(required(f"{path}.value", "must set value when type is Value"))
        else:
            errs += _positive_quantity(f"{path}.value", t.value)
    return errs


def _metric(path: str, m: MetricSpec) -> list[FieldError]:
    if not m.type:
        return [required(f"{path}.type", "must specify a metric source type")]
    field = METRIC_SOURCES.get(m.type)
    if field is None:
        return one_of(f"{path}.type", m.type, METRIC_SOURCES)
    errs: list[FieldError] = []
    for f in METRIC_SOURCES.values():
        if f != field and getattr(m, _attr(f)) is not None:
            errs.append(invalid(f"{path}.{f}", "{...}", "must populate the given metric source only"))
    source = getattr(m, _attr(field))
    if source is None:
        errs.append(required(f"{path}.{field}", "must populate information for the given metric source"))
        return errs
    if m.type in ("Resource", "ContainerResource"):
        if not source.name:
            errs.append(required(f"{path}.{field}.name", "must specify a resource name"))
        if m.type == "ContainerResource" and not source.container:
            errs.append(required(f"{path}.{field}.container", "must specify a container"))
    errs += _target(f"{path}.{field}.target", source.target, resource=m.type in ("Resource", "ContainerResource"))
    return errs


def _attr(field: str) -> str:
    return "container_resource" if field == "containerResource" else field


def _rules(path: str, r: HPAScalingRules | None) -> list[FieldError]:
    if r is None:
        return []
    errs = one_of(f"{path}.selectPolicy", r.select_policy, SELECT_POLICIES)
    w = r.stabilization_window_seconds
    if w is not None and not 0 <= w <= MAX_WINDOW:
        errs.append(invalid(f"{path}.stabilizationWindowSeconds", w,
                            f"must be less than or equal to {MAX_WINDOW}" if w > 0 else "must be greater than or "
                            "equal to zero"))
    if r.policies is not None and not r.policies:
        errs.append(required(f"{path}.policies", "must specify at least one Policy"))
    for i, p in enumerate(r.policies or []):
        pp = index(f"{path}.policies", i)
        errs += one_of(f"{pp}.type", p.type, POLICY_TYPES)
        if p.value <= 0:
            errs.append(invalid(f"{pp}.value", p.value, "must be greater than zero"))
        if p.period_seconds <= 0:
            errs.append(invalid(f"{pp}.periodSeconds", p.period_seconds, "must be greater than zero"))
        elif p.period_seconds > MAX_PERIOD:
            errs.append(invalid(f"{pp}.periodSeconds", p.period_seconds,
                                f"must be less than or equal to {MAX_PERIOD}"))
    return errs


def validate_hpa(hpa: HorizontalPodAutoscaler) -> list[FieldError]:
    spec = hpa.spec
    if spec is None:
        return [required("spec")]
    errs: list[FieldError] = []
    ref = spec.scale_target_ref
    if not ref.kind:
        errs.append(required("spec.scaleTargetRef.kind"))
    if not ref.name:
        errs.append(required("spec.scaleTargetRef.name"))
    elif "/" in ref.name or "%" in ref.name or ref.name in (".", ".."):
        errs.append(invalid("spec.scaleTargetRef.name", ref.name, "may not contain '/' or '%'"))
    if spec.min_replicas is not None and spec.min_replicas < 1:
        errs.append(invalid("spec.minReplicas", spec.min_replicas, "must be greater than or equal to 1"))
    if spec.max_replicas < 1:
        errs.append(invalid("spec.maxReplicas", spec.max_replicas, "must be greater than 0"))
    if spec.min_replicas is not None and spec.max_replicas < spec.min_replicas:
        errs.append(invalid("spec.maxReplicas", spec.max_replicas, "must be greater than or equal to `minReplicas`"))
    for i, m in enumerate(spec.metrics or []):
        errs += _metric(index("spec.metrics", i), m)
    if spec.behavior is not None:
        errs += _rules("spec.behavior.scaleUp", spec.behavior.scale_up)
        errs += _rules("spec.behavior.scaleDown", spec.behavior.scale_down)
    return errs
