"""The cluster's identity (shoal.clusterid): the decision at start as a table, then real servers that share a
store with a data dir of another cluster and are refused."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shoal import clusterid
from tests.server_fixture import start_server

A, B = str(uuid.UUID(int=1)), str(uuid.UUID(int=2))


@pytest.mark.parametrize(("local", "before", "stored", "want", "write"), [
    (None, None, A, A, True),  # first start: the new store's cluster, written to the data dir
    (None, A, A, A, True),  # a new server (data dir) on a store that holds a cluster: takes it
    (A, A, A, A, False),  # a restart
    (A, None, B, B, True),  # the store was reset (state.db removed): a new cluster, said in the log
])
def test_which_cluster_a_server_runs(local: str | None, before: str | None, stored: str, want: str,
                                     write: bool) -> None:
    got = clusterid.check(local=local, stored_before=before, stored=stored, where="data dir D", store="store S")
    assert (got.cluster_id, got.write) == (want, write)
    assert bool(got.note) == (local is not None and local != stored)


def test_a_data_dir_of_another_cluster_is_refused() -> None:
    with pytest.raises(clusterid.ClusterMismatch) as e:
        clusterid.check(local=A, stored_before=B, stored=B, where="data dir D", store="store S")
    assert f"data dir D belongs to cluster {A}, but store S holds cluster {B}" in str(e.value)


@pytest.mark.parametrize(("labels", "ours"), [
    ({clusterid.LABEL: A}, True),
    ({clusterid.LABEL: B}, False),  # another cluster's, on a node named as ours
    ({}, True),  # made before containers carried the cluster's ID
])
def test_which_containers_are_this_clusters(labels: dict[str, str], ours: bool) -> None:
    assert clusterid.owned(labels, A) is ours


def test_short_ids_tell_clusters_apart() -> None:
    assert clusterid.short("0a1b2c3d-0000-4000-8000-000000000000") == "0a1b2c3d"


def test_a_server_keeps_its_cluster_id_and_refuses_another_clusters_store(tmp_path: Path) -> None:
    one = start_server(tmp_path / "one")
    try:
        first = (tmp_path / "one" / "cluster-id").read_text().strip()
        ns = one.session().get(one.url + "/api/v1/namespaces/kube-system").json()
        assert ns["metadata"]["uid"] == first and clusterid.valid(first)
    finally:
        one.stop()
    again = start_server(tmp_path / "one")  # a restart keeps it
    try:
        assert (tmp_path / "one" / "cluster-id").read_text().strip() == first
    finally:
        again.stop()
    two = start_server(tmp_path / "two")
    two.stop()
    second = (tmp_path / "two" / "cluster-id").read_text().strip()
    assert second != first
    # the data dir of cluster two, pointed at cluster one's store
    store = f"sqlite://{tmp_path / 'one' / 'state.db'}"
    with pytest.raises(RuntimeError) as e:
        start_server(tmp_path / "two", args=["--store", store], timeout=20)
    assert f"belongs to cluster {second}, but store {store} holds cluster {first}" in str(e.value)
    # a fresh data dir on that store joins cluster one
    three = start_server(tmp_path / "three", args=["--store", store])
    try:
        assert (tmp_path / "three" / "cluster-id").read_text().strip() == first
    finally:
        three.stop()


def test_a_reset_store_makes_a_new_cluster(tmp_path: Path) -> None:
    one = start_server(tmp_path / "d")
    one.stop()
    first = (tmp_path / "d" / "cluster-id").read_text().strip()
    for f in (tmp_path / "d").glob("state.db*"):
        f.unlink()
    again = start_server(tmp_path / "d")
    again.stop()
    assert (tmp_path / "d" / "cluster-id").read_text().strip() not in ("", first)
    assert f"belonged to cluster {first}, whose store is gone" in again.log()


def test_exit_code_of_a_refused_server(tmp_path: Path) -> None:
    start_server(tmp_path / "a").stop()
    start_server(tmp_path / "b").stop()
    p = subprocess.run([sys.executable, "-m", "shoal", "server", "--data-dir", str(tmp_path / "b"), "--no-agent",
                        "--listen", "127.0.0.1:0", "--store", f"sqlite://{tmp_path / 'a' / 'state.db'}"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "refusing to mix two clusters" in p.stderr
