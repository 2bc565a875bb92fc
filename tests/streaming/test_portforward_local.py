"""``kubectl port-forward`` (v1.32: SPDY/3.1 tunnelled in a WebSocket) -> a real ``shoal server`` -> the agent
tunnel -> a stand-in agent that connects to the pod's address: here 127.0.0.1, where the test runs a TCP echo
server as the pod's port. Checked: bytes both ways over several connections, a port nobody listens on (the
error stream's message), and a pod that is not running."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from tests.server_fixture import RunningServer, free_port
from tests.streaming.conftest import NODE, Agent, PodMaker, running_status


@pytest.fixture
def echo() -> Iterator[int]:
    """A TCP server on loopback that answers every line with ``echo: <line>``."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]

    def serve(c: socket.socket) -> None:
        with c, c.makefile("rwb") as f:
            for line in f:
                f.write(b"echo: " + line)
                f.flush()

    def loop() -> None:
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    yield port
    srv.close()


def pod_at_loopback(server: RunningServer, make_pod: PodMaker) -> str:
    name = make_pod()
    s = server.session()
    pod = s.get(f"{server.url}/api/v1/namespaces/default/pods/{name}").json()
    pod["status"] = {**running_status(["main"]), "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}
    assert s.put(f"{server.url}/api/v1/namespaces/default/pods/{name}/status", json=pod).status_code == 200
    return name


def start_forward(server: RunningServer, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(server.data_dir)}
    p = subprocess.Popen(["kubectl", "port-forward", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.startswith("Forwarding from 127.0.0.1:"), (line, p.stderr.read() if p.poll() is not None else "")
    return p


def talk(port: int, text: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(text)
        c.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := c.recv(65536):
            out += chunk
    return out


def check_relay(local: int) -> None:
    """Through a forwarded echo port: a line, ~330 KB (past any window), five connections at once."""
    assert talk(local, b"hello\n") == b"echo: hello\n"
    big = b"".join(b"line %06d " % i + b"x" * 100 + b"\n" for i in range(3000))
    assert talk(local, big) == b"".join(b"echo: " + ln + b"\n" for ln in big.splitlines())
    outs: list[bytes] = []
    threads = [threading.Thread(target=lambda i=i: outs.append(talk(local, b"n%d\n" % i))) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(outs) == sorted(b"echo: n%d\n" % i for i in range(5))


def test_port_forward_relays_both_ways(server: RunningServer, make_pod: PodMaker, echo: int) -> None:
    pod = pod_at_loopback(server, make_pod)
    local = free_port()
    p = start_forward(server, pod, f"{local}:{echo}")
    try:
        check_relay(local)
    finally:
        p.terminate()
        p.wait(10)


def test_port_forward_to_a_closed_port(server: RunningServer, make_pod: PodMaker) -> None:
    pod = pod_at_loopback(server, make_pod)
    local, closed = free_port(), free_port()
    p = start_forward(server, pod, f"{local}:{closed}")
    try:
        assert talk(local, b"x\n") == b""
        deadline = time.monotonic() + 10
        assert p.stderr is not None
        os.set_blocking(p.stderr.fileno(), False)
        err = ""
        while time.monotonic() < deadline and "error forwarding port" not in err:
            err += p.stderr.read() or ""
            time.sleep(0.1)
        assert f"error forwarding port {closed} to pod" in err and "connection refused" in err.lower(), err
    finally:
        p.terminate()
        p.wait(10)


def test_port_forward_needs_a_running_pod(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod(status={"phase": "Pending"})
    p = server.kubectl("port-forward", pod, f"{free_port()}:80", check=False, timeout=30)
    assert p.returncode != 0
    assert "unable to forward port because pod is not running. Current status=Pending" in p.stderr


def test_port_forward_to_a_service(server: RunningServer, agent: Agent, echo: int) -> None:
    """``kubectl port-forward svc/NAME``: kubectl reads the Service, picks a pod by its selector and forwards
    to the target port (by number, and by the name of a container port)."""
    pod = f"svcpod-{free_port()}"
    s = server.session()
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "labels": {"app": pod}},
            "spec": {"nodeName": NODE, "containers": [
                {"name": "main", "image": "busybox", "ports": [{"name": "echo", "containerPort": echo}]}]}}
    r = s.post(f"{server.url}/api/v1/namespaces/default/pods", json=body)
    assert r.status_code == 201, r.text
    body = r.json()
    body["status"] = {**running_status(["main"]), "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}
    assert s.put(f"{server.url}/api/v1/namespaces/default/pods/{pod}/status", json=body).status_code == 200
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{pod}"},
           "spec": {"selector": {"app": pod}, "ports": [{"name": "by-number", "port": 80, "targetPort": echo},
                                                        {"name": "by-name", "port": 81, "targetPort": "echo"}]}}
    r = s.post(f"{server.url}/api/v1/namespaces/default/services", json=svc)
    assert r.status_code == 201, r.text
    for service_port in (80, 81):
        local = free_port()
        p = start_forward(server, f"svc/svc-{pod}", f"{local}:{service_port}")
        try:
            assert talk(local, b"via service\n") == b"echo: via service\n"
        finally:
            p.terminate()
            p.wait(10)
