"""The pure pod planner (``shoal.agent.podplan``): tables of pod, containers, memory and time -> actions.

No runtime, no server, no event loop: the clock is a parameter, so back-off,
deadlines and restart policies are checked to the second.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import pytest

from shoal.agent.drivers.base import LABEL_ATTEMPT, LABEL_ROLE, ContainerStatus
from shoal.agent.podplan import (
    DEADLINE_MESSAGE,
    Backoff,
    BackoffPolicy,
    CreateSandbox,
    DeletePod,
    FailPod,
    Instant,
    KillContainer,
    KillPod,
    PodState,
    ProbeResults,
    RemoveContainer,
    ReportStatus,
    StartContainer,
    StartCreated,
    WaitBackoff,
    WatchProbes,
    latest_instances,
    next_backoff,
    plan_pod_actions,
    pod_backoff,
    stale_attempts,
)
from shoal.api import views

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
NOW = Instant(mono=1000.0, wall=T0 + 100)
POLICY = BackoffPolicy(base=10, cap=300)


def iso(t: float) -> str:
    return views.format_time(dt.datetime.fromtimestamp(t, dt.UTC))


def pod(*apps: str, inits: tuple[str, ...] = (), policy: str = "Always", **extra: Any) -> views.Pod:
    spec: dict[str, Any] = {"restartPolicy": policy, "containers": [{"name": n, "image": "img"} for n in apps]}
    if inits:
        spec["initContainers"] = [{"name": n, "image": "img"} for n in inits]
    spec.update(extra.pop("spec", {}))
    return cast(views.Pod, {"metadata": {"name": "p", "namespace": "ns", "uid": "u1", **extra.pop("metadata", {})},
                            "spec": spec, "status": extra.pop("status", {})})


def c(name: str, state: str, *, id: str | None = None, code: int | None = None, attempt: int = 0,
      role: str = "container", started: float | None = None, finished: float | None = None) -> ContainerStatus:
    return ContainerStatus(id=id or f"{name}-{attempt}", name=name, pod_uid="u1", state=state, exit_code=code,
                           started_at=iso(started) if started is not None else None,
                           finished_at=iso(finished) if finished is not None else None,
                           labels={LABEL_ROLE: role, LABEL_ATTEMPT: str(attempt)})


SANDBOX = c("sandbox", "running", id="sb", role="sandbox")


def plan(p: views.Pod, containers: list[ContainerStatus], state: PodState | None = None, now: Instant = NOW,
         probes: dict[str, ProbeResults] | None = None) -> tuple[object, ...]:
    """The plan's actions, without the ReportStatus every running plan ends with."""
    out = plan_pod_actions(p, containers, state or PodState("u1"), now, probes=probes, backoff=POLICY)
    acts = out.actions
    if acts and isinstance(acts[-1], ReportStatus):
        acts = acts[:-1]
    return acts


# ---- a new pod, the sandbox ---------------------------------------------------------------------------
def test_a_new_pod_gets_a_sandbox_then_its_containers() -> None:
    out = plan_pod_actions(pod("a", "b"), [], PodState("u1"), NOW, backoff=POLICY)
    assert out.actions == (CreateSandbox(), StartContainer("a", "container", 0), StartContainer("b", "container", 0),
                           ReportStatus())
    assert out.sandbox is None and out.requeue_after is None


def test_the_live_sandbox_is_used_and_a_duplicate_removed() -> None:
    dup = c("sandbox", "running", id="sb2", role="sandbox")
    out = plan_pod_actions(pod("a"), [SANDBOX, dup, c("a", "running")], PodState("u1"), NOW, backoff=POLICY)
    assert out.sandbox == SANDBOX
    assert out.actions == (RemoveContainer("sb2"), ReportStatus())


def test_a_dead_sandbox_is_replaced_and_its_running_containers_stopped() -> None:
    dead = c("sandbox", "exited", id="sb", role="sandbox", code=0)
    acts = plan(pod("a", "b"), [dead, c("a", "running"), c("b", "exited", code=0)])
    assert acts[0] == CreateSandbox(stop=("a-0",), replaces=True)


