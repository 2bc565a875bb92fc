"""Table tests of ``plan_statefulset``: pure, an injected clock, no server.

Each case is a set, its pods, claims and revisions as the informers would hold
them, and the actions (and status) one pass must produce.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from shoal.api.views import name
from shoal.controllers import revisions as history
from shoal.controllers.statefulplan import (
    CreateClaim,
    CreatePod,
    CreateRevision,
    DeletePod,
    DeleteRevision,
    FixPodIdentity,
    RenumberRevision,
    SetClaimOwners,
    StatefulPlan,
    max_unavailable,
    ordinal_of,
    plan_statefulset,
)

Obj = dict[str, Any]
NOW = dt.datetime(2026, 12, 6, 12, 0, 0, tzinfo=dt.UTC)
UID = "sts-uid"


def ts(seconds_ago: float = 60) -> str:
    return (NOW - dt.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_sts(replicas: int = 3, *, image: str = "db:1", claims: bool = True, **spec: Any) -> Obj:
    s: Obj = {
        "replicas": replicas, "serviceName": "db", "podManagementPolicy": "OrderedReady",
        "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}},
                     "spec": {"containers": [{"name": "db", "image": image,
                                              "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                              "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}]}},
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "revisionHistoryLimit": 10,
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
    }
    if claims:
        s["volumeClaimTemplates"] = [{"metadata": {"name": "data"},
                                      "spec": {"accessModes": ["ReadWriteOnce"],
                                               "resources": {"requests": {"storage": "1Gi"}}}}]
    s.update(spec)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "ns", "uid": UID, "generation": 1,
                         "annotations": {"kubernetes.io/change-cause": "v1"}},
            "spec": s, "status": {}}


def rev_of(sts: Obj, number: int = 1) -> Obj:
    """The ControllerRevision of the set's template, as stored (uid, creation time)."""
    r = history.new_revision(sts, number, 0)
    r["metadata"].update(uid=f"rev-{number}", creationTimestamp=ts(1000 - number))
    return r


