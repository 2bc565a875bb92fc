"""Event rows: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE (and more in wide).

Events come in two shapes: core ``v1`` (involvedObject, lastTimestamp, count)
and ``events.k8s.io/v1`` (regarding, note, deprecated* fields). Upstream
converts both to one internal type before printing; ``as_core_event`` does
the same here. LAST SEEN falls back from lastTimestamp to firstTimestamp to
eventTime, and a series' lastObservedTime overrides it.
"""

from __future__ import annotations

from datetime import datetime

from shoal.apiserver.tables.fields import Obj, as_dict, as_int, as_str, dig, since
from shoal.apiserver.tables.model import Cell, Column, Printer, name_column

COLUMNS = (
    Column(
        "Last Seen",
        description="The time at which the most recent occurrence of this event was recorded.",
    ),
    Column(
        "Type",
        description="Type of this event (Normal, Warning), new types could be added in the future",
    ),
    Column(
        "Reason",
        description="This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    Column("Object", description="The object that this event is about."),
    Column(
        "Subobject",
        priority=1,
        description="If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.",
    ),
    Column(
        "Source",
        priority=1,
        description="The component reporting this event. Should be a short machine understandable string.",
    ),
    Column("Message", description="A human-readable description of the status of this operation."),
    Column(
        "First Seen",
        priority=1,
        description="The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
    ),
    Column("Count", priority=1, description="The number of times this event has occurred."),
    name_column(priority=1),
)


def as_core_event(event: Obj) -> Obj:
    """An ``events.k8s.io/v1`` Event in core ``v1`` field names; a core event unchanged."""
    if not as_str(event.get("apiVersion")).startswith("events.k8s.io/"):
        return event
    return {
        "metadata": event.get("metadata"),
        "involvedObject": event.get("regarding"),
        "reason": event.get("reason"),
        "message": event.get("note"),
        "type": event.get("type"),
        "source": event.get("deprecatedSource"),
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
        "count": event.get("deprecatedCount"),
        "eventTime": event.get("eventTime"),
        "series": event.get("series"),
        "reportingComponent": event.get("reportingController"),
        "reportingInstance": event.get("reportingInstance"),
    }


def _source(event: Obj) -> str:
    component = as_str(dig(event, "source", "component")) or as_str(event.get("reportingComponent"))
    instance = as_str(dig(event, "source", "host")) or as_str(event.get("reportingInstance"))
    return f"{component}, {instance}" if instance else component


def event_row(raw: Obj, now: datetime) -> list[Cell]:
    event = as_core_event(raw)
    first = event.get("firstTimestamp")
    first_seen = since(first if first else event.get("eventTime"), now)
    last = event.get("lastTimestamp")
    last_seen = since(last, now) if last else first_seen
    count = as_int(event.get("count"))
    series = event.get("series")
    if isinstance(series, dict):
        last_seen = since(series.get("lastObservedTime"), now)
        count = as_int(series.get("count"))
    elif count == 0:
        count = 1  # singleton events of the newer API carry no count
    involved = as_dict(event.get("involvedObject"))
    kind = as_str(involved.get("kind")).lower()
    name = as_str(involved.get("name"))
    return [
        last_seen,
        as_str(event.get("type")),
        as_str(event.get("reason")),
        f"{kind}/{name}" if name else kind,
        as_str(involved.get("fieldPath")),
        _source(event),
        as_str(event.get("message")).strip(),
        first_seen,
        count,
        as_str(dig(event, "metadata", "name")),
    ]


PRINTERS = {"Event": Printer(COLUMNS, event_row)}
