"""Upstream's default for policy/v1 PodDisruptionBudgets (``SetDefaults_PodDisruptionBudgetSpec``).

A budget that sets neither ``minAvailable`` nor ``maxUnavailable`` keeps one
pod available.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.api.models.policy import PodDisruptionBudget


def default_pod_disruption_budget(pdb: PodDisruptionBudget) -> None:
    spec = pdb.spec
    if spec is not None and spec.min_available is None and spec.max_unavailable is None:
        spec.min_available = 1


DEFAULTERS: dict[type, Callable[[Any], None]] = {PodDisruptionBudget: default_pod_disruption_budget}
