"""autoscaling/v2: the HorizontalPodAutoscaler, as stored (upstream's storage version).

It is served as autoscaling/v1 too, converted (``shoal.api.hpaconv``; the v1
models and the ``/scale`` subresource's Scale are in ``autoscaling_v1``): v1
knows only a CPU utilization target, the rest of a v2 object travels in
annotations, as upstream does.
"""

from __future__ import annotations

from typing import Annotated

from shoal.api.base import Model, merge_key
from shoal.api.meta import LabelSelector, ObjectMeta
from shoal.api.models.autoscaling_v1 import Scale, ScaleSpec, ScaleStatus
from shoal.api.quantity import QuantityValue

__all__ = ["HorizontalPodAutoscaler", "Scale", "ScaleSpec", "ScaleStatus"]


# ---- HorizontalPodAutoscaler, autoscaling/v2 (the stored version) ---------------------------------
class CrossVersionObjectReference(Model):
    kind: str
    name: str
    api_version: str | None = None


class MetricTarget(Model):
    type: str  # Utilization | Value | AverageValue
    value: QuantityValue | None = None
    average_value: QuantityValue | None = None
    average_utilization: int | None = None


class MetricValueStatus(Model):
    value: QuantityValue | None = None
    average_value: QuantityValue | None = None
    average_utilization: int | None = None


class MetricIdentifier(Model):
    name: str
    selector: LabelSelector | None = None


class ResourceMetricSource(Model):
    name: str
    target: MetricTarget


class ContainerResourceMetricSource(Model):
    name: str
    target: MetricTarget
    container: str


class PodsMetricSource(Model):
    metric: MetricIdentifier
    target: MetricTarget


class ObjectMetricSource(Model):
    described_object: CrossVersionObjectReference
    target: MetricTarget
    metric: MetricIdentifier


class ExternalMetricSource(Model):
    metric: MetricIdentifier
    target: MetricTarget


class MetricSpec(Model):
    type: str  # Resource | ContainerResource | Pods | Object | External
    resource: ResourceMetricSource | None = None
    container_resource: ContainerResourceMetricSource | None = None
    pods: PodsMetricSource | None = None
    object: ObjectMetricSource | None = None
    external: ExternalMetricSource | None = None


class HPAScalingPolicy(Model):
    type: str  # Pods | Percent
    value: int
    period_seconds: int


class HPAScalingRules(Model):
    stabilization_window_seconds: int | None = None
    select_policy: str | None = None  # Max | Min | Disabled
    policies: list[HPAScalingPolicy] | None = None
    tolerance: QuantityValue | None = None


class HorizontalPodAutoscalerBehavior(Model):
    scale_up: HPAScalingRules | None = None
    scale_down: HPAScalingRules | None = None


class HorizontalPodAutoscalerSpec(Model):
    scale_target_ref: CrossVersionObjectReference
    max_replicas: int
    min_replicas: int | None = None
    metrics: list[MetricSpec] | None = None
    behavior: HorizontalPodAutoscalerBehavior | None = None


class ResourceMetricStatus(Model):
    name: str
    current: MetricValueStatus


class ContainerResourceMetricStatus(Model):
    name: str
    current: MetricValueStatus
    container: str


class PodsMetricStatus(Model):
    metric: MetricIdentifier
    current: MetricValueStatus


class ObjectMetricStatus(Model):
    metric: MetricIdentifier
    current: MetricValueStatus
    described_object: CrossVersionObjectReference


class ExternalMetricStatus(Model):
    metric: MetricIdentifier
    current: MetricValueStatus


class MetricStatus(Model):
    type: str
    resource: ResourceMetricStatus | None = None
    container_resource: ContainerResourceMetricStatus | None = None
    pods: PodsMetricStatus | None = None
    object: ObjectMetricStatus | None = None
    external: ExternalMetricStatus | None = None


class HorizontalPodAutoscalerCondition(Model):
    type: str  # AbleToScale | ScalingActive | ScalingLimited
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class HorizontalPodAutoscalerStatus(Model):
    observed_generation: int | None = None
    last_scale_time: str | None = None
    current_replicas: int | None = None
    desired_replicas: int | None = None
    current_metrics: list[MetricStatus] | None = None
    conditions: Annotated[list[HorizontalPodAutoscalerCondition], merge_key("type")] | None = None


class HorizontalPodAutoscaler(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: HorizontalPodAutoscalerSpec | None = None
    status: HorizontalPodAutoscalerStatus | None = None
