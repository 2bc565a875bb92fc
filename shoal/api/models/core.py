"""core/v1 kinds other than Pod: Namespace, Node, Service, Endpoints, ConfigMap,
Secret, Event and ServiceAccount; the Pod family is re-exported from ``pod``.

Upstream spells several fields with capitalised initialisms (``clusterIP``,
``providerID``, even ``Port`` in the kubelet endpoint), so those name their wire
form explicitly.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from shoal.api.base import Model, merge_key
from shoal.api.meta import Condition, ObjectMeta, list_map
from shoal.api.models.pod import *  # noqa: F403  (core/v1 is one API group)
from shoal.api.models.pod import (
    IntOrString,
    LocalObjectReference,
    ObjectReference,
    Opaque,
    ResourceList,
    _f,
)

# --- Namespace -------------------------------------------------------------------


class NamespaceSpec(Model):
    finalizers: list[str] | None = None


class NamespaceCondition(Model):
    type: str
    status: str
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class NamespaceStatus(Model):
    phase: str | None = None
    conditions: Annotated[list[NamespaceCondition], merge_key("type")] | None = None


class Namespace(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


# --- Node ------------------------------------------------------------------------------


class Taint(Model):
    key: str
    effect: str
    value: str | None = None
    time_added: str | None = None


class NodeSpec(Model):
    pod_cidr: str | None = _f("podCIDR")
    pod_cidrs: (
        Annotated[
            list[str], msgspec.Meta(extra_json_schema={"x-kubernetes-patch-strategy": "merge"})
        ]
        | None
    ) = _f("podCIDRs")
    provider_id: str | None = _f("providerID")
    unschedulable: bool | None = None
    taints: list[Taint] | None = None
    config_source: Opaque | None = None
    external_id: str | None = _f("externalID")


class NodeCondition(Model):
    type: str
    status: str
    last_heartbeat_time: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class NodeAddress(Model):
    type: str
    address: str


class DaemonEndpoint(Model):
    port: int = msgspec.field(name="Port")


class NodeDaemonEndpoints(Model):
    kubelet_endpoint: DaemonEndpoint | None = None


class NodeSystemInfo(Model):
    machine_id: str | None = _f("machineID")
    system_uuid: str | None = _f("systemUUID")
    boot_id: str | None = _f("bootID")
    kernel_version: str | None = None
    os_image: str | None = None
    container_runtime_version: str | None = None
    kubelet_version: str | None = None
    kube_proxy_version: str | None = None
    operating_system: str | None = None
    architecture: str | None = None
    swap: Opaque | None = None


class ContainerImage(Model):
    names: list[str] | None = None
    size_bytes: int | None = None


class NodeStatus(Model):
    capacity: ResourceList | None = None
    allocatable: ResourceList | None = None
    phase: str | None = None
    conditions: Annotated[list[NodeCondition], merge_key("type")] | None = None
    addresses: Annotated[list[NodeAddress], merge_key("type")] | None = None
    daemon_endpoints: NodeDaemonEndpoints | None = None
    node_info: NodeSystemInfo | None = None
    images: list[ContainerImage] | None = None
    volumes_in_use: list[str] | None = None
    volumes_attached: list[Opaque] | None = None
    config: Opaque | None = None
    runtime_handlers: list[Opaque] | None = None
    features: Opaque | None = None
    declared_features: list[str] | None = None


class Node(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: NodeSpec | None = None
    status: NodeStatus | None = None


# --- Service -------------------------------------------------------------------------


class ServicePort(Model):
    port: int
    name: str | None = None
    protocol: str | None = None
    app_protocol: str | None = None
    target_port: IntOrString | None = None
    node_port: int | None = None


class ClientIPConfig(Model):
    timeout_seconds: int | None = None


class SessionAffinityConfig(Model):
    client_ip: ClientIPConfig | None = _f("clientIP")


class ServiceSpec(Model):
    ports: Annotated[list[ServicePort], merge_key("port"), list_map("port", "protocol")] | None = (
        None
    )
    selector: dict[str, str] | None = None
    cluster_ip: str | None = _f("clusterIP")
    cluster_ips: list[str] | None = _f("clusterIPs")
    type: str | None = None
    external_ips: list[str] | None = _f("externalIPs")
    session_affinity: str | None = None
    load_balancer_ip: str | None = _f("loadBalancerIP")
    load_balancer_source_ranges: list[str] | None = None
    external_name: str | None = None
    external_traffic_policy: str | None = None
    health_check_node_port: int | None = None
    publish_not_ready_addresses: bool | None = None
    session_affinity_config: SessionAffinityConfig | None = None
    ip_families: list[str] | None = None
    ip_family_policy: str | None = None
    allocate_load_balancer_node_ports: bool | None = None
    load_balancer_class: str | None = None
    internal_traffic_policy: str | None = None
    traffic_distribution: str | None = None


class PortStatus(Model):
    port: int
    protocol: str
    error: str | None = None


class LoadBalancerIngress(Model):
    ip: str | None = None
    hostname: str | None = None
    ip_mode: str | None = None
    ports: list[PortStatus] | None = None


class LoadBalancerStatus(Model):
    ingress: list[LoadBalancerIngress] | None = None


class ServiceStatus(Model):
    load_balancer: LoadBalancerStatus | None = None
    conditions: Annotated[list[Condition], merge_key("type"), list_map("type")] | None = None


class Service(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: ServiceSpec | None = None
    status: ServiceStatus | None = None


# --- Endpoints -------------------------------------------------------------------------


class EndpointAddress(Model):
    ip: str
    hostname: str | None = None
    node_name: str | None = None
    target_ref: ObjectReference | None = None


class EndpointPort(Model):
    port: int
    name: str | None = None
    protocol: str | None = None
    app_protocol: str | None = None


class EndpointSubset(Model):
    addresses: list[EndpointAddress] | None = None
    not_ready_addresses: list[EndpointAddress] | None = None
    ports: list[EndpointPort] | None = None


class Endpoints(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    subsets: list[EndpointSubset] | None = None


# --- configuration ------------------------------------------------------------------------


class ConfigMap(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    immutable: bool | None = None
    data: dict[str, str] | None = None
    binary_data: dict[str, str] | None = None


class Secret(Model):
    """``data`` values are base64 text, as on the wire; ``string_data`` is write-only."""

    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    immutable: bool | None = None
    data: dict[str, str] | None = None
    string_data: dict[str, str] | None = None
    type: str | None = None


class ServiceAccount(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    secrets: Annotated[list[ObjectReference], merge_key("name")] | None = None
    image_pull_secrets: list[LocalObjectReference] | None = None
    automount_service_account_token: bool | None = None


# --- Event ----------------------------------------------------------------------------------


class EventSource(Model):
    component: str | None = None
    host: str | None = None


class EventSeries(Model):
    count: int | None = None
    last_observed_time: str | None = None


class Event(Model):
    """core/v1 Event, what ``kubectl describe`` and ``kubectl get events`` show."""

    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    involved_object: ObjectReference | None = None
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    count: int | None = None
    type: str | None = None
    event_time: str | None = None
    series: EventSeries | None = None
    action: str | None = None
    related: ObjectReference | None = None
    reporting_component: str | None = None
    reporting_instance: str | None = None
