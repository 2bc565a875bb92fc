"""VolumeBinding, pure: which nodes a pod's claims admit, why not, what Reserve records and PreBind writes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shoal.api.storage_contract import BOUND_BY_CONTROLLER, SELECTED_NODE
from shoal.scheduler.config import SchedulerConfig
from shoal.scheduler.core import Profile, build_profiles, schedule
from shoal.scheduler.framework import ClusterEvent, Code, CycleState, Status
from shoal.scheduler.plugins.volumebinding import (
    BIND_CONFLICT,
    NODE_CONFLICT,
    PV_NOT_EXIST,
    UNBOUND_IMMEDIATE,
    VolumeBinding,
    VolumePlan,
    check_bindings,
)
from shoal.scheduler.podinfo import pod_info
from shoal.scheduler.snapshot import ClusterState
from shoal.scheduler.volumes import claim_info
from shoal.scheduler.worker import failure_message
from tests.scheduler.helpers import cluster, node, pod
from tests.scheduler.volume_helpers import claim, pv, sc, static_class, uses

NODES = ("a", "b", "c")
LOCAL = sc("local")
MANUAL = static_class("manual")
FAST = sc("fast", wait=False)  # an Immediate class
ZONED = sc("zoned", zones=["z1"])


def state(objs: list[dict[str, Any]], nodes: tuple[str, ...] = NODES,
          labels: dict[str, dict[str, str]] | None = None) -> ClusterState:
    cs = cluster([node(n, labels=(labels or {}).get(n)) for n in nodes])
    for o in objs:
        kind = "class" if "provisioner" in o else ("volume" if "capacity" in o["spec"] else "claim")
        {"class": cs.volumes.set_class, "volume": cs.volumes.set_volume, "claim": cs.volumes.set_claim}[kind](o)
    return cs


def admitted(cs: ClusterState, p: dict[str, Any]) -> list[str] | str:
    """The nodes VolumeBinding admits for ``p``, or its PreFilter's refusal."""
    plugin = VolumeBinding()
    st = CycleState()
    info = pod_info(p)
    pre = plugin.pre_filter(st, info, cs)
    if not pre.ok:
        assert pre.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        return pre.message()
    res = plugin.filter(st, info, cs)
    if res is None:
        return list(cs.names)
    assert all(not r.resolvable for r in res.reasons)
    return [cs.names[i] for i in range(cs.n) if res.ok[i]]


