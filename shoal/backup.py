"""``shoal backup`` / ``shoal restore``: a cluster brought back to the moment of its backup.

A backup is one file (a tar archive, mode 0600: it holds the cluster's keys):

* ``shoal-backup.json``: what it is (the store kind, the cluster's ID, the
  store's revision, when it was taken);
* the store's state at one revision: ``state.db`` made with SQLite's online
  backup API (a consistent copy taken inside one read transaction, safe while
  the server writes: WAL readers never block the writer), or ``etcd.snapshot``
  from etcd's maintenance API (``Snapshot``, what ``etcdctl snapshot save``
  asks for), streamed by the member that answers;
* the data dir's identity: the CA and its key, the service-account key, the
  admin and node tokens and ``cluster-id`` (and the serving certificate), so
  that a restored cluster is the same cluster: kubeconfigs, join tokens,
  service-account tokens and agents' CA files keep working.

Restore writes them into a data dir (a fresh one, or one of the same cluster
whose server is stopped; never one of another cluster). SQLite's file goes to
``state.db``; an etcd snapshot becomes an etcd member's data dir through
``etcdutl``/``etcdctl snapshot restore``, for the user (or the embedded etcd)
to start etcd on. Revisions continue from the backup's: the restored store's
next write has a higher resourceVersion than anything in the backup.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from shoal import clusterid
from shoal.datadir import DataDir

MANIFEST = "shoal-backup.json"
SQLITE_MEMBER = "state.db"
ETCD_MEMBER = "etcd.snapshot"
# the data dir's identity: what makes a restored cluster the same cluster
IDENTITY_FILES = ("ca.crt", "ca.key", "sa.key", "admin-token", "node-token", clusterid.FILE, "server.crt",
                  "server.key")


class BackupError(Exception):
    """A backup or restore could not be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Manifest:
    store: str  # "sqlite" | "etcd"
    cluster_id: str
    revision: int
    created: float
    version: int = 1


# ---- taking a backup --------------------------------------------------------------------------------
def _sqlite_copy(db: Path, out: Path) -> int:
    """SQLite's online backup of ``db`` into ``out``; the copy's revision."""
    if not db.exists():
        raise BackupError(f"no SQLite store at {db}")
    src = sqlite3.connect(db, timeout=30)  # only read (a read-only open could not make the WAL's index)
    try:
        dst = sqlite3.connect(out)
        try:
            src.backup(dst)  # all pages in one step: one read transaction, one revision
            row = dst.execute("SELECT seq FROM sqlite_sequence WHERE name = 'log'").fetchone()
        finally:
            dst.close()
    finally:
        src.close()
    return int(row[0]) if row else 0


async def _etcd_snapshot(endpoints: str, out: Path) -> int:
    """etcd's snapshot (maintenance API) of the first endpoint that answers, into ``out``; its revision."""
    import aetcd

    from shoal.store.etcd import parse_endpoints

    errors = []
    for host, port in parse_endpoints(endpoints.split(",")):
        client = aetcd.Client(host=host, port=port, timeout=60)
        try:
            with open(out, "wb") as f:
                await client.snapshot(f)
            return _snapshot_revision(out)
        except Exception as e:  # the next endpoint
            errors.append(f"{host}:{port}: {e}")
        finally:
            with contextlib.suppress(Exception):
                await client.close()
    raise BackupError("no etcd endpoint gave a snapshot: " + "; ".join(errors))


def _etcd_tool() -> list[str]:
    """``etcdutl`` (etcd 3.5+) or ``etcdctl`` (3.4, Debian's), for the snapshot's status and restore."""
    if shutil.which("etcdutl"):
        return ["etcdutl"]
    if shutil.which("etcdctl"):
        return ["etcdctl"]
    raise BackupError("neither etcdutl nor etcdctl is installed (Debian: apt-get install etcd-client)")


def _snapshot_revision(path: Path) -> int:
    p = subprocess.run([*_etcd_tool(), "snapshot", "status", str(path), "-w", "json"], capture_output=True,
                       text=True, env={**os.environ, "ETCDCTL_API": "3"}, timeout=60)
    if p.returncode != 0:
        raise BackupError(f"the etcd snapshot is not readable: {p.stderr.strip()[:300]}")
    return int(json.loads(p.stdout)["revision"])


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
    tar.addfile(info, io.BytesIO(data))


