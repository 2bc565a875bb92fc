"""The agent's server list from the ``kubernetes`` endpoints and its --server URLs (shoal.client.serverlist): no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.apiserver import endpointleases
from shoal.client.serverlist import ServerList, endpoint_urls, plan

A, B, C = "https://192.0.2.1:6443", "https://192.0.2.2:6443", "https://192.0.2.3:6443"
GIVEN = "https://m1.example:6443"


def eps(*subsets: tuple[list[str], list[dict[str, Any]]], not_ready: list[str] | None = None) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for ips, ports in subsets:
        sub: dict[str, Any] = {"addresses": [{"ip": ip} for ip in ips], "ports": ports}
        if not_ready:
            sub["notReadyAddresses"] = [{"ip": ip} for ip in not_ready]
        out.append(sub)
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "kubernetes"}, "subsets": out}


HTTPS = [{"name": "https", "port": 6443, "protocol": "TCP"}]


def slice_of(addrs: list[tuple[str, bool | None]], *, family: str = "IPv4", port: int = 6443) -> dict[str, Any]:
    endpoints: list[dict[str, Any]] = []
    for ip, ready in addrs:
        e: dict[str, Any] = {"addresses": [ip]}
        if ready is not None:
            e["conditions"] = {"ready": ready}
        endpoints.append(e)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": family,
            "endpoints": endpoints, "ports": [{"name": "https", "port": port}]}


@pytest.mark.parametrize(("obj", "want"), [
    (None, []),
    ({}, []),
    (eps(), []),  # no subsets: the server published nobody
    (eps((["192.0.2.1", "192.0.2.2"], HTTPS)), [A, B]),
    # the servers' own publication, as shoal.apiserver.endpointleases builds it (one subset per port)
    ({"kind": "Endpoints", "subsets": endpointleases.subsets([("192.0.2.1", 6443), ("192.0.2.2", 7443)])},
     [A, "https://192.0.2.2:7443"]),
    ({"kind": "EndpointSlice", **endpointleases.slice_part([("192.0.2.1", 6443), ("192.0.2.2", 6443)])}, [A, B]),
    (eps((["192.0.2.1"], HTTPS)) | {"kind": None}, [A]),  # no kind (a watch event's object always has one)
    (eps((["192.0.2.1"], HTTPS), not_ready=["192.0.2.3"]), [A]),  # not ready: left out
    (eps((["192.0.2.1"], [{"name": "metrics", "port": 1}, {"name": "https", "port": 6443}])), [A]),
    (eps((["192.0.2.1"], [{"port": 6443}])), [A]),  # an unnamed single port
    (eps((["192.0.2.1"], [])), []),  # no port: nothing to reach
    (eps((["192.0.2.1"], [{"name": "https", "port": 0}])), []),
    (eps((["192.0.2.1", "192.0.2.1"], HTTPS), (["192.0.2.1"], HTTPS)), [A]),  # repeats once
    # loopback, unspecified and non-addresses: never taken
    (eps((["127.0.0.1", "0.0.0.0", "::1", "not-an-ip", "192.0.2.2"], HTTPS)), [B]),
    (eps((["fd00::2"], HTTPS)), ["https://[fd00::2]:6443"]),
    (slice_of([("192.0.2.1", True), ("192.0.2.2", None), ("192.0.2.3", False)]), [A, B]),
    (slice_of([("fd00::2", True)], family="IPv6"), ["https://[fd00::2]:6443"]),
    (slice_of([("api.example", True)], family="FQDN"), []),
])
def test_endpoint_urls(obj: dict[str, Any] | None, want: list[str]) -> None:
    assert endpoint_urls(obj) == want


@pytest.mark.parametrize(("configured", "learned", "current", "want"), [
    # nothing learned: the configured list, untouched
    ([GIVEN], [], GIVEN, ServerList((GIVEN,), 0)),
    ([A, B], [], B, ServerList((A, B), 1)),
    # learned first, the configured kept after them as the fallback; still on the one in use
    ([GIVEN], [A, B], GIVEN, ServerList((A, B, GIVEN), 2)),
    # a configured URL that is a learned one is listed once
    ([A], [A, B], A, ServerList((A, B), 0)),
    ([A + "/"], [A, B], A, ServerList((A, B), 0)),
    # a new server joins: the one in use stays in use
    ([A], [A, B, C], B, ServerList((A, B, C), 1)),
    # the one in use left the endpoints (and is not configured): the first listed
    ([A], [B, C], C, ServerList((B, C, A), 1)),
    ([GIVEN], [B, C], A, ServerList((B, C, GIVEN), 0)),
    # the learned ones all went: back to the configured list
    ([GIVEN], [], B, ServerList((GIVEN,), 0)),
])
def test_plan(configured: list[str], learned: list[str], current: str, want: ServerList) -> None:
    assert plan(configured=configured, learned=learned, current=current) == want
