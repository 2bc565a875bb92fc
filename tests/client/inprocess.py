"""An API client over the in-process transport to an ``ApiServer`` on a SQLite store of its own (for tests)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from shoal.apiserver.app import ApiServer
from shoal.apiserver.auth import TokenAuthenticator
from shoal.apiserver.inprocess import InProcessTransport
from shoal.client import ApiClient
from shoal.store.sqlite import SqliteStore


@contextlib.asynccontextmanager
async def inprocess_api(tmp_path: Path, *, authenticator: TokenAuthenticator | None = None
                        ) -> AsyncIterator[ApiServer]:
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    api = ApiServer(store, authenticator=authenticator)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()
        await store.close()


@contextlib.asynccontextmanager
async def inprocess_client(tmp_path: Path) -> AsyncIterator[ApiClient]:
    async with inprocess_api(tmp_path) as api, ApiClient(InProcessTransport(api)) as c:
        yield c
