"""core/v1 ReplicationController: the ReplicaSet's predecessor, still created by old charts and clients.

Its selector is a plain label map (equality only), and when left empty it is
taken from the template's labels; the rest mirrors a ReplicaSet, and the same
controller logic runs it (``shoal.controllers.replication``).
"""

from __future__ import annotations

from typing import Annotated

from shoal.api.base import Model, merge_key
from shoal.api.meta import ObjectMeta
from shoal.api.models.pod import PodTemplateSpec


class ReplicationControllerSpec(Model):
    replicas: int | None = None
    min_ready_seconds: int | None = None
    selector: dict[str, str] | None = None
    template: PodTemplateSpec | None = None


class ReplicationControllerCondition(Model):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class ReplicationControllerStatus(Model):
    replicas: int | None = None
    fully_labeled_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    observed_generation: int | None = None
    conditions: Annotated[list[ReplicationControllerCondition], merge_key("type")] | None = None


class ReplicationController(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: ReplicationControllerSpec | None = None
    status: ReplicationControllerStatus | None = None
