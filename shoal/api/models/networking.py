"""networking.k8s.io/v1 NetworkPolicy: which pods may talk to which, per direction.

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
from shoal.api.models.pod import IntOrString

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
