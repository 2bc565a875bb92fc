"""PriorityClass objects and priority admission: a pod's class becomes its ``spec.priority``.

The pure decision (``priority.resolve``) is table-tested; the rest runs an in-process
``ApiServer`` over a real SQLite store, so the cache, the write-through and the watch cache
that feed it are the ones ``shoal server`` uses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from shoal.api import kinds
from shoal.apiserver import errors
from shoal.apiserver.app import ApiServer
from shoal.apiserver.priority import PriorityClassCache, Refused, Resolved, default_class, resolve
from shoal.store.sqlite import SqliteStore

PC = kinds.lookup("scheduling.k8s.io", "v1", "priorityclasses")
assert PC is not None


def pc(name: str, value: int, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
            "value": value, **extra}


def stored(name: str, value: int, policy: str = "PreemptLowerPriority", **extra: Any) -> dict[str, Any]:
    return {**pc(name, value, **extra), "preemptionPolicy": policy}


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


# ---- the decision ---------------------------------------------------------------------------

HIGH = stored("high", 1000)
NEVER = stored("batch", 10, "Never")
DEFAULT = stored("everyone", 5, globalDefault=True)
CRITICAL = stored("system-node-critical", 2_000_001_000)


@pytest.mark.parametrize(("ns", "name", "named", "default", "asked", "want"), [
    ("default", "high", HIGH, None, (None, None), Resolved("high", 1000, "PreemptLowerPriority")),
    ("default", "batch", NEVER, DEFAULT, (None, None), Resolved("batch", 10, "Never")),
    ("default", "", None, DEFAULT, (None, None), Resolved("everyone", 5, "PreemptLowerPriority")),
    ("default", "", None, None, (None, None), Resolved("", 0, "PreemptLowerPriority")),
    ("default", "", None, None, (0, "PreemptLowerPriority"), Resolved("", 0, "PreemptLowerPriority")),
    ("default", "high", HIGH, None, (1000, None), Resolved("high", 1000, "PreemptLowerPriority")),
    ("kube-system", "system-node-critical", CRITICAL, None, (None, None),
     Resolved("system-node-critical", 2_000_001_000, "PreemptLowerPriority")),
])
def test_resolve_admits(ns: str, name: str, named: Any, default: Any, asked: tuple[Any, Any], want: Resolved) -> None:
    assert resolve(ns, name, named, default, *asked) == want


@pytest.mark.parametrize(("ns", "name", "named", "default", "asked", "message"), [
    ("default", "nope", None, DEFAULT, (None, None), "no PriorityClass with name nope was found"),
    ("default", "system-node-critical", CRITICAL, None, (None, None),
     "pods with system-node-critical priorityClass is not permitted in default namespace"),
    ("default", "", None, None, (7, None),
     "the integer value of priority (7) must not be provided in pod spec; priority admission controller "
     "computed 0 from the given PriorityClass name"),
    ("default", "high", HIGH, None, (1, None), "priority admission controller computed 1000"),
    ("default", "batch", NEVER, None, (None, "PreemptLowerPriority"),
     "the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; "
     "priority admission controller computed Never"),
])
def test_resolve_refuses(ns: str, name: str, named: Any, default: Any, asked: tuple[Any, Any], message: str) -> None:
    with pytest.raises(Refused) as e:
        resolve(ns, name, named, default, *asked)
    assert message in str(e.value)


def test_default_class_is_the_lowest_of_those_marked() -> None:
    assert default_class([HIGH, NEVER]) is None
    two = [stored("b", 9, globalDefault=True), stored("a", 3, globalDefault=True), HIGH]
    assert default_class(two)["metadata"]["name"] == "a"  # type: ignore[index]


# ---- through the API server -----------------------------------------------------------------

@pytest.fixture
async def api(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    server = ApiServer(store)
    await server.start()
    yield server
    await server.stop()
    await store.close()


def res(api: ApiServer, plural: str) -> Any:
    return next(r for r in api.resources.values() if r.info.plural == plural)


async def refused(coro: Any) -> errors.ApiError:
    with pytest.raises(errors.ApiError) as e:
        await coro
    return e.value


async def test_system_classes_exist_and_cannot_be_deleted(api: ApiServer) -> None:
    pcs = res(api, "priorityclasses")
    names = {o["metadata"]["name"]: o["value"] for o in (await pcs.list(None, want_objects=True)).objs}
    assert names == {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}
    e = await refused(pcs.delete(None, "system-node-critical"))
    assert e.code == 403 and "this is a system priority class and cannot be deleted" in e.message
    await pcs.create(None, pc("mine", 1))
    await pcs.delete_collection(None, match=None)  # takes what it may and leaves the system's
    left = {o["metadata"]["name"] for o in (await pcs.list(None, want_objects=True)).objs}
    assert left == {"system-node-critical", "system-cluster-critical"}


async def test_pod_gets_its_class_priority_and_policy(api: ApiServer) -> None:
    pcs, pods = res(api, "priorityclasses"), res(api, "pods")
    made = (await pcs.create(None, pc("high", 1000, preemptionPolicy="Never"))).obj
    assert made["preemptionPolicy"] == "Never" and "globalDefault" not in made
    p = (await pods.create("default", pod("a", priorityClassName="high"))).obj
    assert (p["spec"]["priority"], p["spec"]["preemptionPolicy"]) == (1000, "Never")
    plain = (await pods.create("default", pod("b"))).obj
    assert (plain["spec"]["priority"], plain["spec"]["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert "priorityClassName" not in plain["spec"]
    critical = (await pods.create("kube-system", pod("c", priorityClassName="system-cluster-critical"))).obj
    assert critical["spec"]["priority"] == 2_000_000_000


async def test_refused_pods_are_not_written(api: ApiServer) -> None:
    pods = res(api, "pods")
    await res(api, "priorityclasses").create(None, pc("high", 1000))
    cases = [
        (pod("missing", priorityClassName="nope"), "no PriorityClass with name nope was found"),
        (pod("claims", priority=5), "the integer value of priority (5) must not be provided"),
        (pod("mismatch", priorityClassName="high", priority=1), "computed 1000 from the given PriorityClass"),
        (pod("policy", preemptionPolicy="Never"), "the string value of PreemptionPolicy (Never)"),
        (pod("critical", priorityClassName="system-node-critical"), "is not permitted in default namespace"),
    ]
    for body, message in cases:
        e = await refused(pods.create("default", body))
        assert e.code == 403 and e.reason == "Forbidden", body
        assert e.message.startswith(f'pods "{body["metadata"]["name"]}" is forbidden: ') and message in e.message
        assert e.details == {"kind": "pods", "name": body["metadata"]["name"]}
    assert (await pods.list("default", want_objects=True)).objs == []
    # a dry run is refused the same way, and a good one shows what would be written
    e = await refused(pods.create("default", pod("dry", priorityClassName="nope"), dry_run=True))
    assert e.code == 403
    dry = (await pods.create("default", pod("dry", priorityClassName="high"), dry_run=True)).obj
    assert dry["spec"]["priority"] == 1000


async def test_one_global_default(api: ApiServer) -> None:
    pcs, pods = res(api, "priorityclasses"), res(api, "pods")
    await pcs.create(None, pc("everyone", 7, globalDefault=True))
    p = (await pods.create("default", pod("a"))).obj
    assert (p["spec"]["priorityClassName"], p["spec"]["priority"]) == ("everyone", 7)
    e = await refused(pcs.create(None, pc("second", 8, globalDefault=True)))
    assert e.code == 403
    assert e.message == ('priorityclasses.scheduling.k8s.io "second" is forbidden: PriorityClass everyone is '
                         "already marked as default. Only one default can exist")
    await pcs.create(None, pc("second", 8))
    e = await refused(pcs.patch(None, "second", b'{"globalDefault": true}', "application/merge-patch+json"))
    assert e.code == 403
    # the default itself may be written again, and once it steps down another may take over
    await pcs.patch(None, "everyone", b'{"description": "all pods"}', "application/merge-patch+json")
    await pcs.patch(None, "everyone", b'{"globalDefault": false}', "application/merge-patch+json")
    await pcs.patch(None, "second", b'{"globalDefault": true}', "application/merge-patch+json")
    assert (await pods.create("default", pod("b"))).obj["spec"]["priority"] == 8
    await pcs.delete(None, "second")
    assert (await pods.create("default", pod("c"))).obj["spec"]["priority"] == 0


@pytest.mark.parametrize(("body", "field", "message"), [
    (pc("too-high", 1_000_000_001), "value", "maximum allowed value of a user defined priority is 1000000000"),
    (pc("system-mine", 5), "metadata.name", "priority class names with 'system-' prefix are reserved"),
    (pc("system-node-critical", 5), "metadata.name", "value of system-node-critical PriorityClass must be"),
    (pc("sometimes", 5, preemptionPolicy="Sometimes"), "preemptionPolicy", "Unsupported value"),
    (pc("huge", -(2**31) - 1), "value", "must be a 32-bit integer"),
    (pc("Upper", 1), "metadata.name", "RFC 1123"),
])
async def test_invalid_classes(api: ApiServer, body: dict[str, Any], field: str, message: str) -> None:
    pcs = res(api, "priorityclasses")
    e = await refused(pcs.create(None, body))
    assert e.code == 422 and e.reason == "Invalid"
    causes = e.details["causes"]  # type: ignore[index]
    assert any(c["field"] == field and message in c["message"] for c in causes), causes
    names = {o["metadata"]["name"] for o in (await pcs.list(None, want_objects=True)).objs}
    assert body["metadata"]["name"] not in names or body["metadata"]["name"].startswith("system-node")


async def test_value_and_policy_are_immutable(api: ApiServer) -> None:
    pcs = res(api, "priorityclasses")
    await pcs.create(None, pc("fixed", 10))
    for patch, field in ((b'{"value": 11}', "value"), (b'{"preemptionPolicy": "Never"}', "preemptionPolicy")):
        e = await refused(pcs.patch(None, "fixed", patch, "application/merge-patch+json"))
        assert e.code == 422 and any(c["field"] == field for c in e.details["causes"])  # type: ignore[index]
    got = (await pcs.get(None, "fixed")).obj
    assert (got["value"], got["preemptionPolicy"]) == (10, "PreemptLowerPriority")


async def test_a_class_created_is_seen_by_the_next_pod_create(api: ApiServer) -> None:
    pcs, pods = res(api, "priorityclasses"), res(api, "pods")
    for i in range(20):  # no watch lag: this server's own writes reach the cache as they are acknowledged
        await pcs.create(None, pc(f"c{i}", i))
        assert (await pods.create("default", pod(f"p{i}", priorityClassName=f"c{i}"))).obj["spec"]["priority"] == i
        await pcs.delete(None, f"c{i}")
        e = await refused(pods.create("default", pod(f"q{i}", priorityClassName=f"c{i}")))
        assert e.code == 403


async def test_writes_straight_to_the_store_reach_the_cache(api: ApiServer) -> None:
    """Another server on the same etcd writes classes too: the watch cache tells this one."""
    store = api.store
    key = PC.key(None, "elsewhere")
    rev = await store.create(key, msgspec.json.encode(stored("elsewhere", 3, globalDefault=True)))
    for _ in range(200):
        if await api.priority_classes.default() is not None:
            break
        await asyncio.sleep(0.01)
    assert (await res(api, "pods").create("default", pod("a"))).obj["spec"]["priority"] == 3
    await store.delete(key, expected_revision=rev)
    for _ in range(200):
        if await api.priority_classes.default() is None:
            break
        await asyncio.sleep(0.01)
    assert (await res(api, "pods").create("default", pod("b"))).obj["spec"]["priority"] == 0


async def test_cache_reload_forgets_what_was_deleted_unseen(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.start()
    try:
        cache = PriorityClassCache(store, PC)
        key = PC.key(None, "d")
        rev = await store.create(key, msgspec.json.encode(stored("d", 1, globalDefault=True)))
        assert (await cache.default())["metadata"]["name"] == "d"  # type: ignore[index]
        await store.delete(key, expected_revision=rev)  # nobody tells the cache
        cache.reset()  # what the watch cache does when its watch was broken
        assert await cache.default() is None
        assert await cache.get("d") is None
    finally:
        await store.close()


async def test_classes_survive_a_restart(tmp_path: Path) -> None:
    for round_ in range(2):
        store = SqliteStore(tmp_path / "state.db")
        await store.start()
        server = ApiServer(store)
        await server.start()
        try:
            if round_ == 0:
                await res(server, "priorityclasses").create(None, pc("kept", 42, globalDefault=True))
            else:
                p = (await res(server, "pods").create("default", pod("after"))).obj
                assert (p["spec"]["priorityClassName"], p["spec"]["priority"]) == ("kept", 42)
                names = [o["metadata"]["name"] for o in (await res(server, "priorityclasses").list(
                    None, want_objects=True)).objs]
                assert sorted(names) == ["kept", "system-cluster-critical", "system-node-critical"]
        finally:
            await server.stop()
            await store.close()