# ---- init containers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("observed", "policy", "expected"), [
    # none ran yet: the first, and nothing else
    ([], "Always", [StartContainer("i1", "init", 0)]),
    # the first succeeded: the second
    ([c("i1", "exited", code=0, role="init")], "Always", [StartContainer("i2", "init", 0)]),
    # the first still runs: wait for it
    ([c("i1", "running", role="init")], "Always", []),
    # created, never started (an agent restarted in between): start it
    ([c("i1", "created", role="init")], "Always", [StartCreated("i1", "i1-0")]),
    # the first failed: restarted unless the policy is Never (then the pod fails, in status)
    ([c("i1", "exited", code=1, role="init")], "Always",
     [StartContainer("i1", "init", 1, Backoff(10, NOW.mono))]),
    ([c("i1", "exited", code=1, role="init")], "OnFailure",
     [StartContainer("i1", "init", 1, Backoff(10, NOW.mono))]),
    ([c("i1", "exited", code=1, role="init")], "Never", []),
    # both succeeded: the app containers
    ([c("i1", "exited", code=0, role="init"), c("i2", "exited", code=0, role="init")], "Always",
     [StartContainer("a", "container", 0)]),
    # the newest attempt counts: an old failure does not matter once a retry succeeded
    ([c("i1", "exited", code=1, role="init"), c("i1", "exited", code=0, attempt=1, role="init")], "Always",
     [StartContainer("i2", "init", 0)]),
])
def test_init_containers_run_one_at_a_time_in_order(observed: list[ContainerStatus], policy: str,
                                                     expected: list[object]) -> None:
    assert list(plan(pod("a", inits=("i1", "i2"), policy=policy), [SANDBOX, *observed])) == expected


# ---- restart policies ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("policy", "code", "start_error", "restarts"), [
    ("Always", 0, False, True),
    ("Always", 1, False, True),
    ("OnFailure", 0, False, False),
    ("OnFailure", 1, False, True),
    ("OnFailure", None, True, True),  # a container that failed to start counts as failed
    ("Never", 1, False, False),
    ("Never", None, True, False),
])
def test_restart_policy(policy: str, code: int | None, start_error: bool, restarts: bool) -> None:
    cur = c("a", "created" if start_error else "exited", code=code)
    state = PodState("u1", start_errors={"a-0": "boom"} if start_error else {})
    expected = [StartContainer("a", "container", 1, Backoff(10, NOW.mono))] if restarts else []
    assert list(plan(pod("a", policy=policy), [SANDBOX, cur], state)) == expected


def test_a_running_container_without_probes_is_left_alone_and_a_created_one_started() -> None:
    assert plan(pod("a", "b"), [SANDBOX, c("a", "running"), c("b", "created")]) == (StartCreated("b", "b-0"),)


# ---- CrashLoopBackOff ---------------------------------------------------------------------------------
def crashed(attempt: int = 1, ran: float = 1) -> ContainerStatus:
    return c("a", "exited", code=1, attempt=attempt, started=T0, finished=T0 + ran)


@pytest.mark.parametrize(("previous", "exited_ago", "expected"), [
    # the first restart is immediate, and arms a 10 s back-off
    (None, 0, StartContainer("a", "container", 2, Backoff(10, NOW.mono))),
    # within the back-off: wait the rest of it
    (Backoff(10, 900), 4, WaitBackoff("a", 10, 6)),
    # the back-off since the exit has passed: restart, and double it
    (Backoff(10, 900), 10, StartContainer("a", "container", 2, Backoff(20, NOW.mono))),
    (Backoff(160, 500), 200, StartContainer("a", "container", 2, Backoff(300, NOW.mono))),  # capped at 5 min
    (Backoff(300, 500), 300, StartContainer("a", "container", 2, Backoff(300, NOW.mono))),
    (Backoff(300, 500), 299, WaitBackoff("a", 300, 1)),
])
def test_backoff_doubles_from_base_to_cap(previous: Backoff | None, exited_ago: float, expected: object) -> None:
    state = PodState("u1", backoff={"a": previous} if previous else {}, exit_seen={"a-1": NOW.mono - exited_ago})
    assert plan(pod("a"), [SANDBOX, crashed()], state) == (expected,)


def test_an_exit_not_seen_before_waits_the_whole_backoff() -> None:
    state = PodState("u1", backoff={"a": Backoff(40, 900)})
    assert plan(pod("a"), [SANDBOX, crashed()], state) == (WaitBackoff("a", 40, 40),)


def test_a_long_run_resets_the_backoff() -> None:
    """A container that ran over twice the cap starts over at the base, at once."""
    state = PodState("u1", backoff={"a": Backoff(300, 900)}, exit_seen={"a-1": NOW.mono - 1})
    assert plan(pod("a"), [SANDBOX, crashed(ran=601)], state) == (
        StartContainer("a", "container", 2, Backoff(10, NOW.mono)),)
    assert plan(pod("a"), [SANDBOX, crashed(ran=600)], state) == (WaitBackoff("a", 300, 299),)


