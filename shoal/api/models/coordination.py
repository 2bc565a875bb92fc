"""coordination.k8s.io/v1 Lease: node heartbeats and leader election.

Times here are ``MicroTime`` (RFC 3339 with microseconds), still plain strings.
"""

from __future__ import annotations

from shoal.api.base import Model
from shoal.api.meta import ObjectMeta


class LeaseSpec(Model):
    holder_identity: str | None = None
    lease_duration_seconds: int | None = None
    acquire_time: str | None = None
    renew_time: str | None = None
    lease_transitions: int | None = None
    strategy: str | None = None
    preferred_holder: str | None = None


class Lease(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: LeaseSpec | None = None
