"""The three-server cluster (embedded etcd members) the chaos and member-removal tests start afresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ha.cluster import Cluster, start_cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = start_cluster(tmp_path / "servers", 3)
    try:
        yield c
    finally:
        c.stop()
