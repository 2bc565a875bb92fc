"""``docker stack deploy`` with real containers (Podman): names resolve inside the stack, ports are published.

A stack of two services: ``web`` (busybox httpd, published at 5380 in
ingress mode) and ``client``, which fetches ``http://web`` by the short name
that Swarm's stack network would resolve. The client's output is read back
with ``docker service logs``; the published port is fetched from the node's
address. Run under the host lock (real containers, nftables, cluster DNS).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.podman_fixture import remove_own_sandboxes
from tests.server_fixture import RunningServer, start_server

pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in ("podman", "nft", "docker")),
                                reason="needs podman, nft and the docker CLI")

STACK = """
services:
  web:
    image: localhost/busybox:test
    command: ["sh", "-c", "echo hello-from-web > /www/index.html; exec httpd -f -p 80 -h /www"]
    ports: ["5380:80"]
    stop_grace_period: 1s
  client:
    image: localhost/busybox:test
    command: ["sh", "-c", "while true; do wget -qO- http://web/ || echo failed; sleep 1; done"]
    stop_grace_period: 1s
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    s = start_server(Path(tmp_path_factory.mktemp("swarm-podman")), agent=True, timeout=60)
    yield s
    s.kubectl("delete", "namespace", "swpod", "--wait=false", check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and s.kubectl("get", "pods", "-n", "swpod", "-o", "name",
                                                    check=False).stdout.strip():
        time.sleep(0.5)
    s.stop()
    ids = subprocess.run(["podman", "ps", "-aq", "--filter", "label=io.shoal.pod.namespace=swpod"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["podman", "rm", "-f", *ids], capture_output=True)
    remove_own_sandboxes({"io.shoal.pod.namespace": "swpod"})


def wait_for(what: str, fn: Any, timeout: float = 90) -> Any:
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what} (last: {v!r})")
        time.sleep(0.5)


def test_stack_with_real_containers(srv: RunningServer, tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{srv.data_dir / 'docker.sock'}",
           "DOCKER_CONFIG": str(tmp_path / "cfg")}

    def docker(*args: str) -> str:
        p = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
        assert p.returncode == 0, f"docker {args}: {p.stderr}\n{srv.log()[-2000:]}"
        return p.stdout

    wait_for("the Swarm API socket", lambda: (srv.data_dir / "docker.sock").exists(), 60)
    (tmp_path / "stack.yml").write_text(STACK)
    docker("stack", "deploy", "--resolve-image", "never", "-c", "stack.yml", "swpod")

    def replicas() -> dict[str, str]:
        rows = [json.loads(line) for line in docker("stack", "services", "swpod", "--format", "{{json .}}").splitlines()]
        return {r["Name"]: r["Replicas"] for r in rows}

    wait_for("both services 1/1", lambda: replicas() == {"swpod_web": "1/1", "swpod_client": "1/1"})
    # the published port answers on the node's address
    node = json.loads(srv.kubectl("get", "nodes", "-o", "json").stdout)["items"][0]
    addr = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")

    def fetch() -> str:
        try:
            with urllib.request.urlopen(f"http://{addr}:5380/", timeout=2) as r:  # noqa: S310 - a local address
                return str(r.read().decode())
        except OSError:
            return ""

    assert "hello-from-web" in wait_for("published port", fetch, 60)
    # the client reaches web by its short name, as on Swarm's stack network
    wait_for("client output", lambda: "hello-from-web" in docker("service", "logs", "swpod_client"))
    docker("stack", "rm", "swpod")
    wait_for("stack removed", lambda: not docker("stack", "ls", "--format", "{{.Name}}").strip())