def test_next_backoff() -> None:
    assert [next_backoff(None, POLICY), next_backoff(Backoff(10, 0), POLICY), next_backoff(Backoff(200, 0), POLICY)
            ] == [10, 20, 300]


def backoff_sequence(policy: BackoffPolicy, crashes: int) -> list[float]:
    """The waits between successive crashes and restarts, as the planner decides them pass by pass."""
    state, waits, now = PodState("u1"), [], NOW
    for attempt in range(1, crashes + 1):
        state.exit_seen[f"a-{attempt}"] = now.mono
        acts = plan_pod_actions(pod("a"), [SANDBOX, crashed(attempt)], state, now, backoff=policy).actions
        if isinstance(acts[0], WaitBackoff):
            waits.append(acts[0].left)
            now = Instant(now.mono + acts[0].left + 1e-9, now.wall + acts[0].left)  # just past it
            acts = plan_pod_actions(pod("a"), [SANDBOX, crashed(attempt)], state, now, backoff=policy).actions
        else:
            waits.append(0)
        start = acts[0]
        assert isinstance(start, StartContainer) and start.backoff is not None
        state.backoff["a"] = start.backoff
    return waits


@pytest.mark.parametrize(("policy", "waits"), [
    (POLICY, [0, 10, 20, 40, 80, 160, 300, 300]),  # the node's CrashLoopBackOff
    (BackoffPolicy(base=1, cap=300, factor=1.15), [0, 1, 1.15, 1.3225, 1.520875]),  # Marathon's defaults
    (BackoffPolicy(base=0.5, cap=4.5, factor=3), [0, 0.5, 1.5, 4.5, 4.5]),
    (BackoffPolicy(base=5, cap=2, factor=2), [0, 2, 2]),  # a cap below the base caps the first delay too
])
def test_backoff_sequence_follows_the_policy(policy: BackoffPolicy, waits: list[float]) -> None:
    assert backoff_sequence(policy, len(waits)) == pytest.approx(waits)


@pytest.mark.parametrize(("annotation", "expected", "problem"), [
    (None, POLICY, None),
    ("1s,1.15,300s", BackoffPolicy(base=1, cap=300, factor=1.15), None),
    ("2,3,60", BackoffPolicy(base=2, cap=60, factor=3), None),
    ("fast", POLICY, "shoal.io/restart-backoff must be"),
    ("1s,0.5,3s", POLICY, "factor must be 1 or more"),
])
def test_pod_backoff_reads_the_annotation(annotation: str | None, expected: BackoffPolicy,
                                          problem: str | None) -> None:
    ann = {"shoal.io/restart-backoff": annotation} if annotation is not None else {}
    got, why = pod_backoff(pod("a", metadata={"annotations": ann}), POLICY)
    assert got == expected
    assert (why is None) if problem is None else (why is not None and problem in why)


# ---- probes -------------------------------------------------------------------------------------------
def probed(**probe_fields: Any) -> views.Pod:
    p = pod("a", spec={"terminationGracePeriodSeconds": 7})
    p["spec"]["containers"][0].update(probe_fields)
    return p


@pytest.mark.parametrize(("results", "containers_spec", "expected_kill"), [
    (None, {"livenessProbe": {"exec": {}}}, None),  # a new instance: no results yet
    (ProbeResults(liveness=True), {"livenessProbe": {"exec": {}}}, None),
    (ProbeResults(liveness=False), {"livenessProbe": {"exec": {}}}, KillContainer("a", "a-0", "liveness", 7)),
    (ProbeResults(liveness=False), {"livenessProbe": {"exec": {}, "terminationGracePeriodSeconds": 2}},
     KillContainer("a", "a-0", "liveness", 2)),
    # a startup probe reads False until its first success: only giving up kills
    (ProbeResults(startup=False), {"startupProbe": {"exec": {}}}, None),
    (ProbeResults(startup=False, startup_gave_up=True), {"startupProbe": {"exec": {}}},
     KillContainer("a", "a-0", "startup", 7)),
    (ProbeResults(liveness=False), {"readinessProbe": {"exec": {}}}, KillContainer("a", "a-0", "liveness", 7)),
])
def test_failed_liveness_or_startup_probe_kills_the_container(results: ProbeResults | None,
                                                              containers_spec: dict[str, Any],
                                                              expected_kill: KillContainer | None) -> None:
    probes = {"a-0": results} if results else {}
    acts = plan(probed(**containers_spec), [SANDBOX, c("a", "running")], probes=probes)
    assert acts == ((WatchProbes("a", "a-0"),) + ((expected_kill,) if expected_kill else ()))


