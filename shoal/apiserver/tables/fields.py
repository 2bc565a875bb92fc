"""Tolerant reading of decoded Kubernetes JSON for the printers.

Printers see objects as plain dicts straight from the store. A table must
render even a half-written or odd object (a missing status, a null list, a
timestamp someone typed by hand), so every accessor here returns an empty
value of the expected type instead of raising, just as Go's zero values do in
the upstream printers. What every component asks of an object (its name, its
conditions, a timestamp) comes from ``shoal.api.views``, which reads the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shoal.api import views
from shoal.api.views import parse_time
from shoal.apiserver.tables.duration import human_duration

Obj = dict[str, Any]

UNKNOWN = "<unknown>"
NONE = "<none>"


def as_dict(value: object) -> Obj:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def as_int(value: object, default: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


def dig(obj: object, *path: str) -> Any:
    """``obj[path[0]][path[1]]...``, or None where a step is missing or not a dict."""
    current: Any = obj
    for key in path:
        if not isinstance(current, dict):
            return None
        current = current.get(key)
    return current


def since(value: datetime | object, now: datetime) -> str:
    """Age of a timestamp as upstream's ``translateTimestampSince``: ``<unknown>`` if unset."""
    when = value if isinstance(value, datetime) else parse_time(value)
    if when is None:
        return UNKNOWN
    return human_duration(now - when)


def age_of(obj: Obj, now: datetime) -> str:
    return since(views.meta(obj).get("creationTimestamp"), now)


def containers_cells(pod_spec: object) -> tuple[str, str]:
    """The wide CONTAINERS and IMAGES cells: names and images joined by commas."""
    containers = [as_dict(c) for c in as_list(dig(pod_spec, "containers"))]
    names = ",".join(as_str(c.get("name")) for c in containers)
    images = ",".join(as_str(c.get("image")) for c in containers)
    return names, images
