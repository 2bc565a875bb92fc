"""The Endpoints/EndpointSlice controller against a real server.

The test plays the node (a stand-in for the node agent): it sets each pod's IP
and Ready condition through the status subresource.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shoal.client import ApiClient, InformerFactory
from shoal.controllers.base import Context
from shoal.controllers.endpoints import EndpointsController
from tests.eventually import eventually
from tests.server_fixture import RunningServer


@pytest.fixture
async def env(server: RunningServer) -> AsyncIterator[tuple[ApiClient, str]]:
    client = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    ns = f"ep-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": ns}})
    ctx = Context(client=client, factory=InformerFactory(client))
    ctl = EndpointsController(ctx)
    ctl.setup()
    ctx.factory.start()
    await ctx.factory.wait_synced(10)
    task = asyncio.create_task(ctl.run())
    yield client, ns
    await ctl.stop()
    task.cancel()
    await ctx.factory.stop()
    await client.close()


async def run_pod(client: ApiClient, ns: str, name: str, ip: str, ready: bool = True) -> None:
    await client.create("pods", {"metadata": {"name": name, "labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "i"}]}}, ns)
    await client.patch("pods", name, {"status": {"phase": "Running", "podIP": ip, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}, ns, subresource="status")


async def test_endpoints_follow_pods(env: tuple[ApiClient, str]) -> None:
    client, ns = env
    await client.create("services", {"metadata": {"name": "web"},
                                     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}, ns)
    await run_pod(client, ns, "a", "10.88.0.11")
    await run_pod(client, ns, "b", "10.88.0.12", ready=False)

    async def both() -> Any:
        e = await client.get("endpoints", "web", ns)
        s = (e.get("subsets") or [{}])[0]
        return [a["ip"] for a in s.get("addresses", [])] == ["10.88.0.11"] and \
            [a["ip"] for a in s.get("notReadyAddresses", [])] == ["10.88.0.12"]

    await eventually(both, retry_on=(Exception,))

    async def one_slice_of_two() -> Any:  # written after the Endpoints, so it may lag them
        slices = (await client.list("endpointslices", ns, label_selector="kubernetes.io/service-name=web"))["items"]
        return len(slices) == 1 and len(slices[0].get("endpoints") or []) == 2

    await eventually(one_slice_of_two, retry_on=(Exception,))
    # b turns ready; a is deleted: at once out of Endpoints
    await client.patch("pods", "b", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}, ns,
                       subresource="status")
    await client.delete("pods", "a", ns)

    async def only_b() -> Any:
        e = await client.get("endpoints", "web", ns)
        s = (e.get("subsets") or [{}])[0]
        return [a["ip"] for a in s.get("addresses", [])] == ["10.88.0.12"] and not s.get("notReadyAddresses")

    await eventually(only_b, retry_on=(Exception,))


async def test_selectorless_service_keeps_manual_endpoints(env: tuple[ApiClient, str]) -> None:
    client, ns = env
    await client.create("services", {"metadata": {"name": "ext"}, "spec": {"ports": [{"port": 5432}]}}, ns)
    await client.create("endpoints", {"metadata": {"name": "ext"}, "subsets": [
        {"addresses": [{"ip": "192.0.2.10"}], "ports": [{"port": 5432}]}]}, ns)
    await asyncio.sleep(0.5)
    e = await client.get("endpoints", "ext", ns)
    assert e["subsets"][0]["addresses"][0]["ip"] == "192.0.2.10"


async def test_service_deleted_removes_its_endpoints(env: tuple[ApiClient, str]) -> None:
    client, ns = env
    await client.create("services", {"metadata": {"name": "gone"},
                                     "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}, ns)
    await eventually(lambda: client.get("endpoints", "gone", ns), retry_on=(Exception,))
    await client.delete("services", "gone", ns)

    async def deleted() -> bool:
        try:
            await client.get("endpoints", "gone", ns)
            return False
        except Exception as e:
            return getattr(e, "status", 0) == 404

    await eventually(deleted, retry_on=(Exception,))
