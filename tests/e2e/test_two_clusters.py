"""Two clusters on one machine, as a new user makes them: the same node name, real Podman containers.

The first cluster runs a pod. A second cluster with the same (default) service CIDR is refused: its VIPs
and cluster DNS address would be the first one's, and the message says so and what to change. With a
service CIDR of its own it starts, runs its own pod, and its agent's orphan sweep (which runs at start, and
here every second) leaves the first cluster's containers alone although they carry the same node name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shoal import clusterid
from tests.podman_fixture import remove_own_sandboxes
from tests.server_fixture import RunningServer, free_port, start_server

pytestmark = pytest.mark.skipif(shutil.which("podman") is None or os.geteuid() != 0,
                                reason="needs podman and root (installed by make setup)")

TAG = uuid.uuid4().hex[:6]
NODE = f"twin-{TAG}"  # both clusters name their node alike (as two servers on one host name it after the host)
POD = """{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "NAME"},
 "spec": {"terminationGracePeriodSeconds": 0,
          "containers": [{"name": "main", "image": "localhost/busybox:test", "command": ["sleep", "3600"]}]}}"""


def containers(cluster: str) -> set[str]:
    out = subprocess.run(["podman", "ps", "-q", "--no-trunc", "--filter", f"label={clusterid.LABEL}={cluster}",
                          "--filter", f"label=io.shoal.node={NODE}"], capture_output=True, text=True).stdout
    return set(out.split())


def run_pod(srv: RunningServer, name: str) -> None:
    srv.kubectl("apply", "-f", "-", input=POD.replace("NAME", name))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        pod = json.loads(srv.kubectl("get", "pod", name, "-o", "json").stdout)
        if pod.get("status", {}).get("phase") == "Running":
            return
        time.sleep(0.5)
    raise AssertionError(f"pod {name} not Running: {pod.get('status')}\n{srv.log()[-3000:]}")


@pytest.fixture
def first(tmp_path: Path, podman: str) -> Iterator[RunningServer]:
    srv = start_server(tmp_path / "first", agent=True, timeout=90, args=["--node-name", NODE])
    yield srv
    for s in (srv,):
        s.kubectl("delete", "pod", "--all", "--grace-period=0", check=False, timeout=60)
        s.stop()
    cleanup()


def cleanup() -> None:
    ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=io.shoal.node={NODE}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["podman", "rm", "-f", *ids], capture_output=True)
    remove_own_sandboxes({"io.shoal.node": NODE})


def test_a_second_cluster_leaves_the_first_alone(first: RunningServer, tmp_path: Path) -> None:
    run_pod(first, "keep")
    one = (first.data_dir / "cluster-id").read_text().strip()
    before = containers(one)
    assert before, "the first cluster's pod runs in labelled containers"

    # the same service CIDR: refused, saying which cluster holds it and what to do (the API serves first,
    # so the refusal is the process's exit)
    (tmp_path / "same").mkdir()
    p = subprocess.run([sys.executable, "-m", "shoal", "server", "--data-dir", str(tmp_path / "same"),
                        "--listen", f"127.0.0.1:{free_port()}", "--node-name", NODE],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr[-3000:]
    assert f"already served on this machine by another cluster, {one}" in p.stderr, p.stderr[-3000:]
    assert "10.43.0.10" in p.stderr and "--service-cidr" in p.stderr
    assert containers(one) == before

    os.environ["SHOAL_AGENT_SWEEP_SECONDS"] = "1"  # the second cluster's agent sweeps every second
    try:
        second = start_server(tmp_path / "second", agent=True, timeout=90,
                              args=["--node-name", NODE, "--service-cidr", "10.47.0.0/16"])
    finally:
        del os.environ["SHOAL_AGENT_SWEEP_SECONDS"]
    try:
        two = (second.data_dir / "cluster-id").read_text().strip()
        assert two != one
        run_pod(second, "mine")
        assert containers(two), "the second cluster's pod runs in its own labelled containers"
        time.sleep(3)  # a few sweeps of the second cluster
        assert containers(one) == before  # nothing of the first cluster was removed
        pod = json.loads(first.kubectl("get", "pod", "keep", "-o", "json").stdout)
        assert pod["status"]["phase"] == "Running" and pod["status"]["containerStatuses"][0]["restartCount"] == 0
        # each answers its own cluster DNS, on an address of its own service CIDR
        assert "10.47.0.10" in second.log() or "10.47.0.0/16" in second.log()
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert f"shoal_{clusterid.short(one)}_twin_{TAG}" in tables
        assert f"shoal_{clusterid.short(two)}_twin_{TAG}" in tables
    finally:
        second.kubectl("delete", "pod", "--all", "--grace-period=0", check=False, timeout=60)
        second.stop()
    assert containers(one) == before  # nor when it stopped