# name: (claims, volumes and classes; the claims the pod uses) -> nodes admitted, or the refusal
FILTER_CASES: dict[str, tuple[list[dict[str, Any]], tuple[str, ...], list[str] | str]] = {
    "bound to a volume pinned to b": (
        [MANUAL, claim("data", cls="manual", volume="pv-b", bound=True), pv("pv-b", node="b", claim_ref=("default", "data"))],
        ("data",), ["b"]),
    "bound to a volume without node affinity": (
        [MANUAL, claim("data", cls="manual", volume="pv", bound=True), pv("pv", claim_ref=("default", "data"))],
        ("data",), ["a", "b", "c"]),
    "bound to a volume pinned to a node that is gone": (
        [MANUAL, claim("data", cls="manual", volume="pv-x", bound=True), pv("pv-x", node="x", claim_ref=("default", "data"))],
        ("data",), []),
    "two bound claims pinned to different nodes": (
        [MANUAL, claim("d1", cls="manual", volume="p1", bound=True), pv("p1", node="a", claim_ref=("default", "d1")),
         claim("d2", cls="manual", volume="p2", bound=True), pv("p2", node="b", claim_ref=("default", "d2"))],
        ("d1", "d2"), []),
    "no such claim": ([LOCAL], ("data",), 'persistentvolumeclaim "data" not found'),
    "a claim in another namespace is no claim": (
        [LOCAL, claim("data", ns="other")], ("data",), 'persistentvolumeclaim "data" not found'),
    "claim being deleted": ([LOCAL, claim("data", deleting=True)], ("data",),
                            'persistentvolumeclaim "data" is being deleted'),
    "claim lost": ([MANUAL, claim("data", cls="manual", volume="gone", phase="Lost")], ("data",),
                   'persistentvolumeclaim "data" bound to non-existent persistentvolume "gone"'),
    "unbound claim of an Immediate class": ([FAST, claim("data", cls="fast")], ("data",), UNBOUND_IMMEDIATE),
    "unbound claim of no class": ([claim("data", cls="")], ("data",), UNBOUND_IMMEDIATE),
    "unbound claim of a class that does not exist": ([claim("data", cls="nope")], ("data",), UNBOUND_IMMEDIATE),
    "a claim naming its volume, binding not completed: the PV controller's to finish": (
        [LOCAL, claim("data", volume="pv-a"), pv("pv-a", cls="local", node="a")], ("data",), UNBOUND_IMMEDIATE),
    "waiting for its first consumer, shoal.io/local: every node": ([LOCAL, claim("data")], ("data",), ["a", "b", "c"]),
    "waiting, its node selected already": ([LOCAL, claim("data", selected="b")], ("data",), ["b"]),
    "waiting, its node selected is gone": ([LOCAL, claim("data", selected="x")], ("data",), []),
    "waiting, class topology admits z1 only": (
        [ZONED, claim("data", cls="zoned")], ("data",), ["a", "c"]),
    "waiting, static volumes on a and c": (
        [MANUAL, claim("data", cls="manual"), pv("pa", node="a"), pv("pc", node="c")], ("data",), ["a", "c"]),
    "waiting, no static volume and no provisioner": ([MANUAL, claim("data", cls="manual")], ("data",), []),
    "waiting, the volume on c is too small": (
        [MANUAL, claim("data", cls="manual", size="2Gi"), pv("pa", node="a", size="2Gi"), pv("pc", node="c")],
        ("data",), ["a"]),
    "waiting, the volume on c lacks the access mode": (
        [MANUAL, claim("data", cls="manual", modes=("ReadWriteOncePod",)),
         pv("pa", node="a", modes=("ReadWriteOnce", "ReadWriteOncePod")), pv("pc", node="c")], ("data",), ["a"]),
    "waiting, the selector picks the volume on b": (
        [MANUAL, claim("data", cls="manual", selector={"matchLabels": {"tier": "gold"}}),
         pv("pa", node="a"), pv("pb", node="b", labels={"tier": "gold"})], ("data",), ["b"]),
    "waiting, the volume on a is another claim's": (
        [MANUAL, claim("data", cls="manual"), pv("pa", node="a", claim_ref=("default", "other")),
         pv("pb", node="b")], ("data",), ["b"]),
    "waiting, a volume of another class does not serve": (
        [MANUAL, claim("data", cls="manual"), pv("pa", node="a", cls="other")], ("data",), []),
    "waiting, a volume reserved for it (claimRef) on c": (
        [MANUAL, claim("data", cls="manual"), pv("pa", node="a"), pv("pc", node="c", claim_ref=("default", "data"))],
        ("data",), ["c"]),
    "waiting, a volume being released is not available": (
        [MANUAL, claim("data", cls="manual"), pv("pa", node="a", phase="Released")], ("data",), []),
    "two claims, one volume on a: not both": (
        [MANUAL, claim("d1", cls="manual"), claim("d2", cls="manual"), pv("pa", node="a"), pv("pb", node="b"),
         pv("pb2", node="b")], ("d1", "d2"), ["b"]),
    "a static volume on a, or a provisioned one anywhere": (
        [LOCAL, claim("data"), pv("pa", node="a", cls="local")], ("data",), ["a", "b", "c"]),
    "bound on b and waiting for a volume on a or b": (
        [MANUAL, claim("d1", cls="manual", volume="p1", bound=True), pv("p1", node="b", claim_ref=("default", "d1")),
         claim("d2", cls="manual"), pv("pa", node="a"), pv("pb", node="b")], ("d1", "d2"), ["b"]),
}


@pytest.mark.parametrize("case", list(FILTER_CASES), ids=list(FILTER_CASES))
def test_filter(case: str) -> None:
    objs, claims, want = FILTER_CASES[case]
    cs = state(objs, labels={"a": {"zone": "z1"}, "b": {"zone": "z2"}, "c": {"zone": "z1"}})
    assert admitted(cs, pod("p", **uses(*claims))) == want


NO_HELP = " preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."

