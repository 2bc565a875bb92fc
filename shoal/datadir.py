"""Where shoal keeps its state, and the files other tools read from there.

The data dir holds ``state.db`` (the SQLite store), ``ca.crt``/``ca.key``, the
serving certificate, ``admin.kubeconfig``, ``admin-token`` and ``node-token``.
Secrets are written with mode 0600, atomically, so a crash never leaves half a key.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/shoal")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "shoal"


def write_private(path: Path, data: bytes | str, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` atomically with ``mode`` (0600 for secrets)."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def ensure_token(path: Path, prefix: str) -> str:
    """Read the token at ``path``, creating a random one on first use."""
    if path.exists():
        return path.read_text().strip()
    token = f"{prefix}{secrets.token_hex(24)}"
    write_private(path, token + "\n")
    return token


class DataDir:
    """Paths inside one data dir."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> DataDir:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        return self

    @property
    def state_db(self) -> Path:
        return self.root / "state.db"

    @property
    def ca_crt(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def server_crt(self) -> Path:
        return self.root / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "admin.kubeconfig"

    @property
    def admin_token(self) -> Path:
        return self.root / "admin-token"

    @property
    def node_token(self) -> Path:
        return self.root / "node-token"
