"""autoscaling/v1: the ``/scale`` subresource's Scale, and the CPU-only HorizontalPodAutoscaler.

``kubectl scale`` patches a Scale; ``kubectl autoscale`` (1.32) creates a v1
HPA, which shoal stores as autoscaling/v2 (``shoal.api.hpaconv``).
"""

from __future__ import annotations

import msgspec

from shoal.api.base import Model
from shoal.api.meta import ObjectMeta


class ScaleSpec(Model):
    replicas: int | None = None


class ScaleStatus(Model):
    replicas: int | None = None
    selector: str | None = None  # the label selector in its string form


class Scale(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: ScaleSpec | None = None
    status: ScaleStatus | None = None


class CrossVersionObjectReference(Model):
    kind: str
    name: str
    api_version: str | None = None


class HorizontalPodAutoscalerSpec(Model):
    scale_target_ref: CrossVersionObjectReference
    max_replicas: int
    min_replicas: int | None = None
    target_cpu_utilization_percentage: int | None = msgspec.field(default=None, name="targetCPUUtilizationPercentage")


class HorizontalPodAutoscalerStatus(Model):
    observed_generation: int | None = None
    last_scale_time: str | None = None
    current_replicas: int = 0
    desired_replicas: int = 0
    current_cpu_utilization_percentage: int | None = msgspec.field(default=None,
                                                                   name="currentCPUUtilizationPercentage")


class HorizontalPodAutoscaler(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: HorizontalPodAutoscalerSpec | None = None
    status: HorizontalPodAutoscalerStatus | None = None