# name: (objects, claims of the pod) -> the FailedScheduling message over nodes a, b, c (upstream's words)
MESSAGES: dict[str, tuple[list[dict[str, Any]], tuple[str, ...], str]] = {
    "node affinity conflict": (
        [MANUAL, claim("data", cls="manual", volume="pv-x", bound=True), pv("pv-x", node="x", claim_ref=("default", "data"))],
        ("data",), f"0/3 nodes are available: 3 {NODE_CONFLICT}." + NO_HELP),
    "bound to a volume that does not exist": (
        [MANUAL, claim("data", cls="manual", volume="gone", bound=True)], ("data",),
        f"0/3 nodes are available: 3 {PV_NOT_EXIST}." + NO_HELP),
    "each node judged by the first claim that fails it": (
        [MANUAL, claim("d1", cls="manual", volume="p1", bound=True), pv("p1", node="a", claim_ref=("default", "d1")),
         claim("d2", cls="manual", volume="gone", bound=True)], ("d1", "d2"),
        f"0/3 nodes are available: 2 {NODE_CONFLICT}, 1 {PV_NOT_EXIST}." + NO_HELP),
    "nothing to bind, nothing to provision": (
        [MANUAL, claim("data", cls="manual")], ("data",), f"0/3 nodes are available: 3 {BIND_CONFLICT}." + NO_HELP),
    "a bound claim and a waiting one fail a node for both reasons": (
        [MANUAL, claim("d1", cls="manual", volume="p1", bound=True), pv("p1", node="a", claim_ref=("default", "d1")),
         claim("d2", cls="manual")], ("d1", "d2"),
        f"0/3 nodes are available: 3 {BIND_CONFLICT}, 2 {NODE_CONFLICT}." + NO_HELP),
    "no claim": ([LOCAL], ("data",), '0/3 nodes are available: persistentvolumeclaim "data" not found.'),
    "unbound immediate": ([FAST, claim("data", cls="fast")], ("data",),
                          f"0/3 nodes are available: {UNBOUND_IMMEDIATE}."),
}


@pytest.mark.parametrize("case", list(MESSAGES), ids=list(MESSAGES))
def test_message_through_the_diagnosis(case: str) -> None:
    objs, claims, want = MESSAGES[case]
    cs = state(objs)
    profile = build_profiles(SchedulerConfig())["default-scheduler"]
    d = profile.schedule_one(cs, pod_info(pod("p", **uses(*claims))))
    assert d.node is None and d.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
    assert d.diagnosis is not None and failure_message(d.diagnosis) == want
    assert d.diagnosis.plugins == {"VolumeBinding"}
    wake = profile.requeue_events(d.diagnosis)
    assert wake & ClusterEvent.PVC_ADD and wake & ClusterEvent.PV_UPDATE and wake & ClusterEvent.NODE_LABEL
    assert not wake & ClusterEvent.POD_DELETE  # a freed cpu does not free a volume


def test_bound_claim_steers_the_pod_past_better_nodes() -> None:
    cs = state([MANUAL, claim("data", cls="manual", volume="pv-b", bound=True),
                pv("pv-b", node="b", claim_ref=("default", "data"))])
    for i in range(4):  # load b: the scorers prefer a and c
        cs.add_pod(pod_info(pod(f"x{i}", cpu="500m")), "b")
    profiles = build_profiles(SchedulerConfig())
    [d] = schedule(cs, [pod_info(pod("p", **uses("data")))], profiles)
    assert d.node == "b"
    assert d.state is None  # every claim bound: nothing to reserve, no PreBind


def test_pod_without_claims_skips_the_plugin() -> None:
    cs = state([LOCAL, claim("data")])
    plugin = VolumeBinding()
    st = CycleState()
    info = pod_info(pod("p"))
    assert info.claims == ()
    assert plugin.pre_filter(st, info, cs).code == Code.SKIP
    assert plugin.filter(st, info, cs) is None
    assert plugin.reserve(st, info, cs, "a").code == Code.SKIP
    assert st.data == {}
    [d] = schedule(cs, [info], build_profiles(SchedulerConfig()))
    assert d.node is not None and d.state is None  # the worker runs no PreBind for it


class Spy:
    """A plugin at every point the volume plugins use, counting its calls."""

    name = "Spy"
    needs_claims = True

    def __init__(self) -> None:
        self.calls = 0

    def pre_filter(self, state: CycleState, pod: Any, cluster: ClusterState) -> Status:
        self.calls += 1
        return Status()

    def filter(self, state: CycleState, pod: Any, cluster: ClusterState) -> None:
        self.calls += 1

    def reserve(self, state: CycleState, pod: Any, cluster: ClusterState, node: str) -> Status:
        self.calls += 1
        return Status(Code.SKIP)

    def unreserve(self, state: CycleState, pod: Any, cluster: ClusterState, node: str) -> None:
        self.calls += 1


def test_the_core_leaves_volume_plugins_out_for_pods_without_claims() -> None:
    spy = Spy()
    profile = Profile("p", pre_filter=[spy], filter=[spy], reserve=[spy])
    cs = state([LOCAL, claim("data")])
    for i in range(3):
        assert profile.schedule_one(cs, pod_info(pod(f"p{i}"))).node is not None
    assert spy.calls == 0
    assert profile.schedule_one(cs, pod_info(pod("v", **uses("data")))).node is not None
    assert spy.calls == 3


