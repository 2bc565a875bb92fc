"""The tunnel's own guarantees, in one process: backpressure, disconnects, replacement, auth.

A real ``ApiServer`` (SQLite store, aiohttp on a loopback port) and a real
``TunnelClient``; the driver is scripted, because these tests need a log that
never ends, an exec that records its resizes, or a resolver that hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from shoal.agent import tunnel as agent_tunnel
from shoal.apiserver import streaming
from shoal.apiserver import tunnel as server_tunnel
from shoal.apiserver.app import ApiServer
from shoal.apiserver.auth import ADMIN, TokenAuthenticator, User
from shoal.client import ApiClient
from shoal.store.open import open_store


class ScriptedSession:
    def __init__(self) -> None:
        self.out: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.stdin = bytearray()
        self.stdin_closed = asyncio.Event()
        self.resizes: list[tuple[int, int]] = []
        self.killed = asyncio.Event()
        self.code = 0

    async def write_stdin(self, data: bytes) -> None:
        self.stdin += data
        await self.out.put((1, data.upper()))

    async def close_stdin(self) -> None:
        self.stdin_closed.set()
        await self.out.put(None)

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        while (item := await self.out.get()) is not None:
            yield item

    async def resize(self, width: int, height: int) -> None:
        self.resizes.append((width, height))

    async def wait(self) -> int:
        return self.code

    async def kill(self) -> None:
        self.killed.set()
        await self.out.put(None)


class ScriptedDriver:
    name = "scripted"

    def __init__(self) -> None:
        self.produced = 0
        self.log_closed = asyncio.Event()
        self.sessions: list[ScriptedSession] = []

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
                   since_seconds: int | None = None, timestamps: bool = False) -> AsyncIterator[bytes]:
        try:
            if container_id == "endless":
                chunk = b"x" * 65535 + b"\n"
                while True:
                    self.produced += len(chunk)
                    yield chunk
            elif container_id == "quiet":
                yield b"started\n"
                await asyncio.sleep(3600)
            else:
                yield f"tail={tail} since={since_seconds} ts={timestamps} follow={follow}\n".encode()
        finally:
            self.log_closed.set()

    async def exec(self, container_id: str, command: list[str], *, tty: bool = False,
                   stdin: bool = False) -> ScriptedSession:
        s = ScriptedSession()
        self.sessions.append(s)
        if command == ["fail"]:
            s.code = 7
            await s.out.put((2, b"failing\n"))
            await s.out.put(None)
        return s


class Cluster:
    def __init__(self, api: ApiServer, server: TestServer, driver: ScriptedDriver) -> None:
        self.api, self.server, self.driver = api, server, driver
        self.url = str(server.make_url("")).rstrip("/")
        self.resolve_calls: list[tuple[str, str, str, bool]] = []

    def resolver(self, namespace: str, pod: str, container: str, previous: bool) -> tuple[Any, str]:
        self.resolve_calls.append((namespace, pod, container, previous))
        if container == "gone":
            raise LookupError(f'container "{container}" in pod "{pod}" is not available')
        if container == "broken":
            raise RuntimeError("the runtime socket is gone")
        return self.driver, container

    def registry(self) -> server_tunnel.TunnelRegistry:
        reg = server_tunnel.registry_of(self.server.app)
        assert reg is not None
        return reg


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    store = open_store("sqlite", data_dir=tmp_path)
    await store.start()
    api = ApiServer(store)
    await api.start()
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    c = Cluster(api, server, ScriptedDriver())
    async with ApiClient.http(c.url) as client:
        await client.create("pods", {"metadata": {"name": "p", "namespace": "default"}, "spec": {
            "nodeName": "n1", "containers": [{"name": n, "image": "i"} for n in
                                             ("endless", "quiet", "echo", "gone", "broken")]}})
    try:
        yield c
    finally:
        await server.close()
        await api.stop()
        await store.close()


@contextlib.asynccontextmanager
async def agent(c: Cluster, node: str = "n1") -> AsyncIterator[agent_tunnel.TunnelClient]:
    t = agent_tunnel.TunnelClient(c.url, node_name=node, resolver=c.resolver, min_backoff=0.05)
    await t.start()
    await t.wait_connected(5)
    for _ in range(100):  # the server registers the tunnel just after the handshake
        if c.registry().get(node) is not None:
            break
        await asyncio.sleep(0.01)
    try:
        yield t
    finally:
        await t.stop()


def log_url(c: Cluster, container: str, query: str = "") -> str:
    return f"{c.url}/api/v1/namespaces/default/pods/p/log?container={container}&{query}"


async def ws_exec(session: aiohttp.ClientSession, c: Cluster, query: str,
                  protocol: str = "v5.channel.k8s.io") -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(f"{c.url}/api/v1/namespaces/default/pods/p/exec?container=echo&{query}",
                                    protocols=(protocol,))


async def until_closed(ws: aiohttp.ClientWebSocketResponse) -> list[tuple[int, bytes]]:
    got = []
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.BINARY:
            got.append((msg.data[0], msg.data[1:]))
    return got


# ---- the wire --------------------------------------------------------------------------------
def test_both_ends_agree_on_the_wire_format() -> None:
    for name in ("PATH", "SUBPROTOCOL", "OPEN", "READY", "ERROR", "DATA", "EOF", "RESIZE", "WINDOW",
                 "EXIT", "CLOSE", "WINDOW_SIZE", "MAX_CHUNK"):
        assert getattr(agent_tunnel, name) == getattr(server_tunnel, name), name
    raw = agent_tunnel.frame(agent_tunnel.DATA, 70000, b"\x01abc")
    assert server_tunnel.parse(raw) == (server_tunnel.DATA, 70000, b"\x01abc")
    with pytest.raises(ValueError):
        server_tunnel.parse(b"\x01\x00")


def test_exit_status_as_kubectl_decodes_it() -> None:
    assert streaming.exit_status(0) == {"metadata": {}, "status": "Success"}
    st = streaming.exit_status(3, command=["sh", "-c", "exit 3"])
    assert st["reason"] == "NonZeroExitCode"
    assert st["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert streaming.exit_status(-9)["details"]["causes"][0]["message"] == "137"
    assert streaming.exit_status(300)["details"]["causes"][0]["message"] == "255"  # kubectl parses a uint8
    err = streaming.exit_status(None, error="no such file")
    assert err["status"] == "Failure" and err["message"] == "no such file" and "details" not in err


def test_pick_container() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}], "initContainers": [{"name": "i"}]}}
    assert streaming.pick_container(pod, None) == "a"
    assert streaming.pick_container(pod, "i") == "i"
    with pytest.raises(Exception, match=r"container b is not valid for pod p, choose one of: \[a i\]"):
        streaming.pick_container(pod, "b")
    pod["spec"]["containers"].append({"name": "b"})
    with pytest.raises(Exception, match=r"choose one of: \[a b\] or one of the init containers: \[i\]"):
        streaming.pick_container(pod, "")


# ---- logs ------------------------------------------------------------------------------------
async def test_options_reach_the_driver(cluster: Cluster) -> None:
    async with agent(cluster), aiohttp.ClientSession() as s:
        async with s.get(log_url(cluster, "echo", "tailLines=5&sinceSeconds=60&timestamps=true")) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain")
            assert await r.text() == "tail=5 since=60 ts=True follow=False\n"
        async with s.get(log_url(cluster, "echo", "sinceTime=2000-01-01T00:00:00Z")) as r:
            since = int((await r.text()).split()[1].split("=")[1])
            assert since > 20 * 365 * 86400


async def test_a_reader_that_does_not_read_bounds_the_servers_memory(cluster: Cluster) -> None:
    """An endless log and a client that stops reading: the server holds at most one window."""
    async with (
        agent(cluster),
        aiohttp.ClientSession() as s,
        s.get(log_url(cluster, "endless", "follow=true")) as r,
    ):
        assert r.status == 200
        await r.content.readexactly(1_000_000)
        await asyncio.sleep(1.0)  # stop reading; buffers fill; the agent must stall
        before = cluster.driver.produced
        await asyncio.sleep(0.5)
        assert cluster.driver.produced == before, "the agent kept producing for a stalled reader"
        tunnel = cluster.registry().get("n1")
        assert tunnel is not None
        for st in tunnel.streams.values():
            queued = sum(len(item[1]) for item in st._inbox._queue if item is not None)  # type: ignore[attr-defined]
            assert queued <= server_tunnel.WINDOW_SIZE
        assert before < 64 * 1024 * 1024  # socket buffers, not an unbounded queue
        # reading again resumes the stream
        await r.content.readexactly(before + 1_000_000)  # more than was ever produced before
        assert cluster.driver.produced > before


async def test_limit_bytes_cuts_an_endless_log(cluster: Cluster) -> None:
    async with agent(cluster), aiohttp.ClientSession() as s:
        async with s.get(log_url(cluster, "endless", "follow=true&limitBytes=100000")) as r:
            assert len(await r.read()) == 100000
        await asyncio.wait_for(cluster.driver.log_closed.wait(), 5)


async def test_a_client_that_leaves_stops_the_log_reader(cluster: Cluster) -> None:
    async with agent(cluster), aiohttp.ClientSession() as s:
        r = await s.get(log_url(cluster, "quiet", "follow=true"))
        assert await r.content.readline() == b"started\n"
        r.close()  # hang up while the container is silent
        await asyncio.wait_for(cluster.driver.log_closed.wait(), 5)


async def test_resolver_errors_are_statuses(cluster: Cluster) -> None:
    async with agent(cluster), aiohttp.ClientSession() as s:
        async with s.get(log_url(cluster, "gone")) as r:
            assert r.status == 400
            assert (await r.json())["message"] == 'container "gone" in pod "p" is not available'
        async with s.get(log_url(cluster, "broken")) as r:
            assert r.status == 503
            body = await r.json()
            assert body["kind"] == "Status" and "the runtime socket is gone" in body["message"]
        async with s.get(log_url(cluster, "echo", "previous=true")) as r:
            assert r.status == 200
    assert ("default", "p", "echo", True) in cluster.resolve_calls


async def test_an_agent_that_never_answers_is_503(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_tunnel, "OPEN_TIMEOUT", 0.3)
    never = asyncio.Event()

    async def hang(namespace: str, pod: str, container: str, previous: bool) -> tuple[Any, str]:
        await never.wait()
        raise AssertionError

    t = agent_tunnel.TunnelClient(cluster.url, node_name="n1", resolver=hang)
    await t.start()
    try:
        await t.wait_connected(5)
        await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as s, s.get(log_url(cluster, "echo")) as r:
            assert r.status == 503
            assert "did not answer" in (await r.json())["message"]
    finally:
        await t.stop()


# ---- exec ------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["v5.channel.k8s.io", "v4.channel.k8s.io"])
async def test_exec_channels(cluster: Cluster, protocol: str) -> None:
    async with agent(cluster), aiohttp.ClientSession() as s:
        ws = await ws_exec(s, cluster, "command=cat&stdin=true&stdout=true&tty=true", protocol)
        assert ws.protocol == protocol
        await ws.send_bytes(b"\x04" + json.dumps({"Width": 100, "Height": 30}).encode())
        await ws.send_bytes(b"\x00hello")
        msg = await ws.receive(timeout=5)
        assert msg.data == b"\x01HELLO"
        session = cluster.driver.sessions[-1]
        assert session.resizes == [(100, 30)]
        await ws.send_bytes(b"\x04{bad json")  # ignored, not fatal
        if protocol.startswith("v5"):
            await ws.send_bytes(b"\xff\x00")  # close stdin: the session ends
            got = await until_closed(ws)
            assert got == [(3, b'{"metadata": {}, "status": "Success"}')]
            assert session.stdin_closed.is_set()
        else:
            await ws.close()  # v4 has no half-close: hanging up kills the process
            await asyncio.wait_for(session.killed.wait(), 5)


async def test_exec_nonzero_exit_and_unrequested_streams(cluster: Cluster) -> None:
    async with agent(cluster), aiohttp.ClientSession() as s:
        ws = await ws_exec(s, cluster, "command=fail&stdout=true&stderr=true")
        got = await until_closed(ws)
        assert got[0] == (2, b"failing\n")
        status = json.loads(got[-1][1])
        assert got[-1][0] == 3 and status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
        ws = await ws_exec(s, cluster, "command=fail&stdout=true")  # stderr not asked for: dropped
        got = await until_closed(ws)
        assert [ch for ch, _ in got] == [3]


async def test_exec_refusals_before_the_upgrade(cluster: Cluster) -> None:
    async with agent(cluster), aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await ws_exec(s, cluster, "command=ls&stdout=true", protocol="base64.channel.k8s.io")
        assert e.value.status == 400
        url = f"{cluster.url}/api/v1/namespaces/default/pods/p/exec?container=gone&command=ls&stdout=1"
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await s.ws_connect(url, protocols=("v5.channel.k8s.io",))
        assert e.value.status == 400


async def test_agent_loss_ends_an_exec_with_a_failure_status(cluster: Cluster) -> None:
    async with aiohttp.ClientSession() as s:
        async with agent(cluster):
            ws = await ws_exec(s, cluster, "command=cat&stdin=true&stdout=true")
            await ws.send_bytes(b"\x00x")
            assert (await ws.receive(timeout=5)).data == b"\x01X"
        got = await asyncio.wait_for(until_closed(ws), 5)
        status = json.loads(got[-1][1])
        assert got[-1][0] == 3 and status["status"] == "Failure"
        assert cluster.driver.sessions[-1].killed.is_set()


async def test_a_newer_tunnel_replaces_the_old_one(cluster: Cluster) -> None:
    async with agent(cluster) as first, aiohttp.ClientSession() as s:
        r = await s.get(log_url(cluster, "quiet", "follow=true"))
        assert await r.content.readline() == b"started\n"
        async with agent(cluster):
            assert await asyncio.wait_for(r.content.read(), 5) == b""  # the old stream ended
            async with s.get(log_url(cluster, "echo")) as r2:
                assert r2.status == 200
            await first.stop()
            async with s.get(log_url(cluster, "echo")) as r2:
                assert r2.status == 200, "stopping the replaced agent must not unregister the new one"
        r.close()


async def test_stop_and_reconnect(cluster: Cluster) -> None:
    t = agent_tunnel.TunnelClient(cluster.url, node_name=["n1", "n2"], resolver=cluster.resolver,
                                  min_backoff=0.05)
    await t.start()
    await t.wait_connected(5)
    await asyncio.sleep(0.05)
    assert cluster.registry().nodes() == ["n1", "n2"]
    # the server drops every tunnel (as on shutdown); the agent comes back by itself
    await cluster.registry().close_all()
    await asyncio.sleep(0.5)
    assert t.connected and cluster.registry().nodes() == ["n1", "n2"]
    await t.stop()
    await asyncio.sleep(0.1)
    assert cluster.registry().nodes() == []
    with pytest.raises(ValueError):
        agent_tunnel.TunnelClient(cluster.url, node_name=[], resolver=cluster.resolver)


# ---- who may open a tunnel ---------------------------------------------------------------------
async def test_only_nodes_and_admins_may_open_a_tunnel(tmp_path: Path) -> None:
    store = open_store("sqlite", data_dir=tmp_path)
    await store.start()
    auth = TokenAuthenticator()
    auth.add("admin-t", ADMIN)
    auth.add("node-t", User("system:node", ("system:nodes", "system:authenticated")))
    auth.add("alice-t", User("alice", ("system:authenticated",)))
    api = ApiServer(store, authenticator=auth)
    await api.start()
    server = TestServer(api.app(), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        for token, ok in (("node-t", True), ("admin-t", True), ("alice-t", False), ("wrong", False)):
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
                try:
                    ws = await s.ws_connect(f"{url}/shoal/v1/tunnel?node=x", protocols=("shoal-tunnel.v1",))
                    await ws.close()
                    assert ok, token
                except aiohttp.WSServerHandshakeError as e:
                    assert not ok, token
                    assert e.status in (401, 403)
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer node-t"}) as s:
            for q in ("", "?node=", "?node=bad%20name"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                    await s.ws_connect(f"{url}/shoal/v1/tunnel{q}", protocols=("shoal-tunnel.v1",))
                assert e.value.status == 400
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await s.ws_connect(f"{url}/shoal/v1/tunnel?node=x", protocols=("other",))
    finally:
        await server.close()
        await api.stop()
        await store.close()


async def test_embedded_agent_over_the_unix_socket(tmp_path: Path) -> None:
    """``shoal server``'s own agent reaches the API through the in-process socket, not TCP."""
    from aiohttp import web

    store = open_store("sqlite", data_dir=tmp_path)
    await store.start()
    api = ApiServer(store)
    await api.start()
    runner = web.AppRunner(api.app())
    await runner.setup()
    sock = str(tmp_path / "api.sock")
    await web.UnixSite(runner, sock).start()
    driver = ScriptedDriver()
    client = ApiClient.unix(sock)
    t = agent_tunnel.TunnelClient(client, node_name="local", resolver=lambda ns, p, c, prev: (driver, c))
    try:
        await client.create("pods", {"metadata": {"name": "p", "namespace": "default"},
                                     "spec": {"nodeName": "local", "containers": [{"name": "echo", "image": "i"}]}})
        await t.start()
        await t.wait_connected(5)
        await asyncio.sleep(0.05)
        async with client.stream("/api/v1/namespaces/default/pods/p/log", params={"tailLines": "1"}) as r:
            assert r.status == 200
            assert await r.read() == b"tail=1 since=None ts=False follow=False\n"
    finally:
        await t.stop()
        # the agent's client is the agent's to close: it still answers
        assert (await client.get("pods", "p", "default"))["metadata"]["name"] == "p"
        await client.close()
        await runner.cleanup()
        await api.stop()
        await store.close()
