"""``/v2/events``: Marathon's event bus as server-sent events, from watches of the app workloads and pods.

One connection lists the app workloads (Deployments, StatefulSets) and their
pods as the caller, remembers each object's state without sending anything
(Marathon does not replay the past), then watches all three from the listed
revision and sends what ``shoal.formats.marathon.events`` says each change
means. An expired watch (410) lists again, quietly. ``event_type`` query
parameters keep only those types. A comment line goes out every
``heartbeat`` seconds so proxies keep the connection open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from typing import Any

from shoal.client import ApiClient, ApiException
from shoal.formats.marathon import app as appx
from shoal.formats.marathon import events, ids

Obj = dict[str, Any]
_RESOURCES = ("deployments", "statefulsets", "pods")


class EventStream:
    def __init__(self, client: ApiClient, *, types: set[str] | None = None, heartbeat: float = 15.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.client = client
        self.types = types or set()
        self.heartbeat = heartbeat
        self.clock = clock
        self.state: dict[str, dict[str, Obj]] = {r: {} for r in _RESOURCES}
        self.apps: dict[str, Obj] = {}  # k8s name -> the app's JSON, for pod events

    def _now(self) -> str:
        return ids.version(self.clock())

    def _remember_app(self, w: Obj | None, name: str) -> None:
        if w is None:
            self.apps.pop(name, None)
        else:
            self.apps[name] = appx.to_app(w, [])

    async def _list(self) -> dict[str, str]:
        rvs = {}
        for res in _RESOURCES:
            items, rv = await self.client.list_all(res, ids.NAMESPACE, label_selector=ids.SELECTOR)
            self.state[res] = {str(o["metadata"]["name"]): o for o in items}
            rvs[res] = rv
            if res != "pods":
                for name, w in self.state[res].items():
                    self._remember_app(w, name)
        return rvs

    def changes(self, res: str, kind: str, obj: Obj) -> list[Obj]:
        """What one watch event means on Marathon's bus (and the remembered state updated)."""
        name = str(obj["metadata"]["name"])
        old = self.state[res].get(name)
        new = None if kind == "DELETED" else obj
        if new is None:
            self.state[res].pop(name, None)
        else:
            self.state[res][name] = new
        now = self._now()
        if res == "pods":
            app_name = str(((obj.get("metadata") or {}).get("labels") or {}).get(ids.APP_LABEL) or "")
            app = self.apps.get(app_name)
            return events.pod_events(old, new, app, now=now) if app is not None else []
        self._remember_app(new, name)
        return events.workload_events(old, new, now=now)

    async def frames(self) -> AsyncGenerator[bytes, None]:
        """The stream's bytes: attached, then events as they happen, heartbeats between."""
        yield events.sse({"eventType": "event_stream_attached", "timestamp": self._now(), "remoteAddress": ""})
        queue: asyncio.Queue[tuple[str, str, Obj] | None] = asyncio.Queue()
        rvs = await self._list()
        tasks = [asyncio.create_task(self._watch(res, rvs[res], queue)) for res in _RESOURCES]
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self.heartbeat)
                except TimeoutError:
                    yield b": heartbeat\n\n"
                    continue
                if item is None:
                    return
                for ev in self.changes(*item):
                    if not self.types or ev["eventType"] in self.types:
                        yield events.sse(ev)
        finally:
            for t in tasks:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    async def _watch(self, res: str, rv: str, queue: asyncio.Queue[tuple[str, str, Obj] | None]) -> None:
        while True:
            try:
                async for ev in self.client.watch(res, ids.NAMESPACE, resource_version=rv,
                                                  label_selector=ids.SELECTOR):
                    if ev.type == "BOOKMARK":
                        rv = str(ev.object["metadata"]["resourceVersion"])
                        continue
                    if ev.type == "ERROR":
                        raise ApiException(410, "Expired", "watch expired")
                    rv = str(ev.object["metadata"].get("resourceVersion") or rv)
                    await queue.put((res, ev.type, ev.object))
            except ApiException as e:
                if e.status in (401, 403):
                    await queue.put(None)
                    return
                _, rv = await self.client.list_all(res, ids.NAMESPACE, label_selector=ids.SELECTOR)
            except (ConnectionError, OSError):
                await asyncio.sleep(1)
