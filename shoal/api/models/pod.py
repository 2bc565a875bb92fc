"""core/v1 Pod and its many nested types (``shoal.api.models.core`` re-exports them).

The Pod spec is wide on purpose: ordinary manifests taken from the wild must
decode with no unknown field, because ``kubectl apply`` validates strictly.
Rarely used volume sources and features are kept as opaque ``dict[str, Any]``
under their upstream names, so they round-trip without being modelled.

Fields whose Kubernetes JSON name is not the camelCase of the Python name
(``podIP``, ``hostIPC``, ``providerID``...) name it with ``field(name=...)``.
Required-by-type fields are only those a consumer may rely on (a container's
name, a port's number); most "required" rules are checked by validation, which
can report every problem at once.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from shoal.api.base import Model, merge_key
from shoal.api.meta import LabelSelector, ObjectMeta, list_map
from shoal.api.quantity import QuantityValue

IntOrString = int | str
ResourceList = dict[str, QuantityValue]
Opaque = dict[str, Any]


def _f(name: str) -> Any:
    """An optional field with an explicit wire name."""
    return msgspec.field(default=None, name=name)


# --- references --------------------------------------------------------------


class ObjectReference(Model):
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    api_version: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class LocalObjectReference(Model):
    name: str | None = None


class TypedLocalObjectReference(Model):
    api_group: str | None = None
    kind: str | None = None
    name: str | None = None


# --- environment ---------------------------------------------------------------


class ObjectFieldSelector(Model):
    field_path: str
    api_version: str | None = None


class ResourceFieldSelector(Model):
    resource: str
    container_name: str | None = None
    divisor: QuantityValue | None = None


class ConfigMapKeySelector(Model):
    key: str
    name: str | None = None
    optional: bool | None = None


class SecretKeySelector(Model):
    key: str
    name: str | None = None
    optional: bool | None = None


class EnvVarSource(Model):
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    config_map_key_ref: ConfigMapKeySelector | None = None
    secret_key_ref: SecretKeySelector | None = None
    file_key_ref: Opaque | None = None


class EnvVar(Model):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class ConfigMapEnvSource(Model):
    name: str | None = None
    optional: bool | None = None


class SecretEnvSource(Model):
    name: str | None = None
    optional: bool | None = None


class EnvFromSource(Model):
    prefix: str | None = None
    config_map_ref: ConfigMapEnvSource | None = None
    secret_ref: SecretEnvSource | None = None


# --- container pieces -------------------------------------------------------------


class ContainerPort(Model):
    container_port: int
    name: str | None = None
    host_port: int | None = None
    protocol: str | None = None
    host_ip: str | None = _f("hostIP")


class ResourceClaim(Model):
    name: str
    request: str | None = None


class ResourceRequirements(Model):
    limits: ResourceList | None = None
    requests: ResourceList | None = None
    claims: Annotated[list[ResourceClaim], list_map("name")] | None = None


class ContainerResizePolicy(Model):
    resource_name: str
    restart_policy: str


class VolumeMount(Model):
    name: str
    mount_path: str
    read_only: bool | None = None
    recursive_read_only: str | None = None
    sub_path: str | None = None
    mount_propagation: str | None = None
    sub_path_expr: str | None = None


class VolumeDevice(Model):
    name: str
    device_path: str


class ExecAction(Model):
    command: list[str] | None = None


class HTTPHeader(Model):
    name: str
    value: str


class HTTPGetAction(Model):
    port: IntOrString
    path: str | None = None
    host: str | None = None
    scheme: str | None = None
    http_headers: list[HTTPHeader] | None = None


class TCPSocketAction(Model):
    port: IntOrString
    host: str | None = None


class GRPCAction(Model):
    port: int
    service: str | None = None


class SleepAction(Model):
    seconds: int


class Probe(Model):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int | None = None
    timeout_seconds: int | None = None
    period_seconds: int | None = None
    success_threshold: int | None = None
    failure_threshold: int | None = None
    termination_grace_period_seconds: int | None = None


class LifecycleHandler(Model):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    sleep: SleepAction | None = None


class Lifecycle(Model):
    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None
    stop_signal: str | None = None


class Capabilities(Model):
    add: list[str] | None = None
    drop: list[str] | None = None


class SELinuxOptions(Model):
    user: str | None = None
    role: str | None = None
    type: str | None = None
    level: str | None = None


class WindowsSecurityContextOptions(Model):
    gmsa_credential_spec_name: str | None = None
    gmsa_credential_spec: str | None = None
    run_as_user_name: str | None = None
    host_process: bool | None = None


class SeccompProfile(Model):
    type: str
    localhost_profile: str | None = None


class AppArmorProfile(Model):
    type: str
    localhost_profile: str | None = None


class SecurityContext(Model):
    capabilities: Capabilities | None = None
    privileged: bool | None = None
    se_linux_options: SELinuxOptions | None = None
    windows_options: WindowsSecurityContextOptions | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    read_only_root_filesystem: bool | None = None
    allow_privilege_escalation: bool | None = None
    proc_mount: str | None = None
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None


class Container(Model):
    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    ports: (
        Annotated[
            list[ContainerPort], merge_key("containerPort"), list_map("containerPort", "protocol")
        ]
        | None
    ) = None
    env_from: list[EnvFromSource] | None = None
    env: Annotated[list[EnvVar], merge_key("name")] | None = None
    resources: ResourceRequirements | None = None
    resize_policy: list[ContainerResizePolicy] | None = None
    restart_policy: str | None = None
    volume_mounts: Annotated[list[VolumeMount], merge_key("mountPath")] | None = None
    volume_devices: Annotated[list[VolumeDevice], merge_key("devicePath")] | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    lifecycle: Lifecycle | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None
    image_pull_policy: str | None = None
    security_context: SecurityContext | None = None
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None


class EphemeralContainer(Container):
    target_container_name: str | None = None


# --- volumes -------------------------------------------------------------------------


class KeyToPath(Model):
    key: str
    path: str
    mode: int | None = None


class EmptyDirVolumeSource(Model):
    medium: str | None = None
    size_limit: QuantityValue | None = None


class HostPathVolumeSource(Model):
    path: str
    type: str | None = None


class ConfigMapVolumeSource(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: int | None = None
    optional: bool | None = None


class SecretVolumeSource(Model):
    secret_name: str | None = None
    items: list[KeyToPath] | None = None
    default_mode: int | None = None
    optional: bool | None = None


class PersistentVolumeClaimVolumeSource(Model):
    claim_name: str
    read_only: bool | None = None


class NFSVolumeSource(Model):
    server: str
    path: str
    read_only: bool | None = None


class DownwardAPIVolumeFile(Model):
    path: str
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    mode: int | None = None


class DownwardAPIVolumeSource(Model):
    items: list[DownwardAPIVolumeFile] | None = None
    default_mode: int | None = None


class DownwardAPIProjection(Model):
    items: list[DownwardAPIVolumeFile] | None = None


class ConfigMapProjection(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class SecretProjection(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class ServiceAccountTokenProjection(Model):
    path: str
    audience: str | None = None
    expiration_seconds: int | None = None


class VolumeProjection(Model):
    secret: SecretProjection | None = None
    downward_api: DownwardAPIProjection | None = _f("downwardAPI")
    config_map: ConfigMapProjection | None = None
    service_account_token: ServiceAccountTokenProjection | None = None
    cluster_trust_bundle: Opaque | None = None
    pod_certificate: Opaque | None = None


class ProjectedVolumeSource(Model):
    sources: list[VolumeProjection] | None = None
    default_mode: int | None = None


class Volume(Model):
    name: str
    host_path: HostPathVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    nfs: NFSVolumeSource | None = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    downward_api: DownwardAPIVolumeSource | None = _f("downwardAPI")
    config_map: ConfigMapVolumeSource | None = None
    projected: ProjectedVolumeSource | None = None
    # Sources shoal does not interpret: carried through untouched.
    gce_persistent_disk: Opaque | None = None
    aws_elastic_block_store: Opaque | None = None
    git_repo: Opaque | None = None
    iscsi: Opaque | None = None
    glusterfs: Opaque | None = None
    rbd: Opaque | None = None
    flex_volume: Opaque | None = None
    cinder: Opaque | None = None
    cephfs: Opaque | None = None
    flocker: Opaque | None = None
    fc: Opaque | None = None
    azure_file: Opaque | None = None
    vsphere_volume: Opaque | None = None
    quobyte: Opaque | None = None
    azure_disk: Opaque | None = None
    photon_persistent_disk: Opaque | None = None
    portworx_volume: Opaque | None = None
    scale_io: Opaque | None = _f("scaleIO")
    storageos: Opaque | None = None
    csi: Opaque | None = None
    ephemeral: Opaque | None = None
    image: Opaque | None = None


VOLUME_SOURCES = tuple(f for f in Volume.__struct_fields__ if f != "name")

# --- scheduling --------------------------------------------------------------------------


class NodeSelectorRequirement(Model):
    key: str
    operator: str
    values: list[str] | None = None


class NodeSelectorTerm(Model):
    match_expressions: list[NodeSelectorRequirement] | None = None
    match_fields: list[NodeSelectorRequirement] | None = None


class NodeSelector(Model):
    node_selector_terms: list[NodeSelectorTerm]


class PreferredSchedulingTerm(Model):
    weight: int
    preference: NodeSelectorTerm


class NodeAffinity(Model):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] | None = (
        None
    )


class PodAffinityTerm(Model):
    topology_key: str
    label_selector: LabelSelector | None = None
    namespaces: list[str] | None = None
    namespace_selector: LabelSelector | None = None
    match_label_keys: list[str] | None = None
    mismatch_label_keys: list[str] | None = None


class WeightedPodAffinityTerm(Model):
    weight: int
    pod_affinity_term: PodAffinityTerm


class PodAffinity(Model):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = (
        None
    )


class PodAntiAffinity(Model):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] | None = None
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] | None = (
        None
    )


class Affinity(Model):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAntiAffinity | None = None


class Toleration(Model):
    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


class TopologySpreadConstraint(Model):
    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    label_selector: LabelSelector | None = None
    min_domains: int | None = None
    node_affinity_policy: str | None = None
    node_taints_policy: str | None = None
    match_label_keys: list[str] | None = None


# --- pod ------------------------------------------------------------------------------------


class Sysctl(Model):
    name: str
    value: str


class PodSecurityContext(Model):
    se_linux_options: SELinuxOptions | None = None
    windows_options: WindowsSecurityContextOptions | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None
    run_as_non_root: bool | None = None
    supplemental_groups: list[int] | None = None
    supplemental_groups_policy: str | None = None
    fs_group: int | None = None
    sysctls: list[Sysctl] | None = None
    fs_group_change_policy: str | None = None
    seccomp_profile: SeccompProfile | None = None
    app_armor_profile: AppArmorProfile | None = None
    se_linux_change_policy: str | None = None


class HostAlias(Model):
    ip: str
    hostnames: list[str] | None = None


class PodDNSConfigOption(Model):
    name: str | None = None
    value: str | None = None


class PodDNSConfig(Model):
    nameservers: list[str] | None = None
    searches: list[str] | None = None
    options: list[PodDNSConfigOption] | None = None


class PodReadinessGate(Model):
    condition_type: str


class PodOS(Model):
    name: str


class PodSchedulingGate(Model):
    name: str


class PodSpec(Model):
    volumes: (
        Annotated[list[Volume], merge_key("name", retain_keys=True), list_map("name")] | None
    ) = None
    init_containers: Annotated[list[Container], merge_key("name"), list_map("name")] | None = None
    containers: Annotated[list[Container], merge_key("name"), list_map("name")] | None = None
    ephemeral_containers: (
        Annotated[list[EphemeralContainer], merge_key("name"), list_map("name")] | None
    ) = None
    restart_policy: str | None = None
    termination_grace_period_seconds: int | None = None
    active_deadline_seconds: int | None = None
    dns_policy: str | None = None
    node_selector: dict[str, str] | None = None
    service_account_name: str | None = None
    service_account: str | None = None
    automount_service_account_token: bool | None = None
    node_name: str | None = None
    host_network: bool | None = None
    host_pid: bool | None = _f("hostPID")
    host_ipc: bool | None = _f("hostIPC")
    share_process_namespace: bool | None = None
    security_context: PodSecurityContext | None = None
    image_pull_secrets: Annotated[list[LocalObjectReference], merge_key("name")] | None = None
    hostname: str | None = None
    subdomain: str | None = None
    affinity: Affinity | None = None
    scheduler_name: str | None = None
    tolerations: list[Toleration] | None = None
    host_aliases: Annotated[list[HostAlias], merge_key("ip"), list_map("ip")] | None = None
    priority_class_name: str | None = None
    priority: int | None = None
    dns_config: PodDNSConfig | None = None
    readiness_gates: list[PodReadinessGate] | None = None
    runtime_class_name: str | None = None
    enable_service_links: bool | None = None
    preemption_policy: str | None = None
    overhead: ResourceList | None = None
    topology_spread_constraints: (
        Annotated[
            list[TopologySpreadConstraint],
            merge_key("topologyKey"),
            list_map("topologyKey", "whenUnsatisfiable"),
        ]
        | None
    ) = None
    set_hostname_as_fqdn: bool | None = _f("setHostnameAsFQDN")
    os: PodOS | None = None
    host_users: bool | None = None
    scheduling_gates: Annotated[list[PodSchedulingGate], merge_key("name")] | None = None
    resource_claims: (
        Annotated[list[Opaque], merge_key("name", retain_keys=True), list_map("name")] | None
    ) = None
    resources: ResourceRequirements | None = None
    hostname_override: str | None = None


class PodCondition(Model):
    type: str
    status: str
    observed_generation: int | None = None
    last_probe_time: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class ContainerStateWaiting(Model):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(Model):
    started_at: str | None = None


class ContainerStateTerminated(Model):
    exit_code: int
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    container_id: str | None = _f("containerID")


class ContainerState(Model):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class ContainerStatus(Model):
    name: str
    state: ContainerState | None = None
    last_state: ContainerState | None = None
    ready: bool | None = None
    restart_count: int | None = None
    image: str | None = None
    image_id: str | None = _f("imageID")
    container_id: str | None = _f("containerID")
    started: bool | None = None
    allocated_resources: ResourceList | None = None
    resources: ResourceRequirements | None = None
    volume_mounts: list[Opaque] | None = None
    user: Opaque | None = None
    allocated_resources_status: list[Opaque] | None = None
    stop_signal: str | None = None


class PodIP(Model):
    ip: str


class HostIP(Model):
    ip: str


class PodStatus(Model):
    observed_generation: int | None = None
    phase: str | None = None
    conditions: Annotated[list[PodCondition], merge_key("type"), list_map("type")] | None = None
    message: str | None = None
    reason: str | None = None
    nominated_node_name: str | None = None
    host_ip: str | None = _f("hostIP")
    host_ips: Annotated[list[HostIP], merge_key("ip")] | None = _f("hostIPs")
    pod_ip: str | None = _f("podIP")
    pod_ips: Annotated[list[PodIP], merge_key("ip")] | None = _f("podIPs")
    start_time: str | None = None
    init_container_statuses: list[ContainerStatus] | None = None
    container_statuses: list[ContainerStatus] | None = None
    qos_class: str | None = None
    ephemeral_container_statuses: list[ContainerStatus] | None = None
    resize: str | None = None
    resource_claim_statuses: list[Opaque] | None = None


class Pod(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None
    status: PodStatus | None = None


class PodTemplateSpec(Model):
    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None


class PodTemplate(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    template: PodTemplateSpec | None = None


class Binding(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    target: ObjectReference | None = None
