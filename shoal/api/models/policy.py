"""policy/v1: PodDisruptionBudget and Eviction.

A budget says how many of a set of pods must stay healthy (``minAvailable``)
or may be down (``maxUnavailable``), each an int or a percentage; its status is
written by the disruption controller and decremented by the eviction
subresource, which records the pods it is about to delete in
``disruptedPods`` (pod name -> time) so the controller does not count them as
healthy while they go. ``Eviction`` is only ever a request body
(``POST pods/<name>/eviction``); it is never stored.
"""

from __future__ import annotations

from typing import Annotated

from shoal.api.base import Model, merge_key
from shoal.api.meta import Condition, LabelSelector, ObjectMeta
from shoal.api.models.pod import IntOrString, Opaque


class PodDisruptionBudgetSpec(Model):
    min_available: IntOrString | None = None
    selector: LabelSelector | None = None
    max_unavailable: IntOrString | None = None
    unhealthy_pod_eviction_policy: str | None = None  # IfHealthyBudget (default) or AlwaysAllow


class PodDisruptionBudgetStatus(Model):
    observed_generation: int | None = None
    disrupted_pods: dict[str, str] | None = None
    disruptions_allowed: int | None = None
    current_healthy: int | None = None
    desired_healthy: int | None = None
    expected_pods: int | None = None
    conditions: Annotated[list[Condition], merge_key("type")] | None = None


class PodDisruptionBudget(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: PodDisruptionBudgetSpec | None = None
    status: PodDisruptionBudgetStatus | None = None


class Eviction(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    delete_options: Opaque | None = None  # a meta/v1 DeleteOptions
