"""The start order of a pod's app containers (``shoal.io/start-after``) in the pure planner: tables.

A container's first start waits for the containers it names to have started
(START) or to be ready (HEALTHY); one whose dependency exited for good is never
started, and the plan says why (``WaitDependency(final=True)``).
"""

from __future__ import annotations

from typing import Any

import pytest

from shoal.agent.drivers.base import ContainerStatus
from shoal.agent.podplan import (
    PodState,
    ProbeResults,
    StartContainer,
    StartCreated,
    WaitBackoff,
    WaitDependency,
    WatchProbes,
    plan_pod_actions,
    pod_start_after,
)
from shoal.api import views
from shoal.api.podhints import parse_start_after
from tests.agent.test_podplan import NOW, POLICY, SANDBOX, c, pod

ANNOTATION = "web=db:HEALTHY,side=db:START"
READINESS = {"readinessProbe": {"exec": {"command": ["true"]}}}


def ecs_pod(policy: str = "Always", db: dict[str, Any] | None = None) -> views.Pod:
    p = pod("db", "web", "side", policy=policy, metadata={"annotations": {"shoal.io/start-after": ANNOTATION}})
    p["spec"]["containers"][0].update(READINESS if db is None else db)
    return p


def summary(p: views.Pod, observed: list[ContainerStatus], *, probes: dict[str, ProbeResults] | None = None,
            state: PodState | None = None, annotation: str = ANNOTATION) -> list[tuple[object, ...]]:
    """The plan's container actions, short: ("start", name), ("wait", name, dependency, final)..."""
    out = plan_pod_actions(p, [SANDBOX, *observed], state or PodState("u1"), NOW, probes=probes, backoff=POLICY,
                           start_after=parse_start_after(annotation))
    acts: list[tuple[object, ...]] = []
    for a in out.actions:
        match a:
            case StartContainer(name=name, attempt=attempt):
                acts.append(("start", name, attempt))
            case StartCreated(name=name):
                acts.append(("start-created", name))
            case WaitDependency(name=name, dependency=dep, final=final):
                acts.append(("wait", name, dep, final))
            case WatchProbes(name=name):
                acts.append(("probes", name))
            case WaitBackoff(name=name):
                acts.append(("backoff", name))
    return acts


RUNNING_DB = c("db", "running", started=NOW.wall - 5)


@pytest.mark.parametrize(("observed", "probes", "expected"), [
    # nothing yet: the dependency starts, both dependents wait for it
    ([], None, [("start", "db", 0), ("wait", "web", "db", False), ("wait", "side", "db", False)]),
    # created, not started: START is not met yet either
    ([c("db", "created")], None, [("start-created", "db"), ("wait", "web", "db", False),
                                  ("wait", "side", "db", False)]),
    # running, its readiness probe has not answered: START is met, HEALTHY is not
    ([RUNNING_DB], None, [("probes", "db"), ("wait", "web", "db", False), ("start", "side", 0)]),
    ([RUNNING_DB], {"db-0": ProbeResults(readiness=False)},
     [("probes", "db"), ("wait", "web", "db", False), ("start", "side", 0)]),
    # ready: everyone starts
    ([RUNNING_DB], {"db-0": ProbeResults(readiness=True)},
     [("probes", "db"), ("start", "web", 0), ("start", "side", 0)]),
    # a readiness result of another instance does not count
    ([RUNNING_DB], {"db-old": ProbeResults(readiness=True)},
     [("probes", "db"), ("wait", "web", "db", False), ("start", "side", 0)]),
    # the dependents already exist: nothing is held (only a first start waits)
    ([RUNNING_DB, c("web", "running"), c("side", "running")], None, [("probes", "db")]),
])
def test_dependents_wait_for_start_or_readiness(observed: list[ContainerStatus],
                                                probes: dict[str, ProbeResults] | None,
                                                expected: list[tuple[object, ...]]) -> None:
    assert summary(ecs_pod(), observed, probes=probes) == expected


def test_healthy_without_a_readiness_probe_means_running_and_started() -> None:
    assert summary(ecs_pod(db={}), [RUNNING_DB]) == [("start", "web", 0), ("start", "side", 0)]
    startup = {"startupProbe": {"exec": {"command": ["true"]}}}
    assert summary(ecs_pod(db=startup), [RUNNING_DB], probes={"db-0": ProbeResults(startup=None)}) == [
        ("probes", "db"), ("wait", "web", "db", False), ("start", "side", 0)]
    assert summary(ecs_pod(db=startup), [RUNNING_DB], probes={"db-0": ProbeResults(startup=True)}) == [
        ("probes", "db"), ("start", "web", 0), ("start", "side", 0)]


