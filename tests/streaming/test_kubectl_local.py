"""The real kubectl v1.32 -> a real ``shoal server`` -> the agent tunnel -> a stand-in agent.

The agent here is ``TunnelClient`` with a small real driver (``LocalDriver``):
logs are real files, exec runs real host processes. What is checked is the
whole path kubectl sees: query options, the chunked log stream, the
``v5.channel.k8s.io`` exec protocol (exit codes, stdin, TTY through a real
pseudo-terminal), and every refusal as a proper Status.
"""

from __future__ import annotations

import datetime as dt
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.server_fixture import RunningServer
from tests.streaming.conftest import (
    Agent,
    PodMaker,
    running_status,
    start_agent,
    stop_agent,
    wait_connected,
)
from tests.streaming.localdriver import append_log


def kubectl_env(server: RunningServer) -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(server.kubeconfig), "HOME": str(server.data_dir)}


# ---- logs ------------------------------------------------------------------------------------
def test_logs_prints_the_container_log(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod(lines=("one", "two", "three"))
    assert server.kubectl("logs", pod).stdout == "one\ntwo\nthree\n"


def test_logs_tail_and_timestamps(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod(lines=("one", "two", "three"))
    assert server.kubectl("logs", pod, "--tail=2").stdout == "two\nthree\n"
    assert server.kubectl("logs", pod, "--tail=0").stdout == ""
    out = server.kubectl("logs", pod, "--timestamps", "--tail=1").stdout
    ts, _, text = out.rstrip("\n").partition(" ")
    assert text == "three"
    assert dt.datetime.fromisoformat(ts[:26] + "+00:00") <= dt.datetime.now(dt.UTC)


def test_logs_since_skips_old_lines(server: RunningServer, make_pod: PodMaker, agent: Agent) -> None:
    pod = make_pod(lines=())
    cid = f"default.{pod}.main"
    append_log(agent.root, cid, "old", at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    append_log(agent.root, cid, "new")
    assert server.kubectl("logs", pod, "--since=1h").stdout == "new\n"
    since_time = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert server.kubectl("logs", pod, f"--since-time={since_time}").stdout == "new\n"
    assert server.kubectl("logs", pod).stdout == "old\nnew\n"


def test_logs_limit_bytes(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod(lines=("0123456789",) * 3)
    assert server.kubectl("logs", pod, "--limit-bytes=15").stdout == "0123456789\n0123"


def test_logs_previous_reads_the_instance_before_the_restart(server: RunningServer, make_pod: PodMaker,
                                                             agent: Agent) -> None:
    pod = make_pod(lines=("now",), status=running_status(["main"], restarted=("main",)))
    append_log(agent.root, f"default.{pod}.main.prev", "before", "crash")
    assert server.kubectl("logs", pod, "--previous").stdout == "before\ncrash\n"
    assert server.kubectl("logs", pod, "-p", "--tail=1").stdout == "crash\n"


def test_logs_previous_without_a_restart_is_400(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod()
    p = server.kubectl("logs", pod, "--previous", check=False)
    assert p.returncode == 1
    assert f'previous terminated container "main" in pod "{pod}" not found' in p.stderr
    assert "BadRequest" in p.stderr


def test_logs_follow_shows_lines_as_they_are_written(server: RunningServer, make_pod: PodMaker,
                                                     agent: Agent) -> None:
    pod = make_pod(lines=("first",))
    cid = f"default.{pod}.main"
    proc = subprocess.Popen(["kubectl", "logs", "-f", pod], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=kubectl_env(server))
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"first\n"
        for word in ("second", "third"):
            t0 = time.monotonic()
            append_log(agent.root, cid, word)
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            assert ready, f"{word!r} did not appear within a second"
            assert proc.stdout.readline() == f"{word}\n".encode()
            assert time.monotonic() - t0 < 1.0
        (agent.root / f"{cid}.done").touch()  # the container stops: the follow ends
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()


def test_logs_follow_of_a_fast_writer_arrives_whole(server: RunningServer, make_pod: PodMaker,
                                                    agent: Agent) -> None:
    """Several MiB through the credit window: nothing lost, nothing reordered."""
    pod = make_pod(lines=())
    cid = f"default.{pod}.main"
    lines = [f"line {i:07d} " + "x" * 90 for i in range(40_000)]  # about 4 MiB
    append_log(agent.root, cid, *lines)
    (agent.root / f"{cid}.done").touch()
    out = server.kubectl("logs", "-f", pod, timeout=60).stdout.splitlines()
    assert out == lines


def test_logs_of_a_multi_container_pod(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod(containers=("web", "sidecar"), lines=("hi",))
    assert server.kubectl("logs", pod, "-c", "sidecar").stdout == "hi\n"
    # kubectl picks the first container itself and says so
    p = server.kubectl("logs", pod)
    assert p.stdout == "hi\n"
    assert 'Defaulted container "web"' in p.stderr


def test_logs_bad_requests(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod(containers=("web", "sidecar"))
    p = server.kubectl("logs", pod, "-c", "nope", check=False)  # kubectl checks this one itself
    assert p.returncode == 1
    assert f"container nope is not valid for pod {pod}" in p.stderr
    p = server.kubectl("logs", "no-such-pod", check=False)
    assert 'pods "no-such-pod" not found' in p.stderr
    s = server.session()
    base = f"{server.url}/api/v1/namespaces/default/pods/{pod}/log"
    r = s.get(f"{base}?container=nope")
    assert r.status_code == 400
    assert r.json()["message"] == f"container nope is not valid for pod {pod}, choose one of: [web sidecar]"
    r = s.get(f"{server.url}/api/v1/namespaces/default/pods/no-such-pod/log")
    assert r.status_code == 404 and r.json()["reason"] == "NotFound"
    r = s.get(base)  # two containers, none named
    assert r.status_code == 400
    assert r.json()["message"] == f"a container name must be specified for pod {pod}, choose one of: [web sidecar]"
    for q, field in (("tailLines=-1", "tailLines"), ("sinceSeconds=0", "sinceSeconds"),
                     ("limitBytes=0", "limitBytes")):
        r = s.get(f"{base}?container=web&{q}")
        assert r.status_code == 422, q
        assert r.json()["details"]["causes"][0]["field"] == field
    r = s.get(f"{base}?container=web&tailLines=many")
    assert r.status_code == 400
    r = s.get(f"{base}?container=web&follow=perhaps")
    assert r.status_code == 400
    r = s.get(f"{base}?container=web&sinceSeconds=5&sinceTime=2025-01-01T00:00:00Z")
    assert r.status_code == 422
    r = s.post(f"{base}?container=web")
    assert r.status_code == 405


def test_logs_of_a_waiting_container_say_why(server: RunningServer, make_pod: PodMaker) -> None:
    waiting = {"phase": "Pending", "containerStatuses": [
        {"name": "main", "ready": False, "restartCount": 0, "image": "busybox", "imageID": "",
         "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}
    pod = make_pod(status=waiting)
    p = server.kubectl("logs", pod, check=False)
    assert p.returncode == 1
    assert f'container "main" in pod "{pod}" is waiting to start: trying and failing to pull image' in p.stderr


def test_unknown_container_on_the_agent_is_400_with_its_message(server: RunningServer, make_pod: PodMaker,
                                                               agent: Agent) -> None:
    pod = make_pod()
    (agent.root / f"default.{pod}.main.log").unlink()
    r = server.session().get(f"{server.url}/api/v1/namespaces/default/pods/{pod}/log")
    assert r.status_code == 400
    assert r.json()["message"] == f'container "main" in pod "{pod}" is not available'


def test_unscheduled_pod_and_unconnected_node(server: RunningServer, make_pod: PodMaker) -> None:
    s = server.session()
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "unbound-stream"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    assert s.post(f"{server.url}/api/v1/namespaces/default/pods", json=body).status_code in (201, 409)
    r = s.get(f"{server.url}/api/v1/namespaces/default/pods/unbound-stream/log")
    assert r.status_code == 400
    assert r.json()["message"] == "pod unbound-stream does not have a host assigned"
    pod = make_pod(node="no-agent-here")
    for sub in ("log", "exec?command=ls&stdout=1"):
        r = s.get(f"{server.url}/api/v1/namespaces/default/pods/{pod}/{sub}")
        assert r.status_code in (503, 400), sub
    r = s.get(f"{server.url}/api/v1/namespaces/default/pods/{pod}/log")
    assert r.status_code == 503
    assert r.json()["reason"] == "ServiceUnavailable"
    assert '"no-agent-here"' in r.json()["message"]
    p = server.kubectl("exec", pod, "--", "ls", check=False)
    assert p.returncode == 1
    assert "no agent tunnel is connected" in p.stderr


# ---- exec ------------------------------------------------------------------------------------
def test_exec_runs_the_command(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod()
    out = server.kubectl("exec", pod, "--", "ls", "/").stdout.split()
    assert "etc" in out and "proc" in out


def test_exec_exit_code_reaches_kubectl(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod()
    p = server.kubectl("exec", pod, "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert p.returncode == 3
    assert p.stdout == "out\n"
    assert "err\n" in p.stderr
    assert "command terminated with exit code 3" in p.stderr
    p = server.kubectl("exec", pod, "--", "sh", "-c", "kill -9 $$", check=False)
    assert p.returncode == 137


def test_exec_stdin(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod()
    text = "".join(f"line {i}\n" for i in range(20_000))  # beyond one credit window
    p = server.kubectl("exec", "-i", pod, "--", "cat", input=text)
    assert p.stdout == text
    p = server.kubectl("exec", "-i", pod, "--", "wc", "-l", input="a\nb\n")
    assert p.stdout.strip() == "2"


def test_exec_missing_executable_is_reported(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod()
    p = server.kubectl("exec", pod, "--", "no-such-binary-xyz", check=False)
    assert p.returncode == 1
    assert 'exec: "no-such-binary-xyz": executable file not found in $PATH' in p.stderr


def test_exec_bad_requests(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod(containers=("a", "b"))
    p = server.kubectl("exec", pod, "-c", "zzz", "--", "ls", check=False)
    assert p.returncode == 1
    assert f"container zzz is not valid for pod {pod}, choose one of: [a b]" in p.stderr
    s = server.session()
    base = f"{server.url}/api/v1/namespaces/default/pods/{pod}/exec"
    r = s.post(f"{base}?container=a&command=ls&stdout=true")  # no upgrade
    assert r.status_code == 400 and r.json()["message"] == "Upgrade request required"
    r = s.post(f"{base}?container=a&command=ls&stdout=true",
               headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1"})
    assert r.status_code == 400 and "X-Stream-Protocol-Version is required" in r.json()["message"]
    r = s.post(f"{base}?container=a&command=ls&stdout=true", headers={"Connection": "Upgrade", "Upgrade": "h2c"})
    assert r.status_code == 400 and "h2c is not supported" in r.json()["message"]
    r = s.post(f"{base}?container=a&stdout=true")
    assert r.status_code == 400 and "at least one command" in r.json()["message"]
    r = s.post(f"{base}?container=a&command=ls")
    assert r.status_code == 400 and "at least 1 of stdin, stdout, stderr" in r.json()["message"]
    r = s.delete(f"{base}?container=a&command=ls&stdout=1")
    assert r.status_code == 405
    done = make_pod(status={"phase": "Succeeded"})
    r = s.get(f"{server.url}/api/v1/namespaces/default/pods/{done}/exec?command=ls&stdout=1",
              headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                       "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "v5.channel.k8s.io"})
    assert r.status_code == 400
    assert r.json()["message"] == "cannot exec into a container in a completed pod; current phase is Succeeded"


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def run_tty(server: RunningServer, args: list[str], typed: bytes, *, expect: bytes,
            timeout: float = 20) -> tuple[int, bytes]:
    """Run kubectl on a real pseudo-terminal, type into it, return (exit code, what it printed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(["kubectl", *args], stdin=slave, stdout=slave, stderr=slave,
                            env=kubectl_env(server), start_new_session=True)
    os.close(slave)
    try:
        time.sleep(0.5)  # let kubectl put the terminal in raw mode and connect
        os.write(master, typed)
        out = _read_until(master, expect, timeout)
        code = proc.wait(timeout)
        out += _read_until(master, b"\x00never", 0.3)
        return code, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def test_exec_it_shell_through_a_real_terminal(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod()
    code, out = run_tty(server, ["exec", "-it", pod, "--", "sh"], b"echo hi$((1+1)); exit\r", expect=b"hi2")
    assert b"hi2" in out, out
    assert code == 0, out


def test_exec_it_exit_code_and_terminal_size(server: RunningServer, make_pod: PodMaker) -> None:
    pod = make_pod()
    code, out = run_tty(server, ["exec", "-it", pod, "--", "sh"],
                        b"stty size; test -t 0 && echo is-a-tty; exit 4\r", expect=b"is-a-tty")
    assert b"is-a-tty" in out, out
    assert code == 4, out


# ---- the tunnel itself -----------------------------------------------------------------------
def test_wrong_token_cannot_open_a_tunnel(server: RunningServer, tmp_path: Path) -> None:
    a = start_agent(server, tmp_path / "bad", node="intruder", token="not-a-token")
    try:
        with pytest.raises(AssertionError):
            wait_connected(a, timeout=2)
    finally:
        stop_agent(a)
    s = server.session()
    r = s.get(f"{server.url}/shoal/v1/tunnel?node=x")
    assert r.status_code == 400  # not a WebSocket
    r = s.get(f"{server.url}/shoal/v1/tunnel")
    assert r.status_code == 400


def test_agent_reconnects_after_a_server_restart(tmp_path: Path) -> None:
    from tests.server_fixture import start_server

    srv = start_server(tmp_path / "srv")
    a = start_agent(srv, tmp_path / "agent", node="restart-node")
    try:
        wait_connected(a)
        s = srv.session()
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "r"},
                "spec": {"nodeName": "restart-node", "containers": [{"name": "main", "image": "busybox"}]}}
        assert s.post(f"{srv.url}/api/v1/namespaces/default/pods", json=body).status_code == 201
        append_log(a.root, "default.r.main", "still here")
        assert srv.kubectl("logs", "r").stdout == "still here\n"
        srv.stop()
        srv = start_server(tmp_path / "srv", port=srv.port)
        deadline = time.monotonic() + 20
        while True:
            p = srv.kubectl("logs", "r", check=False)
            if p.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert p.stdout == "still here\n", p.stderr + a.log()
    finally:
        stop_agent(a)
        srv.stop()
