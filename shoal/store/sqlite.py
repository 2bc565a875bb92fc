"""The embedded store: SQLite (stdlib ``sqlite3``, WAL mode) shaped like etcd.

Layout (after kine, k3s's etcd-over-SQL):

* ``log`` is append-only history. Its ``INTEGER PRIMARY KEY AUTOINCREMENT`` id
  *is* the global revision, so ordering, watch replay ("rows with id > N") and
  list-at-a-revision are plain indexed queries. A delete appends a tombstone row
  carrying the last value (a DELETE watch event reports it).
* ``current`` maps each live key to its create/mod revision (``WITHOUT ROWID``,
  keyed by key), so ``list`` of 10,000 keys under a prefix is one range scan
  joined to ``log`` by primary key, and ``get`` is two index lookups.
* ``meta`` keeps the compacted revision.

Threads: the event loop never writes to SQLite. One writer thread owns the only
writing connection; callers enqueue writes and await a future. The writer
drains everything queued and commits it as ONE transaction (group commit: one
WAL append + sync per batch instead of per write), while still checking each
write on its own, so a failed ``create`` fails only that call. After the
commit it hands the batch's watch events and results to the loop in a single
callback: watchers in this process are fed directly, with no polling, and in
revision order. Reads that may scan (list, count, watch replay) run on a small
pool of reader threads with their own connections; WAL lets them proceed while
the writer commits. ``get`` (one primary-key lookup, microseconds) runs on the
loop with a read-only connection of its own: a hop to a thread and back costs
~10x more than the lookup. The last ``RECENT`` keys written are also kept on
the loop, as the commits publish them, so a read-modify-write right after a
write (a binding after a create, a status after a binding) costs a dict lookup:
the SELECT on the loop was 7% of the server's samples in the scheduler
benchmark, much of it waiting for the GIL that the writer thread held. Every
write to the file goes through this object's writer (the data directory is
one server's), so what the cache holds is what the file holds as of the last
published commit, never older than what a caller has been told.

Durability: WAL with ``synchronous=NORMAL`` writes every committed transaction
into the WAL file before the commit returns, so it survives the process being
killed (even ``kill -9``): the data is in the OS page cache and SQLite replays
the WAL on the next open. What NORMAL gives up is durability across power loss
or a kernel crash (the WAL is fsynced only at checkpoints); pass
``synchronous="FULL"`` for that, which group commit keeps affordable (one fsync
per batch).

Compaction deletes the superseded versions older than the revision (current
values always stay), then truncates the WAL and returns freed pages
(``auto_vacuum=INCREMENTAL``) so the file does not grow forever; see
``shoal.store.base.auto_compact`` for the periodic driver.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import queue
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from shoal.store.base import (
    CompactedError,
    ConflictError,
    FutureRevisionError,
    KeyExistsError,
    KeyValue,
    NotFoundError,
    StoreError,
    StoreUnavailableError,
    WatchEvent,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key             TEXT    NOT NULL,
    deleted         INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision   INTEGER NOT NULL,
    value           BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS log_key_id ON log (key, id);
CREATE TABLE IF NOT EXISTS current (
    key             TEXT    PRIMARY KEY,
    create_revision INTEGER NOT NULL,
    mod_revision    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
"""

_HEAD = "SELECT seq FROM sqlite_sequence WHERE name = 'log'"
_COMPACTED = "SELECT value FROM meta WHERE name = 'compacted'"
_GET = (
    "SELECT c.key, l.value, c.create_revision, c.mod_revision FROM current c"
    " JOIN log l ON l.id = c.mod_revision WHERE c.key = ?"
)
_INSERT_LOG = (
    "INSERT INTO log (id, key, deleted, create_revision, prev_revision, value)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_COMPACT = (
    "DELETE FROM log WHERE id < :rev AND (deleted = 1 OR EXISTS ("
    "SELECT 1 FROM log n WHERE n.key = log.key AND n.id > log.id AND n.id <= :rev))"
)

