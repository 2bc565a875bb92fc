"""Start a throwaway single-member etcd on free loopback ports, for tests.

A plain function (not a fixture) so any test directory can wrap it in the
fixture scope it needs; ``tests/store/conftest.py`` uses it once per session.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def etcd_available() -> bool:
    return shutil.which("etcd") is not None


def start_etcd(
    tmp_path: Path,
    *,
    timeout: float = 20.0,
    client_port: int | None = None,
    peer_port: int | None = None,
) -> tuple[str, Callable[[], None]]:
    """Run etcd with its data in ``tmp_path``; returns ``("127.0.0.1:PORT", stop)``.

    The endpoint is ``host:port`` (the store spec is ``etcd://`` + endpoint).
    ``stop()`` terminates the process; it is safe to call twice. Calling again
    with the same ``tmp_path`` and ports restarts the same member with its data.
    """
    binary = shutil.which("etcd")
    if binary is None:
        raise RuntimeError("etcd is not installed (run `make setup` as root)")
    tmp_path.mkdir(parents=True, exist_ok=True)
    client, peer = client_port or free_port(), peer_port or free_port()
    client_url, peer_url = f"http://127.0.0.1:{client}", f"http://127.0.0.1:{peer}"
    logfile = open(tmp_path / "etcd.log", "ab")  # noqa: SIM115 - closed by stop()
    proc = subprocess.Popen(
        [
            binary,
            "--name",
            "test",
            "--data-dir",
            str(tmp_path / "data"),
            "--listen-client-urls",
            client_url,
            "--advertise-client-urls",
            client_url,
            "--listen-peer-urls",
            peer_url,
            "--initial-advertise-peer-urls",
            peer_url,
            "--initial-cluster",
            f"test={peer_url}",
            "--initial-cluster-state",
            "new",
            "--log-level",
            "warn",
        ],
        stdout=logfile,
        stderr=subprocess.STDOUT,
    )

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        logfile.close()

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            stop()
            log = (tmp_path / "etcd.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"etcd exited with {proc.returncode}:\n{log}")
        try:
            with urllib.request.urlopen(f"{client_url}/health", timeout=1) as resp:
                if b'"true"' in resp.read():
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop()
            raise RuntimeError("etcd did not become healthy in time")
        time.sleep(0.05)
    return f"127.0.0.1:{client}", stop
