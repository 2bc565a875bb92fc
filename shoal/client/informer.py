"""Informers: a local, always-current cache of one resource, fed by list + watch.

One informer per resource is shared by every controller in a process (the
``InformerFactory``), so N controllers cost one list and one watch stream, not
N. Handlers get add / update / delete callbacks and should only enqueue keys;
readers use ``get`` / ``list`` / ``by_index`` and must never mutate the dicts
they get back (copy, change, write).

A watch that ends is resumed from the last seen resourceVersion; 410 Gone
(history compacted) relists and replays the difference as events, so handlers
never miss a change and never see one twice out of order.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shoal.api.registry import ResourceInfo
from shoal.client.api import ApiClient, ResourceArg, _info
from shoal.client.errors import ApiException

log = logging.getLogger(__name__)

Obj = dict[str, Any]
IndexFunc = Callable[[Obj], list[str]]
Transform = Callable[[Obj], Obj]


def key_of(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{ns}/{md['name']}" if ns else str(md["name"])


def split_key(key: str) -> tuple[str | None, str]:
    ns, _, name = key.rpartition("/")
    return (ns or None), name


def by_namespace(obj: Obj) -> list[str]:
    ns = (obj.get("metadata") or {}).get("namespace")
    return [ns] if ns else []


@dataclass(slots=True)
class Handler:
    on_add: Callable[[Obj], None] | None = None
    on_update: Callable[[Obj, Obj], None] | None = None
    on_delete: Callable[[Obj], None] | None = None


class Informer:
    def __init__(
        self,
        client: ApiClient,
        res: ResourceArg,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        transform: Transform | None = None,
    ) -> None:
        """``transform`` (client-go's SetTransform) rewrites each object as it arrives, before it is
        cached or handed to a handler: a consumer that reads a few fields of a big object keeps
        only those, so the cache holds (and the garbage collector scans) a fraction of it."""
        self.client = client
        self.info: ResourceInfo = _info(res)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.transform = transform
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, IndexFunc] = {"namespace": by_namespace}
        self._indices: dict[str, dict[str, set[str]]] = {"namespace": {}}
        self._handlers: builtins.list[Handler] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.resource_version = ""

    # ---- setup ---------------------------------------------------------------------
    def add_handler(self, on_add: Callable[[Obj], None] | None = None,
                    on_update: Callable[[Obj, Obj], None] | None = None,
                    on_delete: Callable[[Obj], None] | None = None) -> None:
        h = Handler(on_add, on_update, on_delete)
        self._handlers.append(h)
        if on_add is not None:
            for o in list(self._items.values()):
                on_add(o)

    def add_index(self, name: str, fn: IndexFunc) -> None:
        self._indexers[name] = fn
        idx: dict[str, set[str]] = {}
        for k, o in self._items.items():
            for v in fn(o):
                idx.setdefault(v, set()).add(k)
        self._indices[name] = idx

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"informer:{self.info.plural}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def wait_synced(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._synced.wait(), timeout)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    # ---- reads -----------------------------------------------------------------------
    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by(self, namespace: str | None, name: str) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self, namespace: str | None = None) -> builtins.list[Obj]:
        if namespace is None:
            return list(self._items.values())
        return self.by_index("namespace", namespace)

    def keys(self) -> builtins.list[str]:
        return list(self._items)

    def by_index(self, name: str, value: str) -> builtins.list[Obj]:
        keys = self._indices[name].get(value, ())
        return [self._items[k] for k in keys if k in self._items]

    def __len__(self) -> int:
        return len(self._items)

    # ---- cache maintenance ---------------------------------------------------------------
    def _index_add(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            for v in fn(obj):
                self._indices[name].setdefault(v, set()).add(key)

    def _index_remove(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            for v in fn(obj):
                s = self._indices[name].get(v)
                if s is not None:
                    s.discard(key)
                    if not s:
                        del self._indices[name][v]

    def _upsert(self, obj: Obj) -> None:
        key = key_of(obj)
        old = self._items.get(key)
        if old is not None:
            self._index_remove(key, old)
        self._items[key] = obj
        self._index_add(key, obj)
        for h in self._handlers:
            try:
                if old is None:
                    if h.on_add:
                        h.on_add(obj)
                elif h.on_update:
                    h.on_update(old, obj)
            except Exception:
                log.exception("informer %s: handler failed", self.info.plural)

    def _remove(self, obj: Obj) -> None:
        key = key_of(obj)
        old = self._items.pop(key, None)
        if old is not None:
            self._index_remove(key, old)
        last = obj if old is None else obj
        for h in self._handlers:
            try:
                if h.on_delete:
                    h.on_delete(last)
            except Exception:
                log.exception("informer %s: handler failed", self.info.plural)

    def _replace(self, items: builtins.list[Obj]) -> None:
        fresh = {key_of(o): o for o in items}
        for k in list(self._items):
            if k not in fresh:
                self._remove(self._items[k])
        for k, o in fresh.items():
            old = self._items.get(k)
            if old is None or (old.get("metadata") or {}).get("resourceVersion") != (o.get("metadata") or {}).get("resourceVersion"):
                self._upsert(o)

    async def relist(self) -> None:
        """List now and replay the difference to the cache as events (what a 410 does).

        A test that drives controllers step by step calls this instead of
        ``start``: the cache then holds exactly what the server holds, with no
        watch stream to wait for.
        """
        await self._list()

    async def _list(self) -> None:
        items, rv = await self.client.list_all(
            self.info, self.namespace, label_selector=self.label_selector, field_selector=self.field_selector)
        if self.transform is not None:
            items = [self.transform(o) for o in items]
        self._replace(items)
        self.resource_version = rv
        self._synced.set()

    async def _run(self) -> None:
        backoff = 0.1
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                async for ev in self.client.watch(
                    self.info, self.namespace, resource_version=self.resource_version,
                    label_selector=self.label_selector, field_selector=self.field_selector,
                    allow_bookmarks=True, timeout_seconds=300,
                ):
                    rv = (ev.object.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.resource_version = rv
                    if ev.type == "ADDED" or ev.type == "MODIFIED":
                        self._upsert(ev.object if self.transform is None else self.transform(ev.object))
                    elif ev.type == "DELETED":
                        self._remove(ev.object if self.transform is None else self.transform(ev.object))
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except ApiException as e:
                if e.status == 410:
                    need_list = True
                    continue
                log.debug("informer %s: %s; retrying in %.1fs", self.info.plural, e, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                if e.status != 0:
                    need_list = True
            except Exception:
                log.exception("informer %s failed; relisting", self.info.plural)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                need_list = True


class InformerFactory:
    """One shared informer per (resource, namespace, selectors) for a process."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._informers: dict[tuple[str, str | None, str | None, str | None, Transform | None], Informer] = {}

    def informer(self, res: ResourceArg, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 transform: Transform | None = None) -> Informer:
        """The shared informer for these arguments; one with a ``transform`` is shared only with
        callers passing the same function (others must not be handed trimmed objects)."""
        info = _info(res)
        k = (info.storage_prefix, namespace, label_selector, field_selector, transform)
        inf = self._informers.get(k)
        if inf is None:
            inf = Informer(self.client, info, namespace=namespace, label_selector=label_selector,
                           field_selector=field_selector, transform=transform)
            self._informers[k] = inf
        return inf

    def start(self) -> None:
        for inf in self._informers.values():
            inf.start()

    async def relist(self) -> None:
        """``Informer.relist`` for every informer made so far."""
        for inf in list(self._informers.values()):
            await inf.relist()

    async def wait_synced(self, timeout: float | None = 30) -> None:
        await asyncio.gather(*(i.wait_synced(timeout) for i in self._informers.values()))

    async def stop(self) -> None:
        for inf in self._informers.values():
            await inf.stop()
