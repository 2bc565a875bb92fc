"""The ReplicaSet controller, driven step by step (``harness.py``) with the fake cluster playing the nodes."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.client import ApiClient, ApiException
from shoal.controllers.replicaset import ReplicaSetController
from tests.controllers.fake_kubelet import FakeCluster
from tests.controllers.harness import Harness

Obj = dict[str, Any]


@pytest.fixture
async def rsc(h: Harness) -> ReplicaSetController:
    return await h.start(ReplicaSetController)


@pytest.fixture
async def ns(h: Harness) -> str:
    return await h.namespace("rs")


@pytest.fixture
async def cluster(h: Harness) -> FakeCluster:
    return await h.fake_cluster()


@pytest.fixture
def client(h: Harness) -> ApiClient:
    return h.client


def rs_body(name: str, replicas: int, *, image: str = "nginx:1", labels: dict[str, str] | None = None,
            min_ready: int = 0) -> Obj:
    labels = labels or {"app": name}
    return {"metadata": {"name": name}, "spec": {
        "replicas": replicas, "minReadySeconds": min_ready, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": image}]}}}}


async def pods_of(client: ApiClient, ns: str, *, active: bool = True) -> list[Obj]:
    items = (await client.list("pods", ns))["items"]
    if active:
        items = [p for p in items if not p["metadata"].get("deletionTimestamp")]
    return items


def owner_uid(pod: Obj) -> str | None:
    for r in pod["metadata"].get("ownerReferences") or []:
        if r.get("controller"):
            return str(r["uid"])
    return None


async def test_keeps_replicas_and_writes_status(h: Harness, client: ApiClient, ns: str, cluster: FakeCluster,
                                                rsc: ReplicaSetController) -> None:
    rs = await client.create("replicasets", rs_body("web", 3), ns)
    uid = rs["metadata"]["uid"]

    async def status_is(**want: int) -> bool:
        st = (await client.get("replicasets", "web", ns)).get("status") or {}
        return all(int(st.get(k) or 0) == v for k, v in want.items())

    await h.until(lambda: status_is(replicas=3, readyReplicas=3, availableReplicas=3, fullyLabeledReplicas=3,
                                       observedGeneration=1))
    pods = await pods_of(client, ns)
    assert len(pods) == 3 and all(owner_uid(p) == uid for p in pods)
    assert all(p["metadata"]["name"].startswith("web-") for p in pods)
    ref = pods[0]["metadata"]["ownerReferences"][0]
    assert ref == {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": uid, "controller": True,
                   "blockOwnerDeletion": True}

    # a pod that dies is replaced
    victim = pods[0]["metadata"]["name"]
    await client.delete("pods", victim, ns, grace_period_seconds=0)

    async def replaced() -> bool:
        names = {p["metadata"]["name"] for p in await pods_of(client, ns) if p["status"].get("phase") == "Running"}
        return victim not in names and len(names) == 3

    await h.until(replaced)
    await h.until(lambda: status_is(replicas=3, readyReplicas=3))

    # scale down through the scale subresource, then up
    await client.patch("replicasets", "web", {"spec": {"replicas": 1}}, ns, subresource="scale")
    await h.until(lambda: status_is(replicas=1, readyReplicas=1, observedGeneration=2))
    await h.until(lambda: _count(client, ns, 1))
    await client.patch("replicasets", "web", {"spec": {"replicas": 5}}, ns)
    await h.until(lambda: status_is(replicas=5, availableReplicas=5))
    assert len(await pods_of(client, ns)) == 5


async def _count(client: ApiClient, ns: str, n: int) -> bool:
    return len(await pods_of(client, ns, active=False)) == n


async def test_no_double_create_under_expectations(h: Harness, client: ApiClient, ns: str, cluster: FakeCluster,
                                                    rsc: ReplicaSetController) -> None:
    await client.create("replicasets", rs_body("many", 60), ns)
    await h.factory.relist()
    await rsc.reconcile(f"{ns}/many")  # creates 60 pods, expecting to see them
    assert len(await pods_of(client, ns, active=False)) == 60
    # passes while its cache has not caught up with its own creations must not create more
    for _ in range(2):
        try:
            await rsc.reconcile(f"{ns}/many")
        except ApiException as e:  # its status write met its own earlier one (a stale cache): the worker retries
            assert e.status == 409
    assert len(await pods_of(client, ns, active=False)) == 60
    # and once the pods run, a pass per step until it settles still leaves 60
    for _ in range(5):
        rsc.queue.add(f"{ns}/many")
        await h.step()
    await h.until(lambda: _ready(client, ns, "many", 60))
    assert len(await pods_of(client, ns, active=False)) == 60


async def test_adopts_orphans_and_releases_relabelled(h: Harness, client: ApiClient, ns: str, cluster: FakeCluster
                                                     ) -> None:
    for i in range(2):
        await client.create("pods", {"metadata": {"name": f"orphan-{i}", "labels": {"app": "adopt"}},
                                     "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}, ns)
    await client.create("pods", {"metadata": {"name": "stranger", "labels": {"app": "other"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}, ns)
    await h.start(ReplicaSetController)
    rs = await client.create("replicasets", rs_body("adopt", 3), ns)
    uid = rs["metadata"]["uid"]

    async def owned() -> list[Obj]:
        return [p for p in await pods_of(client, ns) if owner_uid(p) == uid]

    await h.until(lambda: _len(owned(), 3))
    names = {p["metadata"]["name"] for p in await owned()}
    assert {"orphan-0", "orphan-1"} <= names
    assert owner_uid(await client.get("pods", "stranger", ns)) is None

    # relabel an owned pod: it is released (no controller reference) and replaced
    await client.patch("pods", "orphan-0", {"metadata": {"labels": {"app": "gone"}}}, ns)
    await h.until(lambda: _released(client, ns, "orphan-0"))
    await h.until(lambda: _len(owned(), 3))
    assert "orphan-0" not in {p["metadata"]["name"] for p in await owned()}


async def _len(coro: Any, n: int) -> bool:
    return len(await coro) == n


async def _released(client: ApiClient, ns: str, name: str) -> bool:
    return owner_uid(await client.get("pods", name, ns)) is None


async def test_scale_down_deletes_not_ready_first(h: Harness, client: ApiClient, ns: str, cluster: FakeCluster,
                                                 rsc: ReplicaSetController) -> None:
    await client.create("replicasets", rs_body("rank", 3), ns)
    await h.until(lambda: _ready(client, ns, "rank", 3))
    pods = sorted(await pods_of(client, ns), key=lambda p: p["metadata"]["creationTimestamp"])
    # the oldest pod stops being ready (its readiness probe fails, as the agent would report)
    sick = pods[0]["metadata"]["name"]
    cluster.paused = True
    st = dict(pods[0]["status"])
    st["conditions"] = [c if c["type"] != "Ready" else {**c, "status": "False"} for c in st["conditions"]]
    await client.patch("pods", sick, {"status": st}, ns, subresource="status")
    await h.until(lambda: _ready(client, ns, "rank", 2))
    cluster.paused = False
    await client.patch("replicasets", "rank", {"spec": {"replicas": 2}}, ns)
    await h.until(lambda: _count(client, ns, 2))
    left = {p["metadata"]["name"] for p in await pods_of(client, ns)}
    assert sick not in left


async def _ready(client: ApiClient, ns: str, name: str, n: int) -> bool:
    st = (await client.get("replicasets", name, ns)).get("status") or {}
    return int(st.get("readyReplicas") or 0) == n


async def test_min_ready_seconds_delays_availability(h: Harness, client: ApiClient, ns: str, cluster: FakeCluster,
                                                    rsc: ReplicaSetController) -> None:
    await client.create("replicasets", rs_body("slow", 2, min_ready=2), ns)
    await h.until(lambda: _ready(client, ns, "slow", 2))
    await h.settle()
    st = (await client.get("replicasets", "slow", ns))["status"]
    assert int(st.get("availableReplicas") or 0) == 0  # ready, but not for minReadySeconds yet
    await h.advance(1)
    await h.settle()
    assert not await _available(client, ns, "slow", 2)
    await h.advance(1)
    await h.until(lambda: _available(client, ns, "slow", 2))


async def _available(client: ApiClient, ns: str, name: str, n: int) -> bool:
    st = (await client.get("replicasets", name, ns)).get("status") or {}
    return int(st.get("availableReplicas") or 0) == n


async def test_create_failure_reports_replica_failure(h: Harness, client: ApiClient, ns: str,
                                                     rsc: ReplicaSetController) -> None:
    # pods cannot be created in a namespace that is being deleted (no namespace controller runs here)
    await client.create("replicasets", rs_body("doomed", 0), ns)
    await client.delete("namespaces", ns)
    await client.patch("replicasets", "doomed", {"spec": {"replicas": 2}}, ns)
    await h.until(lambda: _failure(client, ns, "doomed"))
    st = (await client.get("replicasets", "doomed", ns))["status"]
    cond = next(c for c in st["conditions"] if c["type"] == "ReplicaFailure")
    assert cond["status"] == "True" and cond["reason"] == "FailedCreate" and "terminated" in cond["message"]
    assert await pods_of(client, ns) == []


async def _failure(client: ApiClient, ns: str, name: str) -> bool:
    st = (await client.get("replicasets", name, ns)).get("status") or {}
    return any(c["type"] == "ReplicaFailure" for c in st.get("conditions") or [])


@pytest.mark.parametrize("body, field", [
    ({"replicas": 1, "selector": {"matchLabels": {"app": "a"}},
      "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
     "spec.template.metadata.labels"),
    ({"replicas": -1, "selector": {"matchLabels": {"app": "a"}},
      "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
     "spec.replicas"),
    ({"replicas": 1, "selector": {},
      "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}},
     "spec.selector"),
])
async def test_bad_replicasets_are_422(client: ApiClient, ns: str, body: Obj, field: str) -> None:
    with pytest.raises(ApiException) as e:
        await client.create("replicasets", {"metadata": {"name": "bad"}, "spec": body}, ns)
    assert e.value.status == 422
    fields = [c.get("field") for c in (e.value.body.get("details") or {}).get("causes") or []]
    assert field in fields, fields
