"""core/v1 ResourceQuota and LimitRange: a namespace's budget, and its per-object bounds.

A ``ResourceQuota`` caps what a namespace may hold in total (``spec.hard``:
object counts such as ``pods`` or ``count/deployments.apps``, and compute and
storage sums such as ``requests.cpu`` or ``requests.storage``), optionally only
for pods in some ``scopes``; ``status`` carries the hard limits the quota
system enforces and what is ``used`` now. A ``LimitRange`` gives each container,
pod or claim in the namespace defaults (``default``, ``defaultRequest``) and
bounds (``min``, ``max``, ``maxLimitRequestRatio``). Both are enforced at
admission (``shoal.apiserver.policyadmission``); the rules are pure functions in
``shoal.api.quota`` and ``shoal.api.limitrange``.
"""

from __future__ import annotations

from shoal.api.base import Model
from shoal.api.meta import ObjectMeta
from shoal.api.models.pod import ResourceList


class ScopedResourceSelectorRequirement(Model):
    scope_name: str | None = None
    operator: str | None = None  # In, NotIn, Exists, DoesNotExist
    values: list[str] | None = None


class ScopeSelector(Model):
    match_expressions: list[ScopedResourceSelectorRequirement] | None = None


class ResourceQuotaSpec(Model):
    hard: ResourceList | None = None
    scopes: list[str] | None = None
    scope_selector: ScopeSelector | None = None


class ResourceQuotaStatus(Model):
    hard: ResourceList | None = None
    used: ResourceList | None = None


class ResourceQuota(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: ResourceQuotaSpec | None = None
    status: ResourceQuotaStatus | None = None


class LimitRangeItem(Model):
    type: str | None = None  # Container, Pod, PersistentVolumeClaim
    max: ResourceList | None = None
    min: ResourceList | None = None
    default: ResourceList | None = None
    default_request: ResourceList | None = None
    max_limit_request_ratio: ResourceList | None = None


class LimitRangeSpec(Model):
    limits: list[LimitRangeItem] | None = None


class LimitRange(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: LimitRangeSpec | None = None
