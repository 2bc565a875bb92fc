"""Validation of policy/v1 PodDisruptionBudgets, as upstream's ``ValidatePodDisruptionBudget``.

``minAvailable`` and ``maxUnavailable`` are exclusive, each a non-negative int
or a percentage of at most 100%; the selector is a label selector; the
unhealthy-pod policy one of two values. A status (written by the disruption
controller or the eviction subresource) holds no negative count.
"""

from __future__ import annotations

from shoal.api.models.policy import PodDisruptionBudget
from shoal.api.validation_base import (
    FieldError,
    invalid,
    non_negative,
    one_of,
    validate_label_selector,
)
from shoal.api.validation_workloads import int_or_percent

UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")


def validate_pod_disruption_budget(pdb: PodDisruptionBudget) -> list[FieldError]:
    errs: list[FieldError] = []
    spec = pdb.spec
    if spec is not None:
        if spec.min_available is not None and spec.max_unavailable is not None:
            errs.append(invalid("spec", {"minAvailable": spec.min_available, "maxUnavailable": spec.max_unavailable},
                                "minAvailable and maxUnavailable cannot be both set"))
        errs += int_or_percent("spec.minAvailable", spec.min_available, at_most_100=True)
        errs += int_or_percent("spec.maxUnavailable", spec.max_unavailable, at_most_100=True)
        errs += validate_label_selector(spec.selector, "spec.selector")
        errs += one_of("spec.unhealthyPodEvictionPolicy", spec.unhealthy_pod_eviction_policy,
                       UNHEALTHY_POD_EVICTION_POLICIES)
    status = pdb.status
    if status is not None:
        for path, value in (("status.disruptionsAllowed", status.disruptions_allowed),
                            ("status.currentHealthy", status.current_healthy),
                            ("status.desiredHealthy", status.desired_healthy),
                            ("status.expectedPods", status.expected_pods)):
            errs += non_negative(path, value)
    return errs
