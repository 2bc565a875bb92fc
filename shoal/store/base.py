"""The Store protocol: an etcd-shaped key-value store with one global revision.

Everything above the store (registry, watch cache, resourceVersion) relies on
three properties that etcd has and that every backend must keep:

* one revision counter for the whole store, increased by every write, so a
  revision orders all changes and doubles as an object's resourceVersion
  (its ``mod_revision``);
* compare-and-swap writes (``update``/``delete`` with ``expected_revision``),
  which is how optimistic concurrency (409 Conflict) is implemented;
* a watch that replays every change after a revision and then follows live
  changes, so "list at R, then watch from R" misses nothing.

Keys are ``str`` (Kubernetes layout: ``/registry/<group>/<resource>/<ns>/<name>``),
values are opaque ``bytes``. Backends translate their own failures into the
exception hierarchy below and nothing else crosses this boundary.

History is finite: ``compact(R)`` drops superseded versions older than ``R``.
Afterwards a ``list`` at a revision below ``R`` and a ``watch`` that would need
an event before ``R`` (``from_revision + 1 < R``, etcd's rule) raise
``CompactedError`` — the caller relists, as Kubernetes clients do on 410 Gone.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Literal, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One version of a key: its value and the revisions that made it."""

    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """A change seen by a watch.

    PUT: ``kv`` is the new version; ``prev`` the replaced one when the write was
    an update and the backend still knows it (``None`` for a create).
    DELETE: ``kv.key``/``kv.value`` are the deleted key and its last value and
    ``kv.mod_revision`` is the revision of the delete; ``prev`` is the deleted
    version when known.
    """

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev: KeyValue | None = None


class StoreError(Exception):
    """Base of every error a store raises."""


class KeyExistsError(StoreError):
    """``create`` of a key that already exists."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key already exists: {key}")
        self.key = key


class NotFoundError(StoreError):
    """``update``/``delete`` of a key that does not exist."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class ConflictError(StoreError):
    """The key's ``mod_revision`` differs from ``expected_revision``."""

    def __init__(self, current: KeyValue) -> None:
        super().__init__(
            f"revision conflict on {current.key}: current mod_revision is {current.mod_revision}"
        )
        self.current = current


class CompactedError(StoreError):
    """The requested revision is older than the compacted one (Kubernetes: 410 Gone)."""

    def __init__(self, compacted_revision: int) -> None:
        super().__init__(f"revision has been compacted (compacted revision {compacted_revision})")
        self.compacted_revision = compacted_revision


class FutureRevisionError(StoreError):
    """A revision newer than the store's current one was asked for."""

    def __init__(self, revision: int, current: int) -> None:
        super().__init__(f"revision {revision} is in the future (current revision {current})")
        self.revision = revision
        self.current = current


class StoreUnavailableError(StoreError):
    """The backend cannot be reached or has been closed (Kubernetes: 503/504)."""


class Store(Protocol):
    """What the apiserver needs from a key-value store. See the module docstring."""

    async def start(self) -> None:
        """Open the backend; must be awaited before any other call."""

    async def close(self) -> None:
        """Release everything; pending watches end with ``StoreUnavailableError``."""

    async def current_revision(self) -> int:
        """The store's latest revision (0 or 1 for an empty store, by backend)."""

    async def get(self, key: str) -> KeyValue | None:
        """The current version of ``key``, or ``None``."""

    async def list(
        self,
        prefix: str,
        *,
        start_after: str | None = None,
        limit: int = 0,
        revision: int = 0,
    ) -> tuple[builtins.list[KeyValue], int, bool]:
        """Keys under ``prefix`` sorted by key: ``(items, revision read at, more remain)``.

        ``start_after`` skips keys up to and including it (pagination);
        ``limit`` 0 means no limit; ``revision`` 0 means the latest.
        """

    async def count(self, prefix: str) -> int:
        """How many keys exist under ``prefix``."""

    async def create(self, key: str, value: bytes) -> int:
        """Create ``key``; returns the new revision. ``KeyExistsError`` if present."""

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        """Replace ``key``'s value if its mod_revision is ``expected_revision`` (0: any).

        Returns the new revision; ``NotFoundError`` / ``ConflictError``.
        """

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        """Delete ``key``; returns its last value with ``mod_revision`` = the delete's revision."""

    def watch(
        self, prefix: str, *, from_revision: int
    ) -> AsyncGenerator[builtins.list[WatchEvent], None]:
        """Every change under ``prefix`` after ``from_revision``, in order, then live ones.

        Nothing runs until the first ``anext``; ``CompactedError`` is raised
        there when events after ``from_revision`` are gone. Close the generator
        (``aclose``) when done: it releases the backend's stream.
        """

    async def compact(self, revision: int) -> None:
        """Forget superseded versions older than ``revision`` (a no-op if already compacted)."""

    async def compacted_revision(self) -> int:
        """The revision the store was last compacted at (0 if never)."""


async def compact_keeping(store: Store, *, keep: int) -> int:
    """Compact ``store`` so that the last ``keep`` revisions stay watchable.

    Returns the revision compacted at, or 0 when there was nothing to do.
    """
    if keep < 0:
        raise ValueError("keep must be >= 0")
    target = await store.current_revision() - keep
    if target <= 0 or target <= await store.compacted_revision():
        return 0
    await store.compact(target)
    return target


async def auto_compact(store: Store, *, keep: int = 10_000, interval: float = 60.0) -> None:
    """Run ``compact_keeping`` every ``interval`` seconds until cancelled.

    Start it as a task next to the store; errors are logged, never fatal, since
    a missed compaction only costs disk space.
    """
    while True:
        try:
            await compact_keeping(store, keep=keep)
        except StoreError as exc:
            log.warning("auto-compaction failed: %s", exc)
        await asyncio.sleep(interval)
