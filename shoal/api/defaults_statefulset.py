"""Kubernetes' defaults for StatefulSets (upstream's ``SetDefaults_StatefulSet``).

Pods are managed ``OrderedReady`` (one at a time, each waiting for the one
before it) unless ``Parallel`` is asked for; updates roll (``RollingUpdate``
with ``partition: 0``); one replica; ten revisions of history; claims made from
``volumeClaimTemplates`` are kept when the set is scaled down or deleted
(``Retain``/``Retain``), because they hold the data. Each claim template gets a
claim's own defaults (``volumeMode: Filesystem``, ``status.phase: Pending``),
as upstream's generated defaulters give it, and the pod template a pod spec's.
``maxUnavailable`` is not defaulted: upstream defaults it only behind an alpha
feature gate; shoal honours it when it is set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.api.defaults_pod import default_pod_spec
from shoal.api.defaults_storage import default_persistent_volume_claim
from shoal.api.models.apps import (
    RollingUpdateStatefulSetStrategy,
    StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetUpdateStrategy,
)

RETAIN = "Retain"


def default_stateful_set(sts: StatefulSet) -> None:
    spec = sts.spec
    if spec is None:
        return
    if not spec.pod_management_policy:
        spec.pod_management_policy = "OrderedReady"
    if spec.update_strategy is None:
        spec.update_strategy = StatefulSetUpdateStrategy()
    strategy = spec.update_strategy
    if not strategy.type:
        strategy.type = "RollingUpdate"
        if strategy.rolling_update is None:
            strategy.rolling_update = RollingUpdateStatefulSetStrategy()
    ru = strategy.rolling_update
    if strategy.type == "RollingUpdate" and ru is not None and ru.partition is None:
        ru.partition = 0
    if spec.persistent_volume_claim_retention_policy is None:
        spec.persistent_volume_claim_retention_policy = StatefulSetPersistentVolumeClaimRetentionPolicy()
    policy = spec.persistent_volume_claim_retention_policy
    if not policy.when_deleted:
        policy.when_deleted = RETAIN
    if not policy.when_scaled:
        policy.when_scaled = RETAIN
    if spec.replicas is None:
        spec.replicas = 1
    if spec.revision_history_limit is None:
        spec.revision_history_limit = 10
    if spec.template is not None and spec.template.spec is not None:
        default_pod_spec(spec.template.spec)
    for claim in spec.volume_claim_templates or []:
        default_persistent_volume_claim(claim)


DEFAULTERS: dict[type, Callable[[Any], None]] = {StatefulSet: default_stateful_set}
