"""Table tests of the PV controller's pure decisions: matching, binding, phases, reclaim,
provisioning, expansion and the protection finalizers. No server; an injected clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from shoal.api.storage_contract import (
    BIND_COMPLETED,
    BOUND_BY_CONTROLLER,
    FS_RESIZE_PENDING,
    LOCAL_VOLUME_FINALIZER,
    PROVISIONED_BY,
    PV_PROTECTION,
    PVC_PROTECTION,
    SELECTED_NODE,
    VOLUME_DIR_ANNOTATION,
)
from shoal.api.volumematch import find_matching_volume, node_affinity_allows
from shoal.controllers.localprovision import plan_local_volume
from shoal.controllers.pvbinding import Plan, sync_claim, sync_volume
from shoal.controllers.storageprotection import claim_finalizer_change, volume_finalizer_change

NOW = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)
STAMP = "2026-12-01T12:00:00Z"
Obj = dict[str, Any]

LOCAL = {"metadata": {"name": "local"}, "provisioner": "shoal.io/local", "reclaimPolicy": "Delete",
         "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True}
FAST = {"metadata": {"name": "fast"}, "provisioner": "kubernetes.io/no-provisioner", "reclaimPolicy": "Retain",
        "volumeBindingMode": "Immediate"}
IMMEDIATE_LOCAL = {**LOCAL, "metadata": {"name": "now"}, "volumeBindingMode": "Immediate"}
CLASSES = {c["metadata"]["name"]: c for c in (LOCAL, FAST, IMMEDIATE_LOCAL)}
NODE = {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "host-1", "zone": "a"},
                     "annotations": {VOLUME_DIR_ANNOTATION: "/srv/shoal/volumes"}}}
NODES = {"n1": NODE, "n2": {"metadata": {"name": "n2", "labels": {"kubernetes.io/hostname": "n2"}}}}


def claim(name: str = "data", *, size: str = "1Gi", cls: str | None = "fast", modes: tuple[str, ...] = ("ReadWriteOnce",),
          volume: str = "", phase: str = "Pending", annotations: Obj | None = None, **spec: Any) -> Obj:
    s: Obj = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, "volumeMode": "Filesystem",
              **spec}
    if cls is not None:
        s["storageClassName"] = cls
    if volume:
        s["volumeName"] = volume
    return {"metadata": {"name": name, "namespace": "ns", "uid": f"uid-{name}", "resourceVersion": "5",
                         "annotations": dict(annotations or {})},
            "spec": s, "status": {"phase": phase}}


def volume(name: str, *, size: str = "1Gi", cls: str = "fast", modes: tuple[str, ...] = ("ReadWriteOnce",),
           ref: Obj | None = None, phase: str = "Available", labels: Obj | None = None, policy: str = "Retain",
           annotations: Obj | None = None, **spec: Any) -> Obj:
    s: Obj = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": cls,
              "volumeMode": "Filesystem", "persistentVolumeReclaimPolicy": policy, "hostPath": {"path": f"/v/{name}"},
              **spec}
    if ref is not None:
        s["claimRef"] = ref
    return {"metadata": {"name": name, "uid": f"pv-{name}", "resourceVersion": "7", "labels": labels or {},
                         "annotations": dict(annotations or {})},
            "spec": s, "status": {"phase": phase}}


def ref_to(c: Obj, *, uid: bool = True) -> Obj:
    r = {"kind": "PersistentVolumeClaim", "namespace": c["metadata"]["namespace"], "name": c["metadata"]["name"]}
    if uid:
        r["uid"] = c["metadata"]["uid"]
    return r


def by_name(*objs: Obj) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objs}


def steps(plan: Plan) -> list[tuple[str, str, str]]:
    return [(w.resource, w.verb, w.obj["metadata"]["name"]) for w in plan.writes]


def reasons(plan: Plan) -> list[str]:
    return [e.reason for e in plan.events]


def sync(c: Obj, *vols: Obj) -> Plan:
    return sync_claim(c, volumes=by_name(*vols), classes=CLASSES, nodes=NODES, now=NOW)


# --- matching ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("vols", "want"), [
    # the smallest that is large enough
    ([volume("big", size="10Gi"), volume("small", size="2Gi"), volume("tiny", size="500Mi")], "small"),
    # fewer access modes first, then size
    ([volume("multi", size="1Gi", modes=("ReadWriteOnce", "ReadOnlyMany")), volume("one", size="5Gi")], "one"),
    # class must match
    ([volume("other", cls="slow")], None),
    # access modes must be offered
    ([volume("ro", modes=("ReadOnlyMany",))], None),
    # volume mode must match
    ([volume("block", volumeMode="Block")], None),
    # a volume bound to someone else is not free
    ([volume("taken", ref={"namespace": "ns", "name": "other", "uid": "u"})], None),
    # a volume being deleted is skipped
    ([{**volume("gone"), "metadata": {"name": "gone", "deletionTimestamp": STAMP}}], None),
    # reserved for this claim wins even over a smaller free one
    ([volume("free", size="1Gi"), volume("mine", size="8Gi", ref={"namespace": "ns", "name": "data"})], "mine"),
])
def test_find_matching_volume(vols: list[Obj], want: str | None) -> None:
    got = find_matching_volume(claim(), vols)
    assert (got["metadata"]["name"] if got else None) == want


def test_selector_limits_candidates() -> None:
    c = claim(selector={"matchLabels": {"tier": "gold"}})
    vols = [volume("plain", size="1Gi"), volume("gold", size="4Gi", labels={"tier": "gold"})]
    assert find_matching_volume(c, vols)["metadata"]["name"] == "gold"  # type: ignore[index]


def test_node_affinity_and_delayed_binding() -> None:
    pinned = volume("pinned", nodeAffinity={"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["host-1"]}]}]}})
    assert node_affinity_allows(pinned, NODE)
    assert not node_affinity_allows(pinned, NODES["n2"])
    c = claim()
    assert find_matching_volume(c, [pinned], node=NODES["n2"]) is None
    assert find_matching_volume(c, [pinned], node=NODE) is pinned
    # WaitForFirstConsumer and no node yet: the scheduler decides, nothing is chosen
    assert find_matching_volume(c, [pinned], delay_binding=True) is None


# --- binding ------------------------------------------------------------------------------------


def test_binds_unbound_claim_in_upstreams_order() -> None:
    c = claim()
    plan = sync(c, volume("pv1", size="2Gi"))
    assert steps(plan) == [("persistentvolumes", "update", "pv1"), ("persistentvolumes", "status", "pv1"),
                           ("persistentvolumeclaims", "update", "data"), ("persistentvolumeclaims", "status", "data")]
    pv_w, pv_st, c_w, c_st = (w.obj for w in plan.writes)
    assert pv_w["spec"]["claimRef"]["uid"] == "uid-data"
    assert pv_w["metadata"]["annotations"][BOUND_BY_CONTROLLER] == "yes"
    assert pv_st["status"] == {"phase": "Bound", "lastPhaseTransitionTime": STAMP}
    assert c_w["spec"]["volumeName"] == "pv1"
    assert c_w["metadata"]["annotations"] == {BIND_COMPLETED: "yes", BOUND_BY_CONTROLLER: "yes"}
    assert c_st["status"] == {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "2Gi"}}
    assert c["spec"].get("volumeName") is None  # the cached object is never changed


def test_binding_resumes_where_a_crash_left_it() -> None:
    c = claim()
    pv = volume("pv1", ref=ref_to(c), phase="Bound", annotations={BOUND_BY_CONTROLLER: "yes"})
    assert steps(sync(c, pv)) == [("persistentvolumeclaims", "update", "data"),
                                  ("persistentvolumeclaims", "status", "data")]
    done = claim(volume="pv1", phase="Bound", annotations={BIND_COMPLETED: "yes", BOUND_BY_CONTROLLER: "yes"})
    done["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    assert steps(sync(done, pv)) == []  # converged: nothing to write


def test_user_prebound_volume_gets_uid_without_bound_by_controller() -> None:
    c = claim()
    plan = sync(c, volume("pv1", ref=ref_to(c, uid=False)))
    pv_w = plan.writes[0].obj
    assert pv_w["spec"]["claimRef"]["uid"] == "uid-data"
    assert BOUND_BY_CONTROLLER not in pv_w["metadata"]["annotations"]


def test_claim_naming_a_volume() -> None:
    c = claim(volume="pv9")
    assert steps(sync(c, volume("pv9")))[0] == ("persistentvolumes", "update", "pv9")
    too_small = sync(c, volume("pv9", size="100Mi"))
    assert reasons(too_small) == ["VolumeMismatch"] and "too small" in too_small.events[0].message
    assert steps(too_small) == []  # already Pending
    assert steps(sync(c)) == []  # the volume does not exist (yet): stays Pending


@pytest.mark.parametrize(("c", "reason"), [
    (claim(cls="local"), "WaitForFirstConsumer"),
    (claim(cls=""), "FailedBinding"),
    (claim(cls="missing"), "ProvisioningFailed"),
    (claim(cls="fast"), "FailedBinding"),
    (claim(cls="now"), "ProvisioningFailed"),  # Immediate with a node-local provisioner: no node to go to
    (claim(cls="local", annotations={SELECTED_NODE: "ghost"}), "ProvisioningFailed"),
])
def test_pending_claims_say_why(c: Obj, reason: str) -> None:
    plan = sync(c)
    assert reasons(plan) == [reason]
    assert not any(w.verb == "create" for w in plan.writes)


def test_lost_and_misbound_claims() -> None:
    bound = claim(volume="pv1", phase="Bound", annotations={BIND_COMPLETED: "yes"})
    plan = sync(bound)
    assert reasons(plan) == ["ClaimLost"] and plan.writes[0].obj["status"]["phase"] == "Lost"
    other = volume("pv1", ref={"namespace": "ns", "name": "else", "uid": "u2"}, phase="Bound")
    plan = sync(bound, other)
    assert reasons(plan) == ["ClaimMisbound"] and plan.writes[0].obj["status"]["phase"] == "Lost"
    unbound = claim(volume="pv1")
    assert reasons(sync(unbound, other)) == ["FailedBinding"]


def test_terminating_claim_is_left_alone() -> None:
    c = claim(cls="local", annotations={SELECTED_NODE: "n1"})
    c["metadata"]["deletionTimestamp"] = STAMP
    assert sync(c, volume("pv1")).writes == []


# --- provisioning ---------------------------------------------------------------------------------


def test_provisions_local_volume_on_the_selected_node() -> None:
    c = claim(cls="local", size="2048Mi", annotations={SELECTED_NODE: "n1"})
    plan = sync(c)
    assert steps(plan)[0] == ("persistentvolumes", "create", "pvc-uid-data")
    pv = plan.writes[0].obj
    assert reasons(plan) == ["ProvisioningSucceeded"]
    assert pv["metadata"]["annotations"] == {PROVISIONED_BY: "shoal.io/local"}
    assert pv["metadata"]["finalizers"] == [LOCAL_VOLUME_FINALIZER]
    spec = pv["spec"]
    assert spec["capacity"] == {"storage": "2Gi"}
    assert spec["local"] == {"path": "/srv/shoal/volumes/pvc-uid-data"}
    assert spec["persistentVolumeReclaimPolicy"] == "Delete" and spec["storageClassName"] == "local"
    assert spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"] == [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["host-1"]}]
    assert spec["claimRef"]["uid"] == "uid-data" and spec["claimRef"]["name"] == "data"
    # the next pass finds it reserved for the claim and binds it
    assert steps(sync(c, {**pv, "status": {"phase": "Available"}}))[0] == \
        ("persistentvolumes", "status", "pvc-uid-data")


def test_default_volume_dir_and_refusals() -> None:
    c = claim(cls="local", annotations={SELECTED_NODE: "n2"})
    pv = plan_local_volume(c, LOCAL, NODES["n2"]).pv
    assert pv is not None and pv["spec"]["local"]["path"] == "/var/lib/shoal/volumes/pvc-uid-data"
    assert "Filesystem" in plan_local_volume(claim(volumeMode="Block"), LOCAL, NODE).refused
    assert "ReadWriteMany" in plan_local_volume(claim(modes=("ReadWriteMany",)), LOCAL, NODE).refused


def test_waiting_claim_takes_a_free_static_volume_on_its_node_first() -> None:
    static = volume("static", cls="local", size="5Gi", nodeAffinity={"required": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}})
    on_n1 = claim(cls="local", annotations={SELECTED_NODE: "n1"})
    assert steps(sync(on_n1, static))[0] == ("persistentvolumes", "update", "static")
    on_n2 = claim(cls="local", annotations={SELECTED_NODE: "n2"})
    assert steps(sync(on_n2, static))[0] == ("persistentvolumes", "create", "pvc-uid-data")


# --- expansion -------------------------------------------------------------------------------------


def _bound_local(size: str) -> tuple[Obj, Obj]:
    c = claim(cls="local", size=size, volume="pvc-uid-data", phase="Bound",
              annotations={BIND_COMPLETED: "yes", BOUND_BY_CONTROLLER: "yes"})
    c["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    pv = volume("pvc-uid-data", cls="local", ref=ref_to(c), phase="Bound", policy="Delete",
                annotations={PROVISIONED_BY: "shoal.io/local"})
    return c, pv


def test_expansion_raises_the_volume_and_waits_for_the_node() -> None:
    c, pv = _bound_local("3Gi")
    plan = sync(c, pv)
    assert steps(plan) == [("persistentvolumes", "update", "pvc-uid-data"),
                           ("persistentvolumeclaims", "status", "data")]
    assert plan.writes[0].obj["spec"]["capacity"] == {"storage": "3Gi"}
    st = plan.writes[1].obj["status"]
    assert st["capacity"] == {"storage": "1Gi"}  # the node's to raise once the filesystem grew
    assert st["allocatedResources"] == {"storage": "3Gi"}
    assert st["allocatedResourceStatuses"] == {"storage": "NodeResizePending"}
    assert [(x["type"], x["status"]) for x in st["conditions"]] == [(FS_RESIZE_PENDING, "True")]
    assert reasons(plan) == ["FileSystemResizeRequired"]
    # after both writes, nothing more until the agent reports
    c2 = {**c, "status": st}
    pv2 = plan.writes[0].obj
    assert sync(c2, pv2).writes == [] and sync(c2, pv2).events == []
    assert sync(c, pv2).writes[0].resource == "persistentvolumeclaims"  # resumes after a crash


def test_expansion_of_a_static_volume_is_refused_by_event() -> None:
    c, pv = _bound_local("3Gi")
    pv["metadata"]["annotations"] = {}
    plan = sync(c, pv)
    assert plan.writes == [] and reasons(plan) == ["VolumeResizeFailed"]


# --- volumes: phases and reclaim -------------------------------------------------------------------


def vsync(pv: Obj, c: Obj | None = None) -> Plan:
    return sync_volume(pv, claim=c, now=NOW)


def test_volume_phases() -> None:
    new = volume("pv1", phase="Pending")
    assert vsync(new).writes[0].obj["status"] == {"phase": "Available", "lastPhaseTransitionTime": STAMP}
    assert vsync(volume("pv1")).writes == []
    c = claim()
    reserved = volume("pv1", ref=ref_to(c, uid=False), phase="Pending")
    assert vsync(reserved, c).writes[0].obj["status"]["phase"] == "Available"
    binding = volume("pv1", ref=ref_to(c))
    assert vsync(binding, c).writes[0].obj["status"]["phase"] == "Bound"


@pytest.mark.parametrize(("policy", "annotations", "want_steps", "want_phase"), [
    ("Retain", {}, [("persistentvolumes", "status", "pv1")], "Released"),
    ("Delete", {PROVISIONED_BY: "shoal.io/local"},
     [("persistentvolumes", "status", "pv1"), ("persistentvolumes", "delete", "pv1")], "Released"),
    ("Delete", {}, [("persistentvolumes", "status", "pv1")], "Failed"),
    ("Recycle", {}, [("persistentvolumes", "status", "pv1")], "Failed"),
])
def test_reclaim(policy: str, annotations: Obj, want_steps: list[Any], want_phase: str) -> None:
    c = claim()
    pv = volume("pv1", ref=ref_to(c), phase="Bound", policy=policy, annotations=annotations)
    plan = vsync(pv, None)  # the claim is gone
    assert steps(plan) == want_steps
    assert plan.writes[0].obj["status"]["phase"] == want_phase
    again = vsync(plan.writes[0].obj, None)
    assert [w.verb for w in again.writes] == (["delete"] if want_steps[-1][1] == "delete" else [])
    # a claim of the same name but another uid is not the one the volume was bound to
    assert steps(vsync(pv, {**c, "metadata": {**c["metadata"], "uid": "new"}})) == want_steps


def test_volume_reserved_for_a_claim_bound_elsewhere_is_freed() -> None:
    c = claim(volume="other")
    pv = volume("pv1", ref=ref_to(c), phase="Bound", annotations={BOUND_BY_CONTROLLER: "yes"})
    plan = vsync(pv, c)
    assert "claimRef" not in plan.writes[0].obj["spec"]
    assert plan.writes[1].obj["status"]["phase"] == "Available"
    users = volume("pv1", ref=ref_to(c), phase="Bound")
    assert vsync(users, c).writes[0].obj["spec"]["claimRef"] == ref_to(c, uid=False)


# --- protection ---------------------------------------------------------------------------------------


def pod(*claims: str, node: str = "n1", phase: str = "Running") -> Obj:
    return {"metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": node, "volumes": [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}}
                                                    for i, c in enumerate(claims)]},
            "status": {"phase": phase}}


@pytest.mark.parametrize(("terminating", "finalizers", "pods", "want"), [
    (False, [PVC_PROTECTION], [], None),
    (False, [], [], "add"),
    (True, [PVC_PROTECTION], [], "remove"),
    (True, [PVC_PROTECTION], [pod("data")], None),  # in use: stays Terminating
    (True, [PVC_PROTECTION], [pod("other")], "remove"),
    (True, [PVC_PROTECTION], [pod("data", phase="Succeeded")], "remove"),
    (True, [PVC_PROTECTION], [pod("data", node="")], "remove"),  # never scheduled
    (True, [], [pod("data")], None),
])
def test_pvc_protection(terminating: bool, finalizers: list[str], pods: list[Obj], want: str | None) -> None:
    c = claim()
    c["metadata"]["finalizers"] = finalizers
    if terminating:
        c["metadata"]["deletionTimestamp"] = STAMP
    assert claim_finalizer_change(c, pods) == want


@pytest.mark.parametrize(("terminating", "phase", "finalizers", "want"), [
    (False, "Bound", [PV_PROTECTION], None),
    (False, "Available", [], "add"),
    (True, "Bound", [PV_PROTECTION], None),
    (True, "Released", [PV_PROTECTION], "remove"),
    (True, "Available", [PV_PROTECTION, LOCAL_VOLUME_FINALIZER], "remove"),
])
def test_pv_protection(terminating: bool, phase: str, finalizers: list[str], want: str | None) -> None:
    pv = volume("pv1", phase=phase)
    pv["metadata"]["finalizers"] = finalizers
    if terminating:
        pv["metadata"]["deletionTimestamp"] = STAMP
    assert volume_finalizer_change(pv) == want
