"""A real pod behind an Ingress: Podman container, Service, Endpoints from its readiness, HAProxy, curl.

A ``shoal server`` and a ``shoal agent --runtime docker`` (Podman) whose
node ingress listens on free ports (``--ingress-http-port``): a pod running
busybox ``httpd``, a Service selecting it, an Ingress for a host name; the
request goes to the agent's HAProxy on loopback and from there straight to the
pod's address (no VIP hop). Then the pod goes away and the host answers 503
(HAProxy's "no server"), so the answer came through the pod, not a stale
route. Run under the host lock (real containers, pod network).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agent.conftest import IMAGE, Cluster, make_cluster, ready, remove_node_containers, unique
from tests.server_fixture import free_port

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/sbin/haproxy") or os.geteuid() != 0,
                                reason="needs haproxy, and root for Podman pods")


@pytest.fixture(scope="module")
def cluster(podman: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, int]]:
    """A server and a Podman agent whose node ingress listens on a free port (the one returned)."""
    port = free_port()
    server, agent = make_cluster(Path(tmp_path_factory.mktemp("ingress-podman")), node_prefix="ing",
                                 runtime_args=["--runtime", "docker", "--docker-host", podman,
                                               "--ingress-http-port", str(port), "--ingress-https-port",
                                               str(free_port())])
    try:
        yield Cluster(server, agent), port
    finally:
        agent.stop()
        server.stop()
        remove_node_containers(agent.node)


def get(port: int, host: str) -> tuple[int, str]:
    p = subprocess.run(["curl", "-s", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}",
                        "-H", f"Host: {host}", f"http://127.0.0.1:{port}/"], capture_output=True, text=True)
    body, _, code = p.stdout.rpartition("\n")
    return int(code or 0), body.strip()


def until(check: Callable[[], bool], what: str, c: Cluster, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not in {timeout}s\n--- agent log ---\n{c.agent.log()[-3000:]}"
        time.sleep(0.3)


def test_a_podman_pod_behind_an_ingress(cluster: tuple[Cluster, int]) -> None:
    c, port = cluster
    name, app = unique("web"), unique("app")
    c.pod(name, [{"name": "web", "image": IMAGE, "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
                  "ports": [{"containerPort": 8080, "name": "http"}],
                  "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}],
          metadata={"labels": {"app": app}}, terminationGracePeriodSeconds=1)
    c.create("/api/v1/namespaces/default/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": app},
        "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}})
    host = f"{app}.example"
    c.create("/apis/networking.k8s.io/v1/namespaces/default/ingresses", {
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": app},
        "spec": {"rules": [{"host": host, "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": app, "port": {"number": 80}}}}]}}]}})
    pod = c.wait(name, ready, timeout=60, what="Ready")
    pod_ip = pod["status"]["podIP"]
    assert pod_ip.startswith("10.42.")

    def served() -> bool:
        return get(port, host) == (200, "hello")
    until(served, "the pod through the ingress", c)
    cfg = (c.agent.root / "ingress" / "haproxy.cfg").read_text()
    assert f" {pod_ip}:8080 " in cfg  # the pod's own address and port: no hop through the VIP
    assert get(port, "unknown.example")[0] == 404  # no route: the default 404, not the pod
    c.delete(name, grace=0)
    c.wait_gone(name)
    until(lambda: get(port, host)[0] == 503, "503 once the pod is gone", c)