def with_image(sts: Obj, image: str) -> Obj:
    out = copy.deepcopy(sts)
    out["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return out


def pod(sts: Obj, ordinal: int, rev: Obj, *, state: str = "ready", ready_for: float = 60) -> Obj:
    """A replica as the agent reports it: ``ready``, ``running`` (not Ready), ``pending``, ``failed``,
    ``terminating``."""
    pod_name = f"db-{ordinal}"
    p: Obj = {"metadata": {"name": pod_name, "namespace": "ns", "uid": f"pod-{pod_name}",
                           "labels": {"app": "db", "statefulset.kubernetes.io/pod-name": pod_name,
                                      "apps.kubernetes.io/pod-index": str(ordinal),
                                      "controller-revision-hash": name(rev)},
                           "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                                "uid": UID, "controller": True}]},
              "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    if state in ("ready", "terminating"):
        p["status"]["conditions"] = [{"type": "Ready", "status": "True", "lastTransitionTime": ts(ready_for)}]
    if state == "pending":
        p["status"] = {"phase": "Pending"}
    if state == "failed":
        p["status"] = {"phase": "Failed"}
    if state == "terminating":
        p["metadata"]["deletionTimestamp"] = ts(1)
    return p


def claim(claim_name: str, **meta: Any) -> Obj:
    return {"metadata": {"name": claim_name, "namespace": "ns", "uid": f"c-{claim_name}", "resourceVersion": "7", **meta},
            "spec": {}, "status": {"phase": "Pending"}}


def plan(sts: Obj, pods: list[Obj], claims: list[Obj] | None = None, revs: list[Obj] | None = None,
         now: dt.datetime = NOW) -> StatefulPlan:
    return plan_statefulset(sts, pods, claims or [], revs if revs is not None else [], now)


def kinds(p: StatefulPlan) -> list[tuple[str, str]]:
    """The plan as (action, object name) pairs, in order."""
    out = []
    for a in p.actions:
        if isinstance(a, CreateRevision):
            out.append(("CreateRevision", name(a.revision)))
        elif isinstance(a, CreateClaim):
            out.append(("CreateClaim", a.claim["metadata"]["name"]))
        elif isinstance(a, CreatePod):
            out.append(("CreatePod", a.pod["metadata"]["name"]))
        elif isinstance(a, DeletePod):
            out.append((f"DeletePod:{a.reason}", a.name))
        elif isinstance(a, RenumberRevision):
            out.append((f"RenumberRevision:{a.revision}", a.name))
        else:
            out.append((type(a).__name__, getattr(a, "name", "")))
    return out


# --- creation ---------------------------------------------------------------------------------


def test_a_new_set_makes_its_revision_then_the_first_claim_and_pod_only() -> None:
    sts = make_sts()
    rev = rev_of(sts)
    p = plan(sts, [])
    assert kinds(p) == [("CreateRevision", name(rev)), ("CreateClaim", "data-db-0"), ("CreatePod", "db-0")]
    assert p.waiting_for == "db-0"
    revision = p.of(CreateRevision)[0].revision  # type: ignore[attr-defined]
    assert revision["data"] == {"spec": {"template": {**sts["spec"]["template"], "$patch": "replace"}}}
    assert revision["revision"] == 1
    assert revision["metadata"]["labels"]["app"] == "db"  # kubectl finds revisions by the set's selector
    assert revision["metadata"]["annotations"] == {"kubernetes.io/change-cause": "v1"}
    assert revision["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    new = p.of(CreatePod)[0].pod  # type: ignore[attr-defined]
    assert new["metadata"]["labels"] == {
        "app": "db", "statefulset.kubernetes.io/pod-name": "db-0", "apps.kubernetes.io/pod-index": "0",
        "controller-revision-hash": name(rev)}
    assert (new["spec"]["hostname"], new["spec"]["subdomain"]) == ("db-0", "db")
    assert new["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}},
                                      {"name": "cfg", "configMap": {"name": "cfg"}}]
    assert new["metadata"]["ownerReferences"][0]["uid"] == UID
    pvc = p.of(CreateClaim)[0].claim  # type: ignore[attr-defined]
    assert pvc["metadata"]["labels"] == {"app": "db"}
    assert "ownerReferences" not in pvc["metadata"]  # Retain: the claim outlives the set
    assert pvc["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    assert p.status is not None
    assert p.status["updateRevision"] == p.status["currentRevision"] == name(rev)
    assert (p.status["replicas"], p.status["observedGeneration"]) == (0, 1)


@pytest.mark.parametrize(("states", "expected", "waiting"), [
    (["ready"], [("CreateClaim", "data-db-1"), ("CreatePod", "db-1")], "db-1"),
    (["running"], [], "db-0"),  # Running but not Ready: db-1 waits
    (["pending"], [], "db-0"),
    (["terminating"], [], "db-0"),
    (["ready", "ready"], [("CreateClaim", "data-db-2"), ("CreatePod", "db-2")], "db-2"),
    (["ready", "ready", "ready"], [], ""),
])
def test_ordered_ready_creates_one_at_a_time_after_the_previous_is_ready(
        states: list[str], expected: list[tuple[str, str]], waiting: str) -> None:
    sts = make_sts()
    rev = rev_of(sts)
    pods = [pod(sts, i, rev, state=s) for i, s in enumerate(states)]
    claims = [claim(f"data-db-{i}") for i in range(len(states))]
    p = plan(sts, pods, claims, [rev])
    assert kinds(p) == expected
    assert p.waiting_for == waiting


def test_min_ready_seconds_holds_the_next_pod_and_asks_to_look_again() -> None:
    sts = make_sts(minReadySeconds=10)
    rev = rev_of(sts)
    pods = [pod(sts, 0, rev, ready_for=4)]
    p = plan(sts, pods, [claim("data-db-0")], [rev])
    assert kinds(p) == []
    assert p.requeue_after == pytest.approx(6.05)
    later = plan(sts, pods, [claim("data-db-0")], [rev], now=NOW + dt.timedelta(seconds=7))
    assert kinds(later) == [("CreateClaim", "data-db-1"), ("CreatePod", "db-1")]
    assert later.status is not None and later.status["availableReplicas"] == 1


def test_parallel_creates_every_claim_and_pod_at_once() -> None:
    sts = make_sts(podManagementPolicy="Parallel")
    p = plan(sts, [])
    assert [k for k in kinds(p) if k[0] != "CreateRevision"] == [
        ("CreateClaim", "data-db-0"), ("CreatePod", "db-0"), ("CreateClaim", "data-db-1"), ("CreatePod", "db-1"),
        ("CreateClaim", "data-db-2"), ("CreatePod", "db-2")]


def test_ordinals_start_names_the_pods_from_it() -> None:
    sts = make_sts(2, ordinals={"start": 5}, podManagementPolicy="Parallel")
    p = plan(sts, [])
    pods = [a.pod for a in p.of(CreatePod)]  # type: ignore[attr-defined]
    assert [x["metadata"]["name"] for x in pods] == ["db-5", "db-6"]
    assert pods[1]["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "6"
    assert pods[1]["spec"]["volumes"][0] == {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-6"}}


def test_a_set_without_claim_templates_or_service_keeps_the_template_volumes() -> None:
    sts = make_sts(1, claims=False, serviceName="")
    new = plan(sts, []).of(CreatePod)[0].pod  # type: ignore[attr-defined]
    assert "subdomain" not in new["spec"]
    assert new["spec"]["volumes"] == [{"name": "cfg", "configMap": {"name": "cfg"}}]


# --- replacement --------------------------------------------------------------------------------


def test_a_finished_pod_is_deleted_and_then_recreated_with_the_same_name_and_claim() -> None:
    sts = make_sts()
    rev = rev_of(sts)
    claims = [claim(f"data-db-{i}") for i in range(3)]
    failed = [pod(sts, 0, rev), pod(sts, 1, rev, state="failed"), pod(sts, 2, rev)]
    assert kinds(plan(sts, failed, claims, [rev])) == [("DeletePod:finished", "db-1")]
    gone = [failed[0], failed[2]]
    p = plan(sts, gone, claims, [rev])
    assert kinds(p) == [("CreatePod", "db-1")]  # its claim is there: same name, same data
    new = p.of(CreatePod)[0].pod  # type: ignore[attr-defined]
    assert new["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "data-db-1"


def test_a_claim_being_deleted_holds_its_pod() -> None:
    sts = make_sts(1)
    p = plan(sts, [], [claim("data-db-0", deletionTimestamp=ts(1))], [rev_of(sts)])
    assert kinds(p) == []
    assert p.waiting_for == "db-0"


def test_a_pending_pod_gets_a_missing_claim_and_an_adopted_pod_its_identity() -> None:
    sts = make_sts(2, podManagementPolicy="Parallel")
    rev = rev_of(sts)
    pending = pod(sts, 0, rev, state="pending")
    adopted = pod(sts, 1, rev)
    del adopted["metadata"]["labels"]["apps.kubernetes.io/pod-index"]
    p = plan(sts, [pending, adopted], [claim("data-db-1")], [rev])
    assert kinds(p) == [("CreateClaim", "data-db-0"), ("FixPodIdentity", "db-1")]
    fix = p.of(FixPodIdentity)[0]
    assert fix.labels == {"statefulset.kubernetes.io/pod-name": "db-1",  # type: ignore[attr-defined]
                          "apps.kubernetes.io/pod-index": "1"}


# --- scaling down ------------------------------------------------------------------------------


def test_scale_down_removes_the_highest_ordinal_first_one_at_a_time() -> None:
    sts = make_sts(1)
    rev = rev_of(sts)
    pods = [pod(sts, i, rev) for i in range(3)]
    claims = [claim(f"data-db-{i}") for i in range(3)]
    assert kinds(plan(sts, pods, claims, [rev])) == [("DeletePod:scale-down", "db-2")]
    pods[2] = pod(sts, 2, rev, state="terminating")
    p = plan(sts, pods, claims, [rev])
    assert kinds(p) == []
    assert p.waiting_for == "db-2"
    assert kinds(plan(sts, pods[:2], claims, [rev])) == [("DeletePod:scale-down", "db-1")]


def test_scale_down_waits_for_unhealthy_pods_but_removes_the_first_unhealthy_one() -> None:
    sts = make_sts(1)
    rev = rev_of(sts)
    claims = [claim(f"data-db-{i}") for i in range(3)]
    both_sick = [pod(sts, 0, rev), pod(sts, 1, rev, state="running"), pod(sts, 2, rev, state="running")]
    p = plan(sts, both_sick, claims, [rev])
    assert kinds(p) == []  # db-2 is unhealthy and db-1 is the first unhealthy pod: wait
    assert p.waiting_for == "db-2"
    sick_top = [pod(sts, 0, rev), pod(sts, 1, rev), pod(sts, 2, rev, state="running")]
    assert kinds(plan(sts, sick_top, claims, [rev])) == [("DeletePod:scale-down", "db-2")]


def test_parallel_scale_down_removes_all_at_once() -> None:
    sts = make_sts(1, podManagementPolicy="Parallel")
    rev = rev_of(sts)
    pods = [pod(sts, i, rev) for i in range(3)]
    assert kinds(plan(sts, pods, [claim(f"data-db-{i}") for i in range(3)], [rev])) == [
        ("DeletePod:scale-down", "db-2"), ("DeletePod:scale-down", "db-1")]


# --- claim retention --------------------------------------------------------------------------


def test_when_deleted_delete_makes_the_set_own_its_claims() -> None:
    sts = make_sts(1, persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"})
    p = plan(sts, [])
    assert p.of(CreateClaim)[0].claim["metadata"]["ownerReferences"] == [  # type: ignore[attr-defined]
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": UID}]
    rev = rev_of(sts)
    old = plan(sts, [pod(sts, 0, rev)], [claim("data-db-0")], [rev])  # a claim made before the policy changed
    assert kinds(old) == [("SetClaimOwners", "data-db-0")]


def test_when_scaled_delete_hands_a_condemned_pods_claim_to_the_pod_before_deleting_it() -> None:
    sts = make_sts(1, persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Delete"})
    rev = rev_of(sts)
    set_ref = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": UID}
    claims = [claim(f"data-db-{i}", ownerReferences=[set_ref]) for i in range(2)]
    p = plan(sts, [pod(sts, 0, rev), pod(sts, 1, rev)], claims, [rev])
    assert kinds(p) == [("SetClaimOwners", "data-db-1"), ("DeletePod:scale-down", "db-1")]
    owners = p.of(SetClaimOwners)[0]
    assert owners.owner_references == [  # type: ignore[attr-defined]
        {"apiVersion": "v1", "kind": "Pod", "name": "db-1", "uid": "pod-db-1"}]
    assert owners.resource_version == "7"  # type: ignore[attr-defined]


def test_retain_leaves_claims_without_owners_and_stale_references_alone() -> None:
    sts = make_sts(1)
    rev = rev_of(sts)
    stale = claim("data-db-0", ownerReferences=[{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                                 "uid": "an-older-set"}])
    assert kinds(plan(sts, [pod(sts, 0, rev)], [stale], [rev])) == []
    owned = claim("data-db-0", ownerReferences=[{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db",
                                                 "uid": UID}])
    p = plan(sts, [pod(sts, 0, rev)], [owned], [rev])
    assert kinds(p) == [("SetClaimOwners", "data-db-0")]
    assert p.of(SetClaimOwners)[0].owner_references == []  # type: ignore[attr-defined]


# --- rolling update -------------------------------------------------------------------------------


def rolled(new_image: str = "db:2", **spec: Any) -> tuple[Obj, Obj, Obj, list[Obj]]:
    old_sts = make_sts(**spec)
    old = rev_of(old_sts, 1)
    sts = with_image(old_sts, new_image)
    sts["status"] = {"currentRevision": name(old), "collisionCount": 0}
    new = rev_of(sts, 2)
    return sts, old, new, [claim(f"data-db-{i}") for i in range(3)]


def test_a_template_change_rolls_from_the_highest_ordinal() -> None:
    sts, old, new, claims = rolled()
    pods = [pod(sts, i, old) for i in range(3)]
    p = plan(sts, pods, claims, [old])
    assert kinds(p) == [("CreateRevision", name(new)), ("DeletePod:update", "db-2")]
    assert p.status is not None
    assert (p.status["currentRevision"], p.status["updateRevision"]) == (name(old), name(new))
    assert (p.status["currentReplicas"], p.status["updatedReplicas"]) == (3, 0)


def test_the_rollout_waits_for_the_replaced_pod_then_takes_the_next() -> None:
    sts, old, new, claims = rolled()
    recreated = plan(sts, [pod(sts, 0, old), pod(sts, 1, old)], claims, [old, new])
    assert kinds(recreated) == [("CreatePod", "db-2")]
    new_pod = recreated.of(CreatePod)[0].pod  # type: ignore[attr-defined]
    assert new_pod["metadata"]["labels"]["controller-revision-hash"] == name(new)
    assert new_pod["spec"]["containers"][0]["image"] == "db:2"
    starting = [pod(sts, 0, old), pod(sts, 1, old), pod(sts, 2, new, state="running")]
    assert kinds(plan(sts, starting, claims, [old, new])) == []
    up = [pod(sts, 0, old), pod(sts, 1, old), pod(sts, 2, new)]
    assert kinds(plan(sts, up, claims, [old, new])) == [("DeletePod:update", "db-1")]


def test_a_finished_rollout_makes_the_update_revision_current() -> None:
    sts, old, new, claims = rolled()
    p = plan(sts, [pod(sts, i, new) for i in range(3)], claims, [old, new])
    assert kinds(p) == []
    assert p.status is not None
    assert (p.status["currentRevision"], p.status["currentReplicas"], p.status["updatedReplicas"]) == (
        name(new), 3, 3)


def test_partition_holds_the_lower_ordinals_even_when_recreated() -> None:
    sts, old, new, claims = rolled(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    done = [pod(sts, 0, old), pod(sts, 1, old), pod(sts, 2, new)]
    assert kinds(plan(sts, done, claims, [old, new])) == []
    p = plan(sts, [done[0], done[2]], claims, [old, new])  # db-1 was deleted by hand
    assert kinds(p) == [("CreatePod", "db-1")]
    again = p.of(CreatePod)[0].pod  # type: ignore[attr-defined]
    assert again["metadata"]["labels"]["controller-revision-hash"] == name(old)
    assert again["spec"]["containers"][0]["image"] == "db:1"


def test_on_delete_replaces_nothing_but_recreates_at_the_update_revision() -> None:
    sts, old, new, claims = rolled(updateStrategy={"type": "OnDelete"})
    assert kinds(plan(sts, [pod(sts, i, old) for i in range(3)], claims, [old])) == [
        ("CreateRevision", name(new))]
    p = plan(sts, [pod(sts, 0, old), pod(sts, 2, old)], claims, [old, new])
    assert kinds(p) == [("CreatePod", "db-1")]
    assert p.of(CreatePod)[0].pod["spec"]["containers"][0]["image"] == "db:2"  # type: ignore[attr-defined]


def test_max_unavailable_replaces_several_at_once_within_the_budget() -> None:
    sts, old, new, claims = rolled(updateStrategy={"type": "RollingUpdate",
                                                   "rollingUpdate": {"partition": 0, "maxUnavailable": 2}})
    pods = [pod(sts, i, old) for i in range(3)]
    assert kinds(plan(sts, pods, claims, [old, new])) == [("DeletePod:update", "db-2"), ("DeletePod:update", "db-1")]
    one_down = [pod(sts, 0, old), pod(sts, 1, old), pod(sts, 2, new, state="running")]
    assert kinds(plan(sts, one_down, claims, [old, new])) == []  # OrderedReady: db-2 must be Ready first
    sts["spec"]["podManagementPolicy"] = "Parallel"
    assert kinds(plan(sts, one_down, claims, [old, new])) == [("DeletePod:update", "db-1")]  # budget 2 - 1


@pytest.mark.parametrize(("value", "replicas", "expected"), [
    (None, 5, 1), (2, 5, 2), ("50%", 5, 2), ("10%", 5, 1), ("100%", 3, 3), (0, 3, 1)])
def test_max_unavailable_scaling(value: int | str | None, replicas: int, expected: int) -> None:
    assert max_unavailable(value, replicas) == expected


# --- revisions -------------------------------------------------------------------------------------


def test_going_back_to_an_older_template_renumbers_its_revision() -> None:
    sts, old, new, claims = rolled()
    back = copy.deepcopy(sts)
    back["spec"]["template"]["spec"]["containers"][0]["image"] = "db:1"
    back["status"] = {"currentRevision": name(new)}
    p = plan(back, [pod(back, i, new) for i in range(3)], claims, [old, new])
    assert kinds(p) == [("RenumberRevision:3", name(old)), ("DeletePod:update", "db-2")]
    assert p.status is not None and p.status["updateRevision"] == name(old)


def test_history_beyond_the_limit_is_pruned_oldest_first_but_never_a_live_revision() -> None:
    base = make_sts(1, revisionHistoryLimit=1)
    revs = [rev_of(with_image(base, f"db:{i}"), i) for i in range(1, 5)]
    sts = with_image(base, "db:4")
    sts["status"] = {"currentRevision": name(revs[3])}
    pods = [pod(sts, 0, revs[1])]  # db-0 still runs revision 2: it stays
    p = plan(sts, pods, [claim("data-db-0")], revs)
    assert [(k, n) for k, n in kinds(p) if k == "DeleteRevision"] == [("DeleteRevision", name(revs[0]))]
    assert not any(isinstance(a, DeleteRevision) and a.name == name(revs[1]) for a in p.actions)


def test_a_revision_name_taken_by_other_data_steps_to_the_next_collision_count() -> None:
    sts = make_sts(1)
    squatter = rev_of(with_image(sts, "other"), 1)
    squatter["metadata"]["name"] = name(rev_of(sts, 2))
    p = plan(sts, [], [], [squatter])
    created = p.of(CreateRevision)[0].revision  # type: ignore[attr-defined]
    assert name(created) != name(squatter)
    assert p.status is not None and p.status["collisionCount"] == 1
    assert p.status["updateRevision"] == name(created)


def test_a_deleting_set_only_writes_status() -> None:
    sts = make_sts()
    sts["metadata"]["deletionTimestamp"] = ts(1)
    rev = rev_of(sts)
    p = plan(sts, [pod(sts, 0, rev)], [claim("data-db-0")], [rev])
    assert kinds(p) == []
    assert p.status is not None and p.status["replicas"] == 1


def test_the_status_is_none_when_nothing_changed() -> None:
    sts = make_sts(1)
    rev = rev_of(sts)
    first = plan(sts, [pod(sts, 0, rev)], [claim("data-db-0")], [rev])
    assert first.status is not None
    settled = {**sts, "status": first.status}
    assert plan(settled, [pod(sts, 0, rev)], [claim("data-db-0")], [rev]).status is None


def test_pods_of_other_names_are_not_replicas() -> None:
    assert ordinal_of("db-12") == ("db", 12)
    assert ordinal_of("db-x") is None
    assert ordinal_of("my-db-0") == ("my-db", 0)
    sts = make_sts(1, claims=False)
    rev = rev_of(sts)
    stranger = pod(sts, 0, rev)
    stranger["metadata"]["name"] = "dbx-0"
    p = plan(sts, [stranger], [], [rev])
    assert kinds(p) == [("CreatePod", "db-0")]
