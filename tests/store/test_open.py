"""open_store: the --store spellings, and rejection of the ones it does not know."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.store import open_store
from shoal.store.etcd import EtcdStore, parse_endpoints
from shoal.store.sqlite import SqliteStore


def test_sqlite_default_lives_in_the_data_dir(tmp_path: Path) -> None:
    store = open_store("sqlite", data_dir=tmp_path)
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "state.db"


def test_sqlite_with_an_absolute_path(tmp_path: Path) -> None:
    store = open_store(f"sqlite://{tmp_path}/other.db", data_dir=Path("/unused"))
    assert isinstance(store, SqliteStore)
    assert store.path == tmp_path / "other.db"


def test_etcd_with_several_endpoints() -> None:
    store = open_store("etcd://10.0.0.1:2379,10.0.0.2:2379", data_dir=Path("/unused"))
    assert isinstance(store, EtcdStore)
    assert store.endpoint in ("10.0.0.1:2379", "10.0.0.2:2379")


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "postgres://x",
        "sqlite:relative.db",
        "sqlite://relative.db",
        "etcd://",
        "etcd://host",
        "etcd://host:port",
        "etcd://host:70000",
    ],
)
def test_unknown_or_malformed_specs_are_rejected(spec: str) -> None:
    with pytest.raises(ValueError):
        open_store(spec, data_dir=Path("/unused"))


def test_parse_endpoints_accepts_urls() -> None:
    assert parse_endpoints(["http://127.0.0.1:2379", "[::1]:2379", "h:1"]) == [
        ("127.0.0.1", 2379),
        ("::1", 2379),
        ("h", 1),
    ]
