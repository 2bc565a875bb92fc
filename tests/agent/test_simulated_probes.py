"""Simulated pods' probes are decided by the simulated driver and never connect anywhere.

A simulated pod's address comes from 100.64.0.0/10 and leads nowhere: a real
HTTP or TCP probe to it would leave the machine by the default route. Here an
agent with the simulated runtime runs in the test process against a real
``shoal server``, with every way of opening a connection patched to record
the attempt (and refuse it) unless it goes to that server. Pods carry httpGet
and tcpSocket probes aimed at their own made-up address and at a loopback
port that would refuse; the test asserts that nothing tried to connect, and
that the outcomes are the simulated ones, acted on as for real drivers: a
succeeding readiness probe makes the pod Ready, a failing liveness probe
restarts the container, a failing readiness probe keeps it unready.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import asyncio.selector_events
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from shoal.agent.agent import Agent, AgentOptions
from shoal.agent.drivers.base import ExecCheck, HttpCheck, ProbeRequest, TcpCheck
from shoal.agent.drivers.simulated import SimulatedDriver
from shoal.agent.probes import probe_request
from shoal.client import ApiClient
from tests.server_fixture import RunningServer, free_port

Obj = dict[str, Any]


class ConnectGuard:
    """Records every connection attempt; only the API server's address is let through."""

    def __init__(self, allowed: tuple[str, int]) -> None:
        self.allowed = allowed
        self.attempts: list[str] = []

    def check(self, what: str, address: Any) -> None:
        if isinstance(address, tuple) and len(address) >= 2 and (str(address[0]), int(address[1])) == self.allowed:
            return
        self.attempts.append(f"{what} {address!r}")
        raise ConnectionRefusedError(f"test guard: no connection to {address!r}")

    def install(self, mp: pytest.MonkeyPatch) -> None:
        guard = self
        real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
        real_create = asyncio.base_events.BaseEventLoop.create_connection
        real_sock_connect = asyncio.selector_events.BaseSelectorEventLoop.sock_connect
        real_aiohttp = aiohttp.TCPConnector._create_connection

        def connect(self: socket.socket, address: Any) -> None:
            guard.check("socket.connect", address)
            real_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            guard.check("socket.connect_ex", address)
            return real_connect_ex(self, address)

        async def create_connection(self: Any, factory: Any, host: Any = None, port: Any = None,
                                    **kw: Any) -> Any:
            if host is not None or port is not None:
                guard.check("loop.create_connection", (host, port))
            return await real_create(self, factory, host, port, **kw)

        async def sock_connect(self: Any, sock: socket.socket, address: Any) -> None:
            guard.check("loop.sock_connect", address)
            await real_sock_connect(self, sock, address)

        async def aiohttp_create(self: Any, req: Any, *args: Any, **kw: Any) -> Any:
            guard.check("aiohttp", (req.url.host, req.url.port))
            return await real_aiohttp(self, req, *args, **kw)

        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(asyncio.base_events.BaseEventLoop, "create_connection", create_connection)
        mp.setattr(asyncio.selector_events.BaseSelectorEventLoop, "sock_connect", sock_connect)
        mp.setattr(aiohttp.TCPConnector, "_create_connection", aiohttp_create)


@pytest.fixture
async def guarded_agent(server: RunningServer, monkeypatch: pytest.MonkeyPatch
                        ) -> AsyncIterator[tuple[Agent, ApiClient, ConnectGuard]]:
    guard = ConnectGuard(("127.0.0.1", server.port))
    guard.install(monkeypatch)
    client = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    agent = Agent(client, AgentOptions(
        node_name=f"simprobe-{uuid.uuid4().hex[:6]}", runtime="simulated", address="127.0.0.1", tunnel=False,
        backoff_base=0.2, backoff_max=1.0, lease_interval=1.0, sweep_interval=3600, resync_interval=3600))
    await agent.start()
    try:
        yield agent, client, guard
    finally:
        await agent.stop()
        await client.close()


async def wait_for(client: ApiClient, guard: ConnectGuard, name: str, pred: Callable[[Obj], bool], what: str,
                   timeout: float = 20) -> Obj:
    deadline = time.monotonic() + timeout
    pod: Obj = {}
    while time.monotonic() < deadline:
        pod = await client.get("pods", name, "default")
        if pred(pod):
            return pod
        await asyncio.sleep(0.1)
    raise AssertionError(f"pod {name}: timed out waiting for {what}: {pod.get('status')}\n"
                         f"connection attempts: {guard.attempts[:5]}")


def ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def main_status(pod: Obj) -> Obj:
    return next((dict(s) for s in (pod.get("status") or {}).get("containerStatuses") or []
                 if s.get("name") == "main"), {})