# A watcher whose consumer falls this many events behind stops buffering and
# later catches up from the log instead, so a slow reader costs no memory.
_MAX_PENDING = 10_000
RECENT = 2048  # keys whose last write ``get`` answers without SQLite
# Rows read per query when a watch replays history.
_CATCHUP_CHUNK = 1_000


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if last <= 0x10FFFF:
            if 0xD800 <= last <= 0xDFFF:
                last = 0xE000
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


def _key_range(column: str, prefix: str, start_after: str | None) -> tuple[str, list[Any]]:
    """A SQL condition (and its parameters) selecting keys under ``prefix``."""
    conds = [f"{column} >= ?"]
    params: list[Any] = [prefix]
    end = prefix_end(prefix)
    if end is not None:
        conds.append(f"{column} < ?")
        params.append(end)
    if start_after is not None:
        conds.append(f"{column} > ?")
        params.append(start_after)
    return " AND ".join(conds), params


@dataclass(slots=True)
class _Op:
    """One queued write (or compaction) and the future its caller awaits."""

    kind: Literal["create", "update", "delete", "compact"]
    future: asyncio.Future[Any]
    key: str = ""
    value: bytes = b""
    expected: int = 0


@dataclass(slots=True, eq=False)
class _Watcher:
    """The live side of one watch: events the writer published, not yet consumed."""

    prefix: str
    pending: list[WatchEvent] = field(default_factory=list)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    overflowed: bool = False
    error: BaseException | None = None

    def feed(self, events: list[WatchEvent]) -> None:
        mine = [e for e in events if e.kv.key.startswith(self.prefix)]
        if not mine or self.overflowed:
            return
        if len(self.pending) + len(mine) > _MAX_PENDING:
            self.overflowed = True
            self.pending.clear()
        else:
            self.pending.extend(mine)
        self.wakeup.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self.wakeup.set()


