"""Upstream's defaults for autoscaling/v2 HorizontalPodAutoscalers (``SetDefaults_HorizontalPodAutoscaler``).

``minReplicas`` is 1; an HPA without metrics scales on CPU at 80% of the
requests; a ``behavior`` that is given is completed with upstream's rules
(scale up: no stabilization, the larger of 4 pods or 100% per 15 s; scale
down: the larger of 100% per 15 s, with the 300 s window left to the
controller), a missing one stays missing (the controller uses the same rules).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.api.models.autoscaling import (
    HorizontalPodAutoscaler,
    HPAScalingPolicy,
    HPAScalingRules,
    MetricSpec,
    MetricTarget,
    ResourceMetricSource,
)

DEFAULT_CPU_UTILIZATION = 80


def scale_up_rules() -> HPAScalingRules:
    return HPAScalingRules(stabilization_window_seconds=0, select_policy="Max",
                           policies=[HPAScalingPolicy(type="Pods", value=4, period_seconds=15),
                                     HPAScalingPolicy(type="Percent", value=100, period_seconds=15)])


def scale_down_rules() -> HPAScalingRules:
    return HPAScalingRules(select_policy="Max", policies=[HPAScalingPolicy(type="Percent", value=100,
                                                                           period_seconds=15)])


def _complete(rules: HPAScalingRules | None, default: HPAScalingRules) -> HPAScalingRules:
    if rules is None:
        return default
    if rules.select_policy is None:
        rules.select_policy = default.select_policy
    if rules.policies is None:
        rules.policies = default.policies
    if rules.stabilization_window_seconds is None:
        rules.stabilization_window_seconds = default.stabilization_window_seconds
    return rules


def default_hpa(hpa: HorizontalPodAutoscaler) -> None:
    spec = hpa.spec
    if spec is None:
        return
    if spec.min_replicas is None:
        spec.min_replicas = 1
    if not spec.metrics:
        spec.metrics = [MetricSpec(type="Resource", resource=ResourceMetricSource(
            name="cpu", target=MetricTarget(type="Utilization", average_utilization=DEFAULT_CPU_UTILIZATION)))]
    b = spec.behavior
    if b is not None:
        b.scale_up = _complete(b.scale_up, scale_up_rules())
        b.scale_down = _complete(b.scale_down, scale_down_rules())


DEFAULTERS: dict[type, Callable[[Any], None]] = {HorizontalPodAutoscaler: default_hpa}