def test_claims_parsed_once_each_in_order() -> None:
    p = pod("p", volumes=[{"name": "a", "persistentVolumeClaim": {"claimName": "d2"}},
                          {"name": "b", "emptyDir": {}},
                          {"name": "c", "persistentVolumeClaim": {"claimName": "d1"}},
                          {"name": "d", "persistentVolumeClaim": {"claimName": "d2", "readOnly": True}}])
    assert pod_info(p).claims == ("d2", "d1")


# ---- Reserve ----------------------------------------------------------------------------------

def _plan(d: Any) -> VolumePlan:
    assert d.state is not None
    plan = d.state.read("VolumeBinding/plan")
    assert isinstance(plan, VolumePlan)
    return plan


def test_reserve_selects_the_node_and_the_next_pod_follows() -> None:
    cs = state([LOCAL, claim("data")])
    profiles = build_profiles(SchedulerConfig())
    profile = profiles["default-scheduler"]
    [d1] = schedule(cs, [pod_info(pod("p1", **uses("data")))], profiles)
    assert d1.node is not None
    plan = _plan(d1)
    assert [c.name for c in plan.select] == ["data"] and plan.static == () and plan.wait == (("default", "data"),)
    assert cs.volumes.assumed_nodes == {("default", "data"): d1.node}
    # a second pod of the claim goes where the first one's volume will be, even against the scorers
    for i in range(6):
        cs.add_pod(pod_info(pod(f"x{i}", cpu="500m")), d1.node)
    [d2] = schedule(cs, [pod_info(pod("p2", **uses("data")))], profiles)
    assert d2.node == d1.node
    assert _plan(d2).select == ()  # the first pod writes the annotation; the second waits for the binding
    profile.unreserve(d1, cs)
    assert cs.volumes.assumed_nodes == {}
    # the informer shows the write: the assumption is the claim's annotation now
    cs.volumes.assumed_nodes[("default", "data")] = "b"
    cs.volumes.set_claim(claim("data", selected="b", rv=2))
    assert cs.volumes.assumed_nodes == {}


def test_reserve_takes_a_static_volume_once() -> None:
    cs = state([MANUAL, claim("d1", cls="manual"), claim("d2", cls="manual"), pv("pa", node="a")])
    profiles = build_profiles(SchedulerConfig())
    [d1, d2] = schedule(cs, [pod_info(pod("p1", **uses("d1"))), pod_info(pod("p2", **uses("d2")))], profiles)
    assert d1.node == "a"
    plan = _plan(d1)
    assert [(c.name, v) for c, v in plan.static] == [("d1", "pa")] and plan.write == ("pa",) and plan.select == ()
    assert cs.volumes.assumed_volumes == {"pa": ("default", "d1")}
    assert d2.node is None  # pa is taken, and the class provisions nothing
    assert d2.diagnosis is not None and failure_message(d2.diagnosis) == f"0/3 nodes are available: 3 {BIND_CONFLICT}." + NO_HELP
    # a second pod of d1 while the first one's write is in flight: the same volume, written once
    [d3] = schedule(cs, [pod_info(pod("p3", **uses("d1")))], profiles)
    assert d3.node == "a"
    p3 = _plan(d3)
    assert [(c.name, v) for c, v in p3.static] == [("d1", "pa")] and p3.write == ()
    profiles["default-scheduler"].unreserve(d3, cs)
    assert cs.volumes.assumed_volumes == {"pa": ("default", "d1")}  # the first pod's, still
    profiles["default-scheduler"].unreserve(d1, cs)
    assert cs.volumes.assumed_volumes == {}


# ---- PreBind ------------------------------------------------------------------------------------

class FakeHandle:
    """Records the writes and answers ``wait_until`` from a cluster state the test changes."""

    def __init__(self, cs: ClusterState, then: list[dict[str, Any]] | None = None) -> None:
        self.cs = cs
        self.patches: list[tuple[str, str, str | None, dict[str, Any]]] = []
        self.then = then or []  # objects the "PV controller" writes once PreBind waits

    async def patch(self, resource: str, name: str, namespace: str | None, patch: dict[str, Any]) -> dict[str, Any]:
        self.patches.append((resource, name, namespace, patch))
        return {"metadata": {"name": name, "resourceVersion": "5"}}

    async def wait_until(self, check: Any, timeout: float) -> Status:
        st = check(self.cs)
        if st is not None:
            return st
        for o in self.then:
            (self.cs.volumes.set_volume if "capacity" in o["spec"] else self.cs.volumes.set_claim)(o)
            st = check(self.cs)
            if st is not None:
                return st
        return Status(Code.ERROR, ("timed out waiting for the condition",))


