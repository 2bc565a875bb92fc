"""events.k8s.io/v1 Event: the newer view of the same stored Events as core/v1.

Upstream keeps one stored Event and serves it in both groups; only field names
differ (``note`` is core's ``message``, ``regarding`` its ``involvedObject``,
``reportingController`` its ``reportingComponent``, and core's older fields
come back as ``deprecated*``). ``shoal.api.eventsconv`` converts between them.
"""

from __future__ import annotations

from shoal.api.base import Model
from shoal.api.meta import ObjectMeta
from shoal.api.models.core import EventSource
from shoal.api.models.pod import ObjectReference


class EventSeries(Model):
    count: int = 0
    last_observed_time: str = ""


class Event(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    event_time: str | None = None
    series: EventSeries | None = None
    reporting_controller: str | None = None
    reporting_instance: str | None = None
    action: str | None = None
    reason: str | None = None
    regarding: ObjectReference | None = None
    related: ObjectReference | None = None
    note: str | None = None
    type: str | None = None
    deprecated_source: EventSource | None = None
    deprecated_first_timestamp: str | None = None
    deprecated_last_timestamp: str | None = None
    deprecated_count: int | None = None
