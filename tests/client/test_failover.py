"""The client-side balancer over several servers: what is retried on the next server and what is not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import yaml
from aiohttp import web

from shoal.client import ApiClient, ApiException
from shoal.client.failover import FailoverTransport, split_servers
from shoal.kubeconfig import render_servers
from tests.etcd_fixture import free_port


@pytest.mark.parametrize(("given", "expected"), [
    ("https://a:1", ["https://a:1"]),
    ("https://a:1,https://b:2/", ["https://a:1", "https://b:2"]),
    (["https://a:1", "https://b:2,https://a:1", " https://c:3 "], ["https://a:1", "https://b:2", "https://c:3"]),
    ("", []),
])
def test_split_servers(given: str | list[str], expected: list[str]) -> None:
    assert split_servers(given) == expected


class Fake:
    """A stand-in API server that answers ``status`` and counts what it got."""

    def __init__(self, name: str, status: int = 200) -> None:
        self.name, self.status, self.seen = name, status, []  # type: ignore[var-annotated]

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request.method)
        if request.query.get("watch"):
            resp = web.StreamResponse(status=200)
            await resp.prepare(request)
            await resp.write(b'{"type":"ADDED","object":{"from":"' + self.name.encode() + b'"}}\n')
            return resp
        return web.json_response({"from": self.name}, status=self.status)


@pytest.fixture
async def servers() -> AsyncIterator[tuple[list[Fake], list[str]]]:
    fakes = [Fake("b"), Fake("c")]
    runners, urls = [], [f"http://127.0.0.1:{free_port()}"]  # the first: nobody listens there
    for f in fakes:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", f.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{port}")
    yield fakes, urls
    for r in runners:
        await r.cleanup()


async def test_a_server_that_is_down_is_skipped_for_reads_and_writes(
        servers: tuple[list[Fake], list[str]]) -> None:
    fakes, urls = servers
    t = FailoverTransport(urls)
    async with ApiClient(t) as c:
        assert (await c.request("GET", "/api"))["from"] == "b"
        assert t.failovers == 1 and t.server == urls[1]
        # a write that could not even connect is safe to send elsewhere: it is
        t.current = 0
        assert (await c.request("POST", "/api/v1/namespaces/default/configmaps", body={}))["from"] == "b"
        events = [e async for e in c.watch("configmaps", "default")]
        assert events[0].object == {"from": "b"}


async def test_503_moves_on_reads_retry_writes_do_not(servers: tuple[list[Fake], list[str]]) -> None:
    fakes, urls = servers
    fakes[0].status = 503  # b lost its store
    t = FailoverTransport(urls[1:])
    async with ApiClient(t) as c:
        assert (await c.request("GET", "/api"))["from"] == "c"
        t.current = 0
        with pytest.raises(ApiException) as e:  # a write answered 503 may not be replayed elsewhere
            await c.request("POST", "/api/v1/namespaces/default/configmaps", body={})
        assert e.value.status == 503
        assert t.server == urls[2]  # but the next request goes to the next server
        assert fakes[1].seen == ["GET"] and fakes[0].seen == ["GET", "POST"]


async def test_the_list_can_be_replaced_while_in_use(servers: tuple[list[Fake], list[str]]) -> None:
    fakes, urls = servers
    t = FailoverTransport([urls[1]])
    async with ApiClient(t) as c:
        assert (await c.request("GET", "/api"))["from"] == "b"
        b = t.transports[0]
        t.set_servers([urls[2], urls[1]], 1)  # c learned; b stays in use, on its own transport
        assert t.server == urls[1] and t.transports[1] is b
        assert (await c.request("GET", "/api"))["from"] == "b"
        # a failure seen on a server the list no longer makes current moves nothing
        t.set_servers([urls[0], urls[2]], 1)
        t._advance(b, "late")
        assert (t.server, t.failovers) == (urls[2], 0)
        # and the new list fails over in its own order
        t.set_servers([urls[0], urls[2]], 0)
        assert (await c.request("GET", "/api"))["from"] == "c"
        assert t.failovers == 1
        with pytest.raises(ValueError):
            t.set_servers([urls[1]], 1)
    assert b._session is not None and b._session.closed  # dropped from the list, closed with the balancer


async def test_every_server_down_is_a_connection_error(servers: tuple[list[Fake], list[str]]) -> None:
    async with ApiClient(FailoverTransport([f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"])
                         ) as c:
        with pytest.raises(ApiException) as e:
            await c.request("GET", "/api", timeout=5)
        assert e.value.status == 0


def test_kubeconfig_of_several_servers_points_at_the_first_healthy() -> None:
    cfg = yaml.safe_load(render_servers(servers=["https://a:1", "https://b:2", "https://c:3"],
                                        healthy=[False, True, True], ca_pem=b"CA", token="t"))
    clusters = {c["name"]: c["cluster"]["server"] for c in cfg["clusters"]}
    assert clusters == {"shoal": "https://b:2", "shoal-1": "https://a:1", "shoal-2": "https://b:2",
                        "shoal-3": "https://c:3"}
    assert cfg["current-context"] == "shoal"
    assert [c["name"] for c in cfg["contexts"]] == ["shoal", "shoal-1", "shoal-2", "shoal-3"]
    none_up = yaml.safe_load(render_servers(servers=["https://a:1"], healthy=[False], ca_pem=b"CA", token="t"))
    assert none_up["clusters"][0]["cluster"]["server"] == "https://a:1"
