"""Recording core/v1 Events, so ``kubectl describe`` shows what components did.

Repeated events for the same object and reason are folded into one Event with
a growing ``count`` (as client-go's recorder does), which keeps a crash-looping
pod from flooding the store. The recorder remembers the last ``SEEN`` events
it wrote (client-go's correlator keeps an LRU of 4096 too): a scheduler writes
an event per pod it places, so remembering all of them grew without end.
Recording never raises: an event is worth less than the work it describes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from shoal.client.api import ApiClient
from shoal.client.errors import ApiException

log = logging.getLogger(__name__)

SEEN = 4096


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fmt(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    def __init__(self, client: ApiClient, component: str, *, host: str = "",
                 clock: Callable[[], dt.datetime] = _now) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.clock = clock
        self._seen: OrderedDict[str, tuple[str, int]] = OrderedDict()  # event name -> (resourceVersion, count)

    async def event(self, obj: dict[str, Any], type_: str, reason: str, message: str) -> None:
        """Record ``reason``/``message`` about ``obj`` (type ``Normal`` or ``Warning``)."""
        md = obj.get("metadata") or {}
        ns = md.get("namespace") or "default"
        ref = {
            "apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": md.get("name"),
            "namespace": md.get("namespace"), "uid": md.get("uid"), "resourceVersion": md.get("resourceVersion"),
        }
        ref = {k: v for k, v in ref.items() if v}
        digest = hashlib.sha1(f"{md.get('uid')}/{reason}/{message}".encode()).hexdigest()[:10]
        name = f"{md.get('name')}.{digest}"
        now = _fmt(self.clock())
        try:
            prev = self._seen.get(name)
            if prev is not None:
                count = prev[1] + 1
                ev = await self.client.patch("events", name, {"count": count, "lastTimestamp": now}, ns)
                self._remember(name, (ev["metadata"]["resourceVersion"], count))
                return
            body = {
                "metadata": {"name": name, "namespace": ns},
                "involvedObject": ref, "reason": reason, "message": message, "type": type_,
                "source": {"component": self.component, **({"host": self.host} if self.host else {})},
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "reportingComponent": self.component, "reportingInstance": self.host or self.component,
            }
            ev = await self.client.create("events", body, ns)
            self._remember(name, (ev["metadata"]["resourceVersion"], 1))
        except ApiException as e:
            if e.status == 409:  # recorded before (by an earlier incarnation, or forgotten): count on
                try:
                    old = await self.client.get("events", name, ns)
                    self._remember(name, (old["metadata"]["resourceVersion"], int(old.get("count") or 1)))
                except (ApiException, TypeError, ValueError):
                    self._remember(name, ("", 1))
                await self.event(obj, type_, reason, message)
                return
            log.debug("event %s/%s not recorded: %s", reason, md.get("name"), e)
        except Exception:
            log.debug("event %s/%s not recorded", reason, md.get("name"), exc_info=True)

    def _remember(self, name: str, seen: tuple[str, int]) -> None:
        self._seen[name] = seen
        self._seen.move_to_end(name)
        while len(self._seen) > SEEN:
            self._seen.popitem(last=False)
