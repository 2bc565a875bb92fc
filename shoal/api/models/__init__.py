"""Every served kind, keyed by (apiVersion, kind), for decoding by type.

Import a model from its group module (``shoal.api.models.core.Pod``) or from
here; ``KINDS`` lets generic code (the apiserver, ``kubectl apply`` of a
manifest file) pick the class from the ``apiVersion`` and ``kind`` it reads.
"""

from __future__ import annotations

from shoal.api.meta import Status
from shoal.api.models import autoscaling_v1
from shoal.api.models.apiextensions import CustomResourceDefinition
from shoal.api.models.apiregistration import APIService
from shoal.api.models.apps import ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet
from shoal.api.models.autoscaling import HorizontalPodAutoscaler, Scale
from shoal.api.models.batch import CronJob, Job
from shoal.api.models.certificates import CertificateSigningRequest
from shoal.api.models.coordination import Lease
from shoal.api.models.core import (
    Binding,
    ConfigMap,
    Endpoints,
    Event,
    Namespace,
    Node,
    Pod,
    PodTemplate,
    Secret,
    Service,
    ServiceAccount,
)
from shoal.api.models.discovery import EndpointSlice
from shoal.api.models.events import Event as EventsV1Event
from shoal.api.models.networking import NetworkPolicy
from shoal.api.models.policy import Eviction, PodDisruptionBudget
from shoal.api.models.quota import LimitRange, ResourceQuota
from shoal.api.models.rbac import ClusterRole, ClusterRoleBinding, Role, RoleBinding
from shoal.api.models.replication import ReplicationController
from shoal.api.models.scheduling import PriorityClass
from shoal.api.models.storage import StorageClass
from shoal.api.models.volumes import PersistentVolume, PersistentVolumeClaim

KINDS: dict[tuple[str, str], type] = {
    ("v1", "Namespace"): Namespace,
    ("v1", "Node"): Node,
    ("v1", "Pod"): Pod,
    ("v1", "PodTemplate"): PodTemplate,
    ("v1", "ReplicationController"): ReplicationController,
    ("v1", "Service"): Service,
    ("v1", "Endpoints"): Endpoints,
    ("v1", "ConfigMap"): ConfigMap,
    ("v1", "Secret"): Secret,
    ("v1", "Event"): Event,
    ("v1", "ServiceAccount"): ServiceAccount,
    ("v1", "PersistentVolume"): PersistentVolume,
    ("v1", "PersistentVolumeClaim"): PersistentVolumeClaim,
    ("v1", "Binding"): Binding,
    ("v1", "ResourceQuota"): ResourceQuota,
    ("v1", "LimitRange"): LimitRange,
    ("v1", "Status"): Status,
    ("apps/v1", "Deployment"): Deployment,
    ("apps/v1", "ReplicaSet"): ReplicaSet,
    ("apps/v1", "DaemonSet"): DaemonSet,
    ("apps/v1", "StatefulSet"): StatefulSet,
    ("apps/v1", "ControllerRevision"): ControllerRevision,
    ("batch/v1", "Job"): Job,
    ("batch/v1", "CronJob"): CronJob,
    ("coordination.k8s.io/v1", "Lease"): Lease,
    ("autoscaling/v1", "Scale"): Scale,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): HorizontalPodAutoscaler,
    ("autoscaling/v1", "HorizontalPodAutoscaler"): autoscaling_v1.HorizontalPodAutoscaler,
    ("discovery.k8s.io/v1", "EndpointSlice"): EndpointSlice,
    ("scheduling.k8s.io/v1", "PriorityClass"): PriorityClass,
    ("networking.k8s.io/v1", "NetworkPolicy"): NetworkPolicy,
    ("storage.k8s.io/v1", "StorageClass"): StorageClass,
    ("policy/v1", "PodDisruptionBudget"): PodDisruptionBudget,
    ("policy/v1", "Eviction"): Eviction,
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): CertificateSigningRequest,
    ("apiregistration.k8s.io/v1", "APIService"): APIService,
    ("events.k8s.io/v1", "Event"): EventsV1Event,
    ("rbac.authorization.k8s.io/v1", "Role"): Role,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ClusterRole,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): RoleBinding,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): ClusterRoleBinding,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): CustomResourceDefinition,
}

__all__ = [
    "KINDS",
    "APIService",
    "CertificateSigningRequest",
    "EventsV1Event",
    "Eviction",
    "PodDisruptionBudget",
    "ReplicationController",
    "Binding",
    "ConfigMap",
    "ControllerRevision",
    "CronJob",
    "CustomResourceDefinition",
    "DaemonSet",
    "Deployment",
    "EndpointSlice",
    "Endpoints",
    "Event",
    "Job",
    "LimitRange",
    "ResourceQuota",
    "Lease",
    "Namespace",
    "NetworkPolicy",
    "Node",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Pod",
    "PodTemplate",
    "PriorityClass",
    "ReplicaSet",
    "HorizontalPodAutoscaler",
    "Scale",
    "Secret",
    "Service",
    "ServiceAccount",
    "StatefulSet",
    "Status",
    "StorageClass",
]
