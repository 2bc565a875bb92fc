"""Validation of the core kinds other than Pod: Service, ConfigMap, Secret, Node.

Each ``validate_*`` checks the object's own fields; metadata is checked by the
dispatcher in ``shoal.api.validation``. Update rules (``*_update``) cover what
upstream makes immutable: a Service's clusterIP once set, an immutable
ConfigMap's or Secret's data, a Secret's type.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re

from shoal.api.models.core import ConfigMap, Endpoints, Node, Secret, Service, ServiceSpec
from shoal.api.validation_base import (
    FieldError,
    check,
    child,
    dns1123_label,
    dns1123_subdomain,
    duplicate,
    forbidden,
    immutable,
    index,
    invalid,
    label_value,
    one_of,
    port_number,
    port_number_or_name,
    qualified_name,
    required,
    too_long,
    validate_labels,
)
from shoal.api.validation_pod import PROTOCOLS, TAINT_EFFECTS, validate_resource_list

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
MAX_DATA_SIZE = 1024 * 1024
CONFIG_KEY = "[-._a-zA-Z0-9]+"
_CONFIG_KEY = re.compile(f"^{CONFIG_KEY}$")


def _ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# --- Service ---------------------------------------------------------------------------------


def validate_service(svc: Service) -> list[FieldError]:
    spec = svc.spec
    if spec is None:
        return [required("spec")]
    errs: list[FieldError] = []
    errs += one_of("spec.type", spec.type, SERVICE_TYPES)
    errs += one_of("spec.sessionAffinity", spec.session_affinity, ("ClientIP", "None"))
    errs += validate_labels(spec.selector, "spec.selector")
    headless = spec.cluster_ip == "None"
    if spec.type == "ExternalName":
        if not spec.external_name:
            errs.append(required("spec.externalName"))
        else:
            errs += check("spec.externalName", spec.external_name.rstrip("."), dns1123_subdomain)
        if spec.cluster_ip:
            errs.append(forbidden("spec.clusterIPs", "may not be set for ExternalName services"))
    elif not spec.ports and not headless:
        errs.append(required("spec.ports"))
    if spec.cluster_ip and not headless and not _ip(spec.cluster_ip):
        errs.append(
            invalid(
                "spec.clusterIPs[0]",
                spec.cluster_ip,
                "must be empty, 'None', or a valid IP address",
            )
        )
    if headless and spec.type in ("NodePort", "LoadBalancer"):
        errs.append(
            invalid(
                "spec.clusterIPs[0]", "None", f"may not be set to 'None' for {spec.type} services"
            )
        )
    for i, ip in enumerate(spec.external_ips or []):
        if not _ip(ip):
            errs.append(invalid(index("spec.externalIPs", i), ip, "must be a valid IP address"))
    errs += _service_ports(spec)
    errs += one_of("spec.externalTrafficPolicy", spec.external_traffic_policy, ("Cluster", "Local"))
    errs += one_of("spec.internalTrafficPolicy", spec.internal_traffic_policy, ("Cluster", "Local"))
    errs += one_of(
        "spec.ipFamilyPolicy",
        spec.ip_family_policy,
        ("SingleStack", "PreferDualStack", "RequireDualStack"),
    )
    for i, family in enumerate(spec.ip_families or []):
        errs += one_of(index("spec.ipFamilies", i), family, ("IPv4", "IPv6"))
    if spec.external_traffic_policy and spec.type not in ("NodePort", "LoadBalancer"):
        errs.append(
            invalid(
                "spec.externalTrafficPolicy",
                spec.external_traffic_policy,
                "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
            )
        )
    return errs


def _service_ports(spec: ServiceSpec) -> list[FieldError]:
    errs: list[FieldError] = []
    ports = spec.ports or []
    names: set[str] = set()
    pairs: set[tuple[int, str]] = set()
    for i, port in enumerate(ports):
        at = index("spec.ports", i)
        if len(ports) > 1 and not port.name:
            errs.append(required(child(at, "name")))
        elif port.name:
            errs += check(child(at, "name"), port.name, dns1123_label)
            if port.name in names:
                errs.append(duplicate(child(at, "name"), port.name))
            names.add(port.name)
        errs += port_number(child(at, "port"), port.port)
        if port.protocol is not None and port.protocol not in PROTOCOLS:
            errs += one_of(child(at, "protocol"), port.protocol, PROTOCOLS)
        if port.target_port is not None and port.target_port not in (0, ""):
            errs += port_number_or_name(child(at, "targetPort"), port.target_port)
        if port.node_port:
            if spec.type not in ("NodePort", "LoadBalancer"):
                errs.append(
                    forbidden(
                        child(at, "nodePort"),
                        f"may not be used when `type` is '{spec.type or 'ClusterIP'}'",
                    )
                )
            else:
                errs += port_number(child(at, "nodePort"), port.node_port)
        if port.app_protocol:
            errs += check(child(at, "appProtocol"), port.app_protocol, qualified_name)
        pair = (port.port, port.protocol or "TCP")
        if pair in pairs:
            errs.append(duplicate(at, {"port": port.port, "protocol": port.protocol or "TCP"}))
        pairs.add(pair)
    return errs


def validate_service_update(new: Service, old: Service) -> list[FieldError]:
    if new.spec is None or old.spec is None:
        return []
    errs: list[FieldError] = []
    old_ip = old.spec.cluster_ip
    # Changing type to or from ExternalName releases or allocates the IP; anything else keeps it.
    if old_ip and "ExternalName" not in (old.spec.type, new.spec.type):
        errs += immutable("spec.clusterIP", new.spec.cluster_ip, old_ip)
    return errs


# --- ConfigMap and Secret ------------------------------------------------------------------------


def _config_key(path: str, key: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if len(key) > 253:
        errs.append(invalid(path, key, "must be no more than 253 characters"))
    if not _CONFIG_KEY.match(key):
        errs.append(
            invalid(
                path,
                key,
                "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
                f"'{CONFIG_KEY}')",
            )
        )
    elif key in (".", ".."):
        errs.append(invalid(path, key, f"must not be '{key}'"))
    return errs


def _base64(path: str, value: str) -> list[FieldError]:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return [invalid(path, "<value omitted>", "illegal base64 data")]
    return []


def _decoded_size(value: str) -> int:
    return len(value) * 3 // 4


def validate_config_map(cm: ConfigMap) -> list[FieldError]:
    errs: list[FieldError] = []
    total = 0
    for key, value in (cm.data or {}).items():
        errs += _config_key(index("data", key), key)
        total += len(value.encode())
    for key, value in (cm.binary_data or {}).items():
        at = index("binaryData", key)
        errs += _config_key(at, key)
        errs += _base64(at, value)
        if key in (cm.data or {}):
            errs.append(invalid(at, key, "duplicate of key present in data"))
        total += _decoded_size(value)
    if total > MAX_DATA_SIZE:
        errs.append(too_long("", MAX_DATA_SIZE))
    return errs


def validate_config_map_update(new: ConfigMap, old: ConfigMap) -> list[FieldError]:
    if not old.immutable:
        return []
    errs: list[FieldError] = []
    if not new.immutable:
        errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    if new.data != old.data:
        errs.append(forbidden("data", "field is immutable when `immutable` is set"))
    if new.binary_data != old.binary_data:
        errs.append(forbidden("binaryData", "field is immutable when `immutable` is set"))
    return errs


SECRET_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
}


def validate_secret(secret: Secret) -> list[FieldError]:
    errs: list[FieldError] = []
    data = secret.data or {}
    total = 0
    for key, value in data.items():
        at = index("data", key)
        errs += _config_key(at, key)
        errs += _base64(at, value)
        total += _decoded_size(value)
    for key, value in (secret.string_data or {}).items():
        errs += _config_key(index("stringData", key), key)
        total += len(value.encode())
    if total > MAX_DATA_SIZE:
        errs.append(too_long("data", MAX_DATA_SIZE))
    keys = set(data) | set(secret.string_data or {})
    for key in SECRET_REQUIRED_KEYS.get(secret.type or "", ()):
        if key not in keys:
            errs.append(required(index("data", key)))
    if secret.type == "kubernetes.io/service-account-token":
        annotations = (secret.metadata.annotations if secret.metadata else None) or {}
        if not annotations.get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    if secret.type == "kubernetes.io/basic-auth" and not keys & {"username", "password"}:
        errs.append(required("data[username]"))
    if secret.type:
        errs += check("type", secret.type, qualified_name)
    return errs


def validate_secret_update(new: Secret, old: Secret) -> list[FieldError]:
    errs = immutable("type", new.type, old.type)
    if old.immutable:
        if not new.immutable:
            errs.append(forbidden("immutable", "field is immutable when `immutable` is set"))
        if new.data != old.data:
            errs.append(forbidden("data", "field is immutable when `immutable` is set"))
    return errs


# --- Node ------------------------------------------------------------------------------------------


def validate_node(node: Node) -> list[FieldError]:
    errs: list[FieldError] = []
    spec = node.spec
    if spec is not None:
        seen: set[tuple[str, str]] = set()
        for i, taint in enumerate(spec.taints or []):
            at = index("spec.taints", i)
            if not taint.key:
                errs.append(required(child(at, "key")))
            else:
                errs += check(child(at, "key"), taint.key, qualified_name)
            if taint.value:
                errs += check(child(at, "value"), taint.value, label_value)
            if not taint.effect:
                errs.append(required(child(at, "effect")))
            else:
                errs += one_of(child(at, "effect"), taint.effect, TAINT_EFFECTS)
            pair = (taint.key, taint.effect)
            if pair in seen:
                errs.append(duplicate(at, f"{taint.key}:{taint.effect}"))
            seen.add(pair)
        cidrs = [*([spec.pod_cidr] if spec.pod_cidr else []), *(spec.pod_cidrs or [])]
        for i, cidr in enumerate(cidrs):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                path = "spec.podCIDR" if spec.pod_cidr and i == 0 else index("spec.podCIDRs", i)
                errs.append(invalid(path, cidr, "must be a valid CIDR"))
    if node.status is not None:
        for field, resources in (
            ("capacity", node.status.capacity),
            ("allocatable", node.status.allocatable),
        ):
            errs += validate_resource_list(resources or {}, child("status", field))
    return errs


def _endpoint_ip(path: str, ip: str) -> list[FieldError]:
    """An endpoint address must be a usable unicast IP, as upstream's ValidateEndpointIP."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return [invalid(path, ip, "must be a valid IP address")]
    if addr.is_unspecified:
        return [invalid(path, ip, "may not be unspecified (0.0.0.0)")]
    if addr.is_loopback:
        return [invalid(path, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)")]
    if addr.is_link_local or addr.is_multicast:
        return [invalid(path, ip, "may not be in the link-local or multicast ranges")]
    return []


def validate_endpoints(ep: Endpoints) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, sub in enumerate(ep.subsets or []):
        base = index("subsets", i)
        for field, addrs in (("addresses", sub.addresses), ("notReadyAddresses", sub.not_ready_addresses)):
            for j, a in enumerate(addrs or []):
                errs += _endpoint_ip(index(f"{base}.{field}", j) + ".ip", a.ip)
                if a.hostname:
                    errs += check(index(f"{base}.{field}", j) + ".hostname", a.hostname, dns1123_label)
        names: set[str] = set()
        for k, p in enumerate(sub.ports or []):
            pp = index(f"{base}.ports", k)
            errs += port_number(pp + ".port", p.port)
            errs += one_of(pp + ".protocol", p.protocol, PROTOCOLS)
            if p.name:
                errs += check(pp + ".name", p.name, dns1123_label)
                if p.name in names:
                    errs.append(duplicate(pp + ".name", p.name))
                names.add(p.name)
            elif len(sub.ports or []) > 1:
                errs.append(required(pp + ".name"))
    return errs
