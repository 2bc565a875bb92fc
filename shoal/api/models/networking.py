"""networking.k8s.io/v1: NetworkPolicy, Ingress and IngressClass.

NetworkPolicy: which pods may talk to which, per direction.

A policy selects pods of its namespace (``podSelector``; empty = all of them)
and, for each direction it names in ``policyTypes``, isolates them: only what
one of its rules (or another policy's) allows still reaches them (ingress) or
leaves them (egress). Every list is ``atomic`` upstream (a patch replaces it
whole), as here.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from shoal.api.base import Model
from shoal.api.meta import LabelSelector, ObjectMeta
from shoal.api.models.core import LoadBalancerIngress
from shoal.api.models.pod import IntOrString, TypedLocalObjectReference

_ATOMIC = msgspec.Meta(extra_json_schema={"x-kubernetes-list-type": "atomic"})


class IPBlock(Model):
    cidr: str
    except_: Annotated[list[str], _ATOMIC] | None = msgspec.field(default=None, name="except")


class NetworkPolicyPort(Model):
    protocol: str | None = None
    port: IntOrString | None = None
    end_port: int | None = None


class NetworkPolicyPeer(Model):
    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


class NetworkPolicyIngressRule(Model):
    ports: Annotated[list[NetworkPolicyPort], _ATOMIC] | None = None
    from_: Annotated[list[NetworkPolicyPeer], _ATOMIC] | None = msgspec.field(default=None, name="from")


class NetworkPolicyEgressRule(Model):
    ports: Annotated[list[NetworkPolicyPort], _ATOMIC] | None = None
    to: Annotated[list[NetworkPolicyPeer], _ATOMIC] | None = None


class NetworkPolicySpec(Model):
    pod_selector: LabelSelector | None = None
    ingress: Annotated[list[NetworkPolicyIngressRule], _ATOMIC] | None = None
    egress: Annotated[list[NetworkPolicyEgressRule], _ATOMIC] | None = None
    policy_types: Annotated[list[str], _ATOMIC] | None = None


class NetworkPolicy(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: NetworkPolicySpec | None = None


# Ingress: L7 routing by host and path to Services (served by shoal's ingress proxy, ``shoal.ingress``).
# Lists are atomic upstream too.


class ServiceBackendPort(Model):
    name: str | None = None
    number: int | None = None


class IngressServiceBackend(Model):
    name: str
    port: ServiceBackendPort | None = None


class IngressBackend(Model):
    service: IngressServiceBackend | None = None
    resource: TypedLocalObjectReference | None = None


class HTTPIngressPath(Model):
    backend: IngressBackend
    path_type: str = "ImplementationSpecific"
    path: str | None = None


class HTTPIngressRuleValue(Model):
    paths: Annotated[list[HTTPIngressPath], _ATOMIC]


class IngressRule(Model):
    host: str | None = None
    http: HTTPIngressRuleValue | None = None


class IngressTLS(Model):
    hosts: Annotated[list[str], _ATOMIC] | None = None
    secret_name: str | None = None


class IngressSpec(Model):
    ingress_class_name: str | None = None
    default_backend: IngressBackend | None = None
    tls: Annotated[list[IngressTLS], _ATOMIC] | None = None
    rules: Annotated[list[IngressRule], _ATOMIC] | None = None


class IngressLoadBalancerStatus(Model):
    ingress: list[LoadBalancerIngress] | None = None


class IngressStatus(Model):
    load_balancer: IngressLoadBalancerStatus | None = None


class Ingress(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: IngressSpec | None = None
    status: IngressStatus | None = None


class IngressClassParametersReference(Model):
    kind: str
    name: str
    api_group: str | None = None
    scope: str | None = None
    namespace: str | None = None


class IngressClassSpec(Model):
    controller: str | None = None
    parameters: IngressClassParametersReference | None = None


class IngressClass(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: IngressClassSpec | None = None
