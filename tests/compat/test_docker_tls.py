"""The docker CLI over TCP with TLS client certificates (``--docker-listen``), as Docker's ``--tlsverify``.

A certificate from ``shoal user add --docker-cert-dir`` gets in only when RBAC lets its user do everything
(Docker's API controls the whole cluster); others are refused in Docker's shape, and a client without a
certificate does not get past the handshake.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_fixture import RunningServer, free_port, start_server

pytestmark = pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not installed")


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, int]]:
    port = free_port()
    srv = start_server(Path(tmp_path_factory.mktemp("dockertls")),
                       args=["--docker-listen", f"127.0.0.1:{port}", "--disable-scheduler"])
    # the Docker API starts after the API answers /readyz: wait for its port
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    yield srv, port
    srv.stop()


def certs(srv: RunningServer, tmp: Path, name: str, *groups: str) -> Path:
    out = tmp / name
    args = [sys.executable, "-m", "shoal", "user", "add", name, "--data-dir", str(srv.data_dir),
            "--docker-cert-dir", str(out)]
    for g in groups:
        args += ["--group", g]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
    assert f"DOCKER_CERT_PATH={out.resolve()}" in p.stdout
    assert oct((out / "key.pem").stat().st_mode & 0o777) == "0o600"
    return out


def docker(port: int, cert_dir: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1",
           "DOCKER_CERT_PATH": str(cert_dir), "DOCKER_CONFIG": str(tmp / "docker-config"),
           "DOCKER_CLI_HINTS": "false"}
    env.pop("DOCKER_CONTEXT", None)
    return subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=60)


def test_an_admin_certificate_drives_the_swarm_api(tls_server: tuple[RunningServer, int], tmp_path: Path) -> None:
    srv, port = tls_server
    ops = certs(srv, tmp_path, "ops", "system:masters")
    p = docker(port, ops, tmp_path, "config", "create", "motd", str(_file(tmp_path, "hello")))
    assert p.returncode == 0, p.stderr
    p = docker(port, ops, tmp_path, "config", "ls", "--format", "{{.Name}}")
    assert p.returncode == 0 and "motd" in p.stdout.split()
    # visible with kubectl, as everything the Swarm API makes
    assert "motd" in srv.kubectl("get", "configmaps", "-o", "name").stdout


def _file(tmp: Path, text: str) -> Path:
    f = tmp / "content.txt"
    f.write_text(text)
    return f


def test_a_user_without_every_right_is_refused_until_bound(tls_server: tuple[RunningServer, int],
                                                           tmp_path: Path) -> None:
    srv, port = tls_server
    alice = certs(srv, tmp_path, "alice", "dev")
    p = docker(port, alice, tmp_path, "service", "ls")
    assert p.returncode != 0
    assert 'user "alice" may not use the Docker API' in p.stderr
    srv.kubectl("create", "clusterrolebinding", "alice-admin", "--clusterrole=cluster-admin", "--user=alice")
    p = docker(port, alice, tmp_path, "service", "ls")
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[:2] == ["ID", "NAME"]


def test_no_certificate_no_handshake(tls_server: tuple[RunningServer, int]) -> None:
    srv, port = tls_server
    ctx = ssl.create_default_context(cafile=srv.ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            pytest.raises((ssl.SSLError, ConnectionResetError)), \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        if not tls.recv(100):  # TLS 1.3: the refusal arrives with the first read
            raise ConnectionResetError("closed")


def test_a_bad_listen_address_is_refused_clearly(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "shoal", "server", "--data-dir", str(tmp_path),
                        "--docker-listen", "nowhere"], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--docker-listen" in p.stderr
