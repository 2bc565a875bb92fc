"""kubectl's plain SPDY/3.1 fallback (WebSockets turned off by its environment variables) against real Podman
containers, through the tunnel and the ``docker`` driver: exec (stdout, stderr, exit code, stdin), cp both
ways (tar over exec), attach, and port-forward to a container's port.
Host-wide (Podman): run under ``flock /tmp/shoal-host-tests.lock``."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.server_fixture import RunningServer, free_port
from tests.streaming.test_podman import Pods, pods  # noqa: F401 - the module's fixture
from tests.streaming.test_podman_forward_cp import with_ip

__all__ = ["pods"]

NO_WS = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}


def test_exec_over_spdy(server: RunningServer, pods: Pods) -> None:  # noqa: F811
    pod = pods.create("exec sleep 3600")
    p = server.kubectl("exec", "-v=6", pod, "--", "sh", "-c", "echo out; echo err >&2; exit 5", check=False,
                       env=NO_WS)
    assert "101 Switching Protocols" in p.stderr, p.stderr
    assert (p.returncode, p.stdout) == (5, "out\n"), p.stderr
    assert "err\n" in p.stderr and "command terminated with exit code 5" in p.stderr
    text = "".join(f"row {i}\n" for i in range(10_000))
    assert server.kubectl("exec", "-i", pod, "--", "cat", input=text, env=NO_WS).stdout == text


def test_cp_over_spdy_both_ways(server: RunningServer, pods: Pods, tmp_path: Path) -> None:  # noqa: F811
    pod = pods.create("busybox ln -s busybox /bin/tar; exec sleep 3600")
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 400)
    server.kubectl("cp", str(src), f"default/{pod}:/tmp/copied", env=NO_WS)
    assert server.kubectl("exec", pod, "--", "cat", "/tmp/copied/a.txt", env=NO_WS).stdout == "alpha\n"
    out = tmp_path / "out"
    server.kubectl("cp", f"default/{pod}:/tmp/copied", str(out), env=NO_WS)
    assert (out / "a.txt").read_text() == "alpha\n"
    assert (out / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 400


def test_attach_over_spdy(server: RunningServer, pods: Pods) -> None:  # noqa: F811
    pod = pods.create("i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(server.data_dir), **NO_WS}
    att = subprocess.Popen(["kubectl", "attach", pod], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env)
    try:
        assert att.stdout is not None
        lines = [att.stdout.readline() for _ in range(2)]
        assert all(ln.startswith("tick ") for ln in lines), lines
    finally:
        att.terminate()
        att.wait(10)


def test_port_forward_over_spdy_to_a_container_port(server: RunningServer, pods: Pods) -> None:  # noqa: F811
    pod = pods.create("echo spdy-page > /www/index.html; exec httpd -f -p 8080 -h /www")
    with_ip(server, pods, pod)
    local = free_port()
    env = {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(server.data_dir), **NO_WS}
    fwd = subprocess.Popen(["kubectl", "port-forward", "-v=6", pod, f"{local}:8080"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert fwd.stdout is not None
        assert fwd.stdout.readline().startswith("Forwarding from 127.0.0.1:")
        deadline = time.monotonic() + 10
        for _ in range(3):  # one connection after another over the same forward
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=5) as r:  # noqa: S310
                        assert r.read() == b"spdy-page\n"
                    break
                except OSError:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
    finally:
        fwd.terminate()
        _, err = fwd.communicate(timeout=10)
    assert "101 Switching Protocols" in err, err
