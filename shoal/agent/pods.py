"""The pod worker: make the runtime match one pod, then write its status.

``sync(key)`` is level-triggered and idempotent, like a controller's reconcile:
it re-reads the pod from the informer and its containers from the driver (by
the pod-uid label), asks the pure planner (``podplan.plan_pod_actions``) what
to do, executes the plan, and writes the status through the ``status``
subresource only when it changed. This module is the I/O half: it gathers
what it observes, carries out actions, and reacts to runtime calls that fail;
every decision about what should happen is the planner's. Nothing it needs lives only in
memory: restart counts are the attempt labels on the containers, completed
init containers are exited containers, so an agent that restarts adopts what
runs and carries on. What memory adds (back-off timers, start errors) only
delays or explains.

What the planner decides, in order per pod: the sandbox (infra container, pod IP), init containers one by
one, then the app containers; exits are restarted per restartPolicy with
exponential back-off (CrashLoopBackOff); failed liveness or startup probes
restart a container; a pod marked for deletion is stopped gracefully (SIGTERM,
wait, SIGKILL) and then its object is deleted with gracePeriodSeconds=0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shoal import clusterid
from shoal.agent.drivers.base import (
    LABEL_ATTEMPT,
    LABEL_NODE,
    LABEL_POD_NAME,
    LABEL_POD_NAMESPACE,
    LABEL_POD_UID,
    LABEL_RESTART_POLICY,
    LABEL_ROLE,
    ContainerSpec,
    ContainerStatus,
    Driver,
    DriverError,
    SandboxSpec,
)
from shoal.agent.env import ConfigError, build_env, expand
from shoal.agent.podplan import (
    Action,
    Backoff,
    BackoffPolicy,
    CreateSandbox,
    DeletePod,
    FailPod,
    Instant,
    KillContainer,
    KillPod,
    PodPlan,
    PodState,
    ProbeResults,
    RemoveContainer,
    ReportStatus,
    Role,
    SetUpVolumes,
    StartContainer,
    StartCreated,
    TearDownVolumes,
    WaitBackoff,
    WaitDependency,
    WatchProbes,
    container_ulimits,
    next_backoff,
    plan_pod_actions,
    pod_backoff,
    pod_start_after,
    stale_attempts,
)
from shoal.agent.probes import ProbeManager
from shoal.agent.status import ContainerView, build_status, same_status
from shoal.agent.volumes.manager import VolumeManager
from shoal.agent.volumes.plan import MountError, eviction_message, over_limit
from shoal.api import views
from shoal.api.podhints import (
    DEPENDENCY_FAILED,
    RESTART_BACKOFF,
    START_AFTER,
    ULIMITS,
    WAITING_FOR_DEPENDENCY,
)
from shoal.api.quantity import InvalidQuantity, int_value, milli_value
from shoal.client import ApiClient, ApiException
from shoal.client.events import EventRecorder
from shoal.network.svcenv import service_env

log = logging.getLogger(__name__)

SIM_PREFIX = "sim.shoal.io/"
DEPENDENCY_RECHECK = 0.5  # a held container's next look when no probe flip or container change comes first


@dataclass(frozen=True, slots=True)
class PodOptions:
    backoff_base: float = 10.0
    backoff_max: float = 300.0
    lifecycle_events: bool = True  # Pulled/Created/Started (off for hollow nodes: thousands of pods)
    cluster_dns: tuple[str, ...] = ()
    cluster_domain: str = "cluster.local"
    cluster_id: str = ""  # labelled on every container and sandbox (shoal.clusterid)


def _limits(container: dict[str, Any]) -> tuple[int | None, int | None, int | None]:
    res = container.get("resources") or {}
    lim, req = res.get("limits") or {}, res.get("requests") or {}
    try:
        mem = int_value(lim["memory"]) if lim.get("memory") is not None else None
        cpu = milli_value(lim["cpu"]) if lim.get("cpu") is not None else None
        cpu_req = milli_value(req["cpu"]) if req.get("cpu") is not None else None
    except InvalidQuantity as e:
        raise ConfigError(f"invalid resource quantity: {e}") from None
    return mem, cpu, cpu_req


class PodWorker:
    def __init__(
        self,
        *,
        client: ApiClient,
        driver: Driver,
        recorder: EventRecorder,
        lookup: Callable[[str], views.Pod | None],
        requeue: Callable[[str, float], None],
        host_ip: str,
        scheme: str,
        opts: PodOptions,
        volumes: VolumeManager,
        node_capacity: dict[str, str] | None = None,
    ) -> None:
        self.client = client
        self.driver = driver
        self.recorder = recorder
        self.lookup = lookup
        self.requeue = requeue
        self.host_ip = host_ip
        self.scheme = scheme
        self.opts = opts
        self.node_capacity = node_capacity or {}
        self.volumes = volumes
        self.states: dict[str, PodState] = {}
        self.uids_by_key: dict[str, str] = {}
        self.keys_by_uid: dict[str, str] = {}
        self._event_tasks: set[asyncio.Task[None]] = set()
        self.probes = ProbeManager(driver, on_change=self._probe_changed, on_event=self._probe_event)

    async def close(self) -> None:
        await self.probes.close()
        for t in list(self._event_tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 2)

    # ---- events -----------------------------------------------------------------------------
    def event(self, pod: views.Pod, type_: str, reason: str, message: str) -> None:
        if type_ == "Normal" and not self.opts.lifecycle_events:
            return
        t = asyncio.create_task(self.recorder.event({"apiVersion": "v1", "kind": "Pod", **pod}, type_, reason,
                                                    message))
        self._event_tasks.add(t)
        t.add_done_callback(self._event_tasks.discard)

    def _probe_changed(self, uid: str) -> None:
        key = self.keys_by_uid.get(uid)
        if key is not None:
            self.requeue(key, 0)

    def _probe_event(self, uid: str, reason: str, message: str) -> None:
        key = self.keys_by_uid.get(uid)
        pod = self.lookup(key) if key else None
        if pod is not None:
            self.event(pod, "Warning", reason, message)

    # ---- sync -------------------------------------------------------------------------------
    async def sync(self, key: str) -> None:
        pod = self.lookup(key)
        uid = views.uid(pod) if pod is not None else None
        old_uid = self.uids_by_key.get(key)
        if old_uid is not None and old_uid != uid:
            await self.teardown(old_uid)
            self.uids_by_key.pop(key, None)
            self.keys_by_uid.pop(old_uid, None)
        if pod is None or not uid:
            return
        self.uids_by_key[key] = uid
        self.keys_by_uid[uid] = key
        containers = await self.driver.list_containers({LABEL_POD_UID: uid})
        await self.reconcile(pod, containers)

    async def teardown(self, uid: str) -> None:
        """Remove every container of a pod that no longer exists."""
        self.probes.forget_pod(uid)
        self.states.pop(uid, None)
        await self._remove_all(await self.driver.list_containers({LABEL_POD_UID: uid}))
        await self.volumes.teardown(uid)  # only once its containers are gone

    async def _remove_all(self, containers: list[ContainerStatus]) -> None:
        """Containers first, the sandbox last: the engine refuses to remove a namespace others join."""
        for c in sorted(containers, key=lambda c: c.role == "sandbox"):
            try:
                await self.driver.remove_container(c.id)
            except DriverError as e:
                log.warning("removing container %s: %s", c.id[:12], e)

    async def _stop_all(self, pod: views.Pod, containers: list[ContainerStatus], *, grace: float, keep: bool) -> None:
        self.probes.forget_pod(views.uid(pod))
        running = [c for c in containers if c.role != "sandbox" and c.state == "running"]
        for c in running:
            self.event(pod, "Normal", "Killing", f"Stopping container {c.name}")
        await asyncio.gather(*(self._stop(c.id, grace) for c in running))
        for sb in (c for c in containers if c.role == "sandbox" and c.state == "running"):
            await self._stop(sb.id, 0)
        if not keep:
            await self._remove_all(containers)

    async def _stop(self, cid: str, grace: float) -> None:
        try:
            await self.driver.stop_container(cid, grace)
        except DriverError as e:
            log.warning("stopping container %s: %s", cid[:12], e)

    async def _delete(self, pod: views.Pod) -> None:
        """The last step of a graceful deletion: the containers are gone, delete the object for good."""
        uid = views.uid(pod)
        self.states.pop(uid, None)
        try:
            await self.client.delete("pods", views.name(pod), views.namespace(pod), grace_period_seconds=0, uid=uid)
        except ApiException as e:
            if e.status not in (404, 409):
                raise

    # ---- reconcile: gather, plan (podplan), execute -------------------------------------------
    async def reconcile(self, pod: views.Pod, containers: list[ContainerStatus]) -> None:
        uid = views.uid(pod)
        ps = self.states.setdefault(uid, PodState(uid))
        now = Instant(asyncio.get_running_loop().time(), views.utcnow().timestamp())
        for c in containers:
            if c.state == "exited" and c.id not in ps.exit_seen:
                ps.exit_seen[c.id] = now.mono
        backoff, problem = pod_backoff(pod, BackoffPolicy(self.opts.backoff_base, self.opts.backoff_max))
        if problem is not None and RESTART_BACKOFF not in ps.warned:
            ps.warned.add(RESTART_BACKOFF)
            self.event(pod, "Warning", "InvalidAnnotation", f"{problem}; using the node's default back-off")
        start_after, problem = pod_start_after(pod)
        if problem is not None and START_AFTER not in ps.warned:
            ps.warned.add(START_AFTER)
            self.event(pod, "Warning", "InvalidAnnotation", f"{problem}; starting the containers without waiting")
        plan = plan_pod_actions(pod, containers, ps, now, probes=self._probe_results(uid, containers),
                                backoff=backoff, start_after=start_after)
        await self.execute(pod, containers, ps, plan)

    def _probe_results(self, uid: str, containers: list[ContainerStatus]) -> dict[str, ProbeResults]:
        out: dict[str, ProbeResults] = {}
        for c in containers:
            if c.state == "running" and c.role != "sandbox":
                live = self.probes.result(uid, c.name, c.id, "livenessProbe")
                startup = self.probes.result(uid, c.name, c.id, "startupProbe")
                ready = self.probes.result(uid, c.name, c.id, "readinessProbe")
                if live is not None or startup is not None or ready is not None:
                    out[c.id] = ProbeResults(live, startup, self.probes.startup_failed(uid, c.name, c.id), ready)
        return out

    async def execute(self, pod: views.Pod, containers: list[ContainerStatus], ps: PodState, plan: PodPlan) -> None:
        """Carry out a plan in order; stop early where a sandbox cannot be made; start nothing where the
        volumes cannot be set up."""
        sandbox = plan.sandbox
        host_network = bool(views.spec(pod).get("hostNetwork"))
        mounted = True
        for action in plan.actions:
            if isinstance(action, SetUpVolumes):
                mounted = await self._set_up_volumes(pod, ps)
                continue
            if not mounted and isinstance(action, CreateSandbox | StartContainer | StartCreated):
                continue
            if isinstance(action, CreateSandbox):
                sandbox = await self._create_sandbox(pod, action, ps)
                if sandbox is None:
                    await self._write(pod, containers, None, ps)
                    return
                continue
            pod_ip = self.host_ip if host_network else (sandbox.ip if sandbox is not None else None)
            await self._act(pod, containers, ps, action, sandbox, pod_ip or None)
        if plan.requeue_after is not None:
            self.requeue(self.keys_by_uid[views.uid(pod)], plan.requeue_after)

    async def _act(self, pod: views.Pod, containers: list[ContainerStatus], ps: PodState, action: Action,
                   sandbox: ContainerStatus | None, pod_ip: str | None) -> None:
        uid = views.uid(pod)
        match action:
            case KillPod(grace=grace, remove=remove):
                await self._stop_all(pod, containers, grace=grace, keep=not remove)
            case DeletePod():
                await self._delete(pod)
            case TearDownVolumes():
                await self.volumes.teardown(uid)
            case FailPod(reason=reason, message=message):
                ps.deadline_exceeded = ps.deadline_exceeded or reason == "DeadlineExceeded"
                await self._write(pod, containers, None, ps, phase="Failed", reason=reason, message=message)
            case RemoveContainer(container_id=cid):
                with contextlib.suppress(DriverError):
                    await self.driver.remove_container(cid)
            case StartContainer(name=name, role=role, attempt=attempt, backoff=backoff):
                assert sandbox is not None
                if backoff is not None:
                    ps.backoff[name] = backoff
                await self._start(pod, self._spec_of(pod, name, role), attempt=attempt, sandbox=sandbox,
                                  pod_ip=pod_ip, ps=ps, role=role)
            case StartCreated(name=name, container_id=cid):
                await self._start_existing(pod, name, cid, ps)
            case WaitBackoff(name=name, delay=delay, left=left):
                who = f"{views.name(pod)}_{views.namespace(pod)}({uid})"
                ps.waiting[name] = ("CrashLoopBackOff", f"back-off {delay:g}s restarting failed container={name} "
                                    f"pod={who}")
                self.event(pod, "Warning", "BackOff", f"Back-off restarting failed container {name} in pod {who}")
                self.requeue(self.keys_by_uid[uid], left + 0.01)
            case WaitDependency(name=name, message=message, final=final):
                reason = DEPENDENCY_FAILED if final else WAITING_FOR_DEPENDENCY
                if ps.waiting.get(name) != (reason, message) and final:
                    self.event(pod, "Warning", DEPENDENCY_FAILED, message)
                ps.waiting[name] = (reason, message)
                if not final:  # probe flips requeue at once; a dependency's start or exit does not
                    self.requeue(self.keys_by_uid[uid], DEPENDENCY_RECHECK)
            case WatchProbes(name=name, container_id=cid):
                self.probes.ensure(uid, self._spec_of(pod, name, "container"), cid, pod_ip)
            case KillContainer(name=name, container_id=cid, probe=which, grace=grace):
                self.event(pod, "Normal", "Killing", f"Container {name} failed {which} probe, will be restarted")
                await self._stop(cid, grace)
                ps.touched = True
                self.probes.forget_container(uid, name)
                self.requeue(self.keys_by_uid[uid], 0)
            case ReportStatus():
                fresh = await self._refresh(uid, containers, ps)
                for cid in stale_attempts(fresh):
                    with contextlib.suppress(DriverError):
                        await self.driver.remove_container(cid)
                await self._write(pod, fresh, sandbox, ps, pod_ip=pod_ip)

    async def _set_up_volumes(self, pod: views.Pod, ps: PodState) -> bool:
        """The pod's volumes are in place and current; else a FailedMount event, ContainerCreating, a retry."""
        every = views.containers(pod, init=True) + views.containers(pod)
        try:
            await self.volumes.setup(pod)
        except MountError as e:
            self.event(pod, "Warning", "FailedMount", str(e))
            for c in every:
                ps.waiting.setdefault(c["name"], ("ContainerCreating", ""))
            delay = next_backoff(ps.backoff.get("mount:"), BackoffPolicy(1.0, 30.0))
            ps.backoff["mount:"] = Backoff(delay, asyncio.get_running_loop().time())
            self.requeue(self.keys_by_uid[views.uid(pod)], delay)
            return False
        if ps.backoff.pop("mount:", None) is not None:
            for c in every:
                if ps.waiting.get(c["name"], ("",))[0] == "ContainerCreating":
                    ps.waiting.pop(c["name"], None)
        return True

    async def check_volume_usage(self, uid: str) -> None:
        """Evict the pod if an emptyDir outgrew its sizeLimit (upstream's reason and message)."""
        pv = self.volumes.pods.get(uid)
        key = self.keys_by_uid.get(uid)
        ps = self.states.get(uid)
        if pv is None or key is None or ps is None or ps.evicted is not None:
            return
        over = over_limit(pv.plan, await self.volumes.usage(uid))
        pod = self.lookup(key)
        if over is None or pod is None or views.is_terminal(pod):
            return
        ps.evicted = eviction_message(over)
        self.event(pod, "Warning", "Evicted", ps.evicted)
        self.requeue(key, 0)

    @staticmethod
    def _spec_of(pod: views.Pod, name: str, role: Role) -> dict[str, Any]:
        specs = views.ephemeral_containers(pod) if role == "ephemeral" else views.containers(pod, init=role == "init")
        return next(c for c in specs if c.get("name") == name)

    async def _create_sandbox(self, pod: views.Pod, action: CreateSandbox, ps: PodState) -> ContainerStatus | None:
        uid, name, spec = views.uid(pod), views.name(pod), views.spec(pod)
        every = views.containers(pod, init=True) + views.containers(pod)
        if action.replaces:  # the sandbox died: its containers lost their network; start over
            self.event(pod, "Normal", "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
            for cid in action.stop:
                await self._stop(cid, 0)
        ports = tuple((int(p["hostPort"]), int(p["containerPort"]), str(p.get("protocol") or "TCP"))
                      for c in views.containers(pod) for p in c.get("ports") or [] if p.get("hostPort"))
        dns_servers, searches, options = self._dns(pod)
        sspec = SandboxSpec(
            pod_uid=uid, pod_name=name, namespace=views.namespace(pod) or "default",
            hostname=spec.get("hostname") or name, host_network=bool(spec.get("hostNetwork")),
            dns_servers=dns_servers, dns_searches=searches, dns_options=options, port_mappings=ports,
            labels=self._labels(pod),
        )
        try:
            sb = await self.driver.run_sandbox(sspec)
        except DriverError as e:
            msg = f"Failed to create pod sandbox: {e}"
            self.event(pod, "Warning", "FailedCreatePodSandBox", msg)
            for c in every:
                ps.waiting[c["name"]] = ("ContainerCreating", msg)
            self.requeue(self.keys_by_uid[uid], 5.0)
            return None
        for c in every:
            if ps.waiting.get(c["name"], ("",))[0] == "ContainerCreating":
                ps.waiting.pop(c["name"], None)
        return ContainerStatus(id=sb.id, name="sandbox", pod_uid=uid, state="running",
                               labels={LABEL_ROLE: "sandbox"}, ip=sb.ip)

    def _dns(self, pod: views.Pod) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        spec = views.spec(pod)
        policy = spec.get("dnsPolicy") or "ClusterFirst"
        ns = views.namespace(pod) or "default"
        servers: list[str] = []
        searches: list[str] = []
        options: list[str] = []
        if self.opts.cluster_dns and (policy == "ClusterFirst" and not spec.get("hostNetwork")
                                      or policy == "ClusterFirstWithHostNet"):
            d = self.opts.cluster_domain
            servers, searches, options = list(self.opts.cluster_dns), [f"{ns}.svc.{d}", f"svc.{d}", d], ["ndots:5"]
        cfg = spec.get("dnsConfig") or {}
        if policy == "None" or cfg:
            servers += [s for s in cfg.get("nameservers") or [] if s not in servers]
            searches += [s for s in cfg.get("searches") or [] if s not in searches]
            for o in cfg.get("options") or []:
                options.append(f"{o['name']}:{o['value']}" if o.get("value") else str(o.get("name")))
        return tuple(servers), tuple(searches), tuple(options)

    def _labels(self, pod: views.Pod) -> dict[str, str]:
        labels = {LABEL_POD_UID: views.uid(pod), LABEL_POD_NAME: views.name(pod),
                  LABEL_POD_NAMESPACE: views.namespace(pod) or "default", LABEL_NODE: views.node_name(pod),
                  LABEL_RESTART_POLICY: views.spec(pod).get("restartPolicy") or "Always"}
        if self.opts.cluster_id:
            labels[clusterid.LABEL] = self.opts.cluster_id
        for k, v in views.annotations(pod).items():
            if k.startswith(SIM_PREFIX):
                labels[k] = str(v)
        return labels

    # ---- starting and restarting ------------------------------------------------------------------
    async def _start(self, pod: views.Pod, c: dict[str, Any], *, attempt: int, sandbox: ContainerStatus,
                     pod_ip: str | None, ps: PodState, role: str) -> None:
        name, image = c["name"], c.get("image") or ""
        try:
            await self.driver.ensure_image(image, c.get("imagePullPolicy") or "IfNotPresent")
        except DriverError as e:
            reason = e.reason
            if reason == "ErrImagePull" and ps.waiting.get(name, ("",))[0] in ("ErrImagePull", "ImagePullBackOff"):
                reason = "ImagePullBackOff"
            return self._fail(pod, name, ps, reason, str(e), retry=True)
        self.event(pod, "Normal", "Pulled", f'Container image "{image}" already present on machine')
        try:
            env = await build_env(pod, c, self._fetch, pod_ip=pod_ip, host_ip=self.host_ip,
                                  node_capacity=self.node_capacity, service_env=await self._service_env(pod))
            mem, cpu, cpu_req = _limits(c)
            mounts = self.volumes.mounts(pod, c, env)
        except (ConfigError, MountError) as e:
            return self._fail(pod, name, ps, "CreateContainerConfigError", str(e), retry=True)
        labels = {**self._labels(pod), LABEL_ROLE: role, LABEL_ATTEMPT: str(attempt)}
        ulimits, problem = container_ulimits(pod, name)
        if problem is not None and ULIMITS not in ps.warned:
            ps.warned.add(ULIMITS)
            self.event(pod, "Warning", "InvalidAnnotation", f"{problem}; using the runtime's default ulimits")
        cspec = ContainerSpec(
            pod_uid=views.uid(pod), pod_name=views.name(pod), namespace=views.namespace(pod) or "default", name=name,
            image=image, sandbox_id=sandbox.id,
            command=tuple(expand(x, env) for x in c.get("command") or []),
            args=tuple(expand(x, env) for x in c.get("args") or []), env=env, working_dir=c.get("workingDir"),
            image_pull_policy=c.get("imagePullPolicy") or "IfNotPresent", memory_limit=mem, cpu_limit_millis=cpu,
            cpu_request_millis=cpu_req, tty=bool(c.get("tty")), stdin=bool(c.get("stdin")), attempt=attempt,
            labels=labels, mounts=mounts, ulimits=ulimits,
        )
        try:
            cid = await self.driver.create_container(cspec)
        except DriverError as e:
            reason = e.reason if e.reason not in ("RunContainerError", "NotFound") else "CreateContainerError"
            return self._fail(pod, name, ps, reason, str(e), retry=True)
        self.event(pod, "Normal", "Created", f"Created container {name}")
        ps.waiting.pop(name, None)
        ps.touched = True
        await self._start_existing(pod, name, cid, ps)

    async def _start_existing(self, pod: views.Pod, name: str, cid: str, ps: PodState) -> None:
        ps.touched = True
        try:
            await self.driver.start_container(cid)
        except DriverError as e:
            ps.start_errors[cid] = str(e)
            ps.exit_seen.setdefault(cid, asyncio.get_running_loop().time())
            self.event(pod, "Warning", "Failed", f"Error: {e}")
            self.requeue(self.keys_by_uid[views.uid(pod)], 0.05)
            return
        self.event(pod, "Normal", "Started", f"Started container {name}")

    def _fail(self, pod: views.Pod, name: str, ps: PodState, reason: str, message: str, *, retry: bool) -> None:
        ps.waiting[name] = (reason, message)
        if reason in ("ErrImagePull", "ImagePullBackOff"):
            self.event(pod, "Warning", "Failed", message)
        else:
            self.event(pod, "Warning", "Failed", f"Error: {message}")
        if retry:
            delay = next_backoff(ps.backoff.get("create:" + name),
                                 BackoffPolicy(self.opts.backoff_base, self.opts.backoff_max))
            ps.backoff["create:" + name] = Backoff(delay, asyncio.get_running_loop().time())
            self.requeue(self.keys_by_uid[views.uid(pod)], delay)

    async def _service_env(self, pod: views.Pod) -> dict[str, str]:
        """The Services' variables for a container starting now (none on hollow nodes)."""
        if not self.opts.lifecycle_events:
            return {}
        ns = views.namespace(pod) or "default"
        links = views.spec(pod).get("enableServiceLinks") is not False
        items = (await self.client.list("services", ns)).get("items") or [] if links else []
        if ns != "default":
            kube = await self._fetch("services", "default", "kubernetes")
            items = [*items, kube] if kube else items
        return service_env(items, ns, enable_service_links=links)

    async def _fetch(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.client.get(kind, name, namespace)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def _refresh(self, uid: str, before: list[ContainerStatus], ps: PodState) -> list[ContainerStatus]:
        """The pod's containers after this pass: re-read only if this pass started or stopped any."""
        if not ps.touched:
            return before
        ps.touched = False
        return await self.driver.list_containers({LABEL_POD_UID: uid})

    # ---- status -------------------------------------------------------------------------------
    def _views(self, pod: views.Pod, containers: list[ContainerStatus], ps: PodState, specs: list[dict[str, Any]],
               pod_ip: str | None) -> list[ContainerView]:
        uid = views.uid(pod)
        by_name: dict[str, list[ContainerStatus]] = {}
        for inst in containers:
            if inst.role != "sandbox":
                by_name.setdefault(inst.name, []).append(inst)
        out = []
        for c in specs:
            insts = sorted(by_name.get(c["name"], []), key=lambda x: x.attempt)
            insts = [self._with_start_error(x, ps) for x in insts]
            cur = insts[-1] if insts else None
            prev = insts[-2] if len(insts) > 1 else None
            v = ContainerView(name=c["name"], image=c.get("image") or "", current=cur, previous=prev,
                              restart_count=cur.attempt if cur is not None else 0)
            w = ps.waiting.get(c["name"])
            if w is not None and (cur is None or cur.state != "running"):
                v.waiting_reason, v.waiting_message = w
            if v.running and cur is not None:
                startup = self.probes.result(uid, c["name"], cur.id, "startupProbe")
                ready = self.probes.result(uid, c["name"], cur.id, "readinessProbe")
                v.started = startup is True if c.get("startupProbe") else True
                if c.get("readinessProbe"):
                    v.ready = v.started and ready is True
                else:
                    v.ready = v.started
            out.append(v)
        return out

    def _with_start_error(self, c: ContainerStatus, ps: PodState) -> ContainerStatus:
        msg = ps.start_errors.get(c.id)
        if msg is None or c.state == "running":
            return c
        return ContainerStatus(id=c.id, name=c.name, pod_uid=c.pod_uid, state="exited", exit_code=128,
                               started_at=c.started_at, finished_at=c.finished_at or views.format_time(views.utcnow()), reason="StartError",
                               message=msg, image=c.image, image_id=c.image_id, labels=c.labels)

    async def _write(self, pod: views.Pod, containers: list[ContainerStatus], sandbox: ContainerStatus | None,
                     ps: PodState, *, pod_ip: str | None = None, phase: str | None = None,
                     reason: str | None = None, message: str | None = None) -> None:
        inits = self._views(pod, containers, ps, views.containers(pod, init=True), pod_ip)
        apps = self._views(pod, containers, ps, views.containers(pod), pod_ip)
        debug = self._views(pod, containers, ps, views.ephemeral_containers(pod), pod_ip)
        status = build_status(pod, inits=inits, apps=apps, ephemeral=debug, pod_ip=pod_ip, host_ip=self.host_ip,
                              sandbox_ready=sandbox is not None, scheme=self.scheme, now=views.format_time(views.utcnow()), phase=phase)
        status["reason"] = reason
        status["message"] = message
        if same_status(views.status(pod), status):
            return
        try:
            await self.client.patch("pods", views.name(pod), {"status": status}, views.namespace(pod),
                                    subresource="status")
        except ApiException as e:
            if e.status != 404:
                raise
