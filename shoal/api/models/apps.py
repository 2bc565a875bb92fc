"""apps/v1: Deployment, ReplicaSet, DaemonSet, StatefulSet and ControllerRevision.

``strategy`` and ``updateStrategy`` are patched with the retainKeys strategy, as
upstream marks them, so switching a Deployment to ``Recreate`` with a strategic
merge patch drops the stale ``rollingUpdate`` block.
"""

from __future__ import annotations

from typing import Annotated

from shoal.api.base import Model, merge_key, retain_keys
from shoal.api.meta import LabelSelector, ObjectMeta
from shoal.api.models.pod import IntOrString, Opaque, PodTemplateSpec
from shoal.api.models.volumes import PersistentVolumeClaim


class RollingUpdateDeployment(Model):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DeploymentStrategy(Model):
    type: str | None = None
    rolling_update: RollingUpdateDeployment | None = None


class DeploymentSpec(Model):
    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    strategy: Annotated[DeploymentStrategy, retain_keys()] | None = None
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None
    paused: bool | None = None
    progress_deadline_seconds: int | None = None


class DeploymentCondition(Model):
    type: str
    status: str
    last_update_time: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class DeploymentStatus(Model):
    observed_generation: int | None = None
    replicas: int | None = None
    updated_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    unavailable_replicas: int | None = None
    terminating_replicas: int | None = None
    conditions: Annotated[list[DeploymentCondition], merge_key("type")] | None = None
    collision_count: int | None = None


class Deployment(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: DeploymentSpec | None = None
    status: DeploymentStatus | None = None


class ReplicaSetSpec(Model):
    replicas: int | None = None
    min_ready_seconds: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None


class ReplicaSetCondition(Model):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class ReplicaSetStatus(Model):
    replicas: int | None = None
    fully_labeled_replicas: int | None = None
    ready_replicas: int | None = None
    available_replicas: int | None = None
    terminating_replicas: int | None = None
    observed_generation: int | None = None
    conditions: Annotated[list[ReplicaSetCondition], merge_key("type")] | None = None


class ReplicaSet(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: ReplicaSetSpec | None = None
    status: ReplicaSetStatus | None = None


class RollingUpdateDaemonSet(Model):
    max_unavailable: IntOrString | None = None
    max_surge: IntOrString | None = None


class DaemonSetUpdateStrategy(Model):
    type: str | None = None
    rolling_update: RollingUpdateDaemonSet | None = None


class DaemonSetSpec(Model):
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    update_strategy: DaemonSetUpdateStrategy | None = None
    min_ready_seconds: int | None = None
    revision_history_limit: int | None = None


class DaemonSetCondition(Model):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class DaemonSetStatus(Model):
    current_number_scheduled: int | None = None
    number_misscheduled: int | None = None
    desired_number_scheduled: int | None = None
    number_ready: int | None = None
    observed_generation: int | None = None
    updated_number_scheduled: int | None = None
    number_available: int | None = None
    number_unavailable: int | None = None
    collision_count: int | None = None
    conditions: Annotated[list[DaemonSetCondition], merge_key("type")] | None = None


class DaemonSet(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: DaemonSetSpec | None = None
    status: DaemonSetStatus | None = None


# --- StatefulSet ----------------------------------------------------------------------------------


class RollingUpdateStatefulSetStrategy(Model):
    partition: int | None = None
    max_unavailable: IntOrString | None = None


class StatefulSetUpdateStrategy(Model):
    type: str | None = None  # RollingUpdate (default) or OnDelete
    rolling_update: RollingUpdateStatefulSetStrategy | None = None


class StatefulSetPersistentVolumeClaimRetentionPolicy(Model):
    when_deleted: str | None = None  # Retain (default) or Delete
    when_scaled: str | None = None


class StatefulSetOrdinals(Model):
    start: int | None = None


class StatefulSetSpec(Model):
    replicas: int | None = None
    selector: LabelSelector | None = None
    template: PodTemplateSpec | None = None
    volume_claim_templates: list[PersistentVolumeClaim] | None = None
    service_name: str | None = None
    pod_management_policy: str | None = None  # OrderedReady (default) or Parallel
    update_strategy: StatefulSetUpdateStrategy | None = None
    revision_history_limit: int | None = None
    min_ready_seconds: int | None = None
    persistent_volume_claim_retention_policy: StatefulSetPersistentVolumeClaimRetentionPolicy | None = None
    ordinals: StatefulSetOrdinals | None = None


class StatefulSetCondition(Model):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class StatefulSetStatus(Model):
    observed_generation: int | None = None
    replicas: int | None = None
    ready_replicas: int | None = None
    current_replicas: int | None = None
    updated_replicas: int | None = None
    current_revision: str | None = None
    update_revision: str | None = None
    collision_count: int | None = None
    conditions: Annotated[list[StatefulSetCondition], merge_key("type")] | None = None
    available_replicas: int | None = None


class StatefulSet(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: StatefulSetSpec | None = None
    status: StatefulSetStatus | None = None


class ControllerRevision(Model):
    """An immutable snapshot of a controller's template (``data``), numbered by ``revision``.

    StatefulSets keep their history in them: ``data`` is the strategic merge patch
    ``{"spec": {"template": {..., "$patch": "replace"}}}`` that ``kubectl rollout undo``
    applies to go back to that revision.
    """

    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    data: Opaque | None = None
    revision: int = 0
