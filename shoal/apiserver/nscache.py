"""Which namespaces exist, without a store read per create.

Every create of a namespaced object checks that its namespace exists and is
not terminating. Reading the namespace from the store each time costs a SQLite
lookup, or a full etcd round trip, per create. Upstream's NamespaceLifecycle
admission answers from its informer cache and reads the store only on a miss;
so does this.

The cache is fed from three places, and every entry carries the store revision
it is from, so an older answer never replaces a newer one:

* this server's own namespace writes, the moment the store acknowledges them
  (``WriteThrough`` wraps the store under the namespaces ``Resource``): a
  client that deletes a namespace and then creates into it is refused exactly
  as it would be by a store read, with no watch lag;
* the namespaces watch cache (``Broadcaster``), for writes by anyone else
  (another server on the same etcd, or the store used directly);
* store reads on a miss (a namespace that existed before the server started,
  or that the watch has not delivered yet).

A namespace the cache holds is answered from memory; one it does not hold is
read from the store, as before, so the cache never invents a "not found".
Deleted namespaces leave a tombstone (their deletion revision) so that a late,
older answer cannot bring them back; tombstones are bounded in number.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator
from typing import Any, Protocol

from shoal.api.registry import ResourceInfo
from shoal.apiserver import rawobj
from shoal.store.base import KeyValue, Store, WatchEvent

MAX_TOMBSTONES = 10_000


class NamespaceCache:
    """Namespaces by name: the latest known value and its revision."""

    def __init__(self, store: Store, info: ResourceInfo) -> None:
        self.store = store
        self.info = info
        self._revs: dict[str, int] = {}  # key -> revision of the newest known write (live or deleted)
        self._live: dict[str, bytes] = {}  # key -> stored value, for namespaces that exist
        self._decoded: dict[str, dict[str, Any]] = {}
        self._tombstones = 0

    def observe(self, key: str, rev: int, value: bytes | None) -> None:
        """A write of ``key`` at ``rev``: its value, or ``None`` if it deleted the namespace."""
        if rev <= self._revs.get(key, 0):
            return  # older than what is known
        self._decoded.pop(key, None)
        if value is None:
            self._live.pop(key, None)
            self._tombstones += 1
            if self._tombstones > MAX_TOMBSTONES:
                self._drop_tombstones()
        else:
            self._live[key] = value
        self._revs[key] = rev

    def _drop_tombstones(self) -> None:
        self._revs = {k: r for k, r in self._revs.items() if k in self._live}
        self._tombstones = 0

    def observe_event(self, ev: Any) -> None:
        """A watch-cache event (``watchcache.Event``), or ``None`` when the watch was reset."""
        if ev is None:
            self.reset()
        else:
            self.observe(ev.key, ev.rev, None if ev.type == "DELETED" else ev.raw)

    def reset(self) -> None:
        """Forget what is cached (the watch missed events): the next lookups read the store."""
        self._live.clear()
        self._decoded.clear()
        self._revs = {}
        self._tombstones = 0

    async def get(self, name: str) -> dict[str, Any] | None:
        """The namespace object, or ``None`` if it does not exist."""
        key = self.info.key(None, name)
        obj = self._decoded.get(key)
        if obj is not None:
            return obj
        raw = self._live.get(key)
        if raw is None:
            kv = await self.store.get(key)
            if kv is None:
                return None
            self.observe(key, kv.mod_revision, kv.value)
            raw = kv.value
            if key not in self._live:  # a newer deletion is known: answer what was read, keep nothing
                return rawobj.decode(raw)
        obj = self._decoded[key] = rawobj.decode(raw)
        return obj


class Observer(Protocol):
    """What a ``WriteThrough`` tells of each acknowledged write."""

    def observe(self, key: str, rev: int, value: bytes | None) -> None: ...

    def observe_event(self, ev: Any) -> None: ...


class WriteThrough:
    """A store whose acknowledged writes are also told to a ``NamespaceCache`` (or another ``Observer``).

    The namespaces ``Resource`` writes through it, and so does the priorityclasses one (its
    ``priority.PriorityClassCache`` keeps the same rules), and the four RBAC ones (their
    ``authz.index.RbacIndex``); everything but the three writes goes to the wrapped store untouched.
    """

    def __init__(self, store: Store, cache: Observer) -> None:
        self._store = store
        self._cache = cache

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def create(self, key: str, value: bytes) -> int:
        rev = await self._store.create(key, value)
        self._cache.observe(key, rev, value)
        return rev

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        rev = await self._store.update(key, value, expected_revision=expected_revision)
        self._cache.observe(key, rev, value)
        return rev

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        kv = await self._store.delete(key, expected_revision=expected_revision)
        self._cache.observe(key, kv.mod_revision, None)
        return kv

    # the rest of the Store protocol, spelled out for type checkers
    async def get(self, key: str) -> KeyValue | None:
        return await self._store.get(key)

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int = 0, revision: int = 0
    ) -> tuple[builtins.list[KeyValue], int, bool]:
        return await self._store.list(prefix, start_after=start_after, limit=limit, revision=revision)

    def watch(self, prefix: str, *, from_revision: int) -> AsyncGenerator[builtins.list[WatchEvent], None]:
        return self._store.watch(prefix, from_revision=from_revision)
