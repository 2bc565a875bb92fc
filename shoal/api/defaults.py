"""Kubernetes' defaults, applied explicitly before validation and storage.

Models leave every optional field ``None``; ``apply_defaults(obj)`` fills what
upstream's defaulting functions (and the few create-time strategies whose
effect every client sees, like a new Pod's ``Pending`` phase) would, in place,
dispatched by the object's type. It is idempotent, so the API server may run
it on every create and update. Values that upstream assigns from cluster state
(a Service's clusterIP, a Job's selector from its uid) are not defaults: the
server assigns them, with ``default_job_selector`` for Jobs.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from shoal.api import (
    defaults_admissionregistration,
    defaults_autoscaling,
    defaults_policy,
    defaults_quota,
    defaults_replication,
    defaults_statefulset,
    defaults_storage,
)
from shoal.api.defaults_pod import (
    canonical_list,
    default_pod_spec,
    qos_class,
    requests_from_limits,
)
from shoal.api.meta import LabelSelector, ObjectMeta
from shoal.api.models.apps import (
    DaemonSet,
    DaemonSetUpdateStrategy,
    Deployment,
    DeploymentStrategy,
    ReplicaSet,
    RollingUpdateDaemonSet,
    RollingUpdateDeployment,
)
from shoal.api.models.batch import CronJob, Job
from shoal.api.models.core import (
    ClientIPConfig,
    Endpoints,
    Namespace,
    NamespaceSpec,
    NamespaceStatus,
    Node,
    Secret,
    Service,
    SessionAffinityConfig,
)
from shoal.api.models.discovery import EndpointSlice
from shoal.api.models.networking import NetworkPolicy, NetworkPolicySpec
from shoal.api.models.pod import Pod, PodStatus, PodTemplate, PodTemplateSpec
from shoal.api.models.rbac import ClusterRoleBinding, RoleBinding
from shoal.api.models.scheduling import PriorityClass
from shoal.api.validation_rbac import default_subjects

Defaulter = Callable[[Any], None]
_DEFAULTERS: dict[type, Defaulter] = {**defaults_storage.DEFAULTERS,  # PV, PVC, StorageClass
                                      **defaults_statefulset.DEFAULTERS,
                                      **defaults_replication.DEFAULTERS,
                                      **defaults_policy.DEFAULTERS,
                                      **defaults_admissionregistration.DEFAULTERS,
                                      **defaults_quota.DEFAULTERS,
                                      **defaults_autoscaling.DEFAULTERS,
                                      RoleBinding: default_subjects, ClusterRoleBinding: default_subjects}


def apply_defaults(obj: object) -> None:
    """Fill Kubernetes' defaults into ``obj`` in place (no-op for kinds without any)."""
    fn = _DEFAULTERS.get(type(obj))
    if fn is not None:
        fn(obj)


def _defaulter(cls: type) -> Callable[[Defaulter], Defaulter]:
    def register(fn: Defaulter) -> Defaulter:
        _DEFAULTERS[cls] = fn
        return fn

    return register


def _template(template: PodTemplateSpec | None) -> None:
    if template is not None and template.spec is not None:
        default_pod_spec(template.spec)


# --- core ----------------------------------------------------------------------------


@_defaulter(Pod)
def default_pod(pod: Pod) -> None:
    spec = pod.spec
    if spec is None:
        return
    default_pod_spec(spec)
    # What upstream's admission adds to every Pod (not to templates).
    if spec.enable_service_links is None:
        spec.enable_service_links = True
    if spec.service_account_name is None:
        spec.service_account_name = spec.service_account = "default"
    if spec.priority is None:
        spec.priority = 0
    if spec.preemption_policy is None:
        spec.preemption_policy = "PreemptLowerPriority"
    for container in [*(spec.init_containers or []), *(spec.containers or [])]:
        if container.resources is not None:
            requests_from_limits(container.resources)
    if pod.status is None:
        pod.status = PodStatus()
    if pod.status.phase is None:
        pod.status.phase = "Pending"
    if pod.status.qos_class is None:
        pod.status.qos_class = qos_class(spec)


@_defaulter(PodTemplate)
def default_pod_template(template: PodTemplate) -> None:
    _template(template.template)


