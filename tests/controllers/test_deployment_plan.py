"""The Deployment's pure planning: fenceposts, proportional scaling, history, progress, auto-rollback.

``test_rolling_update_invariants`` drives ``plan_rollout`` against a simulated
ReplicaSet controller (pods appear at once, become available one pass later,
and the unavailable ones go first on a scale-down) for many sizes and
strategies, and checks upstream's promises at every step: never more than
``replicas + maxSurge`` pods, never fewer than ``replicas - maxUnavailable``
available, and the rollout finishes.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.controllers import autorollback, podstate, progress
from shoal.controllers.hashing import HASH_LABEL, equal_ignore_hash, pod_template_hash
from shoal.controllers.history import (
    FULLY_AVAILABLE,
    REVISION,
    REVISION_HISTORY,
    build_new_replica_set,
    history_to_clean,
    set_new_rs_annotations,
)
from shoal.controllers.rollout import Plan, plan_rollout
from shoal.controllers.scaling import fenceposts, proportional_sizes, scaled_value

Obj = dict[str, Any]
NOW = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
_uids = itertools.count(1)


def template(image: str) -> Obj:
    return {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": image}]}}


def deployment(replicas: int, *, image: str = "v2", surge: Any = "25%", unavailable: Any = "25%",
               strategy: str = "RollingUpdate", **spec: Any) -> Obj:
    strat: Obj = {"type": strategy}
    if strategy == "RollingUpdate":
        strat["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"metadata": {"name": "web", "namespace": "ns", "uid": "d-uid", "generation": 2, "annotations": {}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}, "template": template(image),
                     "strategy": strat, "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10, **spec},
            "status": {}}


def replica_set(d: Obj, image: str, replicas: int, *, revision: int, available: int | None = None) -> Obj:
    dd = copy.deepcopy(d)
    dd["spec"]["template"] = template(image)
    rs = build_new_replica_set(dd, revision_=revision, replicas=replicas, max_replicas=replicas,
                               collision_count=None)
    rs["metadata"].update(uid=f"rs-{next(_uids)}", creationTimestamp=f"2025-01-01T00:00:{revision:02d}Z",
                          generation=1)
    avail = replicas if available is None else available
    rs["status"] = {"replicas": replicas, "readyReplicas": avail, "availableReplicas": avail, "observedGeneration": 1}
    return rs


class Sim:
    """A ReplicaSet controller and a kubelet in one: applies a plan, then lets one pass of time go by."""

    def __init__(self, d: Obj, rss: list[Obj]) -> None:
        self.d = d
        self.rss = rss
        self.pods: dict[str, int] = {rs["metadata"]["name"]: rs["status"]["replicas"] for rs in rss}
        self.avail: dict[str, int] = {rs["metadata"]["name"]: rs["status"]["availableReplicas"] for rs in rss}
        self.clock = itertools.count(10)

    def apply(self, plan: Plan) -> None:
        if plan.create is not None:
            rs = copy.deepcopy(plan.create)
            rs["metadata"].update(uid=f"rs-{next(_uids)}", creationTimestamp=f"2025-01-01T01:{next(self.clock):02d}:00Z",
                                  generation=1)
            rs["status"] = {}
            self.rss.append(rs)
            self.pods[rs["metadata"]["name"]] = 0
            self.avail[rs["metadata"]["name"]] = 0
        for u in plan.updates:
            i = next(i for i, rs in enumerate(self.rss) if rs["metadata"]["name"] == u["metadata"]["name"])
            self.rss[i] = copy.deepcopy(u)
        for gone in plan.deletes:
            self.rss = [rs for rs in self.rss if rs["metadata"]["name"] != gone["metadata"]["name"]]
        if plan.status is not None:
            self.d["status"] = plan.status
        self.d["metadata"]["annotations"].update(plan.annotations)

    def tick(self) -> None:
        """Pods that existed before this tick become available; surplus pods go, unavailable first."""
        for rs in self.rss:
            name = rs["metadata"]["name"]
            want = rs["spec"]["replicas"]
            had, avail = self.pods[name], self.avail[name]
            avail = min(had, want) if want >= had else min(avail, want)
            self.pods[name], self.avail[name] = want, avail
            rs["status"] = {"replicas": want, "readyReplicas": avail, "availableReplicas": avail,
                            "observedGeneration": rs["metadata"]["generation"]}

    def available(self) -> int:
        return sum(self.avail.values())

    def total(self) -> int:
        return sum(self.pods.values())


def run(sim: Sim, *, check: Any, limit: int = 300) -> int:
    for step in range(limit):
        plan = plan_rollout(sim.d, sim.rss, {}, NOW)
        sim.apply(plan)
        check(sim)
        sim.tick()
        check(sim)
        st = sim.d["status"]
        if progress.complete(sim.d, st) and all(rs["spec"]["replicas"] == 0 for rs in sim.rss
                                                if rs["spec"]["template"]["spec"] != sim.d["spec"]["template"]["spec"]):
            return step
    raise AssertionError(f"rollout did not finish: {sim.d['status']}, {[rs['spec'] for rs in sim.rss]}")


intorpct = st.one_of(st.integers(0, 6), st.sampled_from(["0%", "10%", "25%", "50%", "100%"]))


@settings(max_examples=150, deadline=None)
@given(replicas=st.integers(0, 25), surge=intorpct, unavailable=intorpct)
def test_rolling_update_invariants(replicas: int, surge: Any, unavailable: Any) -> None:
    d = deployment(replicas, surge=surge, unavailable=unavailable)
    ms, mu = fenceposts(d)
    mu = min(mu, replicas)
    sim = Sim(d, [replica_set(d, "v1", replicas, revision=1)])

    def check(s: Sim) -> None:
        assert s.total() <= replicas + ms, (s.pods, replicas, ms)
        assert s.available() >= replicas - mu, (s.avail, replicas, mu)

    run(sim, check=check)
    new = next(rs for rs in sim.rss if rs["spec"]["template"]["spec"]["containers"][0]["image"] == "v2")
    assert new["spec"]["replicas"] == replicas and new["metadata"]["annotations"][REVISION] == "2"
    assert sim.d["metadata"]["annotations"][REVISION] == "2"
    assert new["metadata"]["annotations"].get(FULLY_AVAILABLE)
    conds = {c["type"]: c for c in sim.d["status"]["conditions"]}
    assert conds["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert conds["Available"]["status"] == "True"


@settings(max_examples=40, deadline=None)
@given(replicas=st.integers(1, 15))
def test_recreate_never_mixes_versions(replicas: int) -> None:
    d = deployment(replicas, strategy="Recreate")
    sim = Sim(d, [replica_set(d, "v1", replicas, revision=1)])

    def check(s: Sim) -> None:
        running = [n for n, c in s.pods.items() if c > 0]
        assert len(running) <= 1, s.pods

    run(sim, check=check)


def test_first_rollout_creates_revision_one_with_annotations() -> None:
    d = deployment(4, image="v1")
    d["metadata"]["annotations"] = {"kubernetes.io/change-cause": "first",
                                    "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    plan = plan_rollout(d, [], {}, NOW)
    rs = plan.create
    assert rs is not None
    h = pod_template_hash(d["spec"]["template"])
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", HASH_LABEL: h}
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", HASH_LABEL: h}
    ann = rs["metadata"]["annotations"]
    assert ann == {"kubernetes.io/change-cause": "first", REVISION: "1",
                   "deployment.kubernetes.io/desired-replicas": "4", "deployment.kubernetes.io/max-replicas": "5"}
    assert rs["spec"]["replicas"] == 4
    assert plan.annotations == {REVISION: "1"}
    assert plan.status is not None
    reasons = {c["type"]: c["reason"] for c in plan.status["conditions"]}
    assert reasons == {"Progressing": "NewReplicaSetCreated", "Available": "MinimumReplicasUnavailable"}
    assert ("Normal", "ScalingReplicaSet", f"Scaled up replica set web-{h} from 0 to 4") in plan.events


@pytest.mark.parametrize("replicas, surge, unavailable, want", [
    (10, "25%", "25%", (3, 2)),
    (3, "25%", "25%", (1, 0)),
    (4, 0, 0, (0, 1)),
    (1, "0%", "0%", (0, 1)),
    (10, 2, "100%", (2, 10)),
    (0, "25%", "25%", (0, 1)),  # as upstream; max_unavailable() caps it at replicas
])
def test_fenceposts_round_like_upstream(replicas: int, surge: Any, unavailable: Any, want: tuple[int, int]) -> None:
    assert fenceposts(deployment(replicas, surge=surge, unavailable=unavailable)) == want


def test_scaled_value_rejects_garbage() -> None:
    assert scaled_value("7", 10, round_up=True) == 7
    with pytest.raises(ValueError):
        scaled_value("ten%", 10, round_up=True)


def test_proportional_scaling_mid_rollout() -> None:
    # upstream's documented example: 10 replicas, maxSurge 3, rollout half done, scaled to 15
    d = deployment(15, surge=3, unavailable=2)
    old = replica_set(d, "v1", 8, revision=1)
    new = replica_set(d, "v2", 5, revision=2)
    for rs in (old, new):
        rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] = "13"
    sizes = proportional_sizes(d, [old, new])
    assert sizes == {old["metadata"]["name"]: 11, new["metadata"]["name"]: 7}
    assert sum(sizes.values()) == 15 + 3


def test_scaling_event_is_proportional_and_keeps_rollout() -> None:
    d = deployment(15, surge=3, unavailable=2)
    old = replica_set(d, "v1", 8, revision=1)
    new = replica_set(d, "v2", 5, revision=2)
    for rs in (old, new):
        rs["metadata"]["annotations"].update({"deployment.kubernetes.io/max-replicas": "13",
                                              "deployment.kubernetes.io/desired-replicas": "10"})
    plan = plan_rollout(d, [old, new], {}, NOW)
    got = {rs["metadata"]["name"]: rs["spec"]["replicas"] for rs in plan.updates}
    assert got == {old["metadata"]["name"]: 11, new["metadata"]["name"]: 7}
    assert all(rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "15"
               for rs in plan.updates)


def test_paused_deployment_only_scales() -> None:
    d = deployment(3, paused=True)
    old = replica_set(d, "v1", 3, revision=1)
    plan = plan_rollout(d, [old], {}, NOW)
    assert plan.create is None and plan.updates == []
    assert plan.status is not None
    cond = progress.condition(plan.status, "Progressing")
    assert cond is not None and (cond["status"], cond["reason"]) == ("Unknown", "DeploymentPaused")
    d["status"] = plan.status
    d["spec"]["paused"] = False
    plan = plan_rollout(d, [old], {}, NOW)
    assert plan.create is not None  # resumed: the rollout starts
    assert plan.status is not None
    reasons = {c["reason"] for c in plan.status["conditions"]}
    assert "NewReplicaSetCreated" in reasons


def test_rollback_renumbers_and_keeps_history() -> None:
    d = deployment(2, image="v1")
    rs = replica_set(d, "v1", 2, revision=1)
    assert set_new_rs_annotations(d, rs, 3, exists=True, desired=2, max_replicas=3)
    assert rs["metadata"]["annotations"][REVISION] == "3"
    assert rs["metadata"]["annotations"][REVISION_HISTORY] == "1"
    assert set_new_rs_annotations(d, rs, 5, exists=True, desired=2, max_replicas=3)
    assert rs["metadata"]["annotations"][REVISION_HISTORY] == "1,3"
    assert not set_new_rs_annotations(d, rs, 4, exists=True, desired=2, max_replicas=3)  # never goes down


def test_history_limit_prunes_settled_oldest_first() -> None:
    d = deployment(2, revisionHistoryLimit=1)
    olds = [replica_set(d, f"v0.{i}", 0, revision=i) for i in range(1, 5)]
    olds[0]["status"]["replicas"] = 1  # still has a pod: kept even though oldest
    gone = history_to_clean(d, olds)
    assert [rs["metadata"]["annotations"][REVISION] for rs in gone] == ["2", "3"]
    d["spec"]["revisionHistoryLimit"] = None
    assert history_to_clean(d, olds) == []


def test_pod_template_hash_is_stable_and_collision_sensitive() -> None:
    t = template("nginx:1")
    assert pod_template_hash(t) == pod_template_hash(copy.deepcopy(t))
    assert pod_template_hash(t) != pod_template_hash(template("nginx:2"))
    assert pod_template_hash(t, 1) != pod_template_hash(t)
    h = pod_template_hash(t)
    assert all(c in "bcdfghjklmnpqrstvwxz2456789" for c in h) and 1 <= len(h) <= 10
    labelled = copy.deepcopy(t)
    labelled["metadata"]["labels"][HASH_LABEL] = h
    assert pod_template_hash(labelled) == h and equal_ignore_hash(labelled, t)
    assert not equal_ignore_hash(t, template("nginx:2"))


def test_progress_deadline_times_out() -> None:
    d = deployment(2, progressDeadlineSeconds=10)
    old = replica_set(d, "v1", 2, revision=1)
    new = replica_set(d, "v2", 1, revision=2, available=0)
    stamp = (NOW - dt.timedelta(seconds=11)).strftime("%Y-%m-%dT%H:%M:%SZ")
    d["status"] = {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2,
                   "availableReplicas": 2, "conditions": [
                       {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                        "lastUpdateTime": stamp, "lastTransitionTime": stamp, "message": ""}]}
    new["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] = "3"
    plan = plan_rollout(d, [old, new], {}, NOW)
    assert plan.status is not None
    cond = progress.condition(plan.status, "Progressing")
    assert cond is not None and (cond["status"], cond["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert cond["message"] == f'ReplicaSet "{new["metadata"]["name"]}" has timed out progressing.'
    # one second short of the deadline: not yet, and a requeue for when it would be
    d["status"]["conditions"][0]["lastUpdateTime"] = (NOW - dt.timedelta(seconds=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    plan = plan_rollout(d, [old, new], {}, NOW)
    assert plan.status is None or progress.condition(plan.status, "Progressing")["reason"] != "ProgressDeadlineExceeded"  # type: ignore[index]
    assert plan.requeue_after is not None and 1.0 < plan.requeue_after <= 2.5


def pod(name: str, **status: Any) -> Obj:
    return {"metadata": {"name": name, "uid": name, "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"nodeName": "n1"}, "status": status}


def test_pod_failures_for_auto_rollback() -> None:
    crash = pod("a", phase="Running", containerStatuses=[
        {"name": "c", "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}])
    pull = pod("b", phase="Pending", containerStatuses=[
        {"name": "c", "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff"}}}])
    restarts = pod("c", phase="Running", containerStatuses=[
        {"name": "c", "restartCount": 3, "state": {"running": {"startedAt": "2025-01-01T11:59:59Z"}}}])
    unready = pod("d", phase="Running", containerStatuses=[
        {"name": "c", "restartCount": 0, "state": {"running": {"startedAt": "2025-01-01T11:58:00Z"}}}],
        conditions=[{"type": "Ready", "status": "False"}])
    creating = pod("e", phase="Pending", containerStatuses=[
        {"name": "c", "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}])
    fresh = pod("f", phase="Running", containerStatuses=[
        {"name": "c", "restartCount": 0, "state": {"running": {"startedAt": "2025-01-01T11:59:50Z"}}}])
    f = autorollback.pod_failure
    assert f(crash, readiness=60, now=NOW) == "pod a: container c is in CrashLoopBackOff"
    assert f(pull, readiness=60, now=NOW) == "pod b: container c is in ImagePullBackOff"
    assert f(restarts, readiness=60, now=NOW) == "pod c restarted 3 times"
    assert f(unready, readiness=60, now=NOW) == "pod d has been running for 120s without becoming Ready"
    assert f(creating, readiness=60, now=NOW) is None
    assert f(fresh, readiness=60, now=NOW) is None


def test_auto_rollback_plans_the_last_fully_available_revision() -> None:
    d = deployment(2, image="bad")
    d["metadata"]["annotations"] = {autorollback.AUTO_ROLLBACK: "true", "kubernetes.io/change-cause": "bad"}
    v1 = replica_set(d, "v1", 0, revision=1)
    v2 = replica_set(d, "v2", 2, revision=2)
    v1["metadata"]["annotations"][FULLY_AVAILABLE] = "2025-01-01T00:00:00Z"
    v2["metadata"]["annotations"][FULLY_AVAILABLE] = "2025-01-01T00:01:00Z"
    v2["metadata"]["annotations"]["kubernetes.io/change-cause"] = "v2 it is"
    bad = replica_set(d, "bad", 1, revision=3, available=0)
    crash = pod("bad-1", phase="Running", containerStatuses=[
        {"name": "web", "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}])
    plan = plan_rollout(d, [v1, v2, bad], {bad["metadata"]["uid"]: [crash]}, NOW)
    assert plan.rollback is not None and plan.rolled_back is not None
    assert (plan.rollback.target, plan.rollback.revision) == (v2["metadata"]["name"], 2)
    assert "CrashLoopBackOff" in plan.rollback.reason
    t = plan.rolled_back["spec"]["template"]
    assert t["spec"]["containers"][0]["image"] == "v2" and HASH_LABEL not in t["metadata"]["labels"]
    assert plan.rolled_back["metadata"]["annotations"] == {autorollback.AUTO_ROLLBACK: "true",
                                                            "kubernetes.io/change-cause": "v2 it is"}
    assert plan.events[0][:2] == ("Warning", "AutoRollback")

    # without the annotation: nothing but the usual rollout
    d["metadata"]["annotations"].pop(autorollback.AUTO_ROLLBACK)
    assert plan_rollout(d, [v1, v2, bad], {bad["metadata"]["uid"]: [crash]}, NOW).rollback is None
    # with it, but nothing was ever fully available: an event, no rollback
    d["metadata"]["annotations"][autorollback.AUTO_ROLLBACK] = "true"
    for rs in (v1, v2):
        del rs["metadata"]["annotations"][FULLY_AVAILABLE]
    plan = plan_rollout(d, [v1, v2, bad], {bad["metadata"]["uid"]: [crash]}, NOW)
    assert plan.rollback is None and any(e[1] == "AutoRollbackImpossible" for e in plan.events)


def test_deletion_order_ranks_like_upstream() -> None:
    def p(name: str, *, node: str = "n1", phase: str = "Running", ready: bool = True, created: str = "00",
          restarts: int = 0, cost: int | None = None, ready_at: str = "00") -> Obj:
        md: Obj = {"name": name, "uid": name, "creationTimestamp": f"2025-01-01T00:00:{created}Z"}
        if cost is not None:
            md["annotations"] = {podstate.DELETION_COST: str(cost)}
        return {"metadata": md, "spec": {"nodeName": node} if node else {},
                "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                           "lastTransitionTime": f"2025-01-01T00:01:{ready_at}Z"}],
                           "containerStatuses": [{"name": "c", "restartCount": restarts}]}}

    pods = [p("old-ready", created="01", node="a"), p("unscheduled", node="", phase="Pending", ready=False),
            p("pending", phase="Pending", ready=False, node="b"), p("not-ready", ready=False, node="c"),
            p("costly-new", created="09", cost=100, node="d"), p("new-ready", created="09", node="e"),
            p("restarty", created="01", restarts=5, node="f"), p("recently-ready", created="01", ready_at="30", node="g")]
    order = [x["metadata"]["name"] for x in podstate.deletion_order(pods)]
    assert order[:3] == ["unscheduled", "pending", "not-ready"]
    assert order[-1] == "costly-new"
    assert order.index("recently-ready") < order.index("old-ready")
    assert order.index("restarty") < order.index("old-ready")
    doubled = [p("lonely", node="x"), p("crowded", node="y")]
    related = [p("sibling", node="y")]
    assert [x["metadata"]["name"] for x in podstate.deletion_order(doubled, related)][0] == "crowded"
