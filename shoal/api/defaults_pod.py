"""Kubernetes' defaults for pod specs, shared by Pods and every pod template.

What upstream's ``SetDefaults_PodSpec``, ``SetDefaults_Container``, probes and
volume sources fill in, so that ``kubectl get pod -o yaml`` against shoal shows
the same defaulted fields as against a real cluster. Quantities are rewritten in
their canonical form (``0.5`` -> ``500m``), as the API server stores them.
"""

from __future__ import annotations

from shoal.api.models.pod import (
    VOLUME_SOURCES,
    Container,
    EmptyDirVolumeSource,
    EnvVar,
    HTTPGetAction,
    LifecycleHandler,
    PodSecurityContext,
    PodSpec,
    Probe,
    ResourceList,
    ResourceRequirements,
    Volume,
)
from shoal.api.quantity import InvalidQuantity, QuantityValue, canonical_quantity

DEFAULT_MODE = 0o644  # 420, what upstream writes for configMap/secret/projected volumes


def canonical(value: QuantityValue) -> QuantityValue:
    """The canonical string of a quantity; an invalid one is left for validation."""
    try:
        return canonical_quantity(value)
    except InvalidQuantity:
        return value


def canonical_list(resources: ResourceList | None) -> ResourceList | None:
    if resources is None:
        return None
    return {name: canonical(q) for name, q in resources.items()}


def default_pod_spec(spec: PodSpec) -> None:
    """Defaults for any pod spec (a Pod's or a template's)."""
    if spec.dns_policy is None:
        spec.dns_policy = "ClusterFirst"
    if spec.restart_policy is None:
        spec.restart_policy = "Always"
    if spec.termination_grace_period_seconds is None:
        spec.termination_grace_period_seconds = 30
    if spec.security_context is None:
        spec.security_context = PodSecurityContext()
    if spec.scheduler_name is None:
        spec.scheduler_name = "default-scheduler"
    if spec.service_account_name and not spec.service_account:
        spec.service_account = spec.service_account_name
    elif spec.service_account and not spec.service_account_name:
        spec.service_account_name = spec.service_account
    if spec.overhead is not None:
        spec.overhead = canonical_list(spec.overhead)
    if spec.resources is not None:
        default_resources(spec.resources)
    for container in spec.init_containers or []:
        default_container(container, host_network=bool(spec.host_network))
    for container in spec.containers or []:
        default_container(container, host_network=bool(spec.host_network))
    for container in spec.ephemeral_containers or []:
        default_container(container, host_network=False, ephemeral=True)
    for volume in spec.volumes or []:
        default_volume(volume)


def default_container(container: Container, *, host_network: bool, ephemeral: bool = False) -> None:
    if container.termination_message_path is None:
        container.termination_message_path = "/dev/termination-log"
    if container.termination_message_policy is None:
        container.termination_message_policy = "File"
    if container.image_pull_policy is None:
        container.image_pull_policy = default_pull_policy(container.image or "")
    if container.resources is None:
        container.resources = ResourceRequirements()
    default_resources(container.resources)
    for port in container.ports or []:
        if port.protocol is None:
            port.protocol = "TCP"
        if host_network and not port.host_port:
            port.host_port = port.container_port
    for env in container.env or []:
        default_env(env)
    if not ephemeral:
        for probe in (container.liveness_probe, container.readiness_probe, container.startup_probe):
            if probe is not None:
                default_probe(probe)
    if container.lifecycle is not None:
        for handler in (container.lifecycle.post_start, container.lifecycle.pre_stop):
            if handler is not None:
                default_handler(handler)


def default_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or an untagged image, else ``IfNotPresent``."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def default_resources(resources: ResourceRequirements) -> None:
    """Quantities in their canonical form."""
    resources.limits = canonical_list(resources.limits)
    resources.requests = canonical_list(resources.requests)


def requests_from_limits(resources: ResourceRequirements) -> None:
    """A Pod's (not a template's) requests default to its limits where only limits are given."""
    if resources.limits:
        requests = dict(resources.requests or {})
        for name, value in resources.limits.items():
            requests.setdefault(name, value)
        resources.requests = requests


def default_env(env: EnvVar) -> None:
    source = env.value_from
    if source is None:
        return
    if source.field_ref is not None and source.field_ref.api_version is None:
        source.field_ref.api_version = "v1"
    if source.resource_field_ref is not None:
        ref = source.resource_field_ref
        ref.divisor = canonical(ref.divisor) if ref.divisor is not None else "0"


def default_probe(probe: Probe) -> None:
    if probe.timeout_seconds is None:
        probe.timeout_seconds = 1
    if probe.period_seconds is None:
        probe.period_seconds = 10
    if probe.success_threshold is None:
        probe.success_threshold = 1
    if probe.failure_threshold is None:
        probe.failure_threshold = 3
    if probe.http_get is not None:
        default_http_get(probe.http_get)


def default_handler(handler: LifecycleHandler) -> None:
    if handler.http_get is not None:
        default_http_get(handler.http_get)


def default_http_get(action: HTTPGetAction) -> None:
    if action.path is None:
        action.path = "/"
    if action.scheme is None:
        action.scheme = "HTTP"


def default_volume(volume: Volume) -> None:
    if all(getattr(volume, name) is None for name in VOLUME_SOURCES):
        volume.empty_dir = EmptyDirVolumeSource()
    if volume.empty_dir is not None and volume.empty_dir.size_limit is not None:
        volume.empty_dir.size_limit = canonical(volume.empty_dir.size_limit)
    if volume.config_map is not None and volume.config_map.default_mode is None:
        volume.config_map.default_mode = DEFAULT_MODE
    if volume.secret is not None and volume.secret.default_mode is None:
        volume.secret.default_mode = DEFAULT_MODE
    if volume.downward_api is not None:
        if volume.downward_api.default_mode is None:
            volume.downward_api.default_mode = DEFAULT_MODE
        for item in volume.downward_api.items or []:
            if item.field_ref is not None and item.field_ref.api_version is None:
                item.field_ref.api_version = "v1"
    if volume.projected is not None:
        if volume.projected.default_mode is None:
            volume.projected.default_mode = DEFAULT_MODE
        for source in volume.projected.sources or []:
            token = source.service_account_token
            if token is not None and token.expiration_seconds is None:
                token.expiration_seconds = 3600
            projection = source.downward_api
            for item in projection.items or [] if projection is not None else []:
                if item.field_ref is not None and item.field_ref.api_version is None:
                    item.field_ref.api_version = "v1"
    if volume.host_path is not None and volume.host_path.type is None:
        volume.host_path.type = ""


def qos_class(spec: PodSpec) -> str:
    """``Guaranteed``, ``Burstable`` or ``BestEffort``, from cpu and memory requests/limits."""
    containers = [*(spec.init_containers or []), *(spec.containers or [])]
    any_set = False
    guaranteed = True
    for container in containers:
        res = container.resources or ResourceRequirements()
        requests = res.requests or {}
        limits = res.limits or {}
        for name in ("cpu", "memory"):
            if name in requests or name in limits:
                any_set = True
            limit = limits.get(name)
            request = requests.get(name, limit)
            if limit is None or canonical(limit) != canonical(
                request if request is not None else ""
            ):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
