"""Object metadata and the small meta/v1 types every kind shares.

These mirror ``k8s.io/apimachinery/pkg/apis/meta/v1``: ObjectMeta, owner
references, label selectors, conditions and the ``Status`` object the API
returns on errors. Times travel as RFC 3339 strings (``2026-11-25T09:31:23Z``)
exactly as on the wire; ``format_time`` and ``parse_time`` convert, and the
caller always passes the clock in, so nothing here reads it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from shoal.api.base import Model, merge_key

SET = msgspec.Meta(
    extra_json_schema={"x-kubernetes-patch-strategy": "merge", "x-kubernetes-list-type": "set"}
)


def list_map(*keys: str) -> msgspec.Meta:
    """``x-kubernetes-list-type: map`` without a patch strategy (lists replaced whole by SMP)."""
    return msgspec.Meta(
        extra_json_schema={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": list(keys),
        }
    )


def format_time(when: datetime) -> str:
    """RFC 3339 at second precision in UTC, as Kubernetes writes ``metav1.Time``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(when: datetime) -> str:
    """RFC 3339 with microseconds (``metav1.MicroTime``, used by Lease and Event)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """Parse an RFC 3339 time (``Z`` or an offset, optional fraction); raises ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"time {value!r} has no time zone")
    return parsed.astimezone(UTC)


class OwnerReference(Model):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(Model):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    self_link: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: Annotated[list[OwnerReference], merge_key("uid"), list_map("uid")] | None = (
        None
    )
    finalizers: Annotated[list[str], SET] | None = None
    managed_fields: list[dict[str, Any]] | None = None


class ListMeta(Model):
    self_link: str | None = None
    resource_version: str | None = None
    continue_: str | None = msgspec.field(default=None, name="continue")
    remaining_item_count: int | None = None


class LabelSelectorRequirement(Model):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(Model):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class Condition(Model):
    """``metav1.Condition``: the standard condition shape of newer kinds."""

    type: str
    status: str
    observed_generation: int | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class StatusCause(Model):
    reason: str | None = None
    message: str | None = None
    field: str | None = None


class StatusDetails(Model):
    name: str | None = None
    group: str | None = None
    kind: str | None = None
    uid: str | None = None
    causes: list[StatusCause] | None = None
    retry_after_seconds: int | None = None


class Status(Model):
    """The object the API returns for errors and for some deletes.

    ``api_version``/``kind`` default to ``None`` like every field (a non-None
    default would be omitted by ``omit_defaults``); build it with ``new_status``.
    """

    api_version: str | None = None
    kind: str | None = None
    metadata: ListMeta | None = None
    status: str | None = None
    message: str | None = None
    reason: str | None = None
    details: StatusDetails | None = None
    code: int | None = None


def new_status(
    *, code: int, reason: str, message: str, details: StatusDetails | None = None
) -> Status:
    """A failure ``Status`` (``status: Failure``) as the API returns it."""
    return Status(
        api_version="v1",
        kind="Status",
        metadata=ListMeta(),
        status="Failure",
        message=message,
        reason=reason,
        details=details,
        code=code,
    )
