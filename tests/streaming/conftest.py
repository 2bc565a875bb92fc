"""Fixtures: a real ``shoal server``, a stand-in agent process on its tunnel, pods bound to it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server_fixture import RunningServer
from tests.streaming.localdriver import append_log

NODE = "stream-node"


@dataclass
class Agent:
    proc: subprocess.Popen[bytes]
    root: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_agent(server: RunningServer, root: Path, *, node: str = NODE, token: str | None = None,
                docker_host: str | None = None) -> Agent:
    root.mkdir(parents=True, exist_ok=True)
    log_path = root / "agent.log"
    token = token or (server.data_dir / "node-token").read_text().strip()
    cmd = [sys.executable, "-m", "tests.streaming.agent_main", "--server", server.url, "--token", token,
           "--ca", server.ca, "--node", node, "--root", str(root)]
    if docker_host:
        cmd += ["--docker-host", docker_host]
    logf = open(log_path, "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logf, cwd=Path(__file__).parents[2],
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    return Agent(proc, root, log_path)


def wait_connected(agent: Agent, timeout: float = 20) -> None:
    assert agent.proc.stdout is not None
    os.set_blocking(agent.proc.stdout.fileno(), False)
    deadline = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < deadline:
        chunk = agent.proc.stdout.read() or b""
        buf += chunk
        if b"connected" in buf:
            return
        if agent.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"the test agent did not connect:\n{agent.log()}")


def stop_agent(agent: Agent) -> None:
    if agent.proc.poll() is None:
        agent.proc.terminate()
        try:
            agent.proc.wait(10)
        except subprocess.TimeoutExpired:
            agent.proc.kill()
            agent.proc.wait(5)


@pytest.fixture(scope="module")
def agent(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    a = start_agent(server, tmp_path_factory.mktemp("agent"))
    try:
        wait_connected(a)
        yield a
    finally:
        stop_agent(a)


def running_status(containers: list[str], *, restarted: tuple[str, ...] = ()) -> dict[str, Any]:
    statuses = []
    for c in containers:
        cs: dict[str, Any] = {"name": c, "ready": True, "restartCount": 0, "image": "busybox", "imageID": "",
                              "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}
        if c in restarted:
            cs["restartCount"] = 1
            cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "containerID": "local://x",
                                              "startedAt": "2025-01-01T00:00:00Z",
                                              "finishedAt": "2025-01-01T00:00:00Z"}}
        statuses.append(cs)
    return {"phase": "Running", "containerStatuses": statuses}


PodMaker = Callable[..., str]


@pytest.fixture
def make_pod(server: RunningServer, agent: Agent) -> PodMaker:
    """Create a pod bound to the agent's node; give it a log file per container and a status."""
    s = server.session()

    def make(*, containers: tuple[str, ...] = ("main",), lines: tuple[str, ...] = ("hello",),
             status: dict[str, Any] | None = None, node: str = NODE, namespace: str = "default") -> str:
        name = f"p-{uuid.uuid4().hex[:8]}"
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                "spec": {"nodeName": node, "containers": [{"name": c, "image": "busybox"} for c in containers]}}
        r = s.post(f"{server.url}/api/v1/namespaces/{namespace}/pods", json=body)
        assert r.status_code == 201, r.text
        pod = r.json()
        pod["status"] = status if status is not None else running_status(list(containers))
        r = s.put(f"{server.url}/api/v1/namespaces/{namespace}/pods/{name}/status", json=pod)
        assert r.status_code == 200, r.text
        for c in containers:
            if lines:
                append_log(agent.root, f"{namespace}.{name}.{c}", *lines)
            else:
                (agent.root / f"{namespace}.{name}.{c}.log").touch()
        return name

    return make
