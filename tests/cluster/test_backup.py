"""``shoal backup`` / ``shoal restore`` on both stores: a backup taken while the server runs and writes,
restored into a fresh data dir, brings back exactly the objects written before it, the same cluster (its
ID, CA and tokens), and resourceVersions that continue upward."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from shoal import backup
from tests.etcd_fixture import etcd_available, free_port, start_etcd
from tests.server_fixture import RunningServer, start_server

ROOT = Path(__file__).resolve().parents[2]
API_ONLY = ["--disable-scheduler", "--disable-controller-manager"]


def shoal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shoal", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)


def create(srv: RunningServer, name: str) -> int:
    r = srv.session().post(srv.url + "/api/v1/namespaces/default/configmaps",
                           json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                 "data": {"k": name}})
    assert r.status_code == 201, r.text
    return int(r.json()["metadata"]["resourceVersion"])


def names(srv: RunningServer) -> dict[str, int]:
    items = srv.session().get(srv.url + "/api/v1/namespaces/default/configmaps").json()["items"]
    return {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"]) for o in items
            if o["metadata"]["name"].startswith("cm-")}


def backup_while_writing(srv: RunningServer, out: Path, store: str) -> tuple[dict[str, int], int]:
    """Objects written before, during and after a backup: (name -> resourceVersion, the backup's revision)."""
    written = {f"cm-before-{i}": create(srv, f"cm-before-{i}") for i in range(20)}
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            written[f"cm-during-{i}"] = create(srv, f"cm-during-{i}")
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        p = shoal("backup", str(out), "--data-dir", str(srv.data_dir), "--store", store)
    finally:
        stop.set()
        t.join()
    assert p.returncode == 0, p.stderr
    written.update({f"cm-after-{i}": create(srv, f"cm-after-{i}") for i in range(5)})
    m = backup.read_manifest(out)
    assert f"revision {m.revision}" in p.stdout and m.cluster_id in p.stdout
    assert oct(out.stat().st_mode & 0o777) == "0o600"  # it holds the cluster's keys
    return written, m.revision


def check_restored(srv: RunningServer, written: dict[str, int], revision: int, old_dir: Path) -> None:
    assert names(srv) == {n: rv for n, rv in written.items() if rv <= revision}  # exactly the backup's moment
    assert any(n.startswith("cm-before") for n in names(srv)) and not any(n.startswith("cm-after") for n in names(srv))
    assert (srv.data_dir / "cluster-id").read_text() == (old_dir / "cluster-id").read_text()
    assert (srv.data_dir / "ca.crt").read_bytes() == (old_dir / "ca.crt").read_bytes()
    assert srv.token == (old_dir / "admin-token").read_text().strip()  # old kubeconfigs keep working
    assert create(srv, "cm-new") > revision  # resourceVersions continue upward


def test_sqlite_backup_and_restore(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "old", args=API_ONLY)
    try:
        written, revision = backup_while_writing(srv, tmp_path / "cluster.backup", "sqlite")
    finally:
        srv.stop()
    p = shoal("restore", str(tmp_path / "cluster.backup"), "--data-dir", str(tmp_path / "new"))
    assert p.returncode == 0, p.stderr
    new = start_server(tmp_path / "new", args=API_ONLY)
    try:
        check_restored(new, written, revision, tmp_path / "old")
        # a running server's data dir is not restored over
        p = shoal("restore", str(tmp_path / "cluster.backup"), "--data-dir", str(tmp_path / "new"))
        assert p.returncode == 1 and "a server is running" in p.stderr
    finally:
        new.stop()
    # nor is another cluster's data dir
    start_server(tmp_path / "other", args=API_ONLY).stop()
    p = shoal("restore", str(tmp_path / "cluster.backup"), "--data-dir", str(tmp_path / "other"))
    assert p.returncode == 1 and "belongs to cluster" in p.stderr and "restore into a fresh --data-dir" in p.stderr
    # the same cluster's data dir, its server stopped: back to the backup's moment again
    p = shoal("restore", str(tmp_path / "cluster.backup"), "--data-dir", str(tmp_path / "new"))
    assert p.returncode == 0, p.stderr
    again = start_server(tmp_path / "new", args=API_ONLY)
    try:
        assert "cm-new" not in names(again)
    finally:
        again.stop()


@pytest.mark.skipif(not etcd_available(), reason="etcd is not installed (make setup)")
def test_etcd_backup_and_restore(tmp_path: Path) -> None:
    endpoint, stop_etcd = start_etcd(tmp_path / "etcd-old")
    try:
        srv = start_server(tmp_path / "old", args=[*API_ONLY, "--store", f"etcd://{endpoint}"])
        try:
            written, revision = backup_while_writing(srv, tmp_path / "cluster.backup", f"etcd://{endpoint}")
        finally:
            srv.stop()
    finally:
        stop_etcd()
    # a new etcd member from the snapshot, on ports of its own (the old etcd is gone)
    client, peer = free_port(), free_port()
    p = shoal("restore", str(tmp_path / "cluster.backup"), "--data-dir", str(tmp_path / "new"))
    assert p.returncode == 1 and "--etcd-data-dir" in p.stderr
    p = shoal("restore", str(tmp_path / "cluster.backup"), "--data-dir", str(tmp_path / "new"),
              "--etcd-data-dir", str(tmp_path / "etcd-new" / "data"), "--etcd-name", "test",
              "--etcd-peer-url", f"http://127.0.0.1:{peer}")
    assert p.returncode == 0, p.stderr
    endpoint, stop_etcd = start_etcd(tmp_path / "etcd-new", client_port=client, peer_port=peer)
    try:
        new = start_server(tmp_path / "new", args=[*API_ONLY, "--store", f"etcd://{endpoint}"])
        try:
            check_restored(new, written, revision, tmp_path / "old")
        finally:
            new.stop()
    finally:
        stop_etcd()


def test_not_a_backup(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("hello")
    p = shoal("restore", str(tmp_path / "x"), "--data-dir", str(tmp_path / "d"))
    assert p.returncode == 1 and "is not a shoal backup" in p.stderr
    p = shoal("backup", str(tmp_path / "b"), "--data-dir", str(tmp_path / "empty"))
    assert p.returncode == 1 and "holds no cluster" in p.stderr
