"""The API client, informers and work queue: against a real shoal server over both of its sockets, and
against an API server in this process through the in-process transport (the same answers are the contract)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shoal.client import ApiClient, ApiException, InformerFactory, WorkQueue, run_workers
from tests.client.inprocess import inprocess_client
from tests.eventually import eventually
from tests.server_fixture import RunningServer


@pytest.fixture(params=["https", "unix", "inprocess"])
async def client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ApiClient]:
    """Every transport: HTTPS (aiohttp) and the server's Unix socket (the lean unary client) to a running
    server, and the in-process one to an ``ApiServer`` on a SQLite store of its own."""
    if request.param == "inprocess":
        async with inprocess_client(tmp_path) as c:
            yield c
        return
    server: RunningServer = request.getfixturevalue("server")
    if request.param == "https":
        c = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    else:
        c = ApiClient.unix(str(server.data_dir / "api.sock"), token=server.token)
    yield c
    await c.close()


@pytest.fixture
async def ns(client: ApiClient) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": name}})
    return name


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": data}


async def test_verbs_and_errors(client: ApiClient, ns: str) -> None:
    created = await client.create("configmaps", cm("a", k="1"), ns)
    assert created["metadata"]["uid"]
    got = await client.get("configmaps", "a", ns)
    assert got["data"] == {"k": "1"}
    patched = await client.patch("configmaps", "a", {"data": {"k": "2"}}, ns)
    assert patched["data"] == {"k": "2"}
    stale = dict(created, data={"k": "3"})
    with pytest.raises(ApiException) as e:
        await client.update("configmaps", stale)
    assert e.value.status == 409
    await client.delete("configmaps", "a", ns)
    with pytest.raises(ApiException) as e:
        await client.get("configmaps", "a", ns)
    assert e.value.not_found


async def test_list_all_follows_continue(client: ApiClient, ns: str) -> None:
    for i in range(12):
        await client.create("configmaps", cm(f"l{i:02d}"), ns)
    items, rv = await client.list_all("configmaps", ns, page=5)
    assert [i["metadata"]["name"] for i in items] == [f"l{i:02d}" for i in range(12)] and int(rv) > 0


async def test_informer_sees_changes_and_indexes(client: ApiClient, ns: str) -> None:
    await client.create("configmaps", cm("pre"), ns)
    factory = InformerFactory(client)
    inf = factory.informer("configmaps", namespace=ns)
    inf.add_index("color", lambda o: [((o.get("metadata") or {}).get("labels") or {}).get("color", "")])
    seen: list[tuple[str, str]] = []
    inf.add_handler(on_add=lambda o: seen.append(("add", o["metadata"]["name"])),
                    on_update=lambda old, new: seen.append(("update", new["metadata"]["name"])),
                    on_delete=lambda o: seen.append(("delete", o["metadata"]["name"])))
    factory.start()
    try:
        await factory.wait_synced(10)
        assert ("add", "pre") in seen and inf.get(f"{ns}/pre") is not None
        await client.create("configmaps", {"metadata": {"name": "x", "labels": {"color": "red"}}}, ns)
        await client.patch("configmaps", "x", {"data": {"a": "b"}}, ns)
        await client.delete("configmaps", "pre", ns)
        await eventually(lambda: ("delete", "pre") in seen and ("update", "x") in seen, timeout=5)
        assert seen.index(("add", "x")) < seen.index(("update", "x"))
        assert ("delete", "pre") in seen and inf.get(f"{ns}/pre") is None
        assert [o["metadata"]["name"] for o in inf.by_index("color", "red")] == ["x"]
        assert inf.get(f"{ns}/x")["data"] == {"a": "b"}  # type: ignore[index]
    finally:
        await factory.stop()


async def test_workqueue_one_worker_per_key_and_dedup() -> None:
    q = WorkQueue(base_delay=0.001)
    running: set[str] = set()
    calls: list[str] = []
    overlap = False
    fail_once = {"b"}

    async def reconcile(key: Any) -> None:
        nonlocal overlap
        if key in running:
            overlap = True
        running.add(key)
        calls.append(key)
        await asyncio.sleep(0.01)
        running.discard(key)
        if key in fail_once:
            fail_once.discard(key)
            raise RuntimeError("transient")

    for k in ("a", "a", "a", "b"):
        q.add(k)
    task = asyncio.create_task(run_workers(q, reconcile, 4))
    await asyncio.sleep(0.005)
    q.add("a")  # re-added while being processed: runs again after, never concurrently
    await asyncio.sleep(0.2)
    await q.shutdown()
    await asyncio.wait_for(task, 2)
    assert not overlap
    assert calls.count("a") == 2
    assert calls.count("b") == 2  # failed once, retried with back-off


async def test_event_recorder_folds_repeats_and_forgets_the_oldest(client: ApiClient, ns: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from shoal.client import events as events_module
    from shoal.client.events import EventRecorder

    monkeypatch.setattr(events_module, "SEEN", 3)
    rec = EventRecorder(client, "test-component")
    target = await client.create("configmaps", cm("about"), ns)
    target = {"apiVersion": "v1", "kind": "ConfigMap", **target}
    for _ in range(3):
        await rec.event(target, "Normal", "Poked", "poked once more")
    for i in range(5):
        await rec.event(target, "Normal", "Other", f"message {i}")
    assert len(rec._seen) == 3  # bounded
    await rec.event(target, "Normal", "Poked", "poked once more")  # forgotten: the 409 path counts it on
    evs = (await client.list("events", ns))["items"]
    poked = [e for e in evs if e["reason"] == "Poked"]
    assert len(poked) == 1 and poked[0]["count"] == 4, poked
    assert poked[0]["involvedObject"]["name"] == "about" and poked[0]["source"]["component"] == "test-component"
    assert len([e for e in evs if e["reason"] == "Other"]) == 5
