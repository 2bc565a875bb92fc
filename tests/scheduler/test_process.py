"""The scheduler as a child process of ``shoal server``: it schedules, is started again when it dies,
goes when the server goes (even on ``kill -9``), and refuses bad input; ``--scheduler-in-process``
keeps it inside the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.scheduler.helpers import node, pod
from tests.server_fixture import RunningServer, start_server


def children(srv: RunningServer) -> list[int]:
    """Scheduler processes serving this server's socket."""
    needle = f"shoal.scheduler.main\0--socket\0{srv.data_dir / 'api.sock'}".encode()
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if needle in (d / "cmdline").read_bytes():
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def wait_for(pred, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def bound(http: requests.Session, srv: RunningServer, name: str) -> str:
    def check() -> str:
        r = http.get(f"{srv.url}/api/v1/namespaces/default/pods/{name}")
        return str(r.json()["spec"].get("nodeName") or "") if r.status_code == 200 else ""
    return str(wait_for(check))


def make_pod(http: requests.Session, srv: RunningServer, name: str) -> None:
    p = pod(name)
    del p["metadata"]["uid"]
    r = http.post(f"{srv.url}/api/v1/namespaces/default/pods", json=p)
    assert r.status_code == 201, r.text


def test_child_scheduler_is_restarted_and_stops_with_the_server(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "s", args=["--scheduler-process"])
    try:
        http = srv.session()
        assert http.post(f"{srv.url}/api/v1/nodes", json=node("n1")).status_code == 201
        [first] = wait_for(lambda: children(srv))
        make_pod(http, srv, "a")
        assert bound(http, srv, "a") == "n1"
        os.kill(first, signal.SIGKILL)
        second = wait_for(lambda: [p for p in children(srv) if p != first])
        assert len(second) == 1
        make_pod(http, srv, "b")  # created after the crash: the new scheduler places it
        assert bound(http, srv, "b") == "n1"
        assert "scheduler: process" in srv.log() and "starting it again" in srv.log()
    finally:
        srv.stop()
    assert children(srv) == []


def test_child_scheduler_goes_when_the_server_is_killed(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "s", args=["--scheduler-process"])
    wait_for(lambda: children(srv))
    srv.stop(signal.SIGKILL)
    wait_for(lambda: children(srv) == [], timeout=10)


def test_in_process_scheduler_has_no_child(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "s", args=["--scheduler-in-process"])
    try:
        http = srv.session()
        assert http.post(f"{srv.url}/api/v1/nodes", json=node("n1")).status_code == 201
        make_pod(http, srv, "a")
        assert bound(http, srv, "a") == "n1"
        assert children(srv) == []
    finally:
        srv.stop()


def test_scheduler_main_refuses_bad_input(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHOAL_INTERNAL_TOKEN"}
    cmd = [sys.executable, "-m", "shoal.scheduler.main", "--socket", str(tmp_path / "none.sock")]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "SHOAL_INTERNAL_TOKEN" in p.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles: 7\n")
    p = subprocess.run([*cmd, "--config", str(bad)], env={**env, "SHOAL_INTERNAL_TOKEN": "t"},
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--config" in p.stderr and "Traceback" not in p.stderr
