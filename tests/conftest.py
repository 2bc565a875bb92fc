"""Shared fixtures: a real shoal server subprocess for end-to-end API tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.podman_fixture import podman_socket
from tests.server_fixture import RunningServer, start_server

# CI (SHOAL_NO_SKIP=1) runs every property and fuzz test with a fixed derandomised seed, so a red
# run is reproducible and never a roll of the dice; elsewhere each run explores new examples.
settings.register_profile("ci", derandomize=True)
if os.environ.get("SHOAL_NO_SKIP") == "1":
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # the API alone: no scheduler, controllers or agent act on what the API tests write
    srv = start_server(Path(tmp_path_factory.mktemp("shoal")),
                       args=["--disable-scheduler", "--disable-controller-manager"])
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def podman() -> Iterator[str]:
    """The Podman API socket (``unix://...``), started for the session if needed."""
    yield from podman_socket()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With SHOAL_NO_SKIP=1 (CI), a skipped test fails: CI must run the real tests."""
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if os.environ.get("SHOAL_NO_SKIP") == "1" and rep.skipped and not hasattr(rep, "wasxfail"):
        rep.outcome = "failed"
        rep.longrepr = f"skipped under SHOAL_NO_SKIP=1 (CI must run the real tests): {rep.longrepr}"
