"""Garbage collection, driven step by step (``harness.py``): background, foreground, orphan, pod GC, bad
input; and ``kubectl delete --cascade`` against a real server.

Owners here are ReplicaSets whose pods the test creates itself (with controller
owner references), so the collector is tested alone, without the ReplicaSet
controller recreating what it deletes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shoal.client import ApiClient, ApiException
from shoal.controllers.garbagecollector import GarbageCollector
from shoal.controllers.podgc import PodGC, terminated_to_delete
from tests.controllers.fake_kubelet import running_controllers
from tests.controllers.harness import Harness
from tests.eventually import eventually
from tests.server_fixture import RunningServer

Obj = dict[str, Any]


@pytest.fixture
def client(h: Harness) -> ApiClient:
    return h.client


@pytest.fixture
async def ns(h: Harness) -> str:
    return await h.namespace("gc")


@pytest.fixture
async def gc(h: Harness) -> GarbageCollector:
    return await h.start(GarbageCollector, options={"podgc_period": 3600})


def rs_body(name: str) -> Obj:
    return {"metadata": {"name": name}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def ref(owner: Obj, *, controller: bool = True, block: bool = True) -> Obj:
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": controller, "blockOwnerDeletion": block}


async def pod(client: ApiClient, ns: str, name: str, *owners: Obj, finalizers: list[str] | None = None,
              refs: list[Obj] | None = None) -> Obj:
    md: Obj = {"name": name, "ownerReferences": refs if refs is not None else [ref(o) for o in owners]}
    if finalizers:
        md["finalizers"] = finalizers
    # a scheduler name no scheduler serves: the server's own scheduler leaves these pods alone
    return await client.create("pods", {"metadata": md, "spec": {
        "schedulerName": "fake-kubelet", "containers": [{"name": "c", "image": "busybox"}]}}, ns)


async def names(client: ApiClient, res: str, ns: str) -> set[str]:
    return {o["metadata"]["name"] for o in (await client.list(res, ns))["items"]}


async def gone(client: ApiClient, res: str, name: str, ns: str | None) -> bool:
    try:
        await client.get(res, name, ns)
    except ApiException as e:
        return e.status == 404
    return False


async def test_background_deletes_dependents(h: Harness, client: ApiClient, ns: str, gc: GarbageCollector) -> None:
    rs = await client.create("replicasets", rs_body("web"), ns)
    for i in range(3):
        await pod(client, ns, f"web-{i}", rs)
    await pod(client, ns, "bystander")  # no owner: untouched
    await client.delete("replicasets", "web", ns, propagation_policy="Background")
    assert await gone(client, "replicasets", "web", ns)  # the owner goes at once
    await h.until(lambda: _eq(names(client, "pods", ns), {"bystander"}))


async def _eq(aw: Any, want: Any) -> bool:
    return bool(await aw == want)


async def test_foreground_waits_for_blocking_dependents(h: Harness, client: ApiClient, ns: str, gc: GarbageCollector) -> None:
    rs = await client.create("replicasets", rs_body("fg"), ns)
    await pod(client, ns, "fg-a", rs)
    await pod(client, ns, "fg-held", rs, finalizers=["test.shoal.io/hold"])
    await client.delete("replicasets", "fg", ns, propagation_policy="Foreground")
    owner = await client.get("replicasets", "fg", ns)
    assert owner["metadata"]["deletionTimestamp"] and "foregroundDeletion" in owner["metadata"]["finalizers"]
    await h.until(lambda: gone(client, "pods", "fg-a", ns))
    held = await client.get("pods", "fg-held", ns)
    assert held["metadata"].get("deletionTimestamp")  # deleted, but held by its own finalizer
    await h.settle()
    assert not await gone(client, "replicasets", "fg", ns)  # the owner waits for it
    await client.patch("pods", "fg-held", {"metadata": {"finalizers": None}}, ns)
    await h.until(lambda: gone(client, "replicasets", "fg", ns))


async def test_foreground_does_not_wait_for_non_blocking(h: Harness, client: ApiClient, ns: str, gc: GarbageCollector) -> None:
    rs = await client.create("replicasets", rs_body("nb"), ns)
    await pod(client, ns, "nb-held", refs=[ref(rs, block=False)], finalizers=["test.shoal.io/hold"])
    await client.delete("replicasets", "nb", ns, propagation_policy="Foreground")
    await h.until(lambda: gone(client, "replicasets", "nb", ns))
    held = await client.get("pods", "nb-held", ns)
    assert held["metadata"].get("deletionTimestamp")  # still deleted, just not waited for
    await client.patch("pods", "nb-held", {"metadata": {"finalizers": None}}, ns)


async def test_orphan_keeps_dependents_without_the_reference(h: Harness, client: ApiClient, ns: str, gc: GarbageCollector) -> None:
    rs = await client.create("replicasets", rs_body("or"), ns)
    await pod(client, ns, "or-a", rs)
    await pod(client, ns, "or-b", rs)
    await client.delete("replicasets", "or", ns, propagation_policy="Orphan")
    await h.until(lambda: gone(client, "replicasets", "or", ns))
    for n in ("or-a", "or-b"):
        p = await client.get("pods", n, ns)
        assert not p["metadata"].get("ownerReferences") and not p["metadata"].get("deletionTimestamp")


async def test_dependent_with_a_remaining_owner_loses_only_the_dangling_reference(
        h: Harness, client: ApiClient, ns: str, gc: GarbageCollector) -> None:
    a = await client.create("replicasets", rs_body("own-a"), ns)
    b = await client.create("replicasets", rs_body("own-b"), ns)
    await pod(client, ns, "shared", refs=[ref(a), ref(b, controller=False)])
    await client.delete("replicasets", "own-a", ns)

    async def only_b() -> bool:
        refs = (await client.get("pods", "shared", ns))["metadata"].get("ownerReferences") or []
        return [r["name"] for r in refs] == ["own-b"]

    await h.until(only_b)
    assert not (await client.get("pods", "shared", ns))["metadata"].get("deletionTimestamp")


async def test_owner_missing_or_replaced_deletes_dependent(h: Harness, client: ApiClient, ns: str, gc: GarbageCollector) -> None:
    rs = await client.create("replicasets", rs_body("ghost"), ns)
    stale = ref(rs)
    await client.delete("replicasets", "ghost", ns, propagation_policy="Orphan")
    await h.until(lambda: gone(client, "replicasets", "ghost", ns))
    await client.create("replicasets", rs_body("ghost"), ns)  # same name, new uid
    await pod(client, ns, "ghost-dep", refs=[stale])
    never = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "never", "uid": str(uuid.uuid4())}
    await pod(client, ns, "nobody-dep", refs=[never])
    await h.until(lambda: gone(client, "pods", "ghost-dep", ns))
    await h.until(lambda: gone(client, "pods", "nobody-dep", ns))


async def test_new_owner_and_dependent_are_not_collected(h: Harness, client: ApiClient, ns: str,
                                                        gc: GarbageCollector) -> None:
    rs = await client.create("replicasets", rs_body("fresh"), ns)
    await pod(client, ns, "fresh-p", rs)
    # the dependent reaches the collector's cache before its owner: the owner is checked live
    await gc.informers["pods"].relist()
    assert gc.informers["replicasets"].get(f"{ns}/fresh") is None
    await gc.reconcile(("pods", f"{ns}/fresh-p"))
    assert not await gone(client, "pods", "fresh-p", ns)
    await h.settle()
    assert await names(client, "pods", ns) == {"fresh-p"}


async def test_unknown_owner_kind_is_left_alone(h: Harness, client: ApiClient, ns: str, gc: GarbageCollector) -> None:
    alien = {"apiVersion": "example.com/v1", "kind": "Widget", "name": "w", "uid": str(uuid.uuid4())}
    await pod(client, ns, "alien-dep", refs=[alien])
    await h.settle()
    assert not await gone(client, "pods", "alien-dep", ns)


async def test_cluster_scoped_owner_of_a_namespaced_dependent(h: Harness, client: ApiClient, ns: str, gc: GarbageCollector) -> None:
    owner_ns = await client.create("namespaces", {"metadata": {"name": f"owner-{uuid.uuid4().hex[:6]}"}})
    cm = {"metadata": {"name": "owned", "ownerReferences": [ref(owner_ns)]}, "data": {}}
    await client.create("configmaps", cm, ns)
    await client.delete("namespaces", owner_ns["metadata"]["name"])
    await client.request("PUT", f"/api/v1/namespaces/{owner_ns['metadata']['name']}/finalize",
                         body={"metadata": {"name": owner_ns["metadata"]["name"]}, "spec": {"finalizers": []}})
    await h.until(lambda: gone(client, "configmaps", "owned", ns))


async def test_bad_delete_options(client: ApiClient, ns: str) -> None:
    await client.create("configmaps", {"metadata": {"name": "x"}}, ns)
    with pytest.raises(ApiException) as e:
        await client.delete("configmaps", "x", ns, propagation_policy="Sideways")
    assert e.value.status == 400 and "propagationPolicy" in e.value.message
    with pytest.raises(ApiException) as e:
        await client.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/x",
                             body={"propagationPolicy": "Orphan", "orphanDependents": True})
    assert e.value.status == 422
    # the deprecated orphanDependents alone means Orphan: the finalizer holds the object for the collector
    await client.request("DELETE", f"/api/v1/namespaces/{ns}/configmaps/x", body={"orphanDependents": True})
    held = await client.get("configmaps", "x", ns)
    assert held["metadata"]["finalizers"] == ["orphan"]
    await client.patch("configmaps", "x", {"metadata": {"finalizers": None}}, ns)
    assert await gone(client, "configmaps", "x", ns)


async def test_changing_policy_of_a_terminating_object(client: ApiClient, ns: str) -> None:
    await client.create("configmaps", {"metadata": {"name": "y", "finalizers": ["test.shoal.io/hold"]}}, ns)
    await client.delete("configmaps", "y", ns, propagation_policy="Orphan")
    assert (await client.get("configmaps", "y", ns))["metadata"]["finalizers"] == ["test.shoal.io/hold", "orphan"]
    await client.delete("configmaps", "y", ns, propagation_policy="Foreground")
    assert (await client.get("configmaps", "y", ns))["metadata"]["finalizers"] == [
        "test.shoal.io/hold", "foregroundDeletion"]
    await client.delete("configmaps", "y", ns, propagation_policy="Background")
    assert (await client.get("configmaps", "y", ns))["metadata"]["finalizers"] == ["test.shoal.io/hold"]
    await client.patch("configmaps", "y", {"metadata": {"finalizers": None}}, ns)


# ---- pod GC --------------------------------------------------------------------------------------


def _pod(name: str, created: str, phase: str, *, deleting: bool = False) -> Obj:
    md: Obj = {"name": name, "creationTimestamp": created}
    if deleting:
        md["deletionTimestamp"] = created
    return {"metadata": md, "status": {"phase": phase}}


def test_terminated_to_delete_picks_the_oldest_beyond_the_threshold() -> None:
    pods = [_pod("new-ok", "2024-01-03T00:00:00Z", "Succeeded"), _pod("old-fail", "2024-01-01T00:00:00Z", "Failed"),
            _pod("mid", "2024-01-02T00:00:00Z", "Succeeded"), _pod("run", "2023-01-01T00:00:00Z", "Running"),
            _pod("going", "2023-01-01T00:00:00Z", "Failed", deleting=True)]
    assert [p["metadata"]["name"] for p in terminated_to_delete(pods, 1)] == ["old-fail", "mid"]
    assert terminated_to_delete(pods, 3) == []
    assert terminated_to_delete(pods, 0) == []  # 0 disables, as upstream


async def test_podgc_terminated_threshold_and_orphaned_pods(h: Harness, client: ApiClient, ns: str) -> None:
    pods, nodes = h.factory.informer("pods", namespace=ns), h.factory.informer("nodes")
    pgc = PodGC(h.context(), period=3600, threshold=2)
    pgc.setup(pods, nodes)
    for i in range(4):
        p = await pod(client, ns, f"done-{i}", refs=[])
        p["status"] = {"phase": "Failed" if i % 2 else "Succeeded"}
        await client.update_status("pods", p)
        await h.advance(1 if i < 2 else 0)  # creationTimestamp has second resolution
    await pod(client, ns, "running", refs=[])
    await pod(client, ns, "lost", refs=[])
    await client.bind(ns, "lost", f"no-such-node-{uuid.uuid4().hex[:6]}")
    await h.factory.relist()
    assert len(pods.list()) == 6 and pods.get(f"{ns}/lost")["spec"].get("nodeName")
    assert await pgc.pass_once() == 2  # first pass: the node is only suspected gone
    left = await names(client, "pods", ns)
    assert left == {"done-2", "done-3", "running", "lost"}
    await h.factory.relist()
    assert len(pods.list()) == 4
    assert await pgc.pass_once() == 1  # missing twice and confirmed by a live read: deleted
    assert await gone(client, "pods", "lost", ns)


# ---- the real kubectl ----------------------------------------------------------------------------


@pytest.fixture
async def srv_client(server: RunningServer) -> AsyncIterator[ApiClient]:
    c = ApiClient.http(server.url, token=server.token, ca_file=server.ca)
    yield c
    await c.close()


@pytest.mark.parametrize("cascade", ["background", "foreground", "orphan"])
async def test_kubectl_delete_cascade(server: RunningServer, srv_client: ApiClient, cascade: str) -> None:
    client = srv_client
    ns = f"gc-{uuid.uuid4().hex[:8]}"
    await client.create("namespaces", {"metadata": {"name": ns}})
    async with running_controllers(client, GarbageCollector, options={"podgc_period": 3600}):
        rs = await client.create("replicasets", rs_body("web"), ns)
        for i in range(3):
            await pod(client, ns, f"web-{i}", rs)
        p = await asyncio.to_thread(server.kubectl, "delete", "replicaset", "web", "-n", ns, f"--cascade={cascade}",
                                    "--timeout=30s")
        assert 'replicaset.apps "web" deleted' in p.stdout
        # kubectl waits for the ReplicaSet itself to be gone (foreground: after its pods)
        assert await gone(client, "replicasets", "web", ns)
        if cascade == "foreground":
            assert await names(client, "pods", ns) == set()
        elif cascade == "background":
            await eventually(lambda: _eq(names(client, "pods", ns), set()))
        else:
            left = (await client.list("pods", ns))["items"]
            assert {q["metadata"]["name"] for q in left} == {"web-0", "web-1", "web-2"}
            assert all(not q["metadata"].get("ownerReferences") for q in left)
