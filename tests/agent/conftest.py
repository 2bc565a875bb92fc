"""Fixtures for node agent tests: a real ``shoal server``, a real ``shoal agent`` beside it, Podman.

The server runs with ``--no-agent``; each module starts ``shoal agent`` as a
separate process with the node join token (so the ``agent`` command itself is
under test) on a node name unique to the run. Pods are bound to that node by
``spec.nodeName``, so the tests do not depend on the scheduler. Every
container a test causes is removed at the end (by its node label), and the
Podman API service is started here if its socket is not there (and stopped
again).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.podman_fixture import remove_own_sandboxes
from tests.server_fixture import RunningServer, start_server

PODMAN_SOCK = "/run/podman/podman.sock"
IMAGE = "localhost/busybox:test"
ROOT = Path(__file__).parents[2]


def remove_node_containers(node: str) -> None:
    """Force-remove what is left of a test node: app containers first (a sandbox with dependents stays),
    then the sandboxes the agent made itself (network namespaces, addresses)."""
    for role in ("container", "init", "sandbox"):
        out = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=io.shoal.node={node}",
                              "--filter", f"label=io.shoal.role={role}"], capture_output=True, text=True).stdout.split()
        if out:
            subprocess.run(["podman", "rm", "-f", "-t", "0", *out], capture_output=True)
    remove_own_sandboxes({"io.shoal.node": node})


@dataclass
class AgentProc:
    server: RunningServer
    node: str
    root: Path
    args: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_path = self.root / "agent.log"
        token = (self.server.data_dir / "node-token").read_text().strip()
        cmd = [sys.executable, "-m", "shoal", "agent", "--server", self.server.url, "--token", token,
               "--ca-file", self.server.ca, "--data-dir", str(self.root), "--node-name", self.node, *self.args]
        logf = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=ROOT,
                                     env={**os.environ, **self.env}, start_new_session=True)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Cluster:
    """A server and one agent; helpers to make pods on the agent's node and wait on them."""

    def __init__(self, server: RunningServer, agent: AgentProc) -> None:
        self.server = server
        self.agent = agent
        self.http = server.session()
        self.node = agent.node

    def url(self, path: str) -> str:
        return self.server.url + path

    def pod(self, name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **spec.pop("metadata", {})},
                "spec": {"nodeName": self.node, "containers": containers, **spec}}
        r = self.http.post(self.url("/api/v1/namespaces/default/pods"), json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def create(self, path: str, body: dict[str, Any]) -> None:
        r = self.http.post(self.url(path), json=body)
        assert r.status_code in (201, 409), r.text

    def get(self, name: str) -> dict[str, Any] | None:
        r = self.http.get(self.url(f"/api/v1/namespaces/default/pods/{name}"))
        if r.status_code == 404:
            return None
        assert r.status_code == 200, r.text
        return dict(r.json())

    def delete(self, name: str, grace: int | None = None) -> None:
        body = {"gracePeriodSeconds": grace} if grace is not None else {}
        self.http.delete(self.url(f"/api/v1/namespaces/default/pods/{name}"), json=body)

    def wait(self, name: str, pred: Callable[[dict[str, Any]], bool], timeout: float = 30,
             what: str = "") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        pod: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            pod = self.get(name)
            if pod is not None and pred(pod):
                return pod
            time.sleep(0.2)
        raise AssertionError(f"pod {name}: timed out waiting for {what or pred}:\n"
                             f"{json.dumps((pod or {}).get('status'), indent=1)}\n--- agent log ---\n"
                             f"{self.agent.log()[-3000:]}")

    def wait_gone(self, name: str, timeout: float = 30) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.get(name) is None:
                return time.monotonic() - start
            time.sleep(0.1)
        raise AssertionError(f"pod {name} still exists after {timeout}s:\n{self.agent.log()[-2000:]}")

    def events(self, name: str) -> list[dict[str, Any]]:
        r = self.http.get(self.url("/api/v1/namespaces/default/events"),
                          params={"fieldSelector": f"involvedObject.name={name}"})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    def containers(self, pod_uid: str) -> list[dict[str, Any]]:
        out = subprocess.run(["podman", "ps", "-a", "--format", "json", "--filter", f"label=io.shoal.pod.uid={pod_uid}"],
                             capture_output=True, text=True).stdout
        return list(json.loads(out or "[]"))


def status_of(pod: dict[str, Any], container: str, *, init: bool = False) -> dict[str, Any]:
    key = "initContainerStatuses" if init else "containerStatuses"
    for s in (pod.get("status") or {}).get(key) or []:
        if s.get("name") == container:
            return dict(s)
    return {}


def phase(pod: dict[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def waiting_reason(pod: dict[str, Any], container: str) -> str:
    return str(((status_of(pod, container).get("state") or {}).get("waiting") or {}).get("reason") or "")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def make_cluster(tmp: Path, *, runtime_args: list[str], env: dict[str, str] | None = None,
                 node_prefix: str = "agt") -> tuple[RunningServer, AgentProc]:
    server = start_server(tmp / "server")
    agent = AgentProc(server, unique(node_prefix), tmp / "agent", runtime_args,
                      {"SHOAL_AGENT_BACKOFF_SECONDS": "1", "SHOAL_AGENT_SWEEP_SECONDS": "2", **(env or {})})
    agent.start()
    http = server.session()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        first = f"{agent.node}-0" if "--simulate-nodes" in runtime_args else agent.node
        r = http.get(server.url + f"/api/v1/nodes/{first}")
        if r.status_code == 200 and any(c.get("type") == "Ready" and c.get("status") == "True"
                                        for c in r.json().get("status", {}).get("conditions", [])):
            return server, agent
        if agent.proc is not None and agent.proc.poll() is not None:
            break
        time.sleep(0.2)
    agent.stop()
    server.stop()
    raise RuntimeError(f"agent did not register its node:\n{agent.log()}")


@pytest.fixture(scope="module")
def docker_cluster(podman: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    server, agent = make_cluster(Path(tmp_path_factory.mktemp("agent-docker")),
                                 runtime_args=["--runtime", "docker", "--docker-host", podman])
    cluster = Cluster(server, agent)
    try:
        yield cluster
    finally:
        agent.stop()
        cluster.server.stop()  # (a test may have restarted it)
        remove_node_containers(agent.node)


__all__ = ["Cluster", "phase", "ready", "requests", "status_of", "unique", "waiting_reason"]
