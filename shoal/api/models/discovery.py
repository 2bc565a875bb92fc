"""discovery.k8s.io/v1 EndpointSlice: the ready addresses behind a Service."""

from __future__ import annotations

from typing import Annotated

import msgspec

from shoal.api.base import Model
from shoal.api.meta import ObjectMeta
from shoal.api.models.pod import ObjectReference

_ATOMIC = msgspec.Meta(extra_json_schema={"x-kubernetes-list-type": "atomic"})


class EndpointConditions(Model):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class ForZone(Model):
    name: str


class ForNode(Model):
    name: str


class EndpointHints(Model):
    for_zones: list[ForZone] | None = None
    for_nodes: list[ForNode] | None = None


class Endpoint(Model):
    addresses: Annotated[
        list[str], msgspec.Meta(extra_json_schema={"x-kubernetes-list-type": "set"})
    ]
    conditions: EndpointConditions | None = None
    hostname: str | None = None
    target_ref: ObjectReference | None = None
    deprecated_topology: dict[str, str] | None = None
    node_name: str | None = None
    zone: str | None = None
    hints: EndpointHints | None = None


class EndpointPort(Model):
    name: str | None = None
    protocol: str | None = None
    port: int | None = None
    app_protocol: str | None = None


class EndpointSlice(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    address_type: str | None = None
    endpoints: Annotated[list[Endpoint], _ATOMIC] | None = None
    ports: Annotated[list[EndpointPort], _ATOMIC] | None = None
