"""What to do next for one pod: a pure plan, as the kubelet's ``computePodActions``.

The pod worker (``pods.PodWorker``) gathers what it observes (the pod object,
its containers as the driver lists them, the probes' verdicts, and what its
memory adds: back-off timers, start errors, when each exit was first seen),
asks ``plan_pod_actions`` what to do, and executes the answer. Every decision
lives here: graceful deletion, the active deadline, the sandbox, init
containers one at a time and in order, restart policies, CrashLoopBackOff
back-off (doubling from ``base`` to ``cap``, reset after a long run; a pod's
``shoal.io/restart-backoff`` annotation sets its own base, factor and cap;
``shoal.io/ulimits`` is read here too, for the runtime), the start order a
pod's ``shoal.io/start-after`` annotation asks for (a container's first start
waits until the containers it names have started or are ready; one whose
dependency can no longer get there is never started, and says why), and
restarts after a failed liveness or startup probe, the pod's volumes (set up
before the sandbox and the containers, on every pass, since ConfigMap and
downward-API files follow their sources; torn down only once the containers
are gone), and eviction of a pod whose emptyDir outgrew its ``sizeLimit``
(the volume manager measures; the plan decides). It takes the time as a
parameter and imports no client, driver I/O or asyncio (an import-linter
contract says so), so a table of (pod, containers, memory, now) -> actions
tests it without a runtime.

The answer is a closed set of frozen actions, executed in order. The plan
cannot know whether a runtime call will succeed: the executor stops at
volumes it fails to set up (``FailedMount``) and at a sandbox it fails to create, and reacts to a container that fails to start
(``next_backoff`` is the delay it waits then).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from shoal.agent.drivers.base import ContainerStatus
from shoal.api import podhints, views

Role = Literal["init", "container", "ephemeral"]
ProbeKiller = Literal["liveness", "startup"]
DEFAULT_GRACE = 30.0
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


# ---- inputs ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Instant:
    """The time of a pass on both clocks: ``mono`` (the event loop's) for back-off, ``wall`` for deadlines."""

    mono: float
    wall: float  # seconds since the epoch


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    base: float = 10.0
    cap: float = 300.0
    factor: float = 2.0


@dataclass(frozen=True, slots=True)
class Backoff:
    delay: float
    last_restart: float  # monotonic


@dataclass(slots=True)
class PodState:
    """What memory adds to what the runtime says: back-off, errors to show, exits already seen.

    The worker owns and updates it; the planner only reads it."""

    uid: str
    backoff: dict[str, Backoff] = field(default_factory=dict)  # container name (or "create:" + name) -> back-off
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # container -> (reason, message)
    start_errors: dict[str, str] = field(default_factory=dict)  # container id -> message
    exit_seen: dict[str, float] = field(default_factory=dict)  # container id -> monotonic time first seen exited
    deadline_exceeded: bool = False
    evicted: str | None = None  # why the pod is evicted (an emptyDir over its sizeLimit)
    touched: bool = False  # this pass created, started or stopped something
    warned: set[str] = field(default_factory=set)  # annotations already reported as invalid (one event each)


@dataclass(frozen=True, slots=True)
class ProbeResults:
    """A running container instance's probes, as the probe manager reports them (None: no such probe)."""

    liveness: bool | None = None
    startup: bool | None = None
    startup_gave_up: bool = False
    readiness: bool | None = None


# ---- actions --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class KillPod:
    """Stop every running container (the sandbox last), within ``grace``; remove them all with ``remove``."""

    grace: float
    remove: bool = False


@dataclass(frozen=True, slots=True)
class DeletePod:
    """Delete the pod object for good (grace 0): its containers are gone."""


@dataclass(frozen=True, slots=True)
class FailPod:
    """Write the status Failed with this reason; the pod runs no more."""

    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class RemoveContainer:
    """Remove a duplicate sandbox (one a crash mid-create left behind)."""

    container_id: str


@dataclass(frozen=True, slots=True)
class CreateSandbox:
    """Make the pod's sandbox; when the old one died, stop ``stop`` (its containers) first."""

    stop: tuple[str, ...] = ()
    replaces: bool = False


@dataclass(frozen=True, slots=True)
class StartContainer:
    """Create and start a new instance; a restart records its ``backoff`` first."""

    name: str
    role: Role
    attempt: int
    backoff: Backoff | None = None


@dataclass(frozen=True, slots=True)
class StartCreated:
    """Start an instance that was created but never started."""

    name: str
    container_id: str


@dataclass(frozen=True, slots=True)
class WaitBackoff:
    """CrashLoopBackOff: the container may restart ``left`` seconds from now."""

    name: str
    delay: float
    left: float


@dataclass(frozen=True, slots=True)
class WaitDependency:
    """``name`` may not start yet (``shoal.io/start-after``): ``message`` says for what; ``final`` when its
    dependency can no longer be met (it exited and will not be restarted), so it will never start."""

    name: str
    dependency: str
    message: str
    final: bool = False


@dataclass(frozen=True, slots=True)
class WatchProbes:
    """Run this instance's probes (a no-op when they already run)."""

    name: str
    container_id: str


@dataclass(frozen=True, slots=True)
class KillContainer:
    """A liveness or startup probe failed: stop the instance within ``grace``; it is then restarted."""

    name: str
    container_id: str
    probe: ProbeKiller
    grace: float


@dataclass(frozen=True, slots=True)
class SetUpVolumes:
    """Make the pod's volumes, or bring their files up to date; on failure nothing starts this pass."""


@dataclass(frozen=True, slots=True)
class TearDownVolumes:
    """Unmount and delete the pod's volumes: its containers are gone."""


@dataclass(frozen=True, slots=True)
class ReportStatus:
    """Re-read the containers if this pass changed any, drop old attempts, write the status."""


Action = (KillPod | DeletePod | FailPod | RemoveContainer | CreateSandbox | StartContainer | StartCreated
          | WaitBackoff | WaitDependency | WatchProbes | KillContainer | SetUpVolumes | TearDownVolumes | ReportStatus)


@dataclass(frozen=True, slots=True)
class PodPlan:
    actions: tuple[Action, ...]
    sandbox: ContainerStatus | None = None  # the live sandbox to use; None when CreateSandbox makes one
    requeue_after: float | None = None  # sync again then (the active deadline), unless the pass stopped early


# ---- the planner ----------------------------------------------------------------------------------
def plan_pod_actions(pod: views.Pod, containers: list[ContainerStatus], state: PodState, now: Instant, *,
                     probes: Mapping[str, ProbeResults] | None = None,
                     backoff: BackoffPolicy = BackoffPolicy(),
                     start_after: Mapping[str, tuple[podhints.Dependency, ...]] | None = None) -> PodPlan:
    """The actions that move the runtime toward ``pod``; ``probes`` is keyed by container id, ``start_after``
    is the pod's start order (``pod_start_after``)."""
    if views.is_terminating(pod):
        grace = float(views.meta(pod).get("deletionGracePeriodSeconds") or 0)  # the whole period, as the kubelet
        teardown = (TearDownVolumes(),) if views.spec(pod).get("volumes") else ()
        return PodPlan((KillPod(grace, remove=True), *teardown, DeletePod()))
    if views.is_terminal(pod):
        return PodPlan((KillPod(0),))
    if deadline_passed(pod, state, now):
        return PodPlan((KillPod(0), FailPod("DeadlineExceeded", DEADLINE_MESSAGE)))
    if state.evicted is not None:
        return PodPlan((KillPod(0), FailPod("Evicted", state.evicted)))
    actions: list[Action] = [SetUpVolumes()] if views.spec(pod).get("volumes") else []
    sandbox = _plan_sandbox(containers, actions)
    by_name = latest_instances(containers)
    if _plan_init(pod, by_name, state, now, backoff, actions):
        _plan_apps(pod, by_name, state, now, backoff, probes or {}, actions, start_after or {})
        _plan_ephemeral(pod, by_name, actions)
    actions.append(ReportStatus())
    return PodPlan(tuple(actions), sandbox, _deadline_requeue(pod, state, now))


def deadline_passed(pod: views.Pod, state: PodState, now: Instant) -> bool:
    """activeDeadlineSeconds since status.startTime have passed (once passed, it stays passed)."""
    ads = views.spec(pod).get("activeDeadlineSeconds")
    start = _ts(views.status(pod).get("startTime"))
    if not ads or start is None:
        return state.deadline_exceeded
    return state.deadline_exceeded or now.wall >= start + float(ads)


def _deadline_requeue(pod: views.Pod, state: PodState, now: Instant) -> float | None:
    ads = views.spec(pod).get("activeDeadlineSeconds")
    start = _ts(views.status(pod).get("startTime"))
    if not ads or state.deadline_exceeded or start is None:
        return None
    return max(0.1, start + float(ads) - now.wall + 0.05)


def _plan_sandbox(containers: list[ContainerStatus], actions: list[Action]) -> ContainerStatus | None:
    sandboxes = [c for c in containers if c.role == "sandbox"]
    live = [c for c in sandboxes if c.state == "running"]
    if live:
        actions.extend(RemoveContainer(extra.id) for extra in live[1:])
        return live[0]
    # a dead sandbox: its containers lost their network, start over (restart counts go on); the dead
    # sandbox stays until the pod goes, as its exited containers still refer to it
    stop = tuple(c.id for c in containers if c.state == "running") if sandboxes else ()
    actions.append(CreateSandbox(stop, replaces=bool(sandboxes)))
    return None


def latest_instances(containers: list[ContainerStatus]) -> dict[str, ContainerStatus]:
    """Each container name's newest instance (highest attempt)."""
    out: dict[str, ContainerStatus] = {}
    for c in containers:
        if c.role != "sandbox" and (c.name not in out or c.attempt >= out[c.name].attempt):
            out[c.name] = c
    return out


def _plan_init(pod: views.Pod, by_name: dict[str, ContainerStatus], state: PodState, now: Instant,
               backoff: BackoffPolicy, actions: list[Action]) -> bool:
    """Init containers one at a time, in order; True once all of them have succeeded."""
    never = views.restart_policy(pod) == "Never"
    for ic in views.containers(pod, init=True):
        name = str(ic["name"])
        cur = by_name.get(name)
        if cur is not None and cur.state == "exited" and cur.exit_code == 0:
            continue
        if cur is None:
            actions.append(StartContainer(name, "init", 0))
        elif cur.state == "exited" or cur.id in state.start_errors:
            if not never:
                actions.append(_restart(name, "init", cur, state, now, backoff))
        elif cur.state == "created":
            actions.append(StartCreated(name, cur.id))
        return False
    return True


def _plan_apps(pod: views.Pod, by_name: dict[str, ContainerStatus], state: PodState, now: Instant,
               backoff: BackoffPolicy, probes: Mapping[str, ProbeResults], actions: list[Action],
               start_after: Mapping[str, tuple[podhints.Dependency, ...]]) -> None:
    policy = views.restart_policy(pod)
    held = _held(pod, by_name, state, probes, start_after) if start_after else {}
    for c in views.containers(pod):
        name = str(c["name"])
        cur = by_name.get(name)
        if cur is None and name in held:
            actions.append(held[name])
        elif cur is None:
            actions.append(StartContainer(name, "container", 0))
        elif cur.state == "running":
            if c.get("livenessProbe") or c.get("readinessProbe") or c.get("startupProbe"):
                actions.append(WatchProbes(name, cur.id))
                kill = _probe_kill(pod, c, cur, probes.get(cur.id))
                if kill is not None:
                    actions.append(kill)
        elif cur.state == "exited" or cur.id in state.start_errors:
            ok = cur.exit_code == 0 and cur.id not in state.start_errors
            if policy == "Always" or (policy == "OnFailure" and not ok):
                actions.append(_restart(name, "container", cur, state, now, backoff))
        elif cur.state == "created":
            actions.append(StartCreated(name, cur.id))


def _held(pod: views.Pod, by_name: Mapping[str, ContainerStatus], state: PodState,
          probes: Mapping[str, ProbeResults],
          start_after: Mapping[str, tuple[podhints.Dependency, ...]]) -> dict[str, WaitDependency]:
    """The containers not yet created that must not start this pass, and why. Only a first start waits:
    a restart (or a start after a new sandbox) follows at once, as ECS restarts no container of a task."""
    policy = views.restart_policy(pod)
    specs = {str(c["name"]): c for c in views.containers(pod)}
    out: dict[str, WaitDependency] = {}
    never: set[str] = set()  # containers that will never start (a dependency failed, transitively)

    def verdict(name: str) -> WaitDependency | None:
        for dep in start_after.get(name, ()):
            what = "healthy" if dep.condition == "HEALTHY" else "started"
            cur = by_name.get(dep.container)
            if cur is None:
                if dep.container in never:
                    return WaitDependency(name, dep.container, f"container {dep.container} will not start, "
                                          f"so {name} will not start", final=True)
                return WaitDependency(name, dep.container, f"waiting for container {dep.container} to be {what}")
            failed = cur.id in state.start_errors
            if cur.state == "running" and (dep.condition == "START" or _ready(specs.get(dep.container, {}), cur, probes)):
                continue
            if cur.state == "exited" and dep.condition == "START" and cur.started_at and not failed:
                continue  # it did start
            if cur.state == "exited" or failed:
                ok = cur.exit_code == 0 and not failed
                if policy == "Always" or (policy == "OnFailure" and not ok):
                    return WaitDependency(name, dep.container, f"waiting for container {dep.container} "
                                          f"to be {what} (it exited and will be restarted)")
                why = "failed to start" if failed else f"exited with code {cur.exit_code}"
                if dep.condition == "HEALTHY":
                    why += " before it was healthy"
                return WaitDependency(name, dep.container, f"container {dep.container} {why} and will not be "
                                      f"restarted, so {name} will not start", final=True)
            return WaitDependency(name, dep.container, f"waiting for container {dep.container} to be {what}")
        return None

    for name in _dependency_order(start_after, specs):
        if name in by_name:
            continue
        v = verdict(name)
        if v is not None:
            out[name] = v
            if v.final:
                never.add(name)
    return out


def _dependency_order(start_after: Mapping[str, tuple[podhints.Dependency, ...]],
                      specs: Mapping[str, Any]) -> list[str]:
    """The pod's containers, each after those it waits for (the annotation is acyclic: parsed so)."""
    done: list[str] = []

    def visit(n: str) -> None:
        if n in done:
            return
        for d in start_after.get(n, ()):
            visit(d.container)
        done.append(n)

    for n in specs:
        visit(n)
    return done


def _ready(spec: Mapping[str, Any], cur: ContainerStatus, probes: Mapping[str, ProbeResults]) -> bool:
    """A running instance is ready as the pod status says: started (its startup probe passed, if any) and
    its readiness probe passing (if it has one)."""
    r = probes.get(cur.id) or ProbeResults()
    started = r.startup is True if spec.get("startupProbe") else True
    return started and (r.readiness is True if spec.get("readinessProbe") else True)


def _plan_ephemeral(pod: views.Pod, by_name: dict[str, ContainerStatus], actions: list[Action]) -> None:
    """Ephemeral containers (``kubectl debug``) start once each, once the pod is up; they are never restarted."""
    for c in views.ephemeral_containers(pod):
        name = str(c["name"])
        cur = by_name.get(name)
        if cur is None:
            actions.append(StartContainer(name, "ephemeral", 0))
        elif cur.state == "created":
            actions.append(StartCreated(name, cur.id))


def _probe_kill(pod: views.Pod, c: Mapping[str, Any], cur: ContainerStatus,
                results: ProbeResults | None) -> KillContainer | None:
    if results is None:
        return None
    which: ProbeKiller
    if results.liveness is False:
        which = "liveness"
    elif results.startup is False and results.startup_gave_up:
        which = "startup"
    else:
        return None
    grace = (c.get(f"{which}Probe") or {}).get("terminationGracePeriodSeconds")
    if grace is None:
        grace = views.spec(pod).get("terminationGracePeriodSeconds")
    return KillContainer(str(c["name"]), cur.id, which, float(DEFAULT_GRACE if grace is None else grace))


def _restart(name: str, role: Role, cur: ContainerStatus, state: PodState, now: Instant,
             policy: BackoffPolicy) -> StartContainer | WaitBackoff:
    """Restart now, or wait out the back-off since the exit; a long run (over twice the cap) resets it."""
    b = state.backoff.get(name)
    if b is not None and (_ts(cur.finished_at) or 0) - (_ts(cur.started_at) or 0) > 2 * policy.cap:
        b = None
    since = now.mono - state.exit_seen.get(cur.id, now.mono)
    if b is not None and since < b.delay:
        return WaitBackoff(name, b.delay, b.delay - since)
    return StartContainer(name, role, cur.attempt + 1, Backoff(next_backoff(b, policy), now.mono))


def next_backoff(previous: Backoff | None, policy: BackoffPolicy) -> float:
    """``base``, then multiplied by ``factor`` (doubling by default) up to ``cap``."""
    return min(policy.cap, policy.base if previous is None else previous.delay * policy.factor)


def container_ulimits(pod: views.Pod, container: str) -> tuple[tuple[podhints.Ulimit, ...], str | None]:
    """The ulimits the pod's ``shoal.io/ulimits`` annotation sets for ``container``; when it does not parse,
    none (the runtime's defaults) and why (for an event)."""
    text = (views.meta(pod).get("annotations") or {}).get(podhints.ULIMITS)
    if text is None:
        return (), None
    try:
        return podhints.parse_ulimits(text).get(container, ()), None
    except podhints.HintError as e:
        return (), str(e)


def pod_backoff(pod: views.Pod, default: BackoffPolicy) -> tuple[BackoffPolicy, str | None]:
    """The pod's restart back-off: its ``shoal.io/restart-backoff`` annotation, else ``default``; when the
    annotation does not parse, ``default`` and why (for an event)."""
    text = (views.meta(pod).get("annotations") or {}).get(podhints.RESTART_BACKOFF)
    if text is None:
        return default, None
    try:
        b = podhints.parse_restart_backoff(text)
    except podhints.HintError as e:
        return default, str(e)
    return BackoffPolicy(base=b.base, cap=b.cap, factor=b.factor), None


def pod_start_after(pod: views.Pod) -> tuple[dict[str, tuple[podhints.Dependency, ...]], str | None]:
    """The start order the pod's ``shoal.io/start-after`` annotation asks for; when it does not parse or
    names a container that is not one of the pod's (app) containers, none and why (for an event)."""
    text = (views.meta(pod).get("annotations") or {}).get(podhints.START_AFTER)
    if text is None:
        return {}, None
    try:
        graph = podhints.parse_start_after(text)
    except podhints.HintError as e:
        return {}, str(e)
    names = {str(c.get("name")) for c in views.containers(pod)}
    named = set(graph) | {d.container for deps in graph.values() for d in deps}
    unknown = sorted(named - names)
    if unknown:
        return {}, f"{podhints.START_AFTER}: {', '.join(unknown)} is not one of the pod's containers"
    return graph, None


def stale_attempts(containers: list[ContainerStatus]) -> list[str]:
    """Instances to remove: all but the latest two attempts of each container (the previous one serves
    ``logs --previous``), never a running one."""
    by_name: dict[str, list[ContainerStatus]] = {}
    for c in containers:
        if c.role != "sandbox":
            by_name.setdefault(c.name, []).append(c)
    out: list[str] = []
    for lst in by_name.values():
        lst.sort(key=lambda c: c.attempt)
        out += [old.id for old in lst[:-2] if old.state != "running"]
    return out


def _ts(value: object) -> float | None:
    t = views.parse_time(value)
    return t.timestamp() if t is not None else None
