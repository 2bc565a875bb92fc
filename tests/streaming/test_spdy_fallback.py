"""kubectl v1.32 with WebSockets turned off (``KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false``,
``KUBECTL_PORT_FORWARD_WEBSOCKETS=false``): its fallback, a plain ``Upgrade: SPDY/3.1`` with
``X-Stream-Protocol-Version`` offers, answered with ``101`` and SPDY frames on the raw connection.
Through a real ``shoal server`` and the agent tunnel to a stand-in agent that runs host processes and
connects to loopback ports. Checked: exec's stdout, stderr, exit code and stdin (past any window), a TTY,
port-forward both ways, the handshake's refusals, and by a hand-written SPDY client the v2/v3/v4 error streams."""

from __future__ import annotations

import json
import os
import pty
import socket
import ssl
import struct
import subprocess
import time
from urllib.parse import urlsplit

from shoal.apiserver import spdy
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
    p = server.kubectl("exec", pod, "--", "sh", "-c", "yes 0123456789abcdef | head -c 4000000", env=NO_WS)
    assert p.stdout == ("0123456789abcdef\n" * 250_000)[:4_000_000]  # output far past any window


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


def _raw_exec(server: RunningServer, pod: str, query: str, protocol: str, stdin: bytes | None) -> dict[str, bytes]:
    """A minimal SPDY client: the upgrade by hand, one stream per standard stream, everything read to the end."""
    u = urlsplit(server.url)
    ctx = ssl.create_default_context(cafile=server.ca)
    raw = socket.create_connection((u.hostname, u.port), timeout=10)
    c = ctx.wrap_socket(raw, server_hostname=u.hostname)
    with c:
        c.sendall((f"POST /api/v1/namespaces/default/pods/{pod}/exec?{query} HTTP/1.1\r\nHost: {u.netloc}\r\n"
                   f"Authorization: Bearer {server.token}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                   f"X-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += c.recv(1)
        assert head.startswith(b"HTTP/1.1 101 "), head
        assert f"x-stream-protocol-version: {protocol}".encode() in head.lower(), head
        codec, reader = spdy.HeaderCodec(), spdy.FrameReader()
        kinds = ["error", "stdout", "stderr"] + (["stdin"] if stdin is not None else [])
        sids = {k: 1 + 2 * i for i, k in enumerate(kinds)}
        for k, sid in sids.items():
            c.sendall(spdy.control(spdy.SYN_STREAM, struct.pack(">IIH", sid, 0, 0) + codec.encode({"streamType": k})))
        if stdin is not None:
            c.sendall(spdy.data(sids["stdin"], stdin) + spdy.data(sids["stdin"], b"", spdy.FLAG_FIN))
        out: dict[int, bytes] = {sid: b"" for sid in sids.values()}
        ended: set[int] = set()
        replies = 0
        while ended != {sids["error"], sids["stdout"], sids["stderr"]}:
            chunk = c.recv(65536)
            assert chunk, (out, ended)
            for f in reader.feed(chunk):
                if isinstance(f, spdy.Data):
                    out[f.stream] += f.data
                    if f.flags & spdy.FLAG_FIN:
                        ended.add(f.stream)
                elif f.type == spdy.SYN_REPLY:
                    replies += 1
        assert replies == len(kinds)
    return {k: out[sid] for k, sid in sids.items()}


def test_exec_over_spdy_v3_by_hand(server: RunningServer, make_pod: PodMaker) -> None:
    """v3 (and v2) carry only a failure's message on the error stream; stdin's FIN ends the process's input."""
    pod = make_pod()
    q = "command=sh&command=-c&command=cat%3B+echo+e+%3E%262%3B+exit+2&stdin=true&stdout=true&stderr=true"
    got = _raw_exec(server, pod, q, "v3.channel.k8s.io", b"typed\n")
    assert got["stdout"] == b"typed\n" and got["stderr"] == b"e\n"
    assert got["error"].startswith(b"command terminated with non-zero exit code"), got
    got = _raw_exec(server, pod, "command=true&stdout=true&stderr=true", "v2.channel.k8s.io", None)
    assert got == {"error": b"", "stdout": b"", "stderr": b""}
    got = _raw_exec(server, pod, "command=sh&command=-c&command=exit+7&stdout=true&stderr=true",
                    "v4.channel.k8s.io", None)
    assert json.loads(got["error"])["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
