"""kubectl logs and exec into real Podman containers, through the tunnel and the ``docker`` driver.

The agent process is ``tests.streaming.agent_main`` with the real
``DockerDriver`` (Podman's Docker-compatible socket); it finds a pod's
containers by their labels, as the node agent does. The test itself plays the
part of the agent's pod sync: it starts each pod's sandbox and containers
through the same driver and writes the pod status. Every container it makes is
removed at the end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shoal.agent.drivers.base import (
    LABEL_ATTEMPT,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    ContainerSpec,
    SandboxSpec,
)
from shoal.agent.drivers.docker import DockerDriver
from tests.server_fixture import RunningServer
from tests.streaming.conftest import running_status, start_agent, stop_agent, wait_connected
from tests.streaming.test_kubectl_local import kubectl_env, run_tty

SOCKET = "/run/podman/podman.sock"
HOST = f"unix://{SOCKET}"
IMAGE = "localhost/busybox:test"
NODE = "podman-node"
TEST_LABEL = "io.shoal.test"



class Pods:
    """Starts pods' containers through the real driver, on a private event loop."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.run_id = uuid.uuid4().hex[:10]
        self.loop = asyncio.new_event_loop()
        self.driver = DockerDriver(HOST, node_name=NODE)
        self.sandboxes: dict[str, str] = {}
        self.uids: dict[str, str] = {}

    def run(self, aw: Any) -> Any:
        return self.loop.run_until_complete(aw)

    def labels(self, name: str) -> dict[str, str]:
        return {LABEL_POD_UID: self.uids[name], LABEL_POD_NAME: name, LABEL_POD_NAMESPACE: "default",
                TEST_LABEL: self.run_id}

    def create(self, script: str) -> str:
        name = f"pm-{uuid.uuid4().hex[:8]}"
        s = self.server.session()
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"nodeName": NODE, "containers": [{"name": "main", "image": IMAGE}]}}
        r = s.post(f"{self.server.url}/api/v1/namespaces/default/pods", json=body)
        assert r.status_code == 201, r.text
        self.uids[name] = r.json()["metadata"]["uid"]
        sb = self.run(self.driver.run_sandbox(SandboxSpec(
            pod_uid=self.uids[name], pod_name=name, namespace="default", hostname=name, labels=self.labels(name))))
        self.sandboxes[name] = sb.id
        self.start(name, script, attempt=0)
        return name

    def start(self, name: str, script: str, *, attempt: int) -> str:
        labels = {**self.labels(name), LABEL_ATTEMPT: str(attempt)}
        cid = self.run(self.driver.create_container(ContainerSpec(
            pod_uid=self.uids[name], pod_name=name, namespace="default", name="main", image=IMAGE,
            sandbox_id=self.sandboxes[name], command=("sh", "-c", script), attempt=attempt, labels=labels)))
        self.run(self.driver.start_container(cid))
        self.set_status(name, restarted=attempt > 0)
        return str(cid)

    def wait_exited(self, cid: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.run(self.driver.inspect(cid)).state != "exited":
            assert time.monotonic() < deadline, "the container did not exit"
            time.sleep(0.05)

    def set_status(self, name: str, *, restarted: bool) -> None:
        s = self.server.session()
        url = f"{self.server.url}/api/v1/namespaces/default/pods/{name}"
        pod = s.get(url).json()
        pod["status"] = running_status(["main"], restarted=("main",) if restarted else ())
        assert s.put(url + "/status", json=pod).status_code == 200

    def cleanup(self) -> None:
        async def remove() -> None:
            found = await self.driver.list_containers(labels={TEST_LABEL: self.run_id})
            for c in sorted(found, key=lambda c: c.role == "sandbox"):  # joined containers first
                await self.driver.remove_container(c.id)
            assert not await self.driver.list_containers(labels={TEST_LABEL: self.run_id})
            await self.driver.engine.close()

        self.run(remove())
        self.loop.close()


@pytest.fixture(scope="module")
def pods(server: RunningServer, podman: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pods]:
    agent = start_agent(server, tmp_path_factory.mktemp("podman-agent"), node=NODE, docker_host=HOST)
    p = Pods(server)
    try:
        p.run(p.driver._ensure_pause_image())
        wait_connected(agent)
        yield p
    finally:
        p.cleanup()
        stop_agent(agent)


def logs_when(server: RunningServer, *args: str, want: str, timeout: float = 10) -> str:
    """kubectl logs, retried until the container has written ``want`` (it starts asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        out = server.kubectl("logs", *args).stdout
        if want in out or time.monotonic() > deadline:
            return out
        time.sleep(0.1)


def test_logs_tail_and_timestamps(server: RunningServer, pods: Pods) -> None:
    pod = pods.create("echo one; echo two; echo three; exec sleep 3600")
    assert logs_when(server, pod, want="three") == "one\ntwo\nthree\n"
    assert server.kubectl("logs", pod, "--tail=2").stdout == "two\nthree\n"
    lines = server.kubectl("logs", pod, "--timestamps").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["one", "two", "three"]
    for line in lines:
        t = dt.datetime.fromisoformat(line.split(" ", 1)[0][:19] + "+00:00")
        assert abs((dt.datetime.now(dt.UTC) - t).total_seconds()) < 120


def test_logs_follow_arrive_as_written(server: RunningServer, pods: Pods) -> None:
    pod = pods.create("i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.4; done")
    logs_when(server, pod, want="tick 0")
    proc = subprocess.Popen(["kubectl", "logs", "-f", pod], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=kubectl_env(server))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith(b"tick ")
        n = int(first.split()[1])
        last = time.monotonic()
        # read past the backlog, then each new line must follow the previous within a second
        seen = []
        while len(seen) < 6:
            line = proc.stdout.readline()
            now = time.monotonic()
            assert line == f"tick {n + 1}\n".encode(), line
            seen.append(now - last)
            last, n = now, n + 1
        assert max(seen[3:]) < 1.0, seen
    finally:
        proc.kill()
        proc.wait()


def test_logs_previous_after_a_restart(server: RunningServer, pods: Pods) -> None:
    pod = pods.create("echo first run; exit 1")
    first = pods.run(pods.driver.list_containers(labels=pods.labels(pod)))
    pods.wait_exited(next(c.id for c in first if c.role != "sandbox"))
    pods.start(pod, "echo second run; exec sleep 3600", attempt=1)
    assert logs_when(server, pod, want="second") == "second run\n"
    assert server.kubectl("logs", pod, "--previous").stdout == "first run\n"


def test_exec_ls_exit_code_and_stdin(server: RunningServer, pods: Pods) -> None:
    pod = pods.create("exec sleep 3600")
    listing = server.kubectl("exec", pod, "--", "ls", "/").stdout.split()
    assert "bin" in listing and "www" in listing
    p = server.kubectl("exec", pod, "--", "sh", "-c", "echo to-err >&2; exit 3", check=False)
    assert p.returncode == 3, p.stderr
    assert "to-err" in p.stderr and "command terminated with exit code 3" in p.stderr
    text = "".join(f"row {i}\n" for i in range(5000))
    assert server.kubectl("exec", "-i", pod, "--", "cat", input=text).stdout == text
    p = server.kubectl("exec", pod, "--", "no-such-cmd", check=False)
    assert p.returncode != 0
    assert "no-such-cmd" in p.stderr


def test_exec_it_shell(server: RunningServer, pods: Pods) -> None:
    pod = pods.create("exec sleep 3600")
    code, out = run_tty(server, ["exec", "-it", pod, "--", "sh"], b"echo hi$((40+2)); exit\r", expect=b"hi42")
    assert b"hi42" in out, out
    assert code == 0, out
    code, out = run_tty(server, ["exec", "-it", pod, "--", "sh"], b"exit 5\r", expect=b"\x00never", timeout=10)
    assert code == 5, out



def test_exec_through_the_python_clients_stream_helper(server: RunningServer, pods: Pods) -> None:
    """The official client's ``stream``: a short command's output arrives; stdin written at once is echoed;
    closing the stdin channel (v5) ends ``cat`` with 0."""
    from kubernetes import client, config

    from tests.streaming.test_python_client_exec import cat_round_trip, run_short

    pod = pods.create("exec sleep 3600")
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(server.kubeconfig), client_configuration=cfg)
    with client.ApiClient(cfg) as api:
        core = client.CoreV1Api(api)
        # the test image's busybox has no uptime applet: /proc/uptime is what uptime reads
        for _ in range(5):
            out = run_short(core, pod, "default", ["cat", "/proc/uptime"])
            assert len(out.split()) == 2, out
            assert run_short(core, pod, "default", ["echo", "short"]) == "short\n"
        echoed, code = cat_round_trip(core, pod, "default")
    assert echoed == "hello from python\n"
    assert code == 0
