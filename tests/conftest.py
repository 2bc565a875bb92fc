"""Shared fixtures: a real shoal server subprocess for end-to-end API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_fixture import RunningServer, start_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # the API alone: no scheduler, controllers or agent act on what the API tests write
    srv = start_server(Path(tmp_path_factory.mktemp("shoal")),
                       args=["--disable-scheduler", "--disable-controller-manager"])
    yield srv
    srv.stop()
