"""The Deployment controller (with the ReplicaSet controller), driven step by step (``harness.py``), with
the fake kubelet playing the node on the harness's fake clock.

The availability test follows the pods through an informer's handlers, which
the harness updates between any two actors, and checks the promise of a
rolling update at every change it sees: never fewer than
``replicas - maxUnavailable`` Ready pods (terminating pods do not count),
never more than ``replicas + maxSurge`` pods.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from shoal.client import ApiClient, ApiException
from shoal.controllers.deployment import DeploymentController
from shoal.controllers.history import FULLY_AVAILABLE, REVISION
from shoal.controllers.replicaset import ReplicaSetController
from tests.controllers.conftest import FakeKubelet
from tests.controllers.harness import Harness

Obj = dict[str, Any]


def dep_body(name: str, replicas: int, image: str, *, surge: Any = 1, unavailable: Any = 1,
             strategy: str = "RollingUpdate", annotations: dict[str, str] | None = None, **spec: Any) -> Obj:
    strat: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": name, "annotations": annotations or {}}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}}, "strategy": strat,
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "web", "image": image}]}}, **spec}}


async def dep(client: ApiClient, ns: str, name: str) -> Obj:
    return await client.get("deployments", name, ns)


async def rolled_out(client: ApiClient, ns: str, name: str, image: str | None = None) -> bool:
    """What ``kubectl rollout status`` calls success (and, optionally, the image it runs)."""
    d = await dep(client, ns, name)
    st = d.get("status") or {}
    want = d["spec"]["replicas"]
    ok = (int(st.get("observedGeneration") or 0) >= d["metadata"]["generation"]
          and int(st.get("updatedReplicas") or 0) == want and int(st.get("replicas") or 0) == want
          and int(st.get("availableReplicas") or 0) == want)
    if ok and image is not None:
        ok = d["spec"]["template"]["spec"]["containers"][0]["image"] == image
    return ok


async def replica_sets(client: ApiClient, ns: str) -> list[Obj]:
    return sorted((await client.list("replicasets", ns))["items"],
                  key=lambda rs: int(rs["metadata"].get("annotations", {}).get(REVISION) or 0))


def image_of(o: Obj) -> str:
    return str(o["spec"]["template"]["spec"]["containers"][0]["image"]) if "template" in o["spec"] else \
        str(o["spec"]["containers"][0]["image"])


def condition(d: Obj, type_: str) -> Obj:
    return next(c for c in (d.get("status") or {}).get("conditions") or [] if c["type"] == type_)


@pytest.fixture
def client(h: Harness) -> ApiClient:
    return h.client


@pytest.fixture
async def ns(h: Harness) -> str:
    return await h.namespace("dep")


@pytest.fixture
async def kubelet(h: Harness, ns: str) -> FakeKubelet:
    k = FakeKubelet(h.client, ns, clock=h.clock, monotonic=h.clock.monotonic, factory=h.factory)
    await k.register()
    return await h.attach(k)


async def controllers(h: Harness) -> None:
    await h.start(ReplicaSetController)
    await h.start(DeploymentController)


class PodWatch:
    """Follows the namespace's pods through the harness's informer and records the extremes it observes."""

    def __init__(self, h: Harness, ns: str) -> None:
        self.informer = h.factory.informer("pods", namespace=ns)
        self.pods: dict[str, Obj] = {}
        self.min_ready = 10**9
        self.max_pods = 0
        self.events = 0
        self.log: list[tuple[str, str, str]] = []  # (type, pod, image)

    def start(self) -> None:
        for p in self.informer.list():
            self.pods[p["metadata"]["name"]] = p
        self._observe()
        self.informer.add_handler(on_add=lambda p: self._event("ADDED", p),
                                  on_update=lambda _o, p: self._event("MODIFIED", p),
                                  on_delete=lambda p: self._event("DELETED", p))

    def _event(self, type_: str, pod: Obj) -> None:
        name = pod["metadata"]["name"]
        if type_ == "DELETED":
            self.pods.pop(name, None)
        else:
            self.pods[name] = pod
        self.log.append((type_, name, image_of(pod)))
        self.events += 1
        self._observe()

    def live(self) -> list[Obj]:
        return [p for p in self.pods.values() if not p["metadata"].get("deletionTimestamp")]

    def ready(self) -> int:
        return sum(1 for p in self.live() if any(c["type"] == "Ready" and c["status"] == "True"
                                                 for c in (p.get("status") or {}).get("conditions") or []))

    def _observe(self) -> None:
        self.min_ready = min(self.min_ready, self.ready())
        self.max_pods = max(self.max_pods, len(self.live()))


@pytest.mark.parametrize("surge, unavailable, min_ready, max_pods", [(1, 1, 3, 5), (1, 0, 4, 5), ("50%", "25%", 3, 6)])
async def test_rolling_update_never_drops_below_min_available(
        h: Harness, client: ApiClient, ns: str, kubelet: FakeKubelet,
        surge: Any, unavailable: Any, min_ready: int, max_pods: int) -> None:
    kubelet.ready_delay = 0.3  # pods take a moment to become Ready, so the steps are visible
    await controllers(h)
    await client.create("deployments", dep_body("web", 4, "nginx:1", surge=surge, unavailable=unavailable), ns)
    await h.until(lambda: rolled_out(client, ns, "web"))
    watch = PodWatch(h, ns)
    watch.start()
    await client.patch("deployments", "web", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:2"}]}}}}, ns, patch_type="strategic")
    await h.until(lambda: rolled_out(client, ns, "web", "nginx:2"))
    await h.until(lambda: len(watch.pods) == 4)
    assert watch.events > 10
    assert watch.min_ready >= min_ready, watch.log
    assert watch.max_pods <= max_pods, watch.log
    assert {image_of(p) for p in watch.pods.values()} == {"nginx:2"}
    rss = await replica_sets(client, ns)
    assert [(image_of(rs), rs["spec"]["replicas"], rs["metadata"]["annotations"][REVISION]) for rs in rss] == \
        [("nginx:1", 0, "1"), ("nginx:2", 4, "2")]
    d = await dep(client, ns, "web")
    assert d["metadata"]["annotations"][REVISION] == "2"
    assert condition(d, "Available")["reason"] == "MinimumReplicasAvailable"
    assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
    assert FULLY_AVAILABLE in rss[1]["metadata"]["annotations"]
    st = d["status"]
    assert (st["replicas"], st["updatedReplicas"], st["readyReplicas"], st["availableReplicas"],
            st["observedGeneration"]) == (4, 4, 4, 4, 2)
    assert "unavailableReplicas" not in st


async def test_recreate_stops_every_old_pod_first(h: Harness, client: ApiClient, ns: str, kubelet: FakeKubelet) -> None:
    kubelet.stop_delay = 0.3  # old pods take a moment to stop
    await controllers(h)
    await client.create("deployments", dep_body("rec", 3, "nginx:1", strategy="Recreate"), ns)
    await h.until(lambda: rolled_out(client, ns, "rec"))
    watch = PodWatch(h, ns)
    watch.start()
    await client.patch("deployments", "rec", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": "nginx:2"}]}}}}, ns, patch_type="strategic")
    await h.until(lambda: rolled_out(client, ns, "rec", "nginx:2"))
    first_new = next(i for i, (t, _, img) in enumerate(watch.log) if t == "ADDED" and img == "nginx:2")
    old_names = {n for _, n, img in watch.log if img == "nginx:1"}
    deleted_before = {n for t, n, img in watch.log[:first_new] if t == "DELETED"}
    assert old_names and old_names <= deleted_before, watch.log


async def test_progress_deadline_exceeded(h: Harness, client: ApiClient, ns: str, kubelet: FakeKubelet) -> None:
    await controllers(h)
    await client.create("deployments", dep_body("stuck", 2, "hang:1", progressDeadlineSeconds=2), ns)

    async def timed_out() -> bool:
        with contextlib.suppress(StopIteration):
            c = condition(await dep(client, ns, "stuck"), "Progressing")
            return bool(c["status"] == "False" and c["reason"] == "ProgressDeadlineExceeded")
        return False

    await h.until(timed_out)
    d = await dep(client, ns, "stuck")
    assert condition(d, "Available")["status"] == "False"
    assert "has timed out progressing" in condition(d, "Progressing")["message"]


async def test_auto_rollback_on_crash_loop(h: Harness, client: ApiClient, ns: str, kubelet: FakeKubelet) -> None:
    await controllers(h)
    ann = {"shoal.io/auto-rollback": "true", "kubernetes.io/change-cause": "v1"}
    await client.create("deployments", dep_body("auto", 3, "nginx:1", annotations=ann), ns)
    await h.until(lambda: rolled_out(client, ns, "auto", "nginx:1"))
    await client.patch("deployments", "auto", {"metadata": {"annotations": {"kubernetes.io/change-cause": "bad"}},
                                               "spec": {"template": {"spec": {"containers": [
                                                   {"name": "web", "image": "crash:2"}]}}}}, ns,
                       patch_type="strategic")
    await h.until(lambda: rolled_out(client, ns, "auto", "nginx:1"))
    d = await dep(client, ns, "auto")
    assert d["metadata"]["generation"] == 3  # v1, bad, back to v1
    assert d["metadata"]["annotations"]["kubernetes.io/change-cause"] == "v1"
    assert d["metadata"]["annotations"][REVISION] == "3"
    rss = await replica_sets(client, ns)
    assert [(image_of(rs), rs["metadata"]["annotations"][REVISION]) for rs in rss] == [("crash:2", "2"),
                                                                                        ("nginx:1", "3")]
    await h.until(lambda: _scaled_to_zero(client, ns, "crash:2"))
    async def rollback_events() -> list[dict[str, Any]]:  # recorded in the background
        return [e for e in (await client.list("events", ns))["items"] if e["reason"] == "AutoRollback"]

    rb = await h.until(rollback_events)
    assert rb and rb[0]["type"] == "Warning" and rb[0]["involvedObject"]["name"] == "auto"
    assert "CrashLoopBackOff" in rb[0]["message"] and "revision 1" in rb[0]["message"]


async def _scaled_to_zero(client: ApiClient, ns: str, image: str) -> bool:
    rss = [rs for rs in await replica_sets(client, ns) if image_of(rs) == image]
    return all(rs["spec"]["replicas"] == 0 and not (rs.get("status") or {}).get("replicas") for rs in rss)


@pytest.mark.parametrize("image, extra", [("unready:2", {"shoal.io/auto-rollback-readiness-seconds": "1"}),
                                          ("hang:2", {})])
async def test_auto_rollback_on_readiness_or_deadline(h: Harness, client: ApiClient, ns: str, kubelet: FakeKubelet, image: str,
                                                      extra: dict[str, str]) -> None:
    await controllers(h)
    ann = {"shoal.io/auto-rollback": "true", **extra}
    await client.create("deployments", dep_body("auto", 2, "nginx:1", annotations=ann,
                                                progressDeadlineSeconds=2), ns)
    await h.until(lambda: rolled_out(client, ns, "auto", "nginx:1"))
    await client.patch("deployments", "auto", {"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": image}]}}}}, ns, patch_type="strategic")
    await h.until(lambda: rolled_out(client, ns, "auto", "nginx:1"))
    async def rollback_messages() -> list[str]:  # recorded in the background
        return [e["message"] for e in (await client.list("events", ns))["items"] if e["reason"] == "AutoRollback"]

    msgs = await h.until(rollback_messages)
    want = "without becoming Ready" if "unready" in image else "progress deadline"
    assert msgs and want in msgs[0], msgs


async def test_auto_rollback_needs_a_good_revision(h: Harness, client: ApiClient, ns: str, kubelet: FakeKubelet) -> None:
    await controllers(h)
    await client.create("deployments", dep_body("first", 2, "crash:1",
                                                annotations={"shoal.io/auto-rollback": "true"}), ns)

    async def reported() -> bool:
        evs = (await client.list("events", ns))["items"]
        return any(e["reason"] == "AutoRollbackImpossible" for e in evs)

    await h.until(reported)
    d = await dep(client, ns, "first")
    assert image_of(d) == "crash:1" and d["metadata"]["generation"] == 1


async def test_history_limit_and_scaling(h: Harness, client: ApiClient, ns: str, kubelet: FakeKubelet) -> None:
    await controllers(h)
    await client.create("deployments", dep_body("hist", 2, "nginx:1", revisionHistoryLimit=1), ns)
    for v in (2, 3):
        await h.until(lambda: rolled_out(client, ns, "hist"))
        await client.patch("deployments", "hist", {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "image": f"nginx:{v}"}]}}}}, ns, patch_type="strategic")
    await h.until(lambda: rolled_out(client, ns, "hist", "nginx:3"))

    async def pruned() -> list[tuple[str, str]]:
        rss = await replica_sets(client, ns)
        got = [(image_of(rs), rs["metadata"]["annotations"][REVISION]) for rs in rss]
        return got if got == [("nginx:2", "2"), ("nginx:3", "3")] else []

    await h.until(pruned)
    # scale through the scale subresource, as kubectl scale does
    await client.patch("deployments", "hist", {"spec": {"replicas": 5}}, ns, subresource="scale")
    await h.until(lambda: rolled_out(client, ns, "hist", "nginx:3"))
    rss = await replica_sets(client, ns)
    assert rss[-1]["spec"]["replicas"] == 5
    assert rss[-1]["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "5"


async def test_adopts_orphan_replica_set_and_steps_around_a_hash_collision(
        h: Harness, client: ApiClient, ns: str, kubelet: FakeKubelet) -> None:
    await controllers(h)
    # learn the name this template gets, then take it with a foreign ReplicaSet
    await client.create("deployments", dep_body("col", 0, "nginx:1"), ns)
    name = (await h.until(lambda: replica_sets(client, ns)))[0]["metadata"]["name"]
    await client.delete("deployments", "col", ns)
    await client.delete("replicasets", name, ns)
    await h.until(lambda: _gone(client, ns, name))
    foreign = {"metadata": {"name": name}, "spec": {
        "replicas": 0, "selector": {"matchLabels": {"app": "foreign"}},
        "template": {"metadata": {"labels": {"app": "foreign"}},
                     "spec": {"containers": [{"name": "x", "image": "other"}]}}}}
    await client.create("replicasets", foreign, ns)
    # and an orphan with this Deployment's labels, running an older template
    orphan = {"metadata": {"name": "col-orphan", "labels": {"app": "col"}}, "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "col"}},
        "template": {"metadata": {"labels": {"app": "col"}},
                     "spec": {"containers": [{"name": "web", "image": "nginx:0"}]}}}}
    await client.create("replicasets", orphan, ns)
    d = await client.create("deployments", dep_body("col", 2, "nginx:1"), ns)
    await h.until(lambda: rolled_out(client, ns, "col", "nginx:1"))
    d = await dep(client, ns, "col")
    assert d["status"]["collisionCount"] == 1
    rss = {rs["metadata"]["name"]: rs for rs in (await client.list("replicasets", ns))["items"]}
    assert rss[name]["metadata"].get("ownerReferences") is None  # the foreign one is left alone
    adopted = rss["col-orphan"]
    assert adopted["metadata"]["ownerReferences"][0]["uid"] == d["metadata"]["uid"]
    assert adopted["spec"]["replicas"] == 0
    new = [rs for n, rs in rss.items() if n not in (name, "col-orphan")]
    assert len(new) == 1 and new[0]["spec"]["replicas"] == 2


async def _gone(client: ApiClient, ns: str, name: str) -> bool:
    try:
        await client.get("replicasets", name, ns)
    except ApiException as e:
        return e.status == 404
    return False


@pytest.mark.parametrize("patch, field", [
    ({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}},
     "spec.strategy.rollingUpdate.maxUnavailable"),
    ({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "0%", "maxUnavailable": "0%"}}},
     "spec.strategy.rollingUpdate.maxUnavailable"),
    ({"selector": {"matchLabels": {"app": "other"}}}, "spec.template.metadata.labels"),
    ({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "150%x"}}},
     "spec.strategy.rollingUpdate.maxSurge"),
    ({"progressDeadlineSeconds": 5, "minReadySeconds": 10}, "spec.progressDeadlineSeconds"),
])
async def test_bad_deployments_are_422(client: ApiClient, ns: str, patch: Obj, field: str) -> None:
    body = dep_body("bad", 1, "nginx:1")
    body["spec"].update(patch)
    with pytest.raises(ApiException) as e:
        await client.create("deployments", body, ns)
    assert e.value.status == 422
    fields = [c.get("field") for c in (e.value.body.get("details") or {}).get("causes") or []]
    assert field in fields, fields
