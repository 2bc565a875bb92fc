"""Secrets encrypted at rest in a real server: the SQLite file holds no plaintext, kubectl reads them back
(get, list, watch), and a key rotation (new key added, moved first, everything rewritten, old key dropped)."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
from pathlib import Path

import pytest

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