async def backup(out: Path, *, data_dir: Path, store: str = "sqlite") -> Manifest:
    """Write a backup of the cluster whose data dir is ``data_dir`` and whose store is ``store`` to ``out``."""
    dd = DataDir(data_dir)
    cid = clusterid.read(dd.root)
    if cid is None:
        raise BackupError(f"{dd.root} holds no cluster (no {clusterid.FILE}): start `shoal server` first, or give "
                          f"--data-dir")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        if store == "sqlite" or store.startswith("sqlite://"):
            db = dd.state_db if store == "sqlite" else Path(store.removeprefix("sqlite://"))
            member, kind = Path(tmp) / SQLITE_MEMBER, "sqlite"
            revision = _sqlite_copy(db, member)
        elif store.startswith("etcd://"):
            member, kind = Path(tmp) / ETCD_MEMBER, "etcd"
            revision = await _etcd_snapshot(store.removeprefix("etcd://"), member)
        else:
            raise BackupError(f"unknown store {store!r}: expected sqlite, sqlite:///PATH or etcd://HOST:PORT[,...]")
        manifest = Manifest(store=kind, cluster_id=cid, revision=revision, created=time.time())
        part = Path(tmp) / "backup.tar"
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
            _add_bytes(tar, MANIFEST, json.dumps(asdict(manifest), indent=1).encode())
            tar.add(member, arcname=member.name)
            for name in IDENTITY_FILES:
                if (dd.root / name).exists():
                    _add_bytes(tar, name, (dd.root / name).read_bytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(part, out)
    return manifest


# ---- restoring ----------------------------------------------------------------------------------------
def read_manifest(path: Path) -> Manifest:
    try:
        with tarfile.open(path, "r:*") as tar:
            f = tar.extractfile(MANIFEST)
            if f is None:
                raise KeyError(MANIFEST)
            raw = json.loads(f.read())
    except (OSError, tarfile.TarError, KeyError, ValueError) as e:
        raise BackupError(f"{path} is not a shoal backup: {e}") from None
    return Manifest(**raw)


def _server_running(dd: DataDir) -> bool:
    sock = dd.root / "api.sock"
    if not sock.exists():
        return False
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(sock))
        except OSError:
            return False
    return True


def restore(path: Path, *, data_dir: Path, etcd_data_dir: Path | None = None, etcd_name: str = "default",
            etcd_peer_url: str = "http://127.0.0.1:2380") -> Manifest:
    """Restore the backup at ``path`` into ``data_dir`` (and, for etcd, a new member's ``etcd_data_dir``)."""
    manifest = read_manifest(path)
    dd = DataDir(data_dir)
    if _server_running(dd):
        raise BackupError(f"a server is running on {dd.root}: stop it before restoring into its data dir")
    theirs = clusterid.read(dd.root) if dd.root.exists() else None
    if theirs is not None and theirs != manifest.cluster_id:
        raise BackupError(f"data dir {dd.root} belongs to cluster {theirs}, the backup is of cluster "
                          f"{manifest.cluster_id}: restore into a fresh --data-dir")
    if manifest.store == "etcd":
        if etcd_data_dir is None:
            raise BackupError("this backup is an etcd snapshot: give --etcd-data-dir (a new etcd member's data dir "
                              "to start etcd on)")
        if etcd_data_dir.exists() and any(etcd_data_dir.iterdir()):
            raise BackupError(f"{etcd_data_dir} is not empty: etcd restores into a new data dir")
    dd.ensure()
    with tempfile.TemporaryDirectory(dir=dd.root) as tmp, tarfile.open(path, "r:*") as tar:
        for member in tar.getmembers():
            if member.name in (*IDENTITY_FILES, SQLITE_MEMBER, ETCD_MEMBER) and member.isfile():
                tar.extract(member, tmp, set_attrs=False)
        staged = Path(tmp)
        if manifest.store == "sqlite":
            for suffix in ("", "-wal", "-shm"):  # the old file's log must not be replayed over the new one
                old = dd.root / f"state.db{suffix}"
                if old.exists():
                    os.replace(old, dd.root / f"state.db{suffix}.before-restore")
            os.replace(staged / SQLITE_MEMBER, dd.state_db)
            os.chmod(dd.state_db, 0o600)
        else:
            assert etcd_data_dir is not None
            p = subprocess.run([*_etcd_tool(), "snapshot", "restore", str(staged / ETCD_MEMBER),
                                "--data-dir", str(etcd_data_dir), "--name", etcd_name,
                                "--initial-cluster", f"{etcd_name}={etcd_peer_url}",
                                "--initial-advertise-peer-urls", etcd_peer_url],
                               capture_output=True, text=True, env={**os.environ, "ETCDCTL_API": "3"}, timeout=300)
            if p.returncode != 0:
                raise BackupError(f"etcd snapshot restore failed: {p.stderr.strip()[-500:]}")
        for name in IDENTITY_FILES:
            if (staged / name).exists():
                os.replace(staged / name, dd.root / name)
                os.chmod(dd.root / name, 0o644 if name in ("ca.crt", clusterid.FILE, "server.crt") else 0o600)
    return manifest
