"""Acknowledged writes survive ``kill -9`` of the server, on both stores.

A stream of creates runs from 16 threads; the server is killed mid-stream with
SIGKILL; after a restart on the same data, every create that was answered 201
must be there. (Writes in flight when it died may or may not be: that is fine.)
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.etcd_fixture import start_etcd
from tests.server_fixture import RunningServer, obj, start_server


def _hammer(srv: RunningServer, acked: list[str], stop: threading.Event, worker: int) -> None:
    s = srv.session()
    i = 0
    while not stop.is_set():
        name = f"w{worker}-{i}"
        i += 1
        try:
            r = s.post(srv.url + "/api/v1/namespaces/default/configmaps",
                       json=obj("ConfigMap", name, data={"payload": "x" * 512}), timeout=5)
        except requests.RequestException:
            return  # the server is gone
        if r.status_code == 201:
            acked.append(name)


def _kill_during_creates(data_dir: Path, args: list[str]) -> tuple[list[str], Callable[[], RunningServer]]:
    srv = start_server(data_dir, args=args)
    acked: list[str] = []
    stop = threading.Event()
    threads = [threading.Thread(target=_hammer, args=(srv, acked, stop, w)) for w in range(16)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while len(acked) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(10)
    stop.set()
    for t in threads:
        t.join(10)
    return list(acked), lambda: start_server(data_dir, port=None, args=args)


def _check_all_present(srv: RunningServer, acked: list[str]) -> None:
    items = srv.session().get(srv.url + "/api/v1/namespaces/default/configmaps").json()["items"]
    present = {i["metadata"]["name"] for i in items}
    missing = [n for n in acked if n not in present]
    assert not missing, f"{len(missing)} acknowledged creates lost, e.g. {missing[:5]}"


def test_sqlite_survives_kill_9(tmp_path: Path) -> None:
    acked, restart = _kill_during_creates(tmp_path / "data", [])
    assert len(acked) >= 300
    srv = restart()
    try:
        _check_all_present(srv, acked)
    finally:
        srv.stop()


@pytest.mark.timeout(120)
def test_etcd_survives_kill_9(tmp_path: Path) -> None:
    endpoint, stop_etcd = start_etcd(tmp_path / "etcd")
    try:
        args = ["--store", f"etcd://{endpoint}"]
        acked, restart = _kill_during_creates(tmp_path / "data", args)
        assert len(acked) >= 300
        srv = restart()
        try:
            _check_all_present(srv, acked)
            # the etcd-backed server serves kubectl like the SQLite one
            out = srv.kubectl("get", "configmaps", "-o", "name").stdout.split()
            assert f"configmap/{acked[0]}" in out
        finally:
            srv.stop()
    finally:
        stop_etcd()
