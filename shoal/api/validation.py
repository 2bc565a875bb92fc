"""Validation of API objects: ``validate(obj, *, old=None) -> list[FieldError]``.

The API server calls this after ``apply_defaults`` on every create (``old`` is
None) and update (``old`` is the stored object), and turns a non-empty result
into a 422 ``Invalid`` Status with ``InvalidError(errors).message(kind, name)``.
Rules live beside the kinds they check (``validation_pod``, ``validation_core``,
``validation_workloads``); this module only dispatches and checks metadata.

Status-only writes (``/status``) should call ``validate_metadata_update`` and
skip spec rules, as upstream's status strategies do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.api import validation_admissionregistration
from shoal.api.crd.validation import validate_crd, validate_crd_update
from shoal.api.models.admissionregistration import (
    MutatingWebhookConfiguration,
    ValidatingAdmissionPolicy,
    ValidatingAdmissionPolicyBinding,
    ValidatingWebhookConfiguration,
)
from shoal.api.models.apiextensions import CustomResourceDefinition
from shoal.api.models.apiregistration import APIService
from shoal.api.models.apps import ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet
from shoal.api.models.autoscaling import HorizontalPodAutoscaler
from shoal.api.models.batch import CronJob, Job
from shoal.api.models.certificates import CertificateSigningRequest
from shoal.api.models.core import (
    ConfigMap,
    Endpoints,
    Namespace,
    Node,
    Secret,
    Service,
    ServiceAccount,
)
from shoal.api.models.networking import IngressClass, NetworkPolicy
from shoal.api.models.pod import Pod, PodTemplate
from shoal.api.models.policy import PodDisruptionBudget
from shoal.api.models.quota import LimitRange, ResourceQuota
from shoal.api.models.rbac import ClusterRole, ClusterRoleBinding, Role, RoleBinding
from shoal.api.models.replication import ReplicationController
from shoal.api.models.scheduling import PriorityClass
from shoal.api.models.storage import StorageClass
from shoal.api.models.volumes import PersistentVolume, PersistentVolumeClaim
from shoal.api.validation_autoscaling import validate_hpa
from shoal.api.validation_base import (
    FieldError,
    InvalidError,
    check,
    dns1035_label,
    dns1123_label,
    dns1123_subdomain,
    index,
    one_of,
    qualified_name,
    required,
    validate_object_meta,
    validate_object_meta_update,
)
from shoal.api.validation_certificates import (
    validate_api_service,
    validate_csr,
    validate_csr_update,
)
from shoal.api.validation_core import (
    validate_config_map,
    validate_config_map_update,
    validate_endpoints,
    validate_node,
    validate_secret,
    validate_secret_update,
    validate_service,
    validate_service_update,
)
from shoal.api.validation_networking import validate_network_policy
from shoal.api.validation_pod import validate_pod_spec, validate_pod_spec_update
from shoal.api.validation_policy import validate_pod_disruption_budget
from shoal.api.validation_quota import validate_limit_range, validate_resource_quota
from shoal.api.validation_rbac import (
    path_segment_name,
    validate_binding_update,
    validate_cluster_role,
    validate_cluster_role_binding,
    validate_role,
    validate_role_binding,
)
from shoal.api.validation_replication import (
    validate_replication_controller,
    validate_replication_controller_update,
)
from shoal.api.validation_scheduling import validate_priority_class, validate_priority_class_update
from shoal.api.validation_statefulset import (
    validate_controller_revision,
    validate_controller_revision_update,
    validate_stateful_set,
    validate_stateful_set_update,
)
from shoal.api.validation_storage import (
    validate_persistent_volume,
    validate_persistent_volume_claim,
    validate_persistent_volume_claim_update,
    validate_persistent_volume_update,
    validate_storage_class,
    validate_storage_class_update,
)
from shoal.api.validation_workloads import (
    validate_cron_job,
    validate_daemon_set,
    validate_deployment,
    validate_job,
    validate_job_update,
    validate_replica_set,
    validate_selector_update,
    validate_template,
)

__all__ = ["FieldError", "InvalidError", "validate", "validate_metadata_update", "raise_if_invalid"]

CLUSTER_SCOPED: tuple[type, ...] = (Namespace, Node, PriorityClass, PersistentVolume, StorageClass,
                                    ClusterRole, ClusterRoleBinding, CustomResourceDefinition, CertificateSigningRequest,
                                    APIService, IngressClass, ValidatingWebhookConfiguration,
                                    MutatingWebhookConfiguration, ValidatingAdmissionPolicy,
                                    ValidatingAdmissionPolicyBinding)
NameCheck = Callable[[str], list[str]]
Rule = Callable[[Any], list[FieldError]]
UpdateRule = Callable[[Any, Any], list[FieldError]]

# How each kind's metadata.name is checked (default: RFC 1123 subdomain).
NAME_CHECKS: dict[type, NameCheck] = {
    Namespace: dns1123_label,
    Service: dns1035_label,
    APIService: path_segment_name,  # named <version>.<group>: v1. ends with a dot
    Role: path_segment_name,
    ClusterRole: path_segment_name,
    RoleBinding: path_segment_name,
    ClusterRoleBinding: path_segment_name,
}


def _pod(pod: Pod) -> list[FieldError]:
    return validate_pod_spec(pod.spec, "spec")


def _pod_template(pt: PodTemplate) -> list[FieldError]:
    return validate_template(
        pt.template,
        "template",
        selector=None,
        restart_policies=("Always", "OnFailure", "Never"),
        owner="PodTemplate",
    )


def _namespace(ns: Namespace) -> list[FieldError]:
    errs: list[FieldError] = []
    if ns.spec is not None:
        for i, fin in enumerate(ns.spec.finalizers or []):
            errs += check(index("spec.finalizers", i), fin, qualified_name)
    if ns.status is not None:
        errs += one_of("status.phase", ns.status.phase, ("Active", "Terminating"))
    return errs


def _service_account(sa: ServiceAccount) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ref in enumerate(sa.image_pull_secrets or []):
        if not ref.name:
            errs.append(required(index("imagePullSecrets", i) + ".name"))
    return errs


RULES: dict[type, Rule] = {
    Pod: _pod,
    PodTemplate: _pod_template,
    Service: validate_service,
    ConfigMap: validate_config_map,
    Secret: validate_secret,
    Namespace: _namespace,
    Node: validate_node,
    ServiceAccount: _service_account,
    Endpoints: validate_endpoints,
    Deployment: validate_deployment,
    ReplicaSet: validate_replica_set,
    DaemonSet: validate_daemon_set,
    StatefulSet: validate_stateful_set,
    ControllerRevision: validate_controller_revision,
    Job: validate_job,
    CronJob: validate_cron_job,
    PriorityClass: validate_priority_class,
    NetworkPolicy: validate_network_policy,
    PersistentVolume: validate_persistent_volume,
    PersistentVolumeClaim: validate_persistent_volume_claim,
    StorageClass: validate_storage_class,
    PodDisruptionBudget: validate_pod_disruption_budget,
    ResourceQuota: validate_resource_quota,
    LimitRange: validate_limit_range,
    HorizontalPodAutoscaler: validate_hpa,
    ReplicationController: validate_replication_controller,
    CertificateSigningRequest: validate_csr,
    APIService: validate_api_service,
    Role: validate_role,
    ClusterRole: validate_cluster_role,
    RoleBinding: validate_role_binding,
    ClusterRoleBinding: validate_cluster_role_binding,
    CustomResourceDefinition: validate_crd,
    **validation_admissionregistration.RULES,
}


def _pod_update(new: Pod, old: Pod) -> list[FieldError]:
    return validate_pod_spec_update(new.spec, old.spec)


def _selector_update(new: Any, old: Any) -> list[FieldError]:
    new_sel = new.spec.selector if new.spec is not None else None
    old_sel = old.spec.selector if old.spec is not None else None
    return validate_selector_update(new_sel, old_sel)


UPDATE_RULES: dict[type, UpdateRule] = {
    Pod: _pod_update,
    Service: validate_service_update,
    ConfigMap: validate_config_map_update,
    Secret: validate_secret_update,
    Deployment: _selector_update,
    ReplicaSet: _selector_update,
    DaemonSet: _selector_update,
    StatefulSet: validate_stateful_set_update,
    ControllerRevision: validate_controller_revision_update,
    Job: validate_job_update,
    PriorityClass: validate_priority_class_update,
    PersistentVolume: validate_persistent_volume_update,
    PersistentVolumeClaim: validate_persistent_volume_claim_update,
    StorageClass: validate_storage_class_update,
    ReplicationController: validate_replication_controller_update,
    CertificateSigningRequest: validate_csr_update,
    RoleBinding: validate_binding_update,
    ClusterRoleBinding: validate_binding_update,
    CustomResourceDefinition: validate_crd_update,
}


def validate(obj: Any, *, old: Any = None) -> list[FieldError]:
    """Every problem with ``obj`` (and, on update, with its change from ``old``)."""
    cls = type(obj)
    errs = validate_object_meta(
        getattr(obj, "metadata", None),
        namespaced=cls not in CLUSTER_SCOPED,
        name_check=NAME_CHECKS.get(cls, dns1123_subdomain),
    )
    rule = RULES.get(cls)
    if rule is not None:
        errs += rule(obj)
    if old is not None:
        errs += validate_update(obj, old)
    return errs


def validate_update(obj: Any, old: Any) -> list[FieldError]:
    """Only the update rules: immutable metadata and each kind's immutable fields."""
    errs = validate_metadata_update(obj, old)
    update_rule = UPDATE_RULES.get(type(obj))
    if update_rule is not None and type(old) is type(obj):
        errs += update_rule(obj, old)
    return errs


def validate_metadata_update(obj: Any, old: Any) -> list[FieldError]:
    return validate_object_meta_update(
        getattr(obj, "metadata", None), getattr(old, "metadata", None)
    )


def raise_if_invalid(obj: Any, *, old: Any = None) -> None:
    """``validate`` that raises ``InvalidError`` when anything is wrong."""
    errs = validate(obj, old=old)
    if errs:
        raise InvalidError(errs)
