"""The ``kubernetes`` Service's endpoints name every live API server (shoal.apiserver.serverlease).

Three servers on one etcd, each listening on its own loopback address with one port, each advertising a
documentation address (203.0.113.x, TEST-NET-3: nothing is sent there, and unlike 192.0.2.x none is this
machine's own; loopback addresses are never published). Short
leases (2 s, renewed every 0.4 s) keep the test quick.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from tests.etcd_fixture import etcd_available, start_etcd
from tests.server_fixture import RunningServer, free_port, start_server

pytestmark = pytest.mark.skipif(not etcd_available(), reason="etcd is not installed")

EPS = "/api/v1/namespaces/default/endpoints/kubernetes"
SLICE = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"
ADVERTISED = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
LEASE_ARGS = ["--identity-lease-duration-seconds", "2", "--identity-lease-renew-interval-seconds", "0.4"]


@pytest.fixture
def three_servers(tmp_path: Path) -> Iterator[list[RunningServer]]:
    endpoint, stop_etcd = start_etcd(tmp_path / "etcd")
    port = free_port()
    servers: list[RunningServer] = []
    try:
        for i, adv in enumerate(ADVERTISED):
            servers.append(start_server(tmp_path / f"s{i}", port=port, host=f"127.0.0.{i + 2}", timeout=60,
                                        args=["--store", f"etcd://{endpoint}", "--node-name", f"s{i}",
                                              "--advertise-address", adv, *LEASE_ARGS]))
        yield servers
    finally:
        for s in servers:
            s.stop()
        stop_etcd()


def published(srv: RunningServer) -> tuple[list[str], list[str], int]:
    """(Endpoints addresses, EndpointSlice addresses, the port) as ``srv`` serves them."""
    s = srv.session()
    eps: dict[str, Any] = s.get(srv.url + EPS, timeout=5).json()
    sl: dict[str, Any] = s.get(srv.url + SLICE, timeout=5).json()
    subsets = eps.get("subsets") or []
    addrs = [a["ip"] for sub in subsets for a in sub.get("addresses") or []]
    port = subsets[0]["ports"][0]["port"] if subsets else 0
    return addrs, [e["addresses"][0] for e in sl.get("endpoints") or []], port


def wait_published(srv: RunningServer, want: list[str], timeout: float = 15.0) -> float:
    """Seconds until ``srv`` serves exactly ``want`` in both objects."""
    t0 = time.monotonic()
    got: Any = None
    while time.monotonic() - t0 < timeout:
        try:
            got = published(srv)
        except (OSError, ValueError, KeyError):
            got = None
        if got is not None and got[0] == want and got[1] == want:
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"{srv.url} serves {got}, not {want}")


def test_every_live_server_is_listed_and_dead_ones_drop_out(three_servers: list[RunningServer]) -> None:
    s0, s1, s2 = three_servers
    wait_published(s0, ADVERTISED)
    assert published(s2)[2] == s0.port  # the servers' shared port
    leases = s0.session().get(s0.url + LEASES, params={"labelSelector": "apiserver.kubernetes.io/identity="
                                                                        "kube-apiserver"}, timeout=5).json()
    assert len(leases["items"]) == 3
    assert all(item["metadata"]["name"].startswith("apiserver-") for item in leases["items"])
    # each server's certificate names the address it advertises (clients reaching it there verify it)
    for srv, adv in zip(three_servers, ADVERTISED, strict=True):
        cert = x509.load_pem_x509_certificate((srv.data_dir / "server.crt").read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert adv in {str(i) for i in san.get_values_for_type(x509.IPAddress)}

    # killed: listed until its lease expires for the others (2 s), then dropped
    s1.stop(signal.SIGKILL)
    waited = wait_published(s0, [ADVERTISED[0], ADVERTISED[2]])
    assert waited < 10.0
    wait_published(s2, [ADVERTISED[0], ADVERTISED[2]])

    # a clean shutdown removes itself at once (no waiting out the lease)
    t0 = time.monotonic()
    s2.stop()
    wait_published(s0, [ADVERTISED[0]], timeout=5.0)
    assert time.monotonic() - t0 < 5.0
    names = [i["metadata"]["name"] for i in s0.session().get(s0.url + LEASES, timeout=5).json()["items"]]
    assert sum(n.startswith("apiserver-") for n in names) == 2  # the killed one's stays (expired) until GC
