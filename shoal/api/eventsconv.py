"""events.k8s.io/v1 Events as a second view of the stored core/v1 Events, both ways. Pure.

Upstream stores one Event and converts it for each group (``pkg/apis/events/v1``
conversion): the same object, with fields renamed. ``to_events_v1`` and
``to_core`` are that conversion over wire dicts, in each version's field
order; metadata passes through unchanged, so names, uids and resourceVersions
are the same in both views. ``validate_create`` holds a create through
events.k8s.io/v1 to the stricter rules upstream applies there (a new-style
event names its time, controller, instance, action and reason, and sets none of
the deprecated fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoal.api.validation_base import FieldError, invalid, required, too_long

API_VERSION = "events.k8s.io/v1"
NOTE_LIMIT = 1024

# (events.k8s.io/v1 name, core/v1 name), in events.k8s.io/v1's field order
_FIELDS = (
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingController", "reportingComponent"),
    ("reportingInstance", "reportingInstance"),
    ("action", "action"),
    ("reason", "reason"),
    ("regarding", "involvedObject"),
    ("related", "related"),
    ("note", "message"),
    ("type", "type"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
)
# core/v1's field order
_CORE_ORDER = ("involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count",
               "type", "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance")
_TO_CORE = dict(_FIELDS)


def to_events_v1(core: Mapping[str, Any]) -> dict[str, Any]:
    """A stored core/v1 Event as events.k8s.io/v1 shows it."""
    out: dict[str, Any] = {"kind": "Event", "apiVersion": API_VERSION}
    if "metadata" in core:
        out["metadata"] = core["metadata"]
    for new, old in _FIELDS:
        if old in core:
            out[new] = core[old]
    return out


def to_core(event: Mapping[str, Any]) -> dict[str, Any]:
    """An events.k8s.io/v1 Event as the core/v1 Event it is stored as (fields core has not are dropped)."""
    renamed = {_TO_CORE[k]: v for k, v in event.items() if k in _TO_CORE}
    out: dict[str, Any] = {"kind": "Event", "apiVersion": "v1"}
    if "metadata" in event:
        out["metadata"] = event["metadata"]
    out.update((k, renamed[k]) for k in _CORE_ORDER if k in renamed)
    return out


def unknown_fields(event: Mapping[str, Any]) -> list[str]:
    """Top-level fields of an events.k8s.io/v1 body that the kind does not have."""
    known = {"kind", "apiVersion", "metadata", *_TO_CORE}
    return sorted(k for k in event if k not in known)


def validate_create(event: Mapping[str, Any]) -> list[FieldError]:
    """What upstream requires of an Event created through events.k8s.io/v1."""
    errs: list[FieldError] = []
    for f in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        if not event.get(f):
            errs.append(required(f))
    if event.get("type") not in ("Normal", "Warning"):
        errs.append(invalid("type", "", f"has invalid value: {event.get('type') or ''}"))
    for f in ("deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"):
        if event.get(f):
            errs.append(invalid(f, "", "needs to be unset"))
    source = event.get("deprecatedSource")
    if isinstance(source, Mapping) and (source.get("component") or source.get("host")):
        errs.append(invalid("deprecatedSource", "", "needs to be unset"))
    note = event.get("note")
    if isinstance(note, str) and len(note.encode()) > NOTE_LIMIT:
        errs.append(too_long("note", NOTE_LIMIT))
    return errs
