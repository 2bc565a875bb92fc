"""Start a real ``shoal server`` subprocess on a free loopback port, for tests.

Tests talk to it the way users do: the real kubectl with the admin kubeconfig,
the official ``kubernetes`` client, or plain HTTPS with the admin token.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    url: str
    port: int
    log_path: Path
    extra_args: list[str] = field(default_factory=list)

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "admin.kubeconfig"

    @property
    def ca(self) -> str:
        return str(self.data_dir / "ca.crt")

    @property
    def token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise override verify
        s.verify = self.ca
        s.headers["Authorization"] = f"Bearer {self.token}"
        return s

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        e = {**os.environ, "KUBECONFIG": str(self.kubeconfig), "HOME": str(self.data_dir)}
        if env:
            e.update(env)
        p = subprocess.run(["kubectl", *args], input=input, capture_output=True, text=True, env=e, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        return stop_process(self.proc, sig, grace=15)


def stop_process(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, *, grace: float = 10) -> int:
    """Send ``sig`` to a process still running, wait ``grace`` seconds for it, then kill it; its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def start_server(data_dir: Path, *, port: int | None = None, args: list[str] | None = None,
                 timeout: float = 30, agent: bool = False, host: str = "127.0.0.1") -> RunningServer:
    """Start ``shoal server`` on ``host`` (an address of this machine); without ``agent`` it runs no node
    (``--no-agent``)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    cmd = [sys.executable, "-m", "shoal", "server", "--data-dir", str(data_dir),
           "--listen", f"{host}:{port}", *([] if agent else ["--no-agent"]), *(args or [])]
    logf = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"https://{host}:{port}"
    srv = RunningServer(proc, data_dir, url, port, log_path, list(args or []))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"shoal server exited with {proc.returncode}:\n{srv.log()}")
        ca = data_dir / "ca.crt"
        if ca.exists() and srv.kubeconfig.exists():
            try:
                r = requests.get(url + "/readyz", verify=str(ca), timeout=2)
                if r.status_code == 200:
                    return srv
            except requests.RequestException:
                pass
        time.sleep(0.1)
    srv.stop(signal.SIGKILL)
    raise RuntimeError(f"shoal server did not become ready:\n{srv.log()}")


def obj(kind: str, name: str, **rest: Any) -> dict[str, Any]:
    api = {"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "DaemonSet": "apps/v1",
           "Job": "batch/v1", "CronJob": "batch/v1", "Lease": "coordination.k8s.io/v1"}.get(kind, "v1")
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name}, **rest}


@contextlib.contextmanager
def simulated_agent(srv: RunningServer, root: Path, nodes: int, *, timeout: float = 30,
                    extra: Sequence[str] = ()) -> Iterator[None]:
    """A ``shoal agent --runtime simulated --simulate-nodes N`` (nodes ``hollow-0``...) joined to ``srv``
    (``extra``: more agent flags), yielded once its nodes registered, stopped on exit; its log is
    ``root/agent.log``."""
    token = (srv.data_dir / "node-token").read_text().strip()
    log_path = root / "agent.log"
    with open(log_path, "ab") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "shoal", "agent", "--server", srv.url, "--token", token, "--data-dir",
             str(root / "agent"), "--ca-file", srv.ca, "--runtime", "simulated", "--simulate-nodes", str(nodes),
             "--node-name", "hollow", "--lease-interval", "0.5", *extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "SHOAL_AGENT_BACKOFF_SECONDS": "0.2"})
    try:
        s = srv.session()
        deadline = time.monotonic() + timeout
        while len(s.get(srv.url + "/api/v1/nodes", timeout=10).json().get("items") or []) < nodes:
            if time.monotonic() > deadline:
                raise AssertionError("agent nodes did not register:\n" + log_path.read_text())
            time.sleep(0.2)
        yield
    finally:
        stop_process(agent)
