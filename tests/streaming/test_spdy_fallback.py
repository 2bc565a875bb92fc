"""kubectl v1.32 with WebSockets turned off (``KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false``,
``KUBECTL_PORT_FORWARD_WEBSOCKETS=false``): its fallback, a plain ``Upgrade: SPDY/3.1`` with
``X-Stream-Protocol-Version`` offers, answered with ``101`` and SPDY frames on the raw connection.
Through a real ``shoal server`` and the agent tunnel to a stand-in agent that runs host processes and
connects to loopback ports. Checked: exec's stdout, stderr, exit code and stdin (past any window), a TTY,
attach, port-forward both ways, and the handshake's refusals."""

from __future__ import annotations

import os
import pty
import socket
import subprocess
import time

from tests.server_fixture import RunningServer, free_port
from tests.streaming.conftest import PodMaker
from tests.streaming.test_kubectl_local import _read_until
from tests.streaming.test_portforward_local import check_relay, echo, pod_at_loopback

__all__ = ["echo"]  # the fixture, used by name

NO_WS = {"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false", "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}


def spdy_env(server: RunningServer) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(server.data_dir), **NO_WS}


def test_exec_over_spdy_stdout_stderr_and_exit_code(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod()
    p = server.kubectl("exec", pod, "-v=6", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False,
                       env=NO_WS)
    assert "101 Switching Protocols" in p.stderr, p.stderr  # the plain SPDY upgrade, not a WebSocket
    assert p.returncode == 3, p.stderr
    assert p.stdout == "out\n"
    assert "err\n" in p.stderr
    assert "command terminated with exit code 3" in p.stderr
    assert server.kubectl("exec", pod, "--", "sh", "-c", "kill -9 $$", check=False, env=NO_WS).returncode == 137
    out = server.kubectl("exec", pod, "--", "ls", "/", env=NO_WS).stdout.split()
    assert "etc" in out and "proc" in out


def test_exec_over_spdy_stdin(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod()
    text = "".join(f"line {i}\n" for i in range(20_000))  # ~200 KB: beyond SPDY's 64 KB initial window
    p = server.kubectl("exec", "-i", pod, "--", "cat", input=text, env=NO_WS)
    assert p.stdout == text
    p = server.kubectl("exec", "-i", pod, "--", "wc", "-l", input="a\nb\n", env=NO_WS)
    assert p.stdout.strip() == "2"


def test_exec_over_spdy_refusals_are_still_statuses(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod(containers=("a", "b"))
    p = server.kubectl("exec", pod, "-c", "zzz", "--", "ls", check=False, env=NO_WS)
    assert p.returncode == 1
    assert f"container zzz is not valid for pod {pod}, choose one of: [a b]" in p.stderr
    p = server.kubectl("exec", pod, "-c", "a", "--", "no-such-binary-xyz", check=False, env=NO_WS)
    assert p.returncode == 1
    assert 'exec: "no-such-binary-xyz": executable file not found in $PATH' in p.stderr
    s = server.session()
    base = f"{server.url}/api/v1/namespaces/default/pods/{pod}/exec?container=a&command=ls&stdout=true"
    r = s.post(base, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1"})
    assert r.status_code == 400 and r.json()["message"] == "unable to upgrade: X-Stream-Protocol-Version is required"
    r = s.post(base, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v9.x"})
    assert r.status_code == 403
    assert r.json()["message"].startswith("unable to upgrade: unable to negotiate protocol: client supports [v9.x]")


def test_exec_it_over_spdy_has_a_terminal(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod()
    master, slave = pty.openpty()
    proc = subprocess.Popen(["kubectl", "exec", "-it", pod, "--", "sh"], stdin=slave, stdout=slave, stderr=slave,
                            env=spdy_env(server), start_new_session=True)
    os.close(slave)
    try:
        time.sleep(0.5)
        os.write(master, b"test -t 0 && echo is-a-$((6*7)); exit 4\r")
        out = _read_until(master, b"is-a-42", 20)
        assert b"is-a-42" in out, out
        assert proc.wait(20) == 4
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_port_forward_over_spdy_relays_both_ways(server: RunningServer, make_pod: PodMaker, echo: int) -> None:
    pod = pod_at_loopback(server, make_pod)
    local = free_port()
    p = subprocess.Popen(["kubectl", "port-forward", "-v=6", pod, f"{local}:{echo}"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=spdy_env(server))
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:"), line
        check_relay(local)
    finally:
        p.terminate()
        _, err = p.communicate(timeout=10)
    assert "101 Switching Protocols" in err, err


def test_port_forward_over_spdy_to_a_closed_port(server: RunningServer, make_pod: PodMaker) -> None:
    pod = pod_at_loopback(server, make_pod)
    local, closed = free_port(), free_port()
    p = subprocess.Popen(["kubectl", "port-forward", pod, f"{local}:{closed}"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=spdy_env(server))
    try:
        assert p.stdout is not None and p.stderr is not None
        assert p.stdout.readline().startswith("Forwarding from 127.0.0.1:")
        with socket.create_connection(("127.0.0.1", local), timeout=10) as c:
            c.sendall(b"x\n")
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536):
                pass
        os.set_blocking(p.stderr.fileno(), False)
        err, deadline = "", time.monotonic() + 10
        while time.monotonic() < deadline and "error forwarding port" not in err:
            err += p.stderr.read() or ""
            time.sleep(0.1)
        assert f"error forwarding port {closed} to pod" in err and "connection refused" in err.lower(), err
    finally:
        p.terminate()
        p.wait(10)