class SqliteStore:
    """The ``Store`` protocol on one SQLite file. See the module docstring."""

    def __init__(
        self,
        path: Path | str,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        readers: int = 4,
        max_batch: int = 2_000,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        if readers < 1 or max_batch < 1:
            raise ValueError("readers and max_batch must be >= 1")
        self.path = Path(path)
        self._synchronous = synchronous
        self._reader_count = readers
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._watchers: set[_Watcher] = set()
        self._local = threading.local()
        self._reader_conns: builtins.list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._readers: ThreadPoolExecutor | None = None
        self._loop_conn: sqlite3.Connection | None = None  # point reads, on the loop itself
        self._writer: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open = False
        # Loop-side view, updated when the writer publishes a batch.
        self._rev = 0
        self._compacted = 0
        self._recent: OrderedDict[str, KeyValue] = OrderedDict()  # key -> last published write
        # Writer-side state, touched only by the writer thread.
        self._wrev = 0
        self._wcompacted = 0

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        if self._open:
            return
        self._loop = asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ready: asyncio.Future[None] = self._loop.create_future()
        self._writer = threading.Thread(
            target=self._writer_main, args=(ready,), name="shoal-sqlite-writer", daemon=True
        )
        self._writer.start()
        await ready
        self._rev, self._compacted = self._wrev, self._wcompacted
        self._readers = ThreadPoolExecutor(
            max_workers=self._reader_count, thread_name_prefix="shoal-sqlite-read"
        )
        self._loop_conn = self._connect()
        self._loop_conn.execute("PRAGMA query_only = 1")
        self._open = True

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._recent.clear()
        self._queue.put(None)
        if self._writer is not None:
            await asyncio.to_thread(self._writer.join)
        for watcher in list(self._watchers):
            watcher.fail(StoreUnavailableError("store closed"))
        if self._readers is not None:
            await asyncio.to_thread(self._readers.shutdown, True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        if self._loop_conn is not None:
            self._loop_conn.close()
            self._loop_conn = None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn

    # -- reads ---------------------------------------------------------------

    async def current_revision(self) -> int:
        self._ensure_open()
        return self._rev

    async def compacted_revision(self) -> int:
        self._ensure_open()
        return self._compacted

    async def get(self, key: str) -> KeyValue | None:
        # One primary-key lookup takes microseconds (WAL readers never wait for the
        # writer), far less than a hop to a reader thread and back, so it runs here.
        self._ensure_open()
        hit = self._recent.get(key)
        if hit is not None:
            return hit
        assert self._loop_conn is not None
        try:
            row = self._loop_conn.execute(_GET, (key,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"sqlite read failed: {exc}") from exc
        return None if row is None else KeyValue(row[0], row[1], row[2], row[3])

    async def count(self, prefix: str) -> int:
        cond, params = _key_range("key", prefix, None)
        sql = f"SELECT COUNT(*) FROM current WHERE {cond}"
        return cast(int, await self._read(lambda conn: conn.execute(sql, params).fetchone()[0]))

    async def list(
        self,
        prefix: str,
        *,
        start_after: str | None = None,
        limit: int = 0,
        revision: int = 0,
    ) -> tuple[builtins.list[KeyValue], int, bool]:
        if limit < 0 or revision < 0:
            raise ValueError("limit and revision must be >= 0")
        return await self._read(
            partial(
                self._list_sync,
                prefix=prefix,
                start_after=start_after,
                limit=limit,
                revision=revision,
            )
        )

    def _list_sync(
        self,
        conn: sqlite3.Connection,
        *,
        prefix: str,
        start_after: str | None,
        limit: int,
        revision: int,
    ) -> tuple[builtins.list[KeyValue], int, bool]:
        with _snapshot(conn):
            head = _scalar(conn, _HEAD)
            if revision > head:
                raise FutureRevisionError(revision, head)
            if revision and revision < head:
                compacted = _scalar(conn, _COMPACTED)
                if revision < compacted:
                    raise CompactedError(compacted)
                cond, params = _key_range("key", prefix, start_after)
                sql = (
                    "SELECT key, value, create_revision, id FROM ("
                    " SELECT key, MAX(id) AS id, deleted, create_revision, value FROM log"
                    f" WHERE {cond} AND id <= ? GROUP BY key"
                    ") WHERE deleted = 0 ORDER BY key"
                )
                params.append(revision)
            else:
                revision = head
                cond, params = _key_range("c.key", prefix, start_after)
                sql = (
                    "SELECT c.key, l.value, c.create_revision, c.mod_revision FROM current c"
                    f" JOIN log l ON l.id = c.mod_revision WHERE {cond} ORDER BY c.key"
                )
            if limit:
                sql += " LIMIT ?"
                params.append(limit + 1)
            rows = conn.execute(sql, params).fetchall()
        more = bool(limit) and len(rows) > limit
        if more:
            rows = rows[:limit]
        return [KeyValue(r[0], r[1], r[2], r[3]) for r in rows], revision, more

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        self._ensure_open()
        assert self._readers is not None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._readers, self._run_read, fn)
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"sqlite read failed: {exc}") from exc

    def _run_read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = 1")
            self._local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return fn(conn)

    # -- writes --------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> int:
        return cast(int, await self._submit("create", key=key, value=value))

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        return cast(
            int, await self._submit("update", key=key, value=value, expected=expected_revision)
        )

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        return cast(KeyValue, await self._submit("delete", key=key, expected=expected_revision))

    async def compact(self, revision: int) -> None:
        await self._submit("compact", expected=revision)

    async def _submit(
        self,
        kind: Literal["create", "update", "delete", "compact"],
        *,
        key: str = "",
        value: bytes = b"",
        expected: int = 0,
    ) -> Any:
        self._ensure_open()
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError(f"value must be bytes, not {type(value).__name__}")
        if expected < 0:
            raise ValueError("revisions are >= 0")
        if kind != "compact" and not key:
            raise ValueError("key must not be empty")
        assert self._loop is not None
        op = _Op(kind, self._loop.create_future(), key, bytes(value), expected)
        self._queue.put(op)
        # The write is applied even if the caller is cancelled while waiting.
        return await op.future

    def _ensure_open(self) -> None:
        if not self._open:
            raise StoreUnavailableError("store is not open")

    # -- the writer thread ---------------------------------------------------

    def _writer_main(self, ready: asyncio.Future[None]) -> None:
        loop = self._loop
        assert loop is not None
        try:
            conn = self._connect()
            # auto_vacuum must be chosen before the first table exists.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.executescript(_SCHEMA)
            self._wrev = _scalar(conn, _HEAD)
            self._wcompacted = _scalar(conn, _COMPACTED)
        except BaseException as exc:  # report any failure to open to start()
            loop.call_soon_threadsafe(_settle, ready, None, exc)
            return
        loop.call_soon_threadsafe(_settle, ready, None, None)
        try:
            stop = False
            while not stop:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self._max_batch:
                    try:
                        op = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if op is None:
                        stop = True
                        break
                    batch.append(op)
                self._commit_batch(conn, batch)
        except BaseException:  # never leave callers waiting forever
            log.exception("sqlite writer crashed")
            self._fail_queued(StoreUnavailableError("sqlite writer crashed"))
            raise
        finally:
            conn.close()

    def _fail_queued(self, error: StoreError) -> None:
        assert self._loop is not None
        with contextlib.suppress(queue.Empty):
            while True:
                op = self._queue.get_nowait()
                if op is not None:
                    self._loop.call_soon_threadsafe(_settle, op.future, None, error)

    def _commit_batch(self, conn: sqlite3.Connection, batch: builtins.list[_Op]) -> None:
        rev, compacted = self._wrev, self._wcompacted
        events: builtins.list[WatchEvent] = []
        outcomes: builtins.list[tuple[_Op, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in batch:
                try:
                    result, rev, compacted = self._apply(conn, op, rev, compacted, events)
                    outcomes.append((op, result, None))
                except StoreError as exc:
                    outcomes.append((op, None, exc))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("sqlite write batch failed: %s", exc)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            error = StoreUnavailableError(f"sqlite write failed: {exc}")
            outcomes = [(op, None, error) for op in batch]
            events = []
            rev, compacted = self._wrev, self._wcompacted
        compacted_now = compacted > self._wcompacted
        self._wrev, self._wcompacted = rev, compacted
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._publish, rev, compacted, events, outcomes)
        except RuntimeError:  # the loop is gone; nobody is waiting any more
            return
        if compacted_now:
            self._reclaim_space(conn)

    def _apply(
        self,
        conn: sqlite3.Connection,
        op: _Op,
        rev: int,
        compacted: int,
        events: builtins.list[WatchEvent],
    ) -> tuple[Any, int, int]:
        """Check and apply one write inside the batch's transaction."""
        if op.kind == "compact":
            target = op.expected
            if target > rev:
                raise FutureRevisionError(target, rev)
            if target <= compacted:
                return None, rev, compacted
            conn.execute(_COMPACT, {"rev": target})
            conn.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('compacted', ?)", (target,)
            )
            return None, rev, target
        row = conn.execute(_GET, (op.key,)).fetchone()
        old = None if row is None else KeyValue(row[0], row[1], row[2], row[3])
        if op.kind == "create":
            if old is not None:
                raise KeyExistsError(op.key)
            rev += 1
            conn.execute(_INSERT_LOG, (rev, op.key, 0, rev, 0, op.value))
            conn.execute(
                "INSERT INTO current (key, create_revision, mod_revision) VALUES (?, ?, ?)",
                (op.key, rev, rev),
            )
            events.append(WatchEvent("PUT", KeyValue(op.key, op.value, rev, rev), None))
            return rev, rev, compacted
        if old is None:
            raise NotFoundError(op.key)
        if op.expected and old.mod_revision != op.expected:
            raise ConflictError(old)
        rev += 1
        if op.kind == "update":
            conn.execute(
                _INSERT_LOG, (rev, op.key, 0, old.create_revision, old.mod_revision, op.value)
            )
            conn.execute("UPDATE current SET mod_revision = ? WHERE key = ?", (rev, op.key))
            kv = KeyValue(op.key, op.value, old.create_revision, rev)
            events.append(WatchEvent("PUT", kv, old))
            return rev, rev, compacted
        conn.execute(
            _INSERT_LOG, (rev, op.key, 1, old.create_revision, old.mod_revision, old.value)
        )
        conn.execute("DELETE FROM current WHERE key = ?", (op.key,))
        gone = KeyValue(op.key, old.value, old.create_revision, rev)
        events.append(WatchEvent("DELETE", gone, old))
        return gone, rev, compacted

    def _reclaim_space(self, conn: sqlite3.Connection) -> None:
        """After a compaction: give freed pages back and truncate the WAL."""
        try:
            conn.execute("PRAGMA incremental_vacuum").fetchall()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:  # housekeeping only; retried next compaction
            log.warning("sqlite space reclaim failed: %s", exc)

    def _publish(
        self,
        rev: int,
        compacted: int,
        events: builtins.list[WatchEvent],
        outcomes: builtins.list[tuple[_Op, Any, BaseException | None]],
    ) -> None:
        """On the loop: advance the visible revision, feed watchers, wake writers."""
        self._rev = max(self._rev, rev)
        self._compacted = max(self._compacted, compacted)
        recent = self._recent
        for ev in events:
            if ev.type == "PUT":
                recent[ev.kv.key] = ev.kv
                recent.move_to_end(ev.kv.key)
            else:
                recent.pop(ev.kv.key, None)
        while len(recent) > RECENT:
            recent.popitem(last=False)
        if events:
            for watcher in list(self._watchers):
                watcher.feed(events)
        for op, result, error in outcomes:
            _settle(op.future, result, error)

    # -- watch ---------------------------------------------------------------

    def watch(
        self, prefix: str, *, from_revision: int
    ) -> AsyncGenerator[builtins.list[WatchEvent], None]:
        if from_revision < 0:
            raise ValueError("from_revision must be >= 0")
        return self._watch(prefix, from_revision)

    async def _watch(
        self, prefix: str, from_revision: int
    ) -> AsyncGenerator[builtins.list[WatchEvent], None]:
        self._ensure_open()
        # Register before reading history: whatever commits after this point is
        # either in the log read below or in `pending` (or both; deduplicated
        # by revision), so nothing falls between replay and live events.
        watcher = _Watcher(prefix)
        self._watchers.add(watcher)
        last = from_revision
        try:
            while True:
                watcher.overflowed = False
                while True:
                    events = await self._read(
                        partial(self._log_after, prefix=prefix, after=last, limit=_CATCHUP_CHUNK)
                    )
                    if events:
                        last = events[-1].kv.mod_revision
                        yield events
                    if len(events) < _CATCHUP_CHUNK:
                        break
                while not watcher.overflowed:
                    if watcher.error is not None:
                        raise watcher.error
                    if not watcher.pending:
                        watcher.wakeup.clear()
                        await watcher.wakeup.wait()
                        continue
                    batch = [e for e in watcher.pending if e.kv.mod_revision > last]
                    watcher.pending.clear()
                    if batch:
                        last = batch[-1].kv.mod_revision
                        yield batch
        finally:
            self._watchers.discard(watcher)

    def _log_after(
        self, conn: sqlite3.Connection, *, prefix: str, after: int, limit: int
    ) -> builtins.list[WatchEvent]:
        cond, params = _key_range("l.key", prefix, None)
        sql = (
            "SELECT l.id, l.key, l.deleted, l.create_revision, l.prev_revision, l.value, p.value"
            " FROM log l LEFT JOIN log p ON p.id = l.prev_revision AND l.deleted = 0"
            f" WHERE l.id > ? AND {cond} ORDER BY l.id LIMIT ?"
        )
        with _snapshot(conn):
            compacted = _scalar(conn, _COMPACTED)
            if after + 1 < compacted:
                raise CompactedError(compacted)
            rows = conn.execute(sql, [after, *params, limit]).fetchall()
        events = []
        for rev, key, deleted, create_rev, prev_rev, value, prev_value in rows:
            if deleted:
                prev = KeyValue(key, value, create_rev, prev_rev)
                events.append(WatchEvent("DELETE", KeyValue(key, value, create_rev, rev), prev))
            else:
                old = None
                if prev_rev and prev_value is not None:
                    old = KeyValue(key, prev_value, create_rev, prev_rev)
                events.append(WatchEvent("PUT", KeyValue(key, value, create_rev, rev), old))
        return events


@contextlib.contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: every statement inside sees the same database state."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _scalar(conn: sqlite3.Connection, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return 0 if row is None else int(row[0])


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
