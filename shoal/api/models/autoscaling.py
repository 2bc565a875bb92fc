"""autoscaling/v1 Scale: the ``/scale`` subresource ``kubectl scale`` patches."""

from __future__ import annotations

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
