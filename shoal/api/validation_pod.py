"""Validation of pod specs: containers, volumes, resources, probes, scheduling.

Shared by Pods and every pod template (Deployments, Jobs...). Messages and
paths follow upstream's ``ValidatePodSpec`` so that ``kubectl`` users see the
errors they know; only the rules that catch real mistakes are implemented.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from shoal.api.memo import Memo
from shoal.api.models.pod import (
    VOLUME_SOURCES,
    Affinity,
    Container,
    EnvVar,
    LifecycleHandler,
    NodeSelectorTerm,
    PodAffinityTerm,
    PodSpec,
    Probe,
    ResourceRequirements,
    Toleration,
    TopologySpreadConstraint,
    Volume,
)
from shoal.api.quantity import InvalidQuantity, parse_quantity
from shoal.api.validation_base import (
    FieldError,
    check,
    child,
    dns1123_label,
    dns1123_subdomain,
    duplicate,
    forbidden,
    iana_svc_name,
    index,
    invalid,
    label_value,
    non_negative,
    not_found,
    one_of,
    port_number,
    port_number_or_name,
    positive,
    qualified_name,
    required,
    unsupported,
    validate_label_selector,
    validate_labels,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
NODE_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels",
    "metadata.annotations",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
STANDARD_RESOURCES = ("cpu", "memory", "ephemeral-storage", "pods")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
_LABEL_FIELD = re.compile(r"^metadata\.(labels|annotations)\['[^']+'\]$")


# Answers of validate_pod_spec for the specs seen last, keyed by (path, the spec's JSON).
SPEC_MEMO = 1024
_spec_memo: Memo[tuple[str, bytes], tuple[FieldError, ...]] = Memo(SPEC_MEMO)
_encode = msgspec.json.Encoder().encode


def validate_pod_spec(spec: PodSpec | None, path: str) -> list[FieldError]:
    """Every rule on a pod spec, with paths under ``path`` (e.g. ``spec.template.spec``).

    Pure in (spec, path), and every pod of a Deployment, a Job or a DaemonSet is created with its
    template's spec: the answers for the last ``SPEC_MEMO`` specs are remembered, keyed by the
    spec's encoding (5 us against 60-120 us of rules for a typical pod). Specs that differ in any
    field, dict order included, are different keys.
    """
    if spec is None:
        return [required(path)]
    key = (path, _encode(spec))
    hit = _spec_memo.get(key)
    if hit is not None:
        return list(hit)
    errs = _validate_pod_spec(spec, path)
    _spec_memo.put(key, tuple(errs))
    return errs


def _validate_pod_spec(spec: PodSpec, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    volumes = spec.volumes or []
    errs += _volumes(volumes, child(path, "volumes"))
    volume_names = {v.name for v in volumes}
    if not spec.containers:
        errs.append(required(child(path, "containers")))
    seen: set[str] = set()
    for field, containers in (
        ("initContainers", spec.init_containers),
        ("containers", spec.containers),
        ("ephemeralContainers", spec.ephemeral_containers),
    ):
        for i, container in enumerate(containers or []):
            at = index(child(path, field), i)
            if container.name in seen:
                errs.append(duplicate(child(at, "name"), container.name))
            seen.add(container.name)
            errs += validate_container(
                container, at, volumes=volume_names, init=field == "initContainers"
            )
            if field == "ephemeralContainers":
                errs += _ephemeral(container, at)
    errs += one_of(child(path, "restartPolicy"), spec.restart_policy, RESTART_POLICIES)
    errs += one_of(child(path, "dnsPolicy"), spec.dns_policy, DNS_POLICIES)
    if spec.dns_policy == "None" and (spec.dns_config is None or not spec.dns_config.nameservers):
        errs.append(
            required(child(path, "dnsConfig"), "must provide `dnsConfig` when `dnsPolicy` is None")
        )
    errs += non_negative(
        child(path, "terminationGracePeriodSeconds"), spec.termination_grace_period_seconds
    )
    errs += positive(child(path, "activeDeadlineSeconds"), spec.active_deadline_seconds)
    errs += validate_labels(spec.node_selector, child(path, "nodeSelector"))
    for name, value, fn in (
        ("serviceAccountName", spec.service_account_name, dns1123_subdomain),
        ("nodeName", spec.node_name, dns1123_subdomain),
        ("hostname", spec.hostname, dns1123_label),
        ("subdomain", spec.subdomain, dns1123_label),
        ("priorityClassName", spec.priority_class_name, dns1123_subdomain),
        ("runtimeClassName", spec.runtime_class_name, dns1123_subdomain),
    ):
        if value:
            errs += check(child(path, name), value, fn)
    errs += one_of(
        child(path, "preemptionPolicy"), spec.preemption_policy, ("PreemptLowerPriority", "Never")
    )
    if spec.affinity is not None:
        errs += _affinity(spec.affinity, child(path, "affinity"))
    for i, tol in enumerate(spec.tolerations or []):
        errs += _toleration(tol, index(child(path, "tolerations"), i))
    errs += _spread(
        spec.topology_spread_constraints or [], child(path, "topologySpreadConstraints")
    )
    for i, alias in enumerate(spec.host_aliases or []):
        for j, host in enumerate(alias.hostnames or []):
            errs += check(
                index(child(index(child(path, "hostAliases"), i), "hostnames"), j),
                host,
                dns1123_subdomain,
            )
    if spec.os is not None:
        errs += one_of(child(child(path, "os"), "name"), spec.os.name, ("linux", "windows"))
    if spec.overhead:
        errs += validate_resource_list(spec.overhead, child(path, "overhead"))
    return errs


def validate_container(
    container: Container, path: str, *, volumes: set[str], init: bool = False
) -> list[FieldError]:
    errs: list[FieldError] = []
    if not container.name:
        errs.append(required(child(path, "name")))
    else:
        errs += check(child(path, "name"), container.name, dns1123_label)
    if not container.image or not container.image.strip():
        errs.append(required(child(path, "image")))
    errs += one_of(child(path, "imagePullPolicy"), container.image_pull_policy, PULL_POLICIES)
    errs += one_of(
        child(path, "terminationMessagePolicy"),
        container.termination_message_policy,
        TERMINATION_MESSAGE_POLICIES,
    )
    if container.restart_policy is not None:
        if not init:
            errs.append(
                forbidden(child(path, "restartPolicy"), "may not be set for non-init containers")
            )
        else:
            errs += one_of(child(path, "restartPolicy"), container.restart_policy, ("Always",))
    port_names: set[str] = set()
    for i, port in enumerate(container.ports or []):
        at = index(child(path, "ports"), i)
        if port.name:
            errs += check(child(at, "name"), port.name, iana_svc_name)
            if port.name in port_names:
                errs.append(duplicate(child(at, "name"), port.name))
            port_names.add(port.name)
        errs += port_number(child(at, "containerPort"), port.container_port)
        if port.host_port:
            errs += port_number(child(at, "hostPort"), port.host_port)
        errs += one_of(child(at, "protocol"), port.protocol, PROTOCOLS)
    for i, env in enumerate(container.env or []):
        errs += _env(env, index(child(path, "env"), i))
    for i, src in enumerate(container.env_from or []):
        at = index(child(path, "envFrom"), i)
        if (src.config_map_ref is None) == (src.secret_ref is None):
            errs.append(invalid(at, "", "must specify one of: `configMapRef` or `secretRef`"))
    if container.resources is not None:
        errs += validate_resources(container.resources, child(path, "resources"))
    mount_paths: set[str] = set()
    for i, mount in enumerate(container.volume_mounts or []):
        at = index(child(path, "volumeMounts"), i)
        if not mount.name:
            errs.append(required(child(at, "name")))
        elif mount.name not in volumes:
            errs.append(not_found(child(at, "name"), mount.name))
        if not mount.mount_path:
            errs.append(required(child(at, "mountPath")))
        elif mount.mount_path in mount_paths:
            errs.append(invalid(child(at, "mountPath"), mount.mount_path, "must be unique"))
        mount_paths.add(mount.mount_path)
        for field, sub in (("subPath", mount.sub_path), ("subPathExpr", mount.sub_path_expr)):
            if sub and (sub.startswith("/") or ".." in sub.split("/")):
                errs.append(invalid(child(at, field), sub, "must be a relative path without '..'"))
        if mount.sub_path and mount.sub_path_expr:
            errs.append(invalid(child(at, "subPathExpr"), mount.sub_path_expr,
                                "subPathExpr and subPath are mutually exclusive"))
        if mount.mount_propagation is not None:
            errs += one_of(child(at, "mountPropagation"), mount.mount_propagation,
                           ("None", "HostToContainer", "Bidirectional"))
    for field, probe, liveness in (
        ("livenessProbe", container.liveness_probe, True),
        ("readinessProbe", container.readiness_probe, False),
        ("startupProbe", container.startup_probe, True),
    ):
        if probe is not None:
            errs += _probe(probe, child(path, field), must_succeed_once=liveness)
    if container.lifecycle is not None:
        for field, handler in (
            ("postStart", container.lifecycle.post_start),
            ("preStop", container.lifecycle.pre_stop),
        ):
            if handler is not None:
                errs += _handler(handler, child(child(path, "lifecycle"), field))
    return errs


def _env(env: EnvVar, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not env.name:
        errs.append(required(child(path, "name")))
    elif not _ENV_NAME.match(env.name):
        errs.append(
            invalid(
                child(path, "name"),
                env.name,
                "a valid environment variable name must consist of alphabetic characters, "
                "digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  "
                "or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is "
                "'[-._a-zA-Z][-._a-zA-Z0-9]*')",
            )
        )
    source = env.value_from
    if source is None:
        return errs
    at = child(path, "valueFrom")
    given = [
        name
        for name in (
            "field_ref",
            "resource_field_ref",
            "config_map_key_ref",
            "secret_key_ref",
            "file_key_ref",
        )
        if getattr(source, name) is not None
    ]
    if not given:
        errs.append(
            invalid(
                at,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            )
        )
    elif len(given) > 1:
        errs.append(invalid(at, "", "may not have more than one field specified at a time"))
    if env.value:
        errs.append(invalid(at, "", "may not be specified when `value` is not empty"))
    ref = source.field_ref
    if (
        ref is not None
        and ref.field_path not in FIELD_PATHS
        and not _LABEL_FIELD.match(ref.field_path)
    ):
        errs.append(
            unsupported(child(child(at, "fieldRef"), "fieldPath"), ref.field_path, FIELD_PATHS)
        )
    if source.config_map_key_ref is not None and not source.config_map_key_ref.key:
        errs.append(required(child(child(at, "configMapKeyRef"), "key")))
    if source.secret_key_ref is not None and not source.secret_key_ref.key:
        errs.append(required(child(child(at, "secretKeyRef"), "key")))
    return errs


# --- resources ------------------------------------------------------------------------------


def _resource_name(name: str, path: str) -> list[FieldError]:
    if name in STANDARD_RESOURCES or name.startswith("hugepages-") or "/" in name:
        return check(path, name, qualified_name)
    return [invalid(path, name, "must be a standard resource type or fully qualified")]


def validate_resource_list(resources: dict[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for name, raw in resources.items():
        at = index(path, name)
        errs += _resource_name(name, at)
        try:
            value = parse_quantity(raw)
        except InvalidQuantity as exc:
            errs.append(invalid(at, raw if isinstance(raw, str) else str(raw), str(exc)))
            continue
        if value < 0:
            errs.append(invalid(at, str(raw), "must be greater than or equal to 0"))
    return errs


def validate_resources(res: ResourceRequirements, path: str) -> list[FieldError]:
    limits = res.limits or {}
    requests = res.requests or {}
    errs = validate_resource_list(limits, child(path, "limits"))
    errs += validate_resource_list(requests, child(path, "requests"))
    for name, raw in requests.items():
        if name not in limits:
            continue
        try:
            request, limit = parse_quantity(raw), parse_quantity(limits[name])
        except InvalidQuantity:
            continue
        if request > limit:
            errs.append(
                invalid(
                    index(child(path, "requests"), name),
                    str(raw),
                    f"must be less than or equal to {name} limit of {limits[name]}",
                )
            )
    return errs


# --- probes ------------------------------------------------------------------------------------


def _handler(handler: Probe | LifecycleHandler, path: str) -> list[FieldError]:
    kinds = [
        name
        for name in ("exec", "http_get", "tcp_socket", "grpc", "sleep")
        if getattr(handler, name, None) is not None
    ]
    if not kinds:
        return [required(path, "must specify a handler type")]
    if len(kinds) > 1:
        return [forbidden(path, "may not specify more than 1 handler type")]
    errs: list[FieldError] = []
    if handler.exec is not None and not handler.exec.command:
        errs.append(required(child(child(path, "exec"), "command")))
    if handler.http_get is not None:
        at = child(path, "httpGet")
        errs += port_number_or_name(child(at, "port"), handler.http_get.port)
        errs += one_of(child(at, "scheme"), handler.http_get.scheme, ("HTTP", "HTTPS"))
    if handler.tcp_socket is not None:
        errs += port_number_or_name(
            child(child(path, "tcpSocket"), "port"), handler.tcp_socket.port
        )
    if isinstance(handler, Probe) and handler.grpc is not None:
        errs += port_number(child(child(path, "grpc"), "port"), handler.grpc.port)
    return errs


def _probe(probe: Probe, path: str, *, must_succeed_once: bool) -> list[FieldError]:
    errs = _handler(probe, path)
    errs += non_negative(child(path, "initialDelaySeconds"), probe.initial_delay_seconds)
    for name, value in (
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ):
        errs += positive(child(path, name), value)
    if must_succeed_once and probe.success_threshold not in (None, 1):
        errs.append(invalid(child(path, "successThreshold"), probe.success_threshold, "must be 1"))
    if probe.termination_grace_period_seconds is not None:
        errs += positive(
            child(path, "terminationGracePeriodSeconds"), probe.termination_grace_period_seconds
        )
    return errs


# --- volumes -------------------------------------------------------------------------------------


def _volumes(volumes: Sequence[Volume], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, volume in enumerate(volumes):
        at = index(path, i)
        if not volume.name:
            errs.append(required(child(at, "name")))
        else:
            errs += check(child(at, "name"), volume.name, dns1123_label)
            if volume.name in names:
                errs.append(duplicate(child(at, "name"), volume.name))
            names.add(volume.name)
        sources = [s for s in VOLUME_SOURCES if getattr(volume, s) is not None]
        if not sources:
            errs.append(required(at, "must specify a volume type"))
        elif len(sources) > 1:
            errs.append(
                forbidden(child(at, _camel(sources[1])), "may not specify more than 1 volume type")
            )
        if volume.host_path is not None:
            errs += one_of(
                child(child(at, "hostPath"), "type"),
                volume.host_path.type,
                (
                    "",
                    "DirectoryOrCreate",
                    "Directory",
                    "FileOrCreate",
                    "File",
                    "Socket",
                    "CharDevice",
                    "BlockDevice",
                ),
            )
            if not volume.host_path.path:
                errs.append(required(child(child(at, "hostPath"), "path")))
        if (
            volume.persistent_volume_claim is not None
            and not volume.persistent_volume_claim.claim_name
        ):
            errs.append(required(child(child(at, "persistentVolumeClaim"), "claimName")))
        errs += _item_paths(volume, at)
        for field, mode in (
            ("configMap", volume.config_map.default_mode if volume.config_map else None),
            ("secret", volume.secret.default_mode if volume.secret else None),
            ("projected", volume.projected.default_mode if volume.projected else None),
        ):
            if mode is not None and not 0 <= mode <= 0o777:
                errs.append(
                    invalid(
                        child(child(at, field), "defaultMode"),
                        mode,
                        "must be a number between 0 and 0777 (octal), both inclusive",
                    )
                )
    return errs


def _item_paths(volume: Volume, at: str) -> list[FieldError]:
    """Files a ConfigMap, Secret or downward-API volume writes stay inside it (upstream's local,
    non-reserved path: relative, no '..' element, not starting with '..')."""
    errs: list[FieldError] = []
    groups: list[tuple[str, list[Any]]] = []
    if volume.config_map is not None:
        groups.append((child(child(at, "configMap"), "items"), list(volume.config_map.items or [])))
    if volume.secret is not None:
        groups.append((child(child(at, "secret"), "items"), list(volume.secret.items or [])))
    if volume.downward_api is not None:
        groups.append((child(child(at, "downwardAPI"), "items"), list(volume.downward_api.items or [])))
    for j, src in enumerate(volume.projected.sources or [] if volume.projected is not None else []):
        base = index(child(child(at, "projected"), "sources"), j)
        for name, part in (("configMap", src.config_map), ("secret", src.secret), ("downwardAPI", src.downward_api)):
            if part is not None:
                groups.append((child(child(base, name), "items"), list(part.items or [])))
    for path, items in groups:
        for i, item in enumerate(items):
            p = str(item.path or "")
            if p.startswith("/"):
                errs.append(invalid(child(index(path, i), "path"), p, "must be a relative path"))
            elif ".." in p.split("/") or p.startswith(".."):
                errs.append(invalid(child(index(path, i), "path"), p, "must not contain '..'"))
    return errs


def _camel(name: str) -> str:
    field = {f.name: f for f in msgspec.structs.fields(Volume)}[name]
    return field.encode_name


# --- scheduling ------------------------------------------------------------------------------------


def _node_selector_term(term: NodeSelectorTerm, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for field, reqs in (
        ("matchExpressions", term.match_expressions),
        ("matchFields", term.match_fields),
    ):
        for i, req in enumerate(reqs or []):
            at = index(child(path, field), i)
            values = req.values or []
            if req.operator in ("In", "NotIn"):
                if not values:
                    errs.append(
                        required(
                            child(at, "values"),
                            "must be specified when `operator` is 'In' or 'NotIn'",
                        )
                    )
            elif req.operator in ("Exists", "DoesNotExist"):
                if values:
                    errs.append(
                        forbidden(
                            child(at, "values"),
                            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                        )
                    )
            elif req.operator in ("Gt", "Lt"):
                if len(values) != 1:
                    errs.append(
                        required(
                            child(at, "values"),
                            "must be specified single value when `operator` is 'Lt' or 'Gt'",
                        )
                    )
                elif not re.fullmatch(r"-?[0-9]+", values[0]):
                    errs.append(invalid(child(at, "values"), values[0], "must be an integer"))
            else:
                errs.append(
                    invalid(child(at, "operator"), req.operator, "not a valid selector operator")
                )
            if field == "matchExpressions":
                errs += check(child(at, "key"), req.key, qualified_name)
            elif req.key != "metadata.name":
                errs.append(unsupported(child(at, "key"), req.key, ("metadata.name",)))
    return errs


def _affinity_term(term: PodAffinityTerm, path: str) -> list[FieldError]:
    errs = validate_label_selector(term.label_selector, child(path, "labelSelector"))
    errs += validate_label_selector(term.namespace_selector, child(path, "namespaceSelector"))
    if not term.topology_key:
        errs.append(required(child(path, "topologyKey"), "can not be empty"))
    else:
        errs += check(child(path, "topologyKey"), term.topology_key, qualified_name)
    for i, ns in enumerate(term.namespaces or []):
        errs += check(index(child(path, "namespaces"), i), ns, dns1123_label)
    return errs


def _weight(path: str, weight: int) -> list[FieldError]:
    if not 1 <= weight <= 100:
        return [invalid(path, weight, "must be in the range 1-100")]
    return []


def _affinity(affinity: Affinity, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    req_name = "requiredDuringSchedulingIgnoredDuringExecution"
    pref_name = "preferredDuringSchedulingIgnoredDuringExecution"
    node = affinity.node_affinity
    if node is not None:
        at = child(path, "nodeAffinity")
        required_terms = node.required_during_scheduling_ignored_during_execution
        if required_terms is not None:
            terms_path = child(child(at, req_name), "nodeSelectorTerms")
            if not required_terms.node_selector_terms:
                errs.append(required(terms_path, "must have at least one node selector term"))
            for i, term in enumerate(required_terms.node_selector_terms):
                errs += _node_selector_term(term, index(terms_path, i))
        for i, pref in enumerate(node.preferred_during_scheduling_ignored_during_execution or []):
            p = index(child(at, pref_name), i)
            errs += _weight(child(p, "weight"), pref.weight)
            errs += _node_selector_term(pref.preference, child(p, "preference"))
    for name, pod_aff in (
        ("podAffinity", affinity.pod_affinity),
        ("podAntiAffinity", affinity.pod_anti_affinity),
    ):
        if pod_aff is None:
            continue
        at = child(path, name)
        for i, pod_term in enumerate(
            pod_aff.required_during_scheduling_ignored_during_execution or []
        ):
            errs += _affinity_term(pod_term, index(child(at, req_name), i))
        for i, weighted in enumerate(
            pod_aff.preferred_during_scheduling_ignored_during_execution or []
        ):
            p = index(child(at, pref_name), i)
            errs += _weight(child(p, "weight"), weighted.weight)
            errs += _affinity_term(weighted.pod_affinity_term, child(p, "podAffinityTerm"))
    return errs


def _toleration(tol: Toleration, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if tol.key:
        errs += check(child(path, "key"), tol.key, qualified_name)
    elif tol.operator != "Exists":
        errs.append(
            invalid(
                child(path, "operator"),
                tol.operator or "",
                'operator must be Exists when `key` is empty, which means "match all values and all keys"',
            )
        )
    if tol.toleration_seconds is not None and tol.effect != "NoExecute":
        errs.append(
            invalid(
                child(path, "effect"),
                tol.effect or "",
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            )
        )
    if tol.operator in (None, "", "Equal"):
        if tol.value:
            errs += check(child(path, "value"), tol.value, label_value)
    elif tol.operator == "Exists":
        if tol.value:
            errs.append(
                invalid(
                    child(path, "operator"),
                    tol.value,
                    "value must be empty when `operator` is 'Exists'",
                )
            )
    else:
        errs.append(unsupported(child(path, "operator"), tol.operator, ("Equal", "Exists")))
    if tol.effect:
        errs += one_of(child(path, "effect"), tol.effect, TAINT_EFFECTS)
    return errs


def _spread(constraints: Sequence[TopologySpreadConstraint], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, c in enumerate(constraints):
        at = index(path, i)
        if c.max_skew <= 0:
            errs.append(invalid(child(at, "maxSkew"), c.max_skew, "must be greater than zero"))
        if not c.topology_key:
            errs.append(required(child(at, "topologyKey"), "can not be empty"))
        else:
            errs += check(child(at, "topologyKey"), c.topology_key, qualified_name)
        errs += one_of(
            child(at, "whenUnsatisfiable"),
            c.when_unsatisfiable,
            ("DoNotSchedule", "ScheduleAnyway"),
        )
        if c.min_domains is not None:
            if c.min_domains <= 0:
                errs.append(
                    invalid(child(at, "minDomains"), c.min_domains, "must be greater than 0")
                )
            elif c.when_unsatisfiable != "DoNotSchedule":
                errs.append(
                    invalid(
                        child(at, "minDomains"),
                        c.min_domains,
                        "can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway",
                    )
                )
        errs += one_of(child(at, "nodeAffinityPolicy"), c.node_affinity_policy, ("Ignore", "Honor"))
        errs += one_of(child(at, "nodeTaintsPolicy"), c.node_taints_policy, ("Ignore", "Honor"))
        errs += validate_label_selector(c.label_selector, child(at, "labelSelector"))
        pair = (c.topology_key, c.when_unsatisfiable)
        if pair in seen:
            errs.append(duplicate(at, f"{{{c.topology_key}, {c.when_unsatisfiable}}}"))
        seen.add(pair)
    return errs


# --- updates -------------------------------------------------------------------------------------

POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def validate_pod_spec_update(
    new: PodSpec | None, old: PodSpec | None, path: str = "spec"
) -> list[FieldError]:
    """Only images, a shorter deadline, added tolerations and removed gates may change."""
    if new is None or old is None:
        return []
    errs: list[FieldError] = []
    old_deadline, new_deadline = old.active_deadline_seconds, new.active_deadline_seconds
    if old_deadline is not None and (new_deadline is None or new_deadline > old_deadline):
        errs.append(
            invalid(
                child(path, "activeDeadlineSeconds"),
                new_deadline,
                "must be less than or equal to previous value",
            )
        )
    old_tols = [msgspec.to_builtins(t) for t in old.tolerations or []]
    new_tols = [msgspec.to_builtins(t) for t in new.tolerations or []]
    for tol in old_tols:
        if tol not in new_tols:
            errs.append(
                forbidden(
                    child(path, "tolerations"),
                    "existing toleration can not be modified except its tolerationSeconds",
                )
            )
            break
    mutable_old = msgspec.to_builtins(old)
    mutable_new = msgspec.to_builtins(new)
    errs += _ephemeral_update(mutable_new.pop("ephemeralContainers", None) or [],
                              mutable_old.pop("ephemeralContainers", None) or [], child(path, "ephemeralContainers"))
    for field in ("containers", "initContainers"):
        for old_c, new_c in zip(
            mutable_old.get(field, []), mutable_new.get(field, []), strict=False
        ):
            old_c["image"] = new_c.get("image")
    for key in ("activeDeadlineSeconds", "tolerations"):
        mutable_old.pop(key, None)
        mutable_new.pop(key, None)
    if (
        old.termination_grace_period_seconds is not None
        and old.termination_grace_period_seconds < 0
    ):
        mutable_old.pop("terminationGracePeriodSeconds", None)
        mutable_new.pop("terminationGracePeriodSeconds", None)
    old_gates = mutable_old.pop("schedulingGates", [])
    new_gates = mutable_new.pop("schedulingGates", [])
    if any(g not in old_gates for g in new_gates):
        errs.append(
            forbidden(
                child(path, "schedulingGates"),
                "only deletion is allowed, but found new scheduling gate",
            )
        )
    if not old.node_name:
        mutable_old.pop("nodeName", None)
        mutable_new.pop("nodeName", None)
    if mutable_old != mutable_new:
        errs.append(forbidden(path, POD_UPDATE_FORBIDDEN))
    return errs


# what an ephemeral container may not have (upstream's validateEphemeralContainers)
_NOT_EPHEMERAL = (("ports", "ports"), ("liveness_probe", "livenessProbe"), ("readiness_probe", "readinessProbe"),
                  ("startup_probe", "startupProbe"), ("lifecycle", "lifecycle"), ("resources", "resources"))


def _ephemeral(container: Any, path: str) -> list[FieldError]:
    return [forbidden(child(path, name), "cannot be set for an Ephemeral Container")
            for attr, name in _NOT_EPHEMERAL if msgspec.to_builtins(getattr(container, attr, None))]


def _ephemeral_update(new: list[Any], old: list[Any], path: str) -> list[FieldError]:
    """Ephemeral containers are only ever added: none removed, none changed (``ValidatePodEphemeralContainersUpdate``)."""
    by_name = {c.get("name"): c for c in new if isinstance(c, dict)}
    errs: list[FieldError] = []
    for c in old:
        name = c.get("name")
        if name not in by_name:
            errs.append(forbidden(path, f'existing ephemeral containers "{name}" may not be removed'))
        elif by_name[name] != c:
            errs.append(forbidden(path, f'existing ephemeral containers "{name}" may not be changed'))
    return errs