async def test_simulated_probes_open_no_socket_and_decide_outcomes(
        guarded_agent: tuple[Agent, ApiClient, ConnectGuard]) -> None:
    agent, client, guard = guarded_agent
    refused = free_port()  # nothing listens here: a real probe would be refused
    every = {"periodSeconds": 1, "failureThreshold": 1}
    http_pod_ip = {"httpGet": {"port": 8080, "path": "/healthz"}, **every}  # the made-up 100.64.x.y address
    http_local = {"httpGet": {"host": "127.0.0.1", "port": refused, "path": "/"}, **every}
    tcp_pod_ip = {"tcpSocket": {"port": "web"}, **every}
    tcp_local = {"tcpSocket": {"host": "127.0.0.1", "port": refused}, **every}

    def pod(name: str, annotations: dict[str, str], **probes: Any) -> Obj:
        return {"metadata": {"name": name, "annotations": annotations},
                "spec": {"nodeName": agent.node_names[0], "containers": [
                    {"name": "main", "image": "anything:1", "ports": [{"name": "web", "containerPort": 8080}],
                     **probes}]}}

    ok, live_fail, unready = (f"{p}-{uuid.uuid4().hex[:6]}" for p in ("simok", "simlive", "simunready"))
    await client.create("pods", pod(ok, {}, readinessProbe=http_local, livenessProbe=tcp_pod_ip,
                                    startupProbe=tcp_local), "default")
    await client.create("pods", pod(live_fail, {"sim.shoal.io/liveness-probe": "failure"},
                                    livenessProbe=http_pod_ip, readinessProbe=tcp_local), "default")
    await client.create("pods", pod(unready, {"sim.shoal.io/readiness-probe": "failure"},
                                    readinessProbe=http_pod_ip, livenessProbe=tcp_local), "default")

    got = await wait_for(client, guard, ok, ready, "Ready")
    assert got["status"]["podIP"].startswith("100.")
    got = await wait_for(client, guard, live_fail, lambda p: int(main_status(p).get("restartCount") or 0) >= 1,
                         "a restart after the failed liveness probe")
    events = (await client.list("events", "default", field_selector=f"involvedObject.name={live_fail}"))["items"]
    assert any(e["reason"] == "Unhealthy" and "simulated probe failure" in e["message"] for e in events), events
    got = await client.get("pods", unready, "default")
    assert "running" in main_status(got)["state"] and main_status(got)["ready"] is False and not ready(got)
    got = await client.get("pods", ok, "default")
    assert ready(got) and main_status(got)["restartCount"] == 0 and main_status(got)["started"] is True
    assert guard.attempts == []
    for name in (ok, live_fail, unready):
        await client.delete("pods", name, "default", grace_period_seconds=0)


async def test_simulated_probe_outcomes_from_setting_and_annotation() -> None:
    from shoal.agent.drivers.base import ContainerSpec, SandboxSpec

    drv = SimulatedDriver(probe_result="failure")
    sb = await drv.run_sandbox(SandboxSpec(pod_uid="u", pod_name="p", namespace="ns", hostname="p"))
    cids = {}
    for name, labels in (("plain", {}), ("over", {"sim.shoal.io/readiness-probe": "success"}),
                         ("odd", {"sim.shoal.io/readiness-probe": "maybe"})):
        cids[name] = await drv.create_container(ContainerSpec(pod_uid="u", pod_name="p", namespace="ns", name=name,
                                                              image="x", sandbox_id=sb.id, labels=labels))
        await drv.start_container(cids[name])

    def req(cid: str) -> ProbeRequest:
        return ProbeRequest(kind="readinessProbe", container_id=cid, check=TcpCheck("10.0.0.1", 1), timeout=1)

    assert not (await drv.probe(req(cids["plain"]))).ok
    assert (await drv.probe(req(cids["over"]))).ok
    assert not (await drv.probe(req(cids["odd"]))).ok  # an unknown value falls back to the driver's setting
    await drv.stop_container(cids["over"], 0)
    assert not (await drv.probe(req(cids["over"]))).ok  # a stopped container answers no probe
    assert (await SimulatedDriver().probe(req("gone"))).message.endswith("is not running")
    with pytest.raises(ValueError, match="success or failure"):
        SimulatedDriver(probe_result="flaky")


@pytest.mark.parametrize(("probe", "expected"), [
    ({"exec": {"command": ["cat", "/tmp/ok"]}}, ExecCheck(("cat", "/tmp/ok"))),
    ({"httpGet": {"port": "web", "path": "healthz", "scheme": "HTTPS",
                  "httpHeaders": [{"name": "X-A", "value": "1"}, {"name": "User-Agent", "value": "me"}]}},
     HttpCheck("10.1.2.3", 8080, "https", "/healthz", (("User-Agent", "me"), ("X-A", "1")))),
    ({"httpGet": {"host": "127.0.0.1", "port": 81}}, HttpCheck("127.0.0.1", 81, "http", "/",
                                                               (("User-Agent", "kube-probe/1.32"),))),
    ({"tcpSocket": {"port": 9000}}, TcpCheck("10.1.2.3", 9000)),
    ({"grpc": {"port": 9001}}, TcpCheck("10.1.2.3", 9001)),
    ({}, None),
])
def test_probe_request_resolves_the_target(probe: Obj, expected: object) -> None:
    container = {"name": "c", "ports": [{"name": "web", "containerPort": 8080}]}
    req = probe_request("livenessProbe", probe, container, "cid", "10.1.2.3", 2.0)
    assert (req.check if req is not None else None) == expected
    if req is not None:
        assert (req.kind, req.container_id, req.timeout) == ("livenessProbe", "cid", 2.0)


def test_probe_request_with_an_unknown_named_port() -> None:
    with pytest.raises(ValueError, match="named port"):
        probe_request("readinessProbe", {"tcpSocket": {"port": "nope"}}, {"name": "c"}, "cid", None, 1.0)
