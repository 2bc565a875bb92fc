"""``kubectl debug`` with an ephemeral container, ``kubectl port-forward`` and ``kubectl attach`` on a real
``shoal server`` with its embedded agent running Podman containers: the agent starts the ephemeral container
in the pod, reports it in ``ephemeralContainerStatuses``, and kubectl attaches to it; port-forward reaches
the port of a pod whose address the agent assigned. Host-wide (containers, nftables): run under the
host-tests lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.podman_fixture import remove_own_sandboxes
from tests.server_fixture import RunningServer, free_port, start_server

pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in ("podman", "nft")),
                                reason="needs podman and nft (make setup)")

IMAGE = "localhost/busybox:test"
NS = "e2e-debug"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, podman: str) -> Iterator[RunningServer]:
    s = start_server(Path(tmp_path_factory.mktemp("debug")), agent=True, timeout=60)
    s.kubectl("create", "namespace", NS)
    yield s
    s.kubectl("-n", NS, "delete", "pods", "--all", "--grace-period=0", "--wait=false", check=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and s.kubectl("-n", NS, "get", "pods", "-o", "name", check=False).stdout.strip():
        time.sleep(0.5)
    s.stop()
    ids = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=io.shoal.pod.namespace={NS}"],
                         capture_output=True, text=True).stdout.split()
    if ids:
        subprocess.run(["podman", "rm", "-f", *ids], capture_output=True)
    remove_own_sandboxes({"io.shoal.pod.namespace": NS})


def run_pod(srv: RunningServer, name: str, script: str) -> None:
    srv.kubectl("-n", NS, "run", name, f"--image={IMAGE}", "--image-pull-policy=IfNotPresent", "--restart=Never",
                "--command", "--", "sh", "-c", script)
    srv.kubectl("-n", NS, "wait", "--for=condition=Ready", f"pod/{name}", "--timeout=60s")


def test_debug_runs_an_ephemeral_container_and_attaches(srv: RunningServer) -> None:
    run_pod(srv, "target", "exec sleep 3600")
    p = srv.kubectl("-n", NS, "debug", "-i", "target", f"--image={IMAGE}", "--image-pull-policy=IfNotPresent",
                    "-c", "debugger", "--", "sh", "-c", "read line; echo debugged:$line", input="hello\n",
                    timeout=90)
    assert "debugged:hello" in p.stdout, (p.stdout, p.stderr)
    pod = json.loads(srv.kubectl("-n", NS, "get", "pod", "target", "-o", "json").stdout)
    st = {s["name"]: s for s in pod["status"].get("ephemeralContainerStatuses") or []}
    assert "debugger" in st, pod["status"]
    deadline = time.monotonic() + 30
    while "terminated" not in st["debugger"]["state"]:  # it ran to the end, and is not restarted
        assert time.monotonic() < deadline, st
        time.sleep(0.5)
        pod = json.loads(srv.kubectl("-n", NS, "get", "pod", "target", "-o", "json").stdout)
        st = {s["name"]: s for s in pod["status"]["ephemeralContainerStatuses"]}
    assert st["debugger"]["state"]["terminated"]["exitCode"] == 0 and st["debugger"]["restartCount"] == 0
    assert pod["status"]["phase"] == "Running"


def test_port_forward_to_a_pods_port(srv: RunningServer) -> None:
    run_pod(srv, "web", "echo served > /www/index.html; exec httpd -f -p 8080 -h /www")
    local = free_port()
    env = {**os.environ, "KUBECONFIG": str(srv.kubeconfig), "HOME": str(srv.data_dir)}
    fwd = subprocess.Popen(["kubectl", "-n", NS, "port-forward", "pod/web", f"{local}:8080"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert fwd.stdout is not None
        assert fwd.stdout.readline().startswith("Forwarding from 127.0.0.1:")
        with urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=10) as r:  # noqa: S310
            assert r.read() == b"served\n"
    finally:
        fwd.terminate()
        fwd.wait(10)
