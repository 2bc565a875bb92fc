"""Fixtures: a ``store`` parametrized over every backend, and a per-test key prefix.

One etcd serves the whole session (starting it costs ~1 s); tests stay out of
each other's way by writing only under their own ``ns`` prefix and by never
reading revisions older than their own start.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shoal.store.base import Store
from shoal.store.etcd import EtcdStore
from shoal.store.sqlite import SqliteStore
from tests.etcd_fixture import etcd_available, start_etcd


@pytest.fixture(scope="session")
def etcd_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not etcd_available():
        pytest.skip("etcd is not installed (make setup as root installs it)")
    endpoint, stop = start_etcd(Path(tmp_path_factory.mktemp("etcd")))
    yield endpoint
    stop()


@pytest.fixture(params=["sqlite", "etcd"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    backend: Store
    if request.param == "sqlite":
        backend = SqliteStore(tmp_path / "state.db")
    else:
        backend = EtcdStore([request.getfixturevalue("etcd_endpoint")])
    await backend.start()
    yield backend
    await backend.close()


@pytest.fixture
def ns() -> str:
    """A key prefix no other test uses."""
    return f"/t/{uuid.uuid4().hex[:10]}/"
