"""Turn the ``--store`` flag into a Store: one place that knows the spellings.

``sqlite`` (``<data_dir>/state.db``), ``sqlite:///abs/path.db`` and
``etcd://HOST:PORT[,HOST:PORT...]``. Backends are imported lazily so that the
embedded default never loads gRPC.
"""

from __future__ import annotations

from pathlib import Path

from shoal.store.base import Store


def open_store(spec: str, *, data_dir: Path) -> Store:
    """The (not yet started) store ``spec`` names; ``await store.start()`` next.

    Raises ValueError for a spec it does not understand.
    """
    text = spec.strip()
    if text == "sqlite":
        from shoal.store.sqlite import SqliteStore

        return SqliteStore(Path(data_dir) / "state.db")
    if text.startswith("sqlite://"):
        from shoal.store.sqlite import SqliteStore

        path = text.removeprefix("sqlite://")
        if not path.startswith("/") or path == "/":
            raise ValueError(f"bad store {spec!r}: expected sqlite:///ABSOLUTE/PATH")
        return SqliteStore(Path(path))
    if text.startswith("etcd://"):
        from shoal.store.etcd import EtcdStore

        endpoints = [e for e in text.removeprefix("etcd://").split(",") if e.strip()]
        if not endpoints:
            raise ValueError(f"bad store {spec!r}: expected etcd://HOST:PORT[,HOST:PORT...]")
        return EtcdStore(endpoints)
    raise ValueError(
        f"unknown store {spec!r}: expected sqlite, sqlite:///PATH or etcd://HOST:PORT[,...]"
    )
