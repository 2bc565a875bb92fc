"""Joining a node to the wrong cluster is refused, with a message that says which input was wrong."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal.agent.join import explain
from shoal.client import ApiException
from tests.server_fixture import RunningServer, start_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(tmp_path_factory.mktemp("other"), args=["--disable-scheduler", "--disable-controller-manager"])
    yield srv
    srv.stop()


def node(data_dir: Path) -> str:
    return "join-" + data_dir.name.lower().replace("_", "-")


def agent(srv: RunningServer, data_dir: Path, *extra: str, token: str | None = None) -> list[str]:
    tok = token or (srv.data_dir / "node-token").read_text().strip()
    return [sys.executable, "-m", "shoal", "agent", "--server", srv.url, "--token", tok, "--data-dir", str(data_dir),
            "--runtime", "simulated", "--node-name", node(data_dir), *extra]


def refused(cmd: list[str]) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.returncode == 1, p.stderr[-2000:]
    return p.stderr


def test_a_wrong_token(server: RunningServer, tmp_path: Path) -> None:
    err = refused(agent(server, tmp_path, "--ca-file", server.ca, token="shoal-node-not-this-one"))
    assert f"the server at {server.url} refused the token (401 Unauthorized)" in err


def test_another_clusters_token(server: RunningServer, other: RunningServer, tmp_path: Path) -> None:
    token = (other.data_dir / "node-token").read_text().strip()
    err = refused(agent(server, tmp_path, "--ca-file", server.ca, token=token))
    assert "refused the token" in err


def test_a_server_whose_ca_differs(server: RunningServer, other: RunningServer, tmp_path: Path) -> None:
    err = refused(agent(server, tmp_path, "--ca-file", other.ca))
    assert f"the certificate of the server at {server.url} is not signed by the CA in {other.ca}" in err
    assert "belongs to another cluster than that CA" in err


def test_no_ca_given(server: RunningServer, tmp_path: Path) -> None:
    err = refused(agent(server, tmp_path))
    assert "is not signed by a CA this machine trusts" in err and "--ca-file" in err


def test_a_data_dir_of_another_cluster(server: RunningServer, other: RunningServer, tmp_path: Path) -> None:
    (tmp_path / "cluster-id").write_text((other.data_dir / "cluster-id").read_text())
    err = refused(agent(server, tmp_path, "--ca-file", server.ca))
    theirs, ours = ((s.data_dir / "cluster-id").read_text().strip() for s in (other, server))
    assert f"data dir {tmp_path} belongs to cluster {theirs}, but the server at {server.url} holds cluster {ours}" in err


def test_a_node_that_joins_keeps_the_clusters_id(server: RunningServer, tmp_path: Path) -> None:
    p = subprocess.Popen(agent(server, tmp_path, "--ca-file", server.ca), cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "cluster-id").exists() and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.1)
        assert (tmp_path / "cluster-id").read_text() == (server.data_dir / "cluster-id").read_text()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        server.session().delete(server.url + f"/api/v1/nodes/{node(tmp_path)}")


def printed_token(srv: RunningServer) -> str:
    p = subprocess.run([sys.executable, "-m", "shoal", "token", "--data-dir", str(srv.data_dir)], capture_output=True,
                       text=True, cwd=ROOT, timeout=60, check=True)
    return p.stdout.strip()


def test_a_node_joins_with_only_the_url_and_the_token(server: RunningServer, tmp_path: Path) -> None:
    token = printed_token(server)
    assert token.startswith("K10") and token.endswith("::node:" + (server.data_dir / "node-token").read_text().strip())
    # no ingress proxy: this test is about the join (an agent starting one does not stop on SIGTERM in time)
    p = subprocess.Popen(agent(server, tmp_path, "--ingress-http-port", "0", token=token), cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        s = server.session()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None:
            r = s.get(server.url + f"/api/v1/nodes/{node(tmp_path)}")
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert r.status_code == 200, (p.poll(), p.stderr.read() if p.poll() is not None else "")
        assert (tmp_path / "ca.crt").read_bytes() == (server.data_dir / "ca.crt").read_bytes()
        assert (tmp_path / "node.crt").exists()
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        server.session().delete(server.url + f"/api/v1/nodes/{node(tmp_path)}")


def test_a_token_whose_hash_is_not_the_servers_ca(server: RunningServer, other: RunningServer,
                                                   tmp_path: Path) -> None:
    secret = (server.data_dir / "node-token").read_text().strip()
    wrong = printed_token(other).rpartition("::node:")[0] + "::node:" + secret  # the other cluster's CA hash
    err = refused(agent(server, tmp_path, token=wrong))
    assert "the server's CA does not match the token's hash" in err
    assert not (tmp_path / "ca.crt").exists() and not (tmp_path / "node.crt").exists()


def test_explain_knows_only_what_it_knows() -> None:
    assert explain(ApiException(500, "InternalError", "x"), server="https://s", ca_file=None) is None
    assert explain(OSError("connection refused"), server="https://s", ca_file=None) is None
    assert "403" in (explain(ApiException(403, "Forbidden", "x"), server="https://s", ca_file=None) or "")