@_defaulter(Service)
def default_service(svc: Service) -> None:
    spec = svc.spec
    if spec is None:
        return
    if spec.type is None:
        spec.type = "ClusterIP"
    if spec.session_affinity is None:
        spec.session_affinity = "None"
    if spec.session_affinity == "ClientIP":
        if spec.session_affinity_config is None:
            spec.session_affinity_config = SessionAffinityConfig()
        if spec.session_affinity_config.client_ip is None:
            spec.session_affinity_config.client_ip = ClientIPConfig()
        if spec.session_affinity_config.client_ip.timeout_seconds is None:
            spec.session_affinity_config.client_ip.timeout_seconds = 10800
    for port in spec.ports or []:
        if port.protocol is None:
            port.protocol = "TCP"
        if port.target_port is None or port.target_port == 0 or port.target_port == "":
            port.target_port = port.port
    if spec.type == "ExternalName":
        return
    if spec.internal_traffic_policy is None:
        spec.internal_traffic_policy = "Cluster"
    if spec.type in ("NodePort", "LoadBalancer") and spec.external_traffic_policy is None:
        spec.external_traffic_policy = "Cluster"
    if spec.type == "LoadBalancer" and spec.allocate_load_balancer_node_ports is None:
        spec.allocate_load_balancer_node_ports = True
    if spec.ip_family_policy is None:
        spec.ip_family_policy = "SingleStack"
    if not spec.ip_families:
        spec.ip_families = ["IPv6" if ":" in (spec.cluster_ip or "") else "IPv4"]


@_defaulter(Secret)
def default_secret(secret: Secret) -> None:
    if secret.type is None:
        secret.type = "Opaque"
    if secret.string_data:
        data = dict(secret.data or {})
        for key, value in secret.string_data.items():
            data[key] = base64.b64encode(value.encode()).decode("ascii")
        secret.data = data
    secret.string_data = None


@_defaulter(Namespace)
def default_namespace(ns: Namespace) -> None:
    if ns.spec is None:
        ns.spec = NamespaceSpec()
    if ns.spec.finalizers is None:
        ns.spec.finalizers = ["kubernetes"]
    if ns.status is None:
        ns.status = NamespaceStatus()
    if ns.status.phase is None:
        ns.status.phase = "Active"
    # Upstream labels every namespace with its own name.
    if ns.metadata is not None and ns.metadata.name:
        labels = dict(ns.metadata.labels or {})
        labels["kubernetes.io/metadata.name"] = ns.metadata.name
        ns.metadata.labels = labels


@_defaulter(Node)
def default_node(node: Node) -> None:
    status = node.status
    if status is None:
        return
    status.capacity = canonical_list(status.capacity)
    status.allocatable = canonical_list(status.allocatable)
    if status.capacity and not status.allocatable:
        status.allocatable = dict(status.capacity)


@_defaulter(Endpoints)
def default_endpoints(ep: Endpoints) -> None:
    for subset in ep.subsets or []:
        for port in subset.ports or []:
            if port.protocol is None:
                port.protocol = "TCP"


@_defaulter(PriorityClass)
def default_priority_class(pc: PriorityClass) -> None:
    if pc.value is None:
        pc.value = 0
    if pc.preemption_policy is None:
        pc.preemption_policy = "PreemptLowerPriority"


@_defaulter(EndpointSlice)
def default_endpoint_slice(eps: EndpointSlice) -> None:
    for port in eps.ports or []:
        if port.protocol is None:
            port.protocol = "TCP"
        if port.name is None:
            port.name = ""


@_defaulter(NetworkPolicy)
def default_network_policy(np: NetworkPolicy) -> None:
    """Every port's protocol is TCP unless named; with no policyTypes, a policy isolates for ingress,
    and for egress too when it has egress rules (upstream's SetDefaults_NetworkPolicy)."""
    if np.spec is None:
        np.spec = NetworkPolicySpec()
    spec = np.spec
    if spec.pod_selector is None:
        spec.pod_selector = LabelSelector()
    ports = [p for r in spec.ingress or [] for p in r.ports or []]
    ports += [p for r in spec.egress or [] for p in r.ports or []]
    for port in ports:
        if port.protocol is None:
            port.protocol = "TCP"
    if not spec.policy_types:
        spec.policy_types = ["Ingress", "Egress"] if spec.egress else ["Ingress"]


# --- apps ---------------------------------------------------------------------------------


