"""Secrets encrypted at rest in a real server: the SQLite file holds no plaintext, kubectl reads them back
(get, list, watch), and a key rotation (new key added, moved first, everything rewritten, old key dropped)."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.server_fixture import RunningServer, start_server

API_ONLY = ["--disable-scheduler", "--disable-controller-manager"]
K1, K2 = os.urandom(32), os.urandom(32)
PLAIN = "correct-horse-battery"


def write_config(path: Path, *named: tuple[str, bytes], kind: str = "aescbc") -> Path:
    keys = "".join(f"      - name: {n}\n        secret: {base64.b64encode(k).decode()}\n" for n, k in named)
    path.write_text(f"""apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets]
  providers:
  - {kind}:
      keys:
{keys}  - identity: {{}}
""")
    return path


def stored(srv: RunningServer, like: str) -> dict[str, bytes]:
    """The current stored value of every key matching ``like``, read from the SQLite file itself."""
    db = sqlite3.connect(f"file:{srv.data_dir / 'state.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT l.key, l.value FROM log l JOIN current c ON c.key = l.key "
                          "AND c.mod_revision = l.id WHERE l.key LIKE ?", (like,)).fetchall()
    finally:
        db.close()
    return {k: bytes(v) for k, v in rows}


def every_byte(srv: RunningServer) -> bytes:
    return b"".join(p.read_bytes() for p in srv.data_dir.glob("state.db*"))


def restart(srv: RunningServer, config: Path) -> RunningServer:
    srv.stop()
    return start_server(srv.data_dir, port=srv.port, args=[*API_ONLY, "--encryption-provider-config", str(config)])


def secret_value(srv: RunningServer, name: str) -> str:
    out = srv.kubectl("get", "secret", name, "-o", "jsonpath={.data.password}").stdout
    return base64.b64decode(out).decode()


@pytest.mark.parametrize("kind", ["aescbc", "aesgcm", "secretbox"])
def test_secrets_are_not_plaintext_in_the_store(tmp_path: Path, kind: str) -> None:
    cfg = write_config(tmp_path / "enc.yaml", ("key1", K1), kind=kind)
    srv = start_server(tmp_path / "data", args=[*API_ONLY, "--encryption-provider-config", str(cfg)])
    try:
        srv.kubectl("create", "secret", "generic", "s1", f"--from-literal=password={PLAIN}")
        srv.kubectl("create", "configmap", "c1", "--from-literal=note=visible-note")
        values = stored(srv, "/registry/core/secrets/default/s1")
        assert values and all(v.startswith(f"k8s:enc:{kind}:v1:key1:".encode()) for v in values.values())
        raw = every_byte(srv)
        assert PLAIN.encode() not in raw and base64.b64encode(PLAIN.encode()) not in raw
        assert b"visible-note" in raw  # configmaps are not named: stored as is
        assert secret_value(srv, "s1") == PLAIN
        listed = json.loads(srv.kubectl("get", "secrets", "-o", "json").stdout)
        assert "s1" in {i["metadata"]["name"] for i in listed["items"]}
        # the watch cache decrypts too: a watch sees the object, not ciphertext
        w = srv.kubectl("get", "secret", "s1", "--watch", "--request-timeout=2s", "-o", "json", check=False)
        assert '"password"' in w.stdout
    finally:
        srv.stop()


def test_key_rotation(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", args=[*API_ONLY, "--encryption-provider-config",
                                                str(write_config(tmp_path / "1.yaml", ("key1", K1)))])
    try:
        for i in range(3):
            srv.kubectl("create", "secret", "generic", f"s{i}", f"--from-literal=password={PLAIN}-{i}",
                        "-n", "default" if i else "kube-system")
        # 1: the new key added second (every server could read what any writes)
        srv = restart(srv, write_config(tmp_path / "2.yaml", ("key1", K1), ("key2", K2)))
        assert secret_value(srv, "s1") == f"{PLAIN}-1"
        # 2: the new key first: new writes use it, old values still read
        srv = restart(srv, write_config(tmp_path / "3.yaml", ("key2", K2), ("key1", K1)))
        assert all(v.startswith(b"k8s:enc:aescbc:v1:key1:") for v in stored(srv, "/registry/core/secrets/%").values())
        # 3: rewrite every secret, as upstream documents
        everything = srv.kubectl("get", "secrets", "-A", "-o", "json").stdout
        srv.kubectl("replace", "-f", "-", input=everything)
        values = stored(srv, "/registry/core/secrets/%")
        assert len(values) >= 3 and all(v.startswith(b"k8s:enc:aescbc:v1:key2:") for v in values.values())
        # 4: the old key dropped: everything still reads
        srv = restart(srv, write_config(tmp_path / "4.yaml", ("key2", K2)))
        assert secret_value(srv, "s2") == f"{PLAIN}-2"
        assert srv.kubectl("get", "secret", "s0", "-n", "kube-system").returncode == 0
    finally:
        srv.stop()


def test_a_bad_configuration_stops_the_server(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
                                       "resources:\n- resources: [secrets]\n  providers:\n  - aescbc: {keys: []}\n")
    with pytest.raises(RuntimeError, match="--encryption-provider-config .*at least one key"):
        start_server(tmp_path / "d", args=[*API_ONLY, "--encryption-provider-config", str(tmp_path / "bad.yaml")])


def shoal(srv: RunningServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shoal", *args, "--data-dir", str(srv.data_dir)],
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])


def test_secrets_encrypt_rotate_keys(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "enc.yaml", ("key1", K1))
    srv = start_server(tmp_path / "data", args=[*API_ONLY, "--encryption-provider-config", str(cfg)])
    try:
        for i in range(3):
            srv.kubectl("create", "secret", "generic", f"s{i}", f"--from-literal=password={PLAIN}-{i}",
                        "-n", "default" if i else "kube-system")
        st = shoal(srv, "secrets-encrypt", "status")
        assert st.returncode == 0, st.stderr
        assert "Current key: aescbc key1 for secrets" in st.stdout and "use the current key" in st.stdout
        p = shoal(srv, "secrets-encrypt", "rotate-keys", "--encryption-provider-config", str(cfg))
        assert p.returncode == 0, p.stdout + p.stderr
        doc = yaml.safe_load(cfg.read_text())
        keys = doc["resources"][0]["providers"][0]["aescbc"]["keys"]
        new = keys[0]["name"]
        assert new.startswith("aescbckey-") and [k["name"] for k in keys[1:]] == ["key1"]
        # the file read directly: every Secret (the three, and the service-account ones if any) under the new key
        values = stored(srv, "/registry/core/secrets/%")
        assert len(values) >= 3 and all(v.startswith(f"k8s:enc:aescbc:v1:{new}:".encode()) for v in values.values())
        st = shoal(srv, "secrets-encrypt", "status")
        assert st.returncode == 0 and f"Current key: aescbc {new}" in st.stdout, st.stdout
        assert f"all {len(values)} use the current key" in st.stdout
        # a new Secret is written with it too
        srv.kubectl("create", "secret", "generic", "s9", f"--from-literal=password={PLAIN}-9")
        assert stored(srv, "/registry/core/secrets/default/s9")["/registry/core/secrets/default/s9"].startswith(
            f"k8s:enc:aescbc:v1:{new}:".encode())
        # the old key dropped: everything still reads
        keys[1:] = []
        cfg.write_text(yaml.safe_dump(doc))
        srv = restart(srv, cfg)
        assert secret_value(srv, "s2") == f"{PLAIN}-2"
        assert srv.kubectl("get", "secret", "s0", "-n", "kube-system").returncode == 0
    finally:
        srv.stop()


def test_secrets_encrypt_status_sees_values_under_an_old_key(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", args=[*API_ONLY, "--encryption-provider-config",
                                                str(write_config(tmp_path / "1.yaml", ("key1", K1)))])
    try:
        srv.kubectl("create", "secret", "generic", "s1", f"--from-literal=password={PLAIN}")
        srv = restart(srv, write_config(tmp_path / "2.yaml", ("key2", K2), ("key1", K1)))
        st = shoal(srv, "secrets-encrypt", "status")
        assert st.returncode == 1 and "Current key: aescbc key2" in st.stdout
        assert "under aescbc:key1" in st.stdout, st.stdout
        # a configuration whose first provider is identity has nothing to rotate to: refused, file untouched
        ident = tmp_path / "ident.yaml"
        ident.write_text("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
                         "- resources: [secrets]\n  providers:\n  - identity: {}\n")
        before = ident.read_text()
        p = shoal(srv, "secrets-encrypt", "rotate-keys", "--encryption-provider-config", str(ident))
        assert p.returncode == 1 and "its first provider is identity" in p.stderr and ident.read_text() == before
    finally:
        srv.stop()
