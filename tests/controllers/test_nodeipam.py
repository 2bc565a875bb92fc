"""Node IPAM through a real ``shoal server``: ranges per Node, a full cluster CIDR, release on delete, refusals.

The server's cluster CIDR is a /23 cut into /24s (two ranges), so "full" is two Nodes away. No agent runs:
the Nodes are written by the test, as a tool registering a node would.
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.server_fixture import RunningServer, start_server

CLUSTER = "10.42.0.0/23"


@pytest.fixture(scope="module")
def ipam_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    srv = start_server(Path(tmp_path_factory.mktemp("ipam")),
                       args=["--disable-scheduler", "--cluster-cidr", CLUSTER, "--node-cidr-mask-size", "24"])
    yield srv
    srv.stop()


def wait_for(fn: Callable[[], Any], timeout: float = 5.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def make_node(s: requests.Session, url: str, name: str, cidr: str | None = None) -> requests.Response:
    spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
    return s.post(url + "/api/v1/nodes", json={"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
                                                "spec": spec})


def cidr_of(s: requests.Session, url: str, name: str) -> str | None:
    r = s.get(f"{url}/api/v1/nodes/{name}")
    return r.json().get("spec", {}).get("podCIDR") if r.status_code == 200 else None


def unavailable(s: requests.Session, url: str, name: str) -> dict[str, Any] | None:
    conds = s.get(f"{url}/api/v1/nodes/{name}").json().get("status", {}).get("conditions") or []
    return next((c for c in conds if c["type"] == "NetworkUnavailable"), None)


def test_ranges_are_unique_full_is_a_condition_and_deleting_frees(ipam_server: RunningServer) -> None:
    s, url = ipam_server.session(), ipam_server.url
    tag = uuid.uuid4().hex[:6]
    a, b, c = (f"ipam-{x}-{tag}" for x in "abc")
    for n in (a, b):
        assert make_node(s, url, n).status_code == 201
    ca = wait_for(lambda: cidr_of(s, url, a), what="a's range")
    cb = wait_for(lambda: cidr_of(s, url, b), what="b's range")
    assert ca != cb and {ca, cb} == {"10.42.0.0/24", "10.42.1.0/24"}
    node = s.get(f"{url}/api/v1/nodes/{a}").json()
    assert node["spec"]["podCIDRs"] == [ca]
    assert all(ipaddress.ip_network(x).subnet_of(ipaddress.ip_network(CLUSTER)) for x in (ca, cb))  # type: ignore[arg-type]

    # full: a third Node is told so by a condition, not a crash
    assert make_node(s, url, c).status_code == 201
    cond = wait_for(lambda: unavailable(s, url, c), what="NetworkUnavailable on the third node")
    assert cond["status"] == "True" and cond["reason"] == "NoPodCIDRAvailable"
    assert "no free /24 left in the cluster CIDR 10.42.0.0/23 (2 of 2 in use)" in cond["message"]
    assert cidr_of(s, url, c) is None

    # the store refuses a range another Node holds, and a Node's range never changes
    taken = make_node(s, url, f"ipam-d-{tag}", ca)
    assert taken.status_code == 422 and "spec.podCIDRs" in taken.text and "already allocated" in taken.text
    moved = s.patch(f"{url}/api/v1/nodes/{b}", json={"spec": {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"]}},
                    headers={"Content-Type": "application/merge-patch+json"})
    assert moved.status_code == 422 and "may not change podCIDR" in moved.text

    # deleting a Node frees its range: the waiting Node gets it, and the condition is cleared
    assert s.delete(f"{url}/api/v1/nodes/{a}").status_code == 200
    assert wait_for(lambda: cidr_of(s, url, c), what="the freed range") == ca
    cond = wait_for(lambda: (u := unavailable(s, url, c)) and u["status"] == "False" and u, what="condition cleared")
    assert cond["reason"] == "PodCIDRAssigned"
    for n in (b, c):
        s.delete(f"{url}/api/v1/nodes/{n}")


@pytest.mark.parametrize(("args", "message"), [
    (["--cluster-cidr", "10.43.0.0/17"], "overlap"),
    (["--cluster-cidr", "10.42.0.0/16", "--node-cidr-mask-size", "12"], "--node-cidr-mask-size"),
    (["--cluster-cidr", "10.42.0.9/16"], "host bits set"),
])
def test_bad_ranges_refuse_to_start(tmp_path: Path, args: list[str], message: str) -> None:
    r = subprocess.run([sys.executable, "-m", "shoal", "server", "--data-dir", str(tmp_path), "--no-agent",
                        "--listen", "127.0.0.1:0", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr, r.stderr