@pytest.mark.parametrize(("policy", "db", "start_error", "expected"), [
    # exited after starting, never restarted: HEALTHY can no longer be met, START was
    ("Never", c("db", "exited", code=1, started=NOW.wall - 9, finished=NOW.wall - 1), False,
     [("wait", "web", "db", True), ("start", "side", 0)]),
    ("OnFailure", c("db", "exited", code=0, started=NOW.wall - 9, finished=NOW.wall - 1), False,
     [("wait", "web", "db", True), ("start", "side", 0)]),
    # it never started (a start error): neither can be met
    ("Never", c("db", "created"), True, [("wait", "web", "db", True), ("wait", "side", "db", True)]),
    # it will be restarted: both wait (it restarts now, or after its back-off)
    ("Always", c("db", "exited", code=1, started=NOW.wall - 9, finished=NOW.wall - 1), False,
     [("start", "db", 1), ("wait", "web", "db", False), ("start", "side", 0)]),
    ("OnFailure", c("db", "created"), True, [("start", "db", 1), ("wait", "web", "db", False),
                                             ("wait", "side", "db", False)]),
])
def test_a_dependency_that_exited_for_good_holds_its_dependents_for_good(
        policy: str, db: ContainerStatus, start_error: bool, expected: list[tuple[object, ...]]) -> None:
    state = PodState("u1", start_errors={"db-0": "exec format error"} if start_error else {})
    assert summary(ecs_pod(policy), [db], state=state) == expected


def test_the_reason_names_the_dependency_and_its_exit() -> None:
    p = ecs_pod("Never")
    db = c("db", "exited", code=3, started=NOW.wall - 9, finished=NOW.wall - 1)
    out = plan_pod_actions(p, [SANDBOX, db], PodState("u1"), NOW, backoff=POLICY,
                           start_after=parse_start_after(ANNOTATION))
    held = [a for a in out.actions if isinstance(a, WaitDependency)]
    assert [a.message for a in held] == [
        "container db exited with code 3 before it was healthy and will not be restarted, so web will not start"]
    out = plan_pod_actions(p, [SANDBOX], PodState("u1"), NOW, backoff=POLICY,
                           start_after=parse_start_after(ANNOTATION))
    assert [a.message for a in out.actions if isinstance(a, WaitDependency)] == [
        "waiting for container db to be healthy", "waiting for container db to be started"]


def test_a_failure_holds_the_whole_chain_whatever_the_spec_order() -> None:
    p = pod("front", "mid", "db", policy="Never")
    chain = "front=mid:START,mid=db:HEALTHY"
    db = c("db", "exited", code=1, started=NOW.wall - 9, finished=NOW.wall - 1)
    assert summary(p, [db], annotation=chain) == [("wait", "front", "mid", True), ("wait", "mid", "db", True)]
    # while db may still become healthy, mid waits for it and front for mid
    assert summary(p, [], annotation=chain) == [("wait", "front", "mid", False), ("wait", "mid", "db", False),
                                                ("start", "db", 0)]


def test_without_the_annotation_every_container_starts_at_once() -> None:
    out = plan_pod_actions(ecs_pod(), [SANDBOX], PodState("u1"), NOW, backoff=POLICY)
    assert [a.name for a in out.actions if isinstance(a, StartContainer)] == ["db", "web", "side"]


@pytest.mark.parametrize(("annotation", "expected", "problem"), [
    (None, {}, None),
    (ANNOTATION, parse_start_after(ANNOTATION), None),
    ("web=db:SOON", {}, "must be START or HEALTHY"),
    ("web=cache:START", {}, "shoal.io/start-after: cache is not one of the pod's containers"),
    ("web=init:START", {}, "init is not one of the pod's containers"),  # init containers finish first anyway
    ("web=db:START,db=web:START", {}, "wait for each other"),
])
def test_pod_start_after_reads_the_annotation(annotation: str | None, expected: object, problem: str | None) -> None:
    ann = {"shoal.io/start-after": annotation} if annotation is not None else {}
    got, why = pod_start_after(pod("db", "web", "side", inits=("init",), metadata={"annotations": ann}))
    assert got == expected
    assert (why is None) if problem is None else (why is not None and problem in why)
