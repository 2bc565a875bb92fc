"""Namespace deletion: content first, then the namespace (with the real kubectl, against a real server);
what holds it is reported (driven step by step, ``harness.py``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from shoal.client import ApiClient, ApiException
from shoal.controllers.garbagecollector import GarbageCollector
from shoal.controllers.namespace import NamespaceController
from tests.controllers.fake_kubelet import FakeCluster, running_controllers
from tests.controllers.harness import Harness
from tests.eventually import eventually
from tests.server_fixture import RunningServer


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[ApiClient]:
    c = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    yield c
    await c.close()


async def ns_gone(client: ApiClient, name: str) -> bool:
    try:
        await client.get("namespaces", name)
    except ApiException as e:
        return e.status == 404
    return False


async def test_deleting_a_namespace_removes_everything_then_itself(server: RunningServer, client: ApiClient) -> None:
    ns = f"nsdel-{uuid.uuid4().hex[:8]}"
    node = f"nsnode-{uuid.uuid4().hex[:6]}"
    await client.create("namespaces", {"metadata": {"name": ns}})
    for i in range(3):
        await client.create("configmaps", {"metadata": {"name": f"cm{i}"}, "data": {"k": "v"}}, ns)
    await client.create("secrets", {"metadata": {"name": "s"}, "stringData": {"a": "b"}}, ns)
    await client.create("services", {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}}, ns)
    await client.create("pods", {"metadata": {"name": "runs"}, "spec": {
        "nodeName": node, "containers": [{"name": "c", "image": "busybox"}]}}, ns)
    kubelet = FakeCluster(client, schedule=False)
    await kubelet.add_node(node)
    await kubelet.start()
    try:
        async with running_controllers(client, GarbageCollector, NamespaceController):
            await eventually(lambda: _phase(client, ns, "runs", "Running"))
            # the real kubectl waits until the namespace is gone
            p = await asyncio.to_thread(server.kubectl, "delete", "namespace", ns, "--timeout=30s")
            assert f'namespace "{ns}" deleted' in p.stdout
            assert await ns_gone(client, ns)
            for res in ("configmaps", "secrets", "services", "pods"):
                assert (await client.list(res, ns))["items"] == []
    finally:
        await kubelet.stop()


async def _phase(client: ApiClient, ns: str, name: str, phase: str) -> bool:
    return bool((await client.get("pods", name, ns)).get("status", {}).get("phase") == phase)


async def test_content_with_a_finalizer_holds_the_namespace_and_is_reported(h: Harness) -> None:
    client = h.client
    ns = "nshold"
    await client.create("namespaces", {"metadata": {"name": ns}})
    await client.create("configmaps", {"metadata": {"name": "held", "finalizers": ["test.shoal.io/hold"]}}, ns)
    await client.create("configmaps", {"metadata": {"name": "free"}}, ns)
    await h.start(NamespaceController, options={"namespace_recheck_seconds": 0.2})
    await client.delete("namespaces", ns)
    with pytest.raises(ApiException) as e:  # no new content while terminating
        await client.create("configmaps", {"metadata": {"name": "late"}}, ns)
    assert e.value.status == 403

    async def reported() -> bool:
        conds = {c["type"]: c for c in (await client.get("namespaces", ns)).get("status", {}).get("conditions") or []}
        c = conds.get("NamespaceFinalizersRemaining")
        return bool(c and "test.shoal.io/hold in 1 resource instances" in c["message"]
                    and "configmaps has 1 resource instances" in conds["NamespaceContentRemaining"]["message"])

    await h.until(reported)
    got = await client.get("namespaces", ns)
    assert got["status"]["phase"] == "Terminating" and got["spec"]["finalizers"] == ["kubernetes"]
    assert [c["metadata"]["name"] for c in (await client.list("configmaps", ns))["items"]] == ["held"]
    await client.patch("configmaps", "held", {"metadata": {"finalizers": None}}, ns)
    await h.until(lambda: ns_gone(client, ns))


async def test_a_namespace_not_being_deleted_is_left_alone(h: Harness) -> None:
    client = h.client
    ns = "nskeep"
    await client.create("namespaces", {"metadata": {"name": ns}})
    await client.create("configmaps", {"metadata": {"name": "stay"}}, ns)
    ctl = await h.start(NamespaceController)
    await h.reconcile(ctl, ns)
    await h.reconcile(ctl, "no-such-namespace")
    await h.settle()
    assert [c["metadata"]["name"] for c in (await client.list("configmaps", ns))["items"]] == ["stay"]
