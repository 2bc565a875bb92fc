"""Every resource shoal serves: the table behind routing, discovery and OpenAPI."""

from __future__ import annotations

from shoal.api.models import (
    admissionregistration,
    apiextensions,
    apiregistration,
    apps,
    autoscaling,
    autoscaling_v1,
    batch,
    certificates,
    coordination,
    core,
    discovery,
    events,
    networking,
    pod,
    policy,
    quota,
    rbac,
    replication,
    scheduling,
    storage,
    volumes,
)
from shoal.api.registry import ResourceInfo

_ALL = ("all",)

RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo("", "v1", "Namespace", "namespaces", "namespace", False, core.Namespace,
                 short_names=("ns",), subresources=("status", "finalize"), status_subresource=True, has_spec=False),
    ResourceInfo("", "v1", "Node", "nodes", "node", False, core.Node,
                 short_names=("no",), subresources=("status",), status_subresource=True),
    ResourceInfo("", "v1", "Pod", "pods", "pod", True, core.Pod,
                 short_names=("po",), categories=_ALL,
                 subresources=("status", "binding", "log", "exec", "attach", "eviction", "portforward",
                               "ephemeralcontainers"),
                 status_subresource=True),
    ResourceInfo("", "v1", "Service", "services", "service", True, core.Service,
                 short_names=("svc",), categories=_ALL, subresources=("status",), status_subresource=True),
    ResourceInfo("", "v1", "Endpoints", "endpoints", "endpoints", True, core.Endpoints,
                 short_names=("ep",), has_spec=False),
    ResourceInfo("", "v1", "ConfigMap", "configmaps", "configmap", True, core.ConfigMap,
                 short_names=("cm",), has_spec=False),
    ResourceInfo("", "v1", "Secret", "secrets", "secret", True, core.Secret, has_spec=False),
    ResourceInfo("", "v1", "Event", "events", "event", True, core.Event, short_names=("ev",), has_spec=False),
    ResourceInfo("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True, core.ServiceAccount,
                 short_names=("sa",), has_spec=False),
    ResourceInfo("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", False, volumes.PersistentVolume,
                 short_names=("pv",), subresources=("status",), status_subresource=True, has_spec=False),
    ResourceInfo("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", True,
                 volumes.PersistentVolumeClaim, short_names=("pvc",), subresources=("status",),
                 status_subresource=True, has_spec=False),
    ResourceInfo("", "v1", "ReplicationController", "replicationcontrollers", "replicationcontroller", True,
                 replication.ReplicationController, short_names=("rc",), categories=_ALL,
                 subresources=("status", "scale"), status_subresource=True),
    ResourceInfo("", "v1", "ResourceQuota", "resourcequotas", "resourcequota", True, quota.ResourceQuota,
                 short_names=("quota",), subresources=("status",), status_subresource=True),
    ResourceInfo("", "v1", "LimitRange", "limitranges", "limitrange", True, quota.LimitRange,
                 short_names=("limits",)),
    ResourceInfo("", "v1", "PodTemplate", "podtemplates", "podtemplate", True, pod.PodTemplate, has_spec=False),
    ResourceInfo("apiregistration.k8s.io", "v1", "APIService", "apiservices", "apiservice", False,
                 apiregistration.APIService, subresources=("status",), status_subresource=True),
    ResourceInfo("apps", "v1", "Deployment", "deployments", "deployment", True, apps.Deployment,
                 short_names=("deploy",), categories=_ALL, subresources=("status", "scale"), status_subresource=True),
    ResourceInfo("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True, apps.ReplicaSet,
                 short_names=("rs",), categories=_ALL, subresources=("status", "scale"), status_subresource=True),
    ResourceInfo("apps", "v1", "DaemonSet", "daemonsets", "daemonset", True, apps.DaemonSet,
                 short_names=("ds",), categories=_ALL, subresources=("status",), status_subresource=True),
    ResourceInfo("apps", "v1", "StatefulSet", "statefulsets", "statefulset", True, apps.StatefulSet,
                 short_names=("sts",), categories=_ALL, subresources=("status", "scale"), status_subresource=True),
    ResourceInfo("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", True,
                 apps.ControllerRevision, has_spec=False),
    ResourceInfo("events.k8s.io", "v1", "Event", "events", "event", True, events.Event, short_names=("ev",),
                 has_spec=False, extra={"view_of": ("", "v1", "events")}),
    ResourceInfo("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler",
                 True, autoscaling.HorizontalPodAutoscaler, short_names=("hpa",), categories=_ALL,
                 subresources=("status",), status_subresource=True),
    # v1: the stored v2 objects, converted (shoal.api.hpaconv); its own watch cache over the same keys
    ResourceInfo("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", "horizontalpodautoscaler",
                 True, autoscaling_v1.HorizontalPodAutoscaler, short_names=("hpa",), categories=_ALL,
                 subresources=("status",), status_subresource=True,
                 extra={"view_of": ("autoscaling", "v2", "horizontalpodautoscalers"),
                        "broadcaster": "/registry/autoscaling/horizontalpodautoscalers/@v1"}),
    ResourceInfo("batch", "v1", "Job", "jobs", "job", True, batch.Job,
                 categories=_ALL, subresources=("status",), status_subresource=True),
    ResourceInfo("batch", "v1", "CronJob", "cronjobs", "cronjob", True, batch.CronJob,
                 short_names=("cj",), categories=_ALL, subresources=("status",), status_subresource=True),
    ResourceInfo("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests",
                 "certificatesigningrequest", False, certificates.CertificateSigningRequest, short_names=("csr",),
                 subresources=("status", "approval"), status_subresource=True),
    ResourceInfo("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", True,
                 policy.PodDisruptionBudget, short_names=("pdb",), subresources=("status",), status_subresource=True),
    ResourceInfo("coordination.k8s.io", "v1", "Lease", "leases", "lease", True, coordination.Lease),
    ResourceInfo("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", True,
                 discovery.EndpointSlice, has_spec=False),
    ResourceInfo("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", False,
                 scheduling.PriorityClass, short_names=("pc",), has_spec=False),
    ResourceInfo("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
                 "customresourcedefinition", False, apiextensions.CustomResourceDefinition,
                 short_names=("crd", "crds"), categories=("api-extensions",), subresources=("status",),
                 status_subresource=True),
    ResourceInfo("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration",
                 "mutatingwebhookconfigurations", "mutatingwebhookconfiguration", False,
                 admissionregistration.MutatingWebhookConfiguration, categories=("api-extensions",), has_spec=False),
    ResourceInfo("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration",
                 "validatingwebhookconfigurations", "validatingwebhookconfiguration", False,
                 admissionregistration.ValidatingWebhookConfiguration, categories=("api-extensions",), has_spec=False),
    ResourceInfo("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy",
                 "validatingadmissionpolicies", "validatingadmissionpolicy", False,
                 admissionregistration.ValidatingAdmissionPolicy, categories=("api-extensions",),
                 subresources=("status",), status_subresource=True),
    ResourceInfo("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding",
                 "validatingadmissionpolicybindings", "validatingadmissionpolicybinding", False,
                 admissionregistration.ValidatingAdmissionPolicyBinding, categories=("api-extensions",)),
    ResourceInfo("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", True,
                 networking.NetworkPolicy, short_names=("netpol",)),
    ResourceInfo("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", True, networking.Ingress,
                 short_names=("ing",), subresources=("status",), status_subresource=True),
    ResourceInfo("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", False,
                 networking.IngressClass),
    ResourceInfo("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", False,
                 storage.StorageClass, short_names=("sc",), has_spec=False),
    ResourceInfo("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings",
                 "clusterrolebinding", False, rbac.ClusterRoleBinding, has_spec=False),
    ResourceInfo("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", False,
                 rbac.ClusterRole, has_spec=False),
    ResourceInfo("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", True,
                 rbac.RoleBinding, has_spec=False),
    ResourceInfo("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", True, rbac.Role, has_spec=False),
)

# Kinds that appear only as subresource bodies.
SCALE = autoscaling.Scale
BINDING = core.Binding
EVICTION = policy.Eviction

# Group versions, in the order discovery lists them (core first, as upstream).
GROUP_VERSIONS: tuple[str, ...] = tuple(dict.fromkeys(r.group_version for r in RESOURCES))


def by_group_version() -> dict[str, list[ResourceInfo]]:
    out: dict[str, list[ResourceInfo]] = {}
    for r in RESOURCES:
        out.setdefault(r.group_version, []).append(r)
    return out


def lookup(group: str, version: str, plural: str) -> ResourceInfo | None:
    for r in RESOURCES:
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None