def _decide(cs: ClusterState, *claims: str) -> Any:
    profiles = build_profiles(SchedulerConfig())
    [d] = schedule(cs, [pod_info(pod("p", **uses(*claims)))], profiles)
    assert d.node is not None and d.state is not None
    return d


def test_pre_bind_annotates_then_waits_for_the_binding() -> None:
    cs = state([LOCAL, claim("data")], nodes=("b",))
    d = _decide(cs, "data")
    h = FakeHandle(cs, then=[claim("data", selected="b", rv=5),  # the write reaches the informer
                             pv("pvc-1", cls="local", node="b", claim_ref=("default", "data")),
                             claim("data", selected="b", volume="pvc-1", bound=True, rv=7)])
    st = asyncio.run(VolumeBinding().pre_bind(d.state, d.pod, "b", h))
    assert st.ok, st
    assert h.patches == [("persistentvolumeclaims", "data", "default", {"metadata": {"annotations": {SELECTED_NODE: "b"}}})]


def test_pre_bind_writes_claim_ref_on_the_chosen_volume() -> None:
    cs = state([MANUAL, claim("data", cls="manual"), pv("pa", node="a")])
    d = _decide(cs, "data")
    h = FakeHandle(cs, then=[pv("pa", node="a", claim_ref=("default", "data"), rv=5),
                             claim("data", cls="manual", volume="pa", bound=True, rv=6)])
    st = asyncio.run(VolumeBinding().pre_bind(d.state, d.pod, "a", h))
    assert st.ok, st
    [(res, name, ns, body)] = h.patches
    assert (res, name, ns) == ("persistentvolumes", "pa", None)
    assert body["spec"]["claimRef"] == {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": "default",
                                        "name": "data", "uid": "uid-default-data"}
    assert body["metadata"]["annotations"] == {BOUND_BY_CONTROLLER: "yes"}


def test_pre_bind_timeout_and_failed_provisioning() -> None:
    cs = state([LOCAL, claim("data")], nodes=("b",))
    d = _decide(cs, "data")
    st = asyncio.run(VolumeBinding().pre_bind(d.state, d.pod, "b", FakeHandle(cs)))
    assert st.code == Code.ERROR and st.message() == "binding volumes: timed out waiting for the condition"
    # the provisioner gave up: it took the node off the claim
    h = FakeHandle(cs, then=[claim("data", rv=6)])
    st = asyncio.run(VolumeBinding().pre_bind(d.state, d.pod, "b", h))
    assert st.message() == 'binding volumes: provisioning failed for PVC "data"'


def test_check_bindings_waits_for_our_own_write() -> None:
    cs = state([LOCAL, claim("data", rv=3)], nodes=("b",))
    plan = VolumePlan("b", (claim_info(claim("data")),), (), (), (("default", "data"),))
    written = {"pvc/default/data": 4}
    assert check_bindings(plan, written, cs) is None  # the informer still has rv 3, without the annotation
    cs.volumes.set_claim(claim("data", selected="b", rv=4))
    assert check_bindings(plan, written, cs) is None  # annotated, not bound yet
    cs.volumes.set_volume(pv("pvc-1", cls="local", node="a", claim_ref=("default", "data")))
    cs.volumes.set_claim(claim("data", selected="b", volume="pvc-1", bound=True, rv=5))
    st = check_bindings(plan, written, cs)
    assert st is not None and st.message() == 'pv "pvc-1" node affinity doesn\'t match node "b"'


def test_events_name_what_changed() -> None:
    cs = ClusterState()
    v = cs.volumes
    assert v.set_claim(claim("data", rv=1)) == ClusterEvent.PVC_ADD
    assert v.set_claim(claim("data", rv=2)) == ClusterEvent(0)  # only the resourceVersion moved
    assert v.set_claim(claim("data", selected="a", rv=3)) == ClusterEvent.PVC_UPDATE
    assert v.set_volume(pv("pa")) == ClusterEvent.PV_ADD
    assert v.set_volume(pv("pa", claim_ref=("default", "data"))) == ClusterEvent.PV_UPDATE
    assert v.by_claim == {("default", "data"): {"pa"}}
    v.remove_volume(pv("pa"))
    assert v.by_claim == {} and v.by_class == {}
    assert v.set_class(LOCAL) == ClusterEvent.STORAGE_CLASS_ADD
    assert v.set_class(LOCAL) == ClusterEvent(0)


def test_bind_timeout_argument() -> None:
    assert VolumeBinding({"bindTimeoutSeconds": 5}).bind_timeout == 5.0
    with pytest.raises(ValueError, match="bindTimeoutSeconds"):
        VolumeBinding({"bindTimeoutSeconds": "soon"})
