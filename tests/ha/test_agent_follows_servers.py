"""An agent given one server learns the others from the ``kubernetes`` endpoints and keeps working through them
when that one dies (shoal.agent.apiservers).

Two servers on one etcd, as two servers of one cluster: the second starts with the first's CA, service-account
key and tokens (what joining with ``--server`` copies). Loopback addresses are never published, so each server
listens on and advertises an address of its own on a veth pair this test makes (198.51.100.0/24, TEST-NET-2:
local to this machine, nothing leaves it); that is host-wide, so run this file under
``flock /tmp/shoal-host-tests.lock``. It needs root and etcd, and is skipped without them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.etcd_fixture import etcd_available, start_etcd
from tests.server_fixture import RunningServer, free_port, start_server, stop_process

pytestmark = pytest.mark.skipif(not etcd_available() or os.geteuid() != 0 or shutil.which("ip") is None,
                                reason="needs etcd, root and iproute2")

LINK, PEER = "shoalfollow0", "shoalfollow1"
ADDR_A, ADDR_B = "198.51.100.31", "198.51.100.32"
LEASE_ARGS = ["--identity-lease-duration-seconds", "2", "--identity-lease-renew-interval-seconds", "0.4"]
SHARED = ("ca.crt", "ca.key", "sa.key", "admin-token", "node-token")
NODE = "follower"


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True, timeout=10)


@pytest.fixture
def addresses() -> Iterator[None]:
    """Two addresses of this machine that are not loopback ones (on a veth pair made for the test)."""
    _ip("link", "del", LINK, check=False)  # a run that died before its cleanup
    _ip("link", "add", LINK, "type", "veth", "peer", "name", PEER)
    try:
        for addr in (ADDR_A, ADDR_B):
            _ip("addr", "add", f"{addr}/32", "dev", LINK)
        _ip("link", "set", LINK, "up")
        _ip("link", "set", PEER, "up")
        for addr in (ADDR_A, ADDR_B):  # before anything is sent there: this machine's own, never routed out
            route = subprocess.run(["ip", "route", "get", addr], capture_output=True, text=True, timeout=10).stdout
            assert route.startswith("local "), route
        yield
    finally:
        _ip("link", "del", LINK, check=False)


@pytest.fixture
def two_servers(tmp_path: Path, addresses: None) -> Iterator[tuple[RunningServer, RunningServer]]:
    endpoint, stop_etcd = start_etcd(tmp_path / "etcd")
    port = free_port()
    servers: list[RunningServer] = []
    try:
        for name, addr in (("a", ADDR_A), ("b", ADDR_B)):
            if servers:
                (tmp_path / name).mkdir()
                for f in SHARED:
                    if (servers[0].data_dir / f).exists():
                        shutil.copy2(servers[0].data_dir / f, tmp_path / name / f)
            servers.append(start_server(tmp_path / name, port=port, host=addr, timeout=60,
                                        args=["--store", f"etcd://{endpoint}", "--node-name", f"srv-{name}",
                                              "--advertise-address", addr, *LEASE_ARGS]))
        yield servers[0], servers[1]
    finally:
        for s in servers:
            s.stop(signal.SIGKILL)
        stop_etcd()


def wait_for(what: str, check: Callable[[], Any], timeout: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
        except (OSError, ValueError, KeyError):  # requests' errors are OSErrors
            got = None
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; the agent's log:\n{log.read_text(errors='replace')}")


def test_an_agent_given_one_server_learns_the_other_and_carries_on_through_it(
        tmp_path: Path, two_servers: tuple[RunningServer, RunningServer]) -> None:
    a, b = two_servers
    url_a, url_b = f"https://{ADDR_A}:{a.port}", f"https://{ADDR_B}:{b.port}"
    log = tmp_path / "agent.log"
    with open(log, "ab") as out:
        agent = subprocess.Popen(
            [sys.executable, "-m", "shoal", "agent", "--server", url_a, "--token",
             (a.data_dir / "node-token").read_text().strip(), "--data-dir", str(tmp_path / "agent"),
             "--ca-file", a.ca, "--runtime", "simulated", "--node-name", NODE, "--lease-interval", "0.5",
             "--ingress-http-port", "0", "--metrics-interval", "0"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "SHOAL_AGENT_BACKOFF_SECONDS": "0.2"})
    try:
        sb = b.session()
        wait_for("the node to register", lambda: sb.get(f"{b.url}/api/v1/nodes/{NODE}", timeout=5).ok, 30, log)
        # B learned (both servers publish both addresses), A kept in use
        wait_for("the agent to learn B", lambda: f"API servers {url_a}, {url_b} (using {url_a})" in log.read_text(),
                 30, log)

        a.stop(signal.SIGKILL)
        lease = f"{b.url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE}"
        seen: set[str] = set()

        def renewed_twice() -> bool:
            seen.add(sb.get(lease, timeout=5).json()["spec"]["renewTime"])
            return len(seen) >= 3  # the one before the kill, then two renewals through B

        wait_for("the node's lease to be renewed through B", renewed_twice, 20, log)
        # the pod informer moved to B too: a pod bound to the node runs, and its status lands
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "after-a"},
               "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}
        assert sb.post(f"{b.url}/api/v1/namespaces/default/pods", json=pod, timeout=10).status_code == 201
        wait_for("the pod's status through B", lambda: sb.get(
            f"{b.url}/api/v1/namespaces/default/pods/after-a", timeout=5).json()["status"].get("phase") == "Running",
            20, log)
        assert f"API server {url_a} failed" in log.read_text()
    finally:
        stop_process(agent)
