"""Validation of core/v1 ReplicationControllers, as upstream's ``ValidateReplicationController``.

Unlike a ReplicaSet's, the selector is a plain label map; it must not be empty
(defaulting fills it from the template's labels) and must match them.
"""

from __future__ import annotations

from shoal.api.meta import LabelSelector
from shoal.api.models.replication import ReplicationController
from shoal.api.validation_base import FieldError, non_negative, required, validate_labels
from shoal.api.validation_workloads import validate_template


def validate_replication_controller(rc: ReplicationController) -> list[FieldError]:
    spec = rc.spec
    if spec is None:
        return [required("spec")]
    errs = non_negative("spec.replicas", spec.replicas)
    errs += non_negative("spec.minReadySeconds", spec.min_ready_seconds)
    if not spec.selector:
        errs.append(required("spec.selector"))
    else:
        errs += validate_labels(spec.selector, "spec.selector")
    selector = LabelSelector(match_labels=dict(spec.selector)) if spec.selector else None
    errs += validate_template(spec.template, "spec.template", selector=selector, restart_policies=("Always",),
                              owner="ReplicationController")
    return errs


def validate_replication_controller_update(new: ReplicationController, old: ReplicationController) -> list[FieldError]:
    """The status a controller writes holds no negative count."""
    st = new.status
    if st is None:
        return []
    errs: list[FieldError] = []
    for path, value in (("status.replicas", st.replicas), ("status.fullyLabeledReplicas", st.fully_labeled_replicas),
                        ("status.readyReplicas", st.ready_replicas),
                        ("status.availableReplicas", st.available_replicas),
                        ("status.observedGeneration", st.observed_generation)):
        errs += non_negative(path, value)
    return errs
