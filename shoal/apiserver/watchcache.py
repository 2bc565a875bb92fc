"""The watch cache: one store watch per resource, fanned out to every client.

Each served resource has a ``Broadcaster`` that follows the store from the
revision it started at, keeps a window of recent events (so a client can resume
from a resourceVersion it saw), and delivers each event to every registered
watcher. Every event is serialised once, whatever the number of watchers, and
decoded only if a selector or a Table needs the object. The window holds bytes
only, and the replaced version of an object comes with the store's event, so
the cache costs about one copy of each recent event, not decoded objects (which
would cost ~10x the memory and long garbage-collector pauses). A watcher asking for a revision older than the window gets 410 Gone
("too old resource version") and relists, as with kube-apiserver's cache.

Selectors are applied per watcher with upstream's transitions: an object that
stops matching is sent as DELETED, one that starts matching as ADDED.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shoal.api.registry import ResourceInfo
from shoal.apiserver import rawobj
from shoal.apiserver.prefilter import may_match
from shoal.store.base import CompactedError, Store, WatchEvent

log = logging.getLogger(__name__)

Filter = Callable[[dict[str, Any]], bool]


@dataclass(slots=True)
class Event:
    """One change, shared by every watcher; decoded only when a watcher needs the object.

    The window keeps thousands of events, so it keeps them as bytes: the decoded
    object (for selectors and Tables) is cached only while the event is being
    fanned out (``Broadcaster._apply`` drops it afterwards), and decoded again on
    the rare later use (a replay to a selector watcher, a Table watch).
    """

    type: str  # ADDED | MODIFIED | DELETED
    rev: int
    key: str
    raw: bytes  # the object's JSON with resourceVersion
    prev_raw: bytes | None = None  # the value before this change, decoded on demand by previous()
    _obj: dict[str, Any] | None = None
    _prev: dict[str, Any] | None = None
    _line: bytes | None = None

    @property
    def obj(self) -> dict[str, Any]:
        if self._obj is None:
            self._obj = rawobj.decode(self.raw)
        return self._obj

    def previous(self) -> dict[str, Any] | None:
        """The object before this change (decoded once per fan-out, and only if a selector asks)."""
        if self._prev is None and self.prev_raw is not None:
            self._prev = rawobj.decode(self.prev_raw)
        return self._prev

    def forget_decoded(self) -> None:
        """Drop the decoded objects (kept bytes decode again on demand)."""
        self._obj = self._prev = None

    def line(self) -> bytes:
        if self._line is None:
            self._line = b'{"type":"' + self.type.encode() + b'","object":' + self.raw + b"}\n"
        return self._line


@dataclass(eq=False)
class Watcher:
    prefix: str
    match: Filter | None
    min_rev: int = 0  # events at or below this revision were already seen by the client
    # bytes every object ``match`` accepts has in its JSON (``prefilter``): an event whose object, before and
    # after, lacks one is refused without decoding either
    needles: tuple[bytes, ...] = ()
    queue: asyncio.Queue[Event | None] = field(default_factory=lambda: asyncio.Queue(maxsize=100_000))
    closed: bool = False

    def offer(self, ev: Event) -> None:
        if self.closed or ev.rev <= self.min_rev or not ev.key.startswith(self.prefix):
            return
        out = ev
        if self.match is not None:
            if self.needles and not may_match(self.needles, ev.raw) and (
                    ev.prev_raw is None or not may_match(self.needles, ev.prev_raw)):
                return  # the selector refuses the object now and before: nothing to send (see prefilter)
            now = ev.type != "DELETED" and self.match(ev.obj)
            prev = ev.previous()
            before = prev is not None and self.match(prev)
            if ev.type == "DELETED":
                now, before = False, self.match(ev.obj)
                if not before:
                    return
            elif now and not before and ev.type == "MODIFIED":
                out = Event("ADDED", ev.rev, ev.key, ev.raw, _obj=ev.obj)
            elif before and not now:
                out = Event("DELETED", ev.rev, ev.key, ev.raw, _obj=ev.obj)
            elif not now:
                return
        try:
            self.queue.put_nowait(out)
        except asyncio.QueueFull:
            # a client that cannot keep up is cut off; it will re-list and watch again
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)


class Broadcaster:
    """Follows one resource's key prefix in the store and fans events out."""

    def __init__(self, store: Store, info: ResourceInfo, *, window: int = 10_000) -> None:
        self.store = store
        self.info = info
        self.window: collections.deque[Event] = collections.deque(maxlen=window)
        self.watchers: set[Watcher] = set()
        # told every event in order, and ``None`` when the watch is reset (events were missed)
        self.listeners: list[Callable[[Event | None], None]] = []
        self.start_rev = 0
        self.last_rev = 0  # revision of the newest event applied
        self._task: asyncio.Task[None] | None = None

    @property
    def oldest_servable(self) -> int:
        """A watch from revision R can be served iff R >= this."""
        if len(self.window) == self.window.maxlen:
            return self.window[0].rev - 1
        return self.start_rev

    async def start(self) -> None:
        rev = await self.store.current_revision()
        self.start_rev = self.last_rev = rev
        self._task = asyncio.create_task(self._run(rev), name=f"watchcache:{self.info.plural}")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for w in list(self.watchers):
            w.close()

    async def _run(self, rev: int) -> None:
        while True:
            try:
                async for batch in self.store.watch(self.info.storage_prefix, from_revision=rev):
                    for wev in batch:
                        self._apply(wev)
                        rev = max(rev, wev.kv.mod_revision)
            except asyncio.CancelledError:
                raise
            except CompactedError:
                # we fell behind compaction: every watcher must relist
                log.warning("watch cache for %s fell behind compaction; resetting", self.info.plural)
                for w in list(self.watchers):
                    w.close()
                for fn in self.listeners:
                    fn(None)
                self.window.clear()
                rev = await self.store.current_revision()
                self.start_rev = self.last_rev = rev
            except Exception:
                log.exception("watch cache for %s: store watch failed; retrying", self.info.plural)
                await asyncio.sleep(0.5)

    def _apply(self, wev: WatchEvent) -> None:
        kv = wev.kv
        raw = rawobj.with_rv(kv.value, kv.mod_revision)
        if wev.type == "DELETE":
            ev = Event("DELETED", kv.mod_revision, kv.key, raw)
        elif kv.create_revision == kv.mod_revision:  # this write created the key (as upstream tells)
            ev = Event("ADDED", kv.mod_revision, kv.key, raw)
        else:
            # the store hands the replaced version with the event, so the cache need not keep
            # a copy of every object; prev_raw is kept even with no selector watcher now: one
            # may replay this event later
            prev_raw = wev.prev.value if wev.prev is not None else None
            ev = Event("MODIFIED", kv.mod_revision, kv.key, raw, prev_raw)
        self.publish(ev)

    def publish(self, ev: Event) -> None:
        """Keep ``ev`` in the window and hand it to every listener and watcher."""
        self.window.append(ev)
        self.last_rev = ev.rev
        for fn in self.listeners:
            fn(ev)
        for w in list(self.watchers):
            w.offer(ev)
            if w.closed:
                self.watchers.discard(w)
        ev.forget_decoded()  # the window holds bytes only (memory, and GC time)

    def subscribe(self, *, prefix: str, from_rev: int, match: Filter | None,
                  needles: tuple[bytes, ...] = ()) -> Watcher:
        """Register a watcher receiving every event with revision > ``from_rev``.

        ``needles``: what ``prefilter.label_needles`` gives for ``match``'s label selector (or nothing).
        Raises ``TooOld`` if the window no longer holds that history.
        """
        if from_rev < self.oldest_servable:
            raise TooOldError(from_rev, self.oldest_servable)
        w = Watcher(prefix, match, min_rev=from_rev, needles=needles if match is not None else ())
        for ev in self.window:
            w.offer(ev)
        # no await between replay and registration: nothing can slip in between
        self.watchers.add(w)
        return w

    def unsubscribe(self, w: Watcher) -> None:
        self.watchers.discard(w)
        w.close()


class TooOldError(Exception):
    def __init__(self, asked: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {asked} ({oldest})")
        self.asked = asked
        self.oldest = oldest
