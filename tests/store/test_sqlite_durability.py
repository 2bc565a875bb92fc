"""SQLite specifics: acknowledged writes survive kill -9, reopening, compaction
reclaiming rows, and watches that fall behind catching up from the log."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shoal.store import sqlite as sqlite_module
from shoal.store.base import KeyValue, StoreUnavailableError, WatchEvent
from shoal.store.sqlite import SqliteStore, prefix_end

# Writes keys from 8 concurrent writers (so group commits carry several writes)
# and prints each key once its create() returned, i.e. once acknowledged.
CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from shoal.store.sqlite import SqliteStore

    async def main(path):
        store = SqliteStore(path)
        await store.start()

        async def writer(w):
            i = 0
            while True:
                key = f"/k/{w}/{i}"
                await store.create(key, b"v" * 200)
                sys.stdout.write(key + "\\n")
                sys.stdout.flush()
                i += 1

        await asyncio.gather(*(writer(w) for w in range(8)))

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_acknowledged_writes_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    assert proc.stdout is not None
    acked: list[str] = []
    try:
        while len(acked) < 1500:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
            if not line:
                pytest.fail(
                    f"writer died early: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            acked.append(line.decode().strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
    # Lines still in the pipe were printed after their write was acknowledged too.
    rest = proc.stdout.read().decode().split()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    acked.extend(rest)

    store = SqliteStore(db)
    await store.start()
    try:
        items, rev, _ = await store.list("/k/")
        present = {kv.key for kv in items}
        missing = [key for key in acked if key not in present]
        assert not missing, f"{len(missing)} acknowledged keys lost, e.g. {missing[:5]}"
        assert rev >= len(acked)
        # The revision counter carries on after the crash.
        assert await store.create("/after-crash", b"x") > rev
    finally:
        await store.close()


async def test_data_and_revision_persist_across_reopen(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db", synchronous="FULL")
    await store.start()
    rev = await store.create("/a", b"1")
    rev = await store.update("/a", b"2", expected_revision=rev)
    await store.compact(rev)
    await store.close()

    again = SqliteStore(tmp_path / "state.db")
    await again.start()
    try:
        assert await again.current_revision() == rev
        assert await again.compacted_revision() == rev
        assert await again.get("/a") == KeyValue("/a", b"2", 1, rev)
        assert await again.create("/b", b"x") == rev + 1
    finally:
        await again.close()


async def test_compaction_deletes_superseded_log_rows(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStore(db)
    await store.start()
    try:
        for i in range(20):
            await store.create(f"/k/{i}", b"x" * 1000)
        for _ in range(5):
            for i in range(20):
                await store.update(f"/k/{i}", b"y" * 1000, expected_revision=0)
        await store.delete("/k/0")
        await store.compact(await store.current_revision())
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT COUNT(*) FROM log").fetchone()[0]
        # 19 live keys keep their current row, plus the delete at the compacted revision.
        assert rows == 20
        assert await store.count("/k/") == 19
    finally:
        await store.close()


async def test_a_slow_watcher_catches_up_from_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_MAX_PENDING", 10)
    monkeypatch.setattr(sqlite_module, "_CATCHUP_CHUNK", 7)
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    try:
        watch = store.watch("/", from_revision=0)
        await store.create("/first", b"x")
        assert [e.kv.key for e in await anext(watch)] == ["/first"]
        # 100 writes while nobody reads: far more than the live buffer holds.
        revs = await asyncio.gather(*(store.create(f"/k/{i}", b"x") for i in range(100)))
        seen: list[WatchEvent] = []
        while len(seen) < 100:
            seen.extend(await asyncio.wait_for(anext(watch), 5))
        assert [e.kv.mod_revision for e in seen] == sorted(revs)
        await watch.aclose()
    finally:
        await store.close()


async def test_closing_ends_watches_and_rejects_calls(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    watch = store.watch("/", from_revision=0)
    pending = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0.05)
    await store.close()
    with pytest.raises(StoreUnavailableError):
        await asyncio.wait_for(pending, 5)
    with pytest.raises(StoreUnavailableError):
        await store.get("/a")
    with pytest.raises(StoreUnavailableError):
        await store.create("/a", b"x")


async def test_bad_options_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SqliteStore(tmp_path / "x.db", synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SqliteStore(tmp_path / "x.db", readers=0)


def test_prefix_end() -> None:
    assert prefix_end("/a/") == "/a0"
    assert prefix_end("") is None
    assert prefix_end("a\U0010ffff") == "b"
    assert prefix_end("\ud7ff") == "\ue000"


async def test_reads_of_recent_writes_agree_with_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``get`` answers recently written keys from memory; whatever it answers is what SQLite holds."""
    monkeypatch.setattr(sqlite_module, "RECENT", 50)  # fewer keys than written: old ones fall out
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    try:
        revs: dict[str, int] = {}
        for i in range(120):
            revs[f"/k/{i}"] = await store.create(f"/k/{i}", b"v%d" % i)
        for i in range(0, 120, 3):
            revs[f"/k/{i}"] = await store.update(f"/k/{i}", b"u%d" % i, expected_revision=revs[f"/k/{i}"])
        for i in range(0, 120, 7):
            await store.delete(f"/k/{i}")
        await store.create("/k/7", b"again")  # deleted, then created anew
        assert len(store._recent) <= 50
        conn = sqlite3.connect(tmp_path / "state.db")
        try:
            for i in range(120):
                key = f"/k/{i}"
                row = conn.execute(sqlite_module._GET, (key,)).fetchone()
                want = None if row is None else KeyValue(row[0], row[1], row[2], row[3])
                assert await store.get(key) == want, key
        finally:
            conn.close()
    finally:
        await store.close()
