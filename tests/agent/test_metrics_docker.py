"""Resource metrics of real Podman containers: the agent reads their cgroups (this machine's hybrid
layout) and ``kubectl top`` shows a busy loop using CPU. Run under the host-tests lock."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.conftest import IMAGE, Cluster, make_cluster, ready, remove_node_containers, unique


@pytest.fixture(scope="module")
def cluster(podman: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    server, agent = make_cluster(Path(tmp_path_factory.mktemp("agent-metrics")),
                                 runtime_args=["--runtime", "docker", "--docker-host", podman,
                                               "--metrics-interval", "1"])
    c = Cluster(server, agent)
    try:
        yield c
    finally:
        agent.stop()
        server.stop()
        remove_node_containers(agent.node)


def millicores(text: str) -> int:
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def test_kubectl_top_shows_a_busy_container(cluster: Cluster) -> None:
    name = unique("burn")
    cluster.pod(name, [
        {"name": "busy", "image": IMAGE, "command": ["sh", "-c", "while :; do :; done"],
         "resources": {"requests": {"cpu": "100m"}}},
        {"name": "idle", "image": IMAGE, "command": ["sh", "-c", "sleep 100000"]}])
    cluster.wait(name, ready, timeout=60)
    srv = cluster.server
    deadline = time.monotonic() + 60
    rows: dict[str, list[str]] = {}
    while time.monotonic() < deadline:
        out = srv.kubectl("top", "pod", name, "--containers", "--no-headers", check=False).stdout
        rows = {line.split()[1]: line.split() for line in out.splitlines() if line.strip()}
        if "busy" in rows and millicores(rows["busy"][2]) >= 200:
            break
        time.sleep(1)
    assert "busy" in rows and millicores(rows["busy"][2]) >= 200, rows
    assert millicores(rows["idle"][2]) < 50, rows
    assert rows["busy"][3].endswith("Mi") or rows["busy"][3].endswith("Ki"), rows
    node = srv.kubectl("top", "node", cluster.agent.node, "--no-headers").stdout.split()
    assert millicores(node[1]) >= 200 and node[3].endswith("Mi"), node
    cluster.delete(name, grace=0)
