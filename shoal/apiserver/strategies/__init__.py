"""One strategy per resource, registered here: the only place that maps a kind to its rules.

See ``base`` for the ``Strategy`` protocol and the generic kind's rules; each
kind with rules of its own has a module beside it. ``for_resource`` builds the
strategy of one served resource, given the server's shared parts that some
strategies use (the Service address allocator, the PriorityClass cache, the StorageClasses). A kind
not in ``_REGISTRY`` is generic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shoal.api.registry import ResourceInfo
from shoal.apiserver.priority import PriorityClassCache
from shoal.apiserver.storage import StorageClasses
from shoal.apiserver.strategies.apiextensions import CustomResourceDefinitionStrategy
from shoal.apiserver.strategies.base import (
    DefaultStrategy,
    KeyAllocator,
    ResetStatusStrategy,
    Strategy,
)
from shoal.apiserver.strategies.certificates import (
    APIServiceStrategy,
    CertificateSigningRequestStrategy,
)
from shoal.apiserver.strategies.namespace import NamespaceStrategy
from shoal.apiserver.strategies.pod import AccountLookup, PodStrategy
from shoal.apiserver.strategies.priorityclass import PriorityClassStrategy
from shoal.apiserver.strategies.selectable import EventStrategy, NodeStrategy, SecretStrategy
from shoal.apiserver.strategies.service import ServiceStrategy
from shoal.apiserver.strategies.storage import (
    PersistentVolumeClaimStrategy,
    PersistentVolumeStrategy,
)
from shoal.apiserver.strategies.workloads import JobStrategy, ReplicaSetStrategy

if TYPE_CHECKING:
    from shoal.apiserver.authz.authorizer import Authorizer

__all__ = ["DefaultStrategy", "KeyAllocator", "Shared", "Strategy", "for_resource"]


@dataclass(frozen=True, slots=True)
class Shared:
    """What some strategies need of the server: built once, shared by every resource."""

    service_allocator: KeyAllocator
    priority_classes: PriorityClassCache
    storage_classes: StorageClasses
    pod_cidrs: KeyAllocator  # Nodes' pod CIDRs, one Node per range
    authorizer: Authorizer | None = None  # RBAC's, for the escalation checks of the RBAC kinds
    accounts: AccountLookup | None = None  # ServiceAccounts, for pod admission (None: pods are not given one)


Factory = Callable[[ResourceInfo, Shared], Strategy]

# (API group, kind) -> the strategy of that resource
_REGISTRY: dict[tuple[str, str], Factory] = {
    ("", "Pod"): lambda info, shared: PodStrategy(info, shared.priority_classes, shared.accounts),
    ("", "Service"): lambda info, shared: ServiceStrategy(info, shared.service_allocator),
    ("", "Namespace"): lambda info, shared: NamespaceStrategy(info),
    ("", "Node"): lambda info, shared: NodeStrategy(info, shared.pod_cidrs),
    ("", "Event"): lambda info, shared: EventStrategy(info),
    ("", "Secret"): lambda info, shared: SecretStrategy(info),
    ("apps", "Deployment"): lambda info, shared: ResetStatusStrategy(info),
    ("apps", "ReplicaSet"): lambda info, shared: ReplicaSetStrategy(info),
    ("apps", "DaemonSet"): lambda info, shared: ResetStatusStrategy(info),
    ("apps", "StatefulSet"): lambda info, shared: ResetStatusStrategy(info),
    ("batch", "Job"): lambda info, shared: JobStrategy(info),
    ("batch", "CronJob"): lambda info, shared: ResetStatusStrategy(info),
    ("networking.k8s.io", "Ingress"): lambda info, shared: ResetStatusStrategy(info),
    ("scheduling.k8s.io", "PriorityClass"): lambda info, shared: PriorityClassStrategy(info, shared.priority_classes),
    ("", "PersistentVolumeClaim"): lambda info, shared: PersistentVolumeClaimStrategy(info, shared.storage_classes),
    ("", "PersistentVolume"): lambda info, shared: PersistentVolumeStrategy(info),
    ("", "ReplicationController"): lambda info, shared: ReplicaSetStrategy(info),
    ("policy", "PodDisruptionBudget"): lambda info, shared: ResetStatusStrategy(info),
    ("autoscaling", "HorizontalPodAutoscaler"): lambda info, shared: ResetStatusStrategy(info),
    ("certificates.k8s.io", "CertificateSigningRequest"): lambda info, shared: CertificateSigningRequestStrategy(info),
    ("apiregistration.k8s.io", "APIService"): lambda info, shared: APIServiceStrategy(info),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): lambda info, shared: CustomResourceDefinitionStrategy(info),
}


def _rbac(info: ResourceInfo, shared: Shared) -> Strategy:
    from shoal.apiserver.authz.admission import BindingStrategy, RoleStrategy

    if shared.authorizer is None:
        return DefaultStrategy(info)
    cls = BindingStrategy if info.kind.endswith("Binding") else RoleStrategy
    return cls(info, shared.authorizer)


for _kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
    _REGISTRY[("rbac.authorization.k8s.io", _kind)] = _rbac


def for_resource(info: ResourceInfo, shared: Shared) -> Strategy:
    """The strategy of ``info``'s resource (``DefaultStrategy`` for a generic kind)."""
    factory = _REGISTRY.get((info.group, info.kind))
    return factory(info, shared) if factory is not None else DefaultStrategy(info)