@_defaulter(Deployment)
def default_deployment(dep: Deployment) -> None:
    spec = dep.spec
    if spec is None:
        return
    if spec.replicas is None:
        spec.replicas = 1
    if spec.strategy is None:
        spec.strategy = DeploymentStrategy()
    if spec.strategy.type is None:
        spec.strategy.type = "RollingUpdate"
    if spec.strategy.type == "RollingUpdate":
        if spec.strategy.rolling_update is None:
            spec.strategy.rolling_update = RollingUpdateDeployment()
        ru = spec.strategy.rolling_update
        if ru.max_unavailable is None:
            ru.max_unavailable = "25%"
        if ru.max_surge is None:
            ru.max_surge = "25%"
    if spec.revision_history_limit is None:
        spec.revision_history_limit = 10
    if spec.progress_deadline_seconds is None:
        spec.progress_deadline_seconds = 600
    _template(spec.template)


@_defaulter(ReplicaSet)
def default_replica_set(rs: ReplicaSet) -> None:
    if rs.spec is None:
        return
    if rs.spec.replicas is None:
        rs.spec.replicas = 1
    _template(rs.spec.template)


@_defaulter(DaemonSet)
def default_daemon_set(ds: DaemonSet) -> None:
    spec = ds.spec
    if spec is None:
        return
    if spec.update_strategy is None:
        spec.update_strategy = DaemonSetUpdateStrategy()
    if spec.update_strategy.type is None:
        spec.update_strategy.type = "RollingUpdate"
    if spec.update_strategy.type == "RollingUpdate":
        if spec.update_strategy.rolling_update is None:
            spec.update_strategy.rolling_update = RollingUpdateDaemonSet()
        ru = spec.update_strategy.rolling_update
        if ru.max_unavailable is None:
            ru.max_unavailable = 1
        if ru.max_surge is None:
            ru.max_surge = 0
    if spec.revision_history_limit is None:
        spec.revision_history_limit = 10
    _template(spec.template)


# --- batch ----------------------------------------------------------------------------------

MAX_INT32 = 2**31 - 1


@_defaulter(Job)
def default_job(job: Job) -> None:
    spec = job.spec
    if spec is None:
        return
    if spec.completions is None and spec.parallelism is None:
        spec.completions = 1
    if spec.parallelism is None:
        spec.parallelism = 1
    if spec.backoff_limit is None:
        spec.backoff_limit = 6 if spec.backoff_limit_per_index is None else MAX_INT32
    if spec.completion_mode is None:
        spec.completion_mode = "NonIndexed"
    if spec.suspend is None:
        spec.suspend = False
    if spec.pod_replacement_policy is None:
        spec.pod_replacement_policy = (
            "Failed" if spec.pod_failure_policy is not None else "TerminatingOrFailed"
        )
    template_labels = (
        spec.template.metadata.labels if spec.template and spec.template.metadata else None
    )
    if template_labels and job.metadata is not None and not job.metadata.labels:
        job.metadata.labels = dict(template_labels)
    _template(spec.template)


def default_job_selector(job: Job, uid: str) -> None:
    """What the server sets on a new Job (unless ``manualSelector``): selector and pod labels."""
    spec = job.spec
    if spec is None or spec.manual_selector:
        return
    name = job.metadata.name if job.metadata is not None else None
    if spec.template is None:
        spec.template = PodTemplateSpec()
    if spec.template.metadata is None:
        spec.template.metadata = ObjectMeta()
    labels = dict(spec.template.metadata.labels or {})
    labels["batch.kubernetes.io/controller-uid"] = uid
    labels["controller-uid"] = uid
    if name:
        labels["batch.kubernetes.io/job-name"] = name
        labels["job-name"] = name
    spec.template.metadata.labels = labels
    if spec.selector is None:
        spec.selector = LabelSelector(match_labels={"batch.kubernetes.io/controller-uid": uid})


@_defaulter(CronJob)
def default_cron_job(cj: CronJob) -> None:
    spec = cj.spec
    if spec is None:
        return
    if spec.concurrency_policy is None:
        spec.concurrency_policy = "Allow"
    if spec.suspend is None:
        spec.suspend = False
    if spec.successful_jobs_history_limit is None:
        spec.successful_jobs_history_limit = 3
    if spec.failed_jobs_history_limit is None:
        spec.failed_jobs_history_limit = 1
    if spec.job_template is not None and spec.job_template.spec is not None:
        _template(spec.job_template.spec.template)