def test_the_default_grace_for_a_probe_kill_is_30s() -> None:
    acts = plan(pod("a", spec={"containers": [{"name": "a", "livenessProbe": {"exec": {}}}]}),
                [SANDBOX, c("a", "running")], probes={"a-0": ProbeResults(liveness=False)})
    assert acts[-1] == KillContainer("a", "a-0", "liveness", 30)


def test_no_probes_are_watched_while_init_containers_run() -> None:
    p = probed(livenessProbe={"exec": {}})
    p["spec"]["initContainers"] = [{"name": "i1"}]
    assert plan(p, [SANDBOX, c("i1", "running", role="init"), c("a", "running")]) == ()


# ---- deletion, terminal phases, the active deadline ---------------------------------------------------
def test_a_deleted_pod_is_stopped_within_its_grace_period_then_deleted() -> None:
    p = pod("a", metadata={"deletionTimestamp": iso(T0), "deletionGracePeriodSeconds": 12})
    out = plan_pod_actions(p, [SANDBOX, c("a", "running")], PodState("u1"), NOW)
    assert out.actions == (KillPod(12, remove=True), DeletePod())
    p = pod("a", metadata={"deletionTimestamp": iso(T0)})
    assert plan_pod_actions(p, [], PodState("u1"), NOW).actions == (KillPod(0, remove=True), DeletePod())


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_finished_pod_only_has_its_containers_stopped(phase: str) -> None:
    out = plan_pod_actions(pod("a", status={"phase": phase}), [SANDBOX, c("a", "exited", code=0)], PodState("u1"),
                           NOW)
    assert out.actions == (KillPod(0),)


@pytest.mark.parametrize(("deadline", "exceeded_before", "expected", "requeue"), [
    (100, False, "failed", None),  # started at T0, now is T0+100: the deadline is reached
    (150, False, "running", 50.05),  # 50 s left: sync again just after it
    (150, True, "failed", None),  # once exceeded, it stays so
])
def test_active_deadline(deadline: int, exceeded_before: bool, expected: str, requeue: float | None) -> None:
    p = pod("a", spec={"activeDeadlineSeconds": deadline}, status={"startTime": iso(T0)})
    out = plan_pod_actions(p, [SANDBOX, c("a", "running")], PodState("u1", deadline_exceeded=exceeded_before), NOW)
    if expected == "failed":
        assert out.actions == (KillPod(0), FailPod("DeadlineExceeded", DEADLINE_MESSAGE))
    else:
        assert out.actions == (ReportStatus(),)
    assert out.requeue_after == (pytest.approx(requeue) if requeue is not None else None)


def test_the_deadline_counts_only_from_a_start_time() -> None:
    p = pod("a", spec={"activeDeadlineSeconds": 1})
    out = plan_pod_actions(p, [SANDBOX, c("a", "running")], PodState("u1"), NOW)
    assert out.actions == (ReportStatus(),) and out.requeue_after is None


# ---- instances and old attempts -----------------------------------------------------------------------
def test_latest_instances_and_stale_attempts() -> None:
    insts = [c("a", "exited", attempt=i, code=1) for i in range(4)] + [c("b", "running", attempt=0), SANDBOX]
    insts.append(c("c", "running", attempt=0))
    insts += [c("c", "exited", attempt=i, code=1) for i in (1, 2)]
    assert {k: v.id for k, v in latest_instances(insts).items()} == {"a": "a-3", "b": "b-0", "c": "c-2"}
    # all but the newest two of each, never a running one, never the sandbox
    assert stale_attempts(insts) == ["a-0", "a-1"]


# ---- ephemeral containers (kubectl debug) ---------------------------------------------------------------------
def test_ephemeral_containers_start_once_and_are_never_restarted() -> None:
    p = pod("a", spec={"ephemeralContainers": [{"name": "debugger", "image": "busybox"}]})
    assert plan(p, [SANDBOX, c("a", "running")]) == (StartContainer("debugger", "ephemeral", 0),)
    assert plan(p, [SANDBOX, c("a", "running"), c("debugger", "running", role="ephemeral")]) == ()
    assert plan(p, [SANDBOX, c("a", "running"), c("debugger", "exited", code=1, role="ephemeral")]) == ()
    created = c("debugger", "created", role="ephemeral")
    assert plan(p, [SANDBOX, c("a", "running"), created]) == (StartCreated("debugger", created.id),)
    # not before the init containers are done
    p = pod("a", inits=("i",), spec={"ephemeralContainers": [{"name": "debugger", "image": "busybox"}]})
    assert plan(p, [SANDBOX]) == (StartContainer("i", "init", 0),)
