"""The scheduler process: informers in, bindings and status out, around the pure core.

``Scheduler`` watches nodes and pods through shared informers and keeps the
``ClusterState`` current; pending pods whose ``spec.schedulerName`` names one
of its profiles (and that have no ``spec.nodeName`` and no deletion
timestamp) go to the ``SchedulingQueue``. The loop pops pods and asks the core
for a decision, one at a time, yielding to the event loop between pods:

- placed: the pod is *assumed* on the node at once (the next decision sees its
  resources) and bound through ``pods/binding`` by the profile's bind plugin,
  concurrently. A 409 (already bound, being deleted) or 404 drops the
  assumption - the informer tells the truth; other errors drop it and retry
  the pod with back-off. An assumption the informer never confirms expires.
- not placed: the core says why as data (a ``Diagnosis``); here it becomes
  upstream's message (``failure_message``), and the pod gets
  ``PodScheduled=False``, reason ``Unschedulable`` and that message (status
  subresource, strategic merge patch on the condition), a
  ``FailedScheduling`` Warning event, and waits in the queue for a cluster
  event that one of the plugins that rejected it registered for. If
  preemption nominated a node, the victims are deleted, each gets a
  ``Preempted`` event, and the pod's ``status.nominatedNodeName`` is set.

The informer handlers name each change as a ``ClusterEvent`` (a node added,
its labels, taints or allocatable changed; a placed pod added, relabelled or
gone; a claim, volume or storage class added or changed) and hand it to the
queue, which wakes only the pods waiting for it. Claims, volumes and classes
are kept, parsed, in the cluster state for the VolumeBinding plugin.

A decision whose Reserve plugins reserved something (a claim's node) runs the
profile's PreBind plugins before the binding, outside the binding slots: they
write through ``PreBindHandle`` (the client) and may wait, re-checked on each
claim, volume or node change, until the cluster catches up (the PV controller
binds the claims); a failure or a timeout undoes the reservation and the
assumed pod, and the pod is tried again after back-off (upstream's PreBind).

Writes that are not the binding itself (status, events) run on their own
tasks so a slow write never holds the next decision; ``Scheduled`` events are
best effort (dropped when the event backlog is full, like client-go's
broadcaster).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shoal.api import views
from shoal.api.views import Body
from shoal.client import ApiClient, ApiException, Informer, InformerFactory
from shoal.client.events import EventRecorder
from shoal.scheduler.config import SchedulerConfig
from shoal.scheduler.core import Decision, Profile, build_profiles
from shoal.scheduler.events import node_events
from shoal.scheduler.framework import ClusterCheck, ClusterEvent, Code, Diagnosis, Status, error
from shoal.scheduler.podinfo import PodInfo, pod_info_or_error, scheduling_view
from shoal.scheduler.prom import ATTEMPT_DURATION
from shoal.scheduler.queue import QueuedPod, SchedulingQueue
from shoal.scheduler.snapshot import ClusterState

log = logging.getLogger("shoal.scheduler")

COMPONENT = "default-scheduler"
ASSUME_TTL = 30.0


@dataclass(slots=True)
class Metrics:
    """Counters the benchmark and tests read."""

    attempts: int = 0
    scheduled: int = 0
    unschedulable: int = 0
    errors: int = 0
    bind_conflicts: int = 0
    preemptions: int = 0
    latencies: list[float] = field(default_factory=list)  # first queued -> bound, seconds
    decide_seconds: float = 0.0


def fit_message(n: int, reasons: Mapping[str, int], extra: str = "") -> str:
    """``0/5 nodes are available: 3 Insufficient cpu, 2 node(s) had untolerated taint {k: v}.``"""
    hist = ", ".join(f"{c} {r}" for r, c in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    msg = f"0/{n} nodes are available" + (f": {hist}." if hist else ".")
    return f"{msg} {extra}" if extra else msg


def failure_message(d: Diagnosis) -> str:
    """Upstream's FailedScheduling message for a diagnosis (what ``kubectl describe`` shows)."""
    if d.unknown_profile:
        return f'no scheduler profile named "{d.unknown_profile}"'
    if d.invalid_spec:
        return f"0/{d.nodes_evaluated} nodes are available: invalid pod spec: {d.invalid_spec}"
    if d.pre_filter is not None:  # upstream ends each part of the message with a period
        return f"0/{d.nodes_evaluated} nodes are available: {', '.join(d.pre_filter.reasons)}."
    return fit_message(d.nodes_evaluated, d.reason_counts(), d.post_filter)


class _PreBindHandle:
    """The worker's side of ``framework.PreBindHandle``: the client, and waits on the cluster state."""

    def __init__(self, scheduler: Scheduler, uid: str) -> None:
        self.scheduler = scheduler
        self.uid = uid

    async def patch(self, resource: str, name: str, namespace: str | None,
                    patch: dict[str, Any]) -> dict[str, Any]:
        return await self.scheduler.client.patch(resource, name, patch, namespace)

    async def wait_until(self, check: ClusterCheck, timeout: float) -> Status:
        s = self.scheduler
        st = check(s.cluster)
        if st is not None:
            return st
        fut: asyncio.Future[Status] = asyncio.get_running_loop().create_future()
        s._waiters[self.uid] = (check, fut)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return error("timed out waiting for the condition")
        finally:
            if s._waiters.get(self.uid, (None, None))[1] is fut:
                del s._waiters[self.uid]


class Scheduler:
    def __init__(self, client: ApiClient, *, config: SchedulerConfig | None = None,
                 informers: InformerFactory | None = None, bind_concurrency: int = 64,
                 event_backlog: int = 2000, record_scheduled_events: bool = True,
                 initial_backoff: float = 1.0, max_backoff: float = 10.0, slice_seconds: float = 0.005) -> None:
        self.client = client
        self.slice_seconds = slice_seconds
        self.profiles: dict[str, Profile] = build_profiles(config or SchedulerConfig())
        self.factory = informers or InformerFactory(client)
        self._own_factory = informers is None
        self.cluster = ClusterState()
        self.queue = SchedulingQueue(initial_backoff=initial_backoff, max_backoff=max_backoff)
        self.recorder = EventRecorder(client, COMPONENT)
        self.metrics = Metrics()
        self._duration: dict[tuple[str, str], Any] = {}  # (result, profile) -> its Prometheus histogram
        self.record_scheduled_events = record_scheduled_events
        self._bind_slots = asyncio.Semaphore(bind_concurrency)
        self._writes: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=event_backlog)
        self._tasks: list[asyncio.Task[Any]] = []
        self._inflight: set[asyncio.Task[Any]] = set()
        self._assume_deadline: dict[str, float] = {}
        # its own informers keep only what scheduling reads; shared ones stay whole for the others
        self.pods: Informer = self.factory.informer("pods", transform=scheduling_view if self._own_factory else None)
        self.nodes: Informer = self.factory.informer("nodes")
        self.claims: Informer = self.factory.informer("persistentvolumeclaims")
        self.volumes: Informer = self.factory.informer("persistentvolumes")
        self.classes: Informer = self.factory.informer("storageclasses")
        # PreBind waits in flight: pod uid -> (what it waits for, the future it is told through)
        self._waiters: dict[str, tuple[ClusterCheck, asyncio.Future[Status]]] = {}

    # ---- lifecycle ------------------------------------------------------------------------
    async def start(self, *, sync_timeout: float = 60) -> None:
        self.nodes.add_handler(self._node_added, self._node_updated, self._node_deleted)
        self.pods.add_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        vols = self.cluster.volumes
        self.claims.add_handler(*self._storage_handlers(vols.set_claim, vols.remove_claim))
        self.volumes.add_handler(*self._storage_handlers(vols.set_volume, vols.remove_volume))
        self.classes.add_handler(*self._storage_handlers(vols.set_class, vols.remove_class))
        informers = (self.pods, self.nodes, self.claims, self.volumes, self.classes)
        if self._own_factory:
            self.factory.start()
        else:
            for inf in informers:
                inf.start()
        await asyncio.gather(*(inf.wait_synced(sync_timeout) for inf in informers))
        self._tasks.append(asyncio.create_task(self._loop(), name="scheduler"))
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="scheduler-housekeeping"))
        for i in range(4):
            self._tasks.append(asyncio.create_task(self._writer(), name=f"scheduler-writer-{i}"))
        log.info("scheduler started (profiles: %s)", ", ".join(sorted(self.profiles)))

    def stats(self) -> dict[str, Any]:
        """Counters and seconds spent per plugin (all profiles), for logs and benchmarks."""
        timings: dict[str, float] = {}
        for prof in self.profiles.values():
            for name, secs in prof.timings.items():
                timings[name] = timings.get(name, 0.0) + secs
        m = self.metrics
        return {"attempts": m.attempts, "scheduled": m.scheduled, "unschedulable": m.unschedulable,
                "errors": m.errors, "bind_conflicts": m.bind_conflicts, "preemptions": m.preemptions,
                "decide_seconds": round(m.decide_seconds, 3),
                "plugin_seconds": {k: round(v, 3) for k, v in sorted(timings.items(), key=lambda kv: -kv[1])}}

    async def stop(self) -> None:
        if self.metrics.attempts:
            log.info("scheduler stats: %s", json.dumps(self.stats()))
        for t in self._tasks + list(self._inflight):
            t.cancel()
        for t in self._tasks + list(self._inflight):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self._own_factory:
            await self.factory.stop()

    # ---- informer handlers (only bookkeeping; no I/O) ---------------------------------------
    def _node_added(self, node: Body) -> None:
        name = views.name(node)
        before = self.cluster.nodes.get(name)
        if self.cluster.set_node(node):
            self.queue.move(node_events(before, self.cluster.nodes[name]))
            self._recheck_waiters()

    def _node_updated(self, old: Body, new: Body) -> None:
        self._node_added(new)

    def _node_deleted(self, node: Body) -> None:
        if self.cluster.remove_node(views.name(node)):
            self.queue.move(ClusterEvent.NODE_DELETE)
            self._recheck_waiters()

    def _storage_handlers(self, set_fn: Callable[[Body], ClusterEvent], remove_fn: Callable[[Body], None]) -> tuple[
            Callable[[Body], None], Callable[[Body, Body], None], Callable[[Body], None]]:
        """Handlers that keep one storage kind in ``cluster.volumes``: a change that a rejected pod may be
        waiting for moves it; every change re-checks the PreBind waits (a deletion can end one)."""
        def added(obj: Body) -> None:
            event = set_fn(obj)
            if event:
                self.queue.move(event)
            self._recheck_waiters()

        def updated(old: Body, new: Body) -> None:
            added(new)

        def deleted(obj: Body) -> None:
            remove_fn(obj)
            self._recheck_waiters()
        return added, updated, deleted

    def _recheck_waiters(self) -> None:
        for check, fut in list(self._waiters.values()):
            if fut.done():
                continue
            try:
                st = check(self.cluster)
            except Exception as e:  # a bug in a check ends its wait, not the informer
                log.exception("PreBind check failed")
                st = error(f"{type(e).__name__}: {e}")
            if st is not None:
                fut.set_result(st)

    def _responsible(self, pod: Body) -> bool:
        return (not views.node_name(pod) and not views.is_terminating(pod)
                and (views.spec(pod).get("schedulerName") or COMPONENT) in self.profiles
                and not views.is_terminal(pod))

    def _pod_added(self, pod: Body) -> None:
        node = views.node_name(pod)
        if node:
            self._assigned(pod, node)
        elif self._responsible(pod):
            self.queue.add(pod_info_or_error(pod))

    def _assigned(self, pod: Body, node: str) -> None:
        uid = views.uid(pod)
        self.queue.delete(uid)
        if views.is_terminal(pod):  # finished pods hold no resources
            if self.cluster.remove_pod(uid) is not None:
                self.queue.move(ClusterEvent.POD_DELETE)
            return
        was = self.cluster.node_of(uid)
        if uid in self.cluster.assumed and was == node:
            self.cluster.assumed.discard(uid)  # our binding, confirmed: keep the parsed pod
            self._assume_deadline.pop(uid, None)
            return
        self.cluster.add_pod(pod_info_or_error(pod), node)
        self._assume_deadline.pop(uid, None)
        if was != node:  # new here (if it was assumed elsewhere, that node has room again)
            self.queue.move(ClusterEvent.POD_ADD if was is None else ClusterEvent.POD_ADD | ClusterEvent.POD_DELETE)

    def _pod_updated(self, old: Body, new: Body) -> None:
        uid = views.uid(new)
        node = views.node_name(new)
        if node:
            was = self.cluster.pods.get(uid)
            relabelled = was is not None and was[1].labels != views.labels(new)
            if relabelled or (was is not None and was[1].deleting != views.is_terminating(new)):
                self.cluster.add_pod(pod_info_or_error(new), node)
                if relabelled:
                    self.queue.move(ClusterEvent.POD_LABEL)
            else:
                self._assigned(new, node)
            return
        if not self._responsible(new):
            self.queue.delete(uid)
            return
        info = pod_info_or_error(new)
        if views.spec(old) != views.spec(new) or views.labels(old) != views.labels(new):
            self.queue.add(info)
        else:
            self.queue.update(info)

    def _pod_deleted(self, pod: Body) -> None:
        uid = views.uid(pod)
        waiter = self._waiters.get(uid)
        if waiter is not None and not waiter[1].done():
            waiter[1].set_result(error("pod does not exist any more"))
        self.queue.delete(uid)
        self._assume_deadline.pop(uid, None)
        if self.cluster.remove_pod(uid) is not None:
            self.queue.move(ClusterEvent.POD_DELETE)

    def _forget(self, uid: str) -> None:
        """Drop an assumption the API server did not confirm: its node has room again."""
        if self.cluster.remove_pod(uid) is not None:
            self.queue.move(ClusterEvent.POD_DELETE)

    # ---- the loop ---------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            qp = self.queue.pop()
            if qp is None:
                await self.queue.wait(1.0)
                continue
            # decide for pods until a time slice is used up, then let I/O run
            deadline = time.perf_counter() + self.slice_seconds
            while qp is not None:
                self._schedule_safely(qp)
                if time.perf_counter() >= deadline:
                    break
                qp = self.queue.pop()
            await asyncio.sleep(0)

    def _schedule_safely(self, qp: QueuedPod) -> None:
        try:
            self._schedule(qp)
        except Exception as e:  # a bug must not stop the scheduler; the user sees it on the pod
            log.exception("scheduling %s failed", qp.pod.key)
            self.metrics.errors += 1
            self.queue.failed(qp.pod.uid, unschedulable=False, message=str(e))
            msg = f"scheduler error: {type(e).__name__}: {e}"
            self._spawn(self._report_failure(qp.pod, Code.ERROR, msg))

    def _schedule(self, qp: QueuedPod) -> None:
        pod = qp.pod
        profile = self.profiles[pod.scheduler_name]
        self.metrics.attempts += 1
        t0 = time.perf_counter()
        d = profile.schedule_one(self.cluster, pod)
        took = time.perf_counter() - t0
        self.metrics.decide_seconds += took
        result = "scheduled" if d.node is not None else ("error" if d.code == Code.ERROR else "unschedulable")
        child = self._duration.get((result, pod.scheduler_name))
        if child is None:
            child = self._duration[(result, pod.scheduler_name)] = ATTEMPT_DURATION.labels(result, pod.scheduler_name)
        child.observe(took)
        if d.node is not None:
            self.cluster.add_pod(pod, d.node, assumed=True)
            self.queue.move(ClusterEvent.POD_ADD)
            self._spawn(self._bind(profile, qp, d))
            return
        self.metrics.unschedulable += 1
        diagnosis = d.diagnosis or Diagnosis(self.cluster.n)
        message = failure_message(diagnosis)
        self.queue.failed(pod.uid, unschedulable=d.code != Code.ERROR, message=message,
                          wake_on=profile.requeue_events(diagnosis))
        self._spawn(self._report_failure(pod, d.code, message))
        if d.nominated is not None:
            self.metrics.preemptions += 1
            self._spawn(self._preempt(pod, d))

    def _spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self._inflight.add(t)
        t.add_done_callback(self._inflight.discard)

    async def _bind(self, profile: Profile, qp: QueuedPod, d: Decision) -> None:
        pod = qp.pod
        node = d.node
        assert node is not None
        if d.state is not None and not await self._pre_bind(profile, d):
            return
        async with self._bind_slots:
            try:
                for plugin in profile.bind:
                    st = await plugin.bind(pod, node, self._do_bind)
                    if st.code != Code.SKIP:
                        break
            except ApiException as e:
                profile.unreserve(d, self.cluster)
                if self.cluster.node_of(pod.uid) == node and pod.uid in self.cluster.assumed:
                    self._forget(pod.uid)
                if e.status in (404, 409):
                    self.metrics.bind_conflicts += 1
                    self.queue.delete(pod.uid)
                    return
                self.metrics.errors += 1
                log.warning("binding %s to %s failed: %s", pod.key, node, e)
                self.queue.failed(pod.uid, unschedulable=False, message=str(e))
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                profile.unreserve(d, self.cluster)
                if pod.uid in self.cluster.assumed:
                    self._forget(pod.uid)
                self.metrics.errors += 1
                log.exception("binding %s to %s failed", pod.key, node)
                self.queue.failed(pod.uid, unschedulable=False, message=str(e))
                return
        self.metrics.scheduled += 1
        self.metrics.latencies.append(time.monotonic() - qp.first_queued)
        self.queue.delete(pod.uid)
        if pod.uid in self.cluster.assumed:
            self._assume_deadline[pod.uid] = time.monotonic() + ASSUME_TTL
        if self.record_scheduled_events:
            self._enqueue_write("event", (pod.raw, "Normal", "Scheduled",
                                          f"Successfully assigned {pod.key} to {node}"))

    async def _do_bind(self, namespace: str, name: str, uid: str, node: str) -> None:
        await self.client.bind(namespace, name, node, uid=uid)

    async def _pre_bind(self, profile: Profile, d: Decision) -> bool:
        """Run the PreBind plugins; on a failure undo the placement, retry the pod after back-off and
        say why on it (upstream: ``running PreBind plugin "VolumeBinding": ...``). True: go on and bind."""
        assert d.state is not None and d.node is not None
        pod = d.pod
        handle = _PreBindHandle(self, pod.uid)
        message = ""
        for plugin in profile.pre_bind:
            try:
                st = await plugin.pre_bind(d.state, pod, d.node, handle)
            except asyncio.CancelledError:
                raise
            except ApiException as e:
                st = error(e.message)
            except Exception as e:
                log.exception("PreBind %s of %s failed", plugin.name, pod.key)
                st = error(f"{type(e).__name__}: {e}")
            if not st.ok:
                message = f'running PreBind plugin "{plugin.name}": {st.message()}'
                break
        if not message:
            return True
        profile.unreserve(d, self.cluster)
        if pod.uid in self.cluster.assumed:
            self._forget(pod.uid)
        if pod.uid not in self.queue:
            return False  # deleted meanwhile: nothing to retry, nobody to tell
        self.metrics.errors += 1
        log.info("%s: %s", pod.key, message)
        self.queue.failed(pod.uid, unschedulable=False, message=message)
        await self._report_failure(pod, Code.ERROR, message)
        return False

    # ---- reporting --------------------------------------------------------------------------
    def _enqueue_write(self, kind: str, payload: Any) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._writes.put_nowait((kind, payload))

    async def _writer(self) -> None:
        while True:
            kind, payload = await self._writes.get()
            try:
                if kind == "event":
                    await self.recorder.event(*payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.debug("scheduler write failed", exc_info=True)

    async def _report_failure(self, pod: PodInfo, code: Code, message: str) -> None:
        current = views.condition(pod.raw, "PodScheduled")
        same = (current is not None and current.get("status") == "False"
                and current.get("message") == message)
        if not same:
            reason = "SchedulerError" if code == Code.ERROR else "Unschedulable"
            patch = {"status": {"conditions": [{
                "type": "PodScheduled", "status": "False", "reason": reason, "message": message,
                "lastProbeTime": None, "lastTransitionTime": views.format_time(views.utcnow())}]}}
            try:
                await self.client.patch("pods", pod.name, patch, pod.namespace, patch_type="strategic",
                                        subresource="status")
            except ApiException as e:
                log.debug("status of %s not written: %s", pod.key, e)
        await self.recorder.event(pod.raw, "Warning", "FailedScheduling", message)

    async def _preempt(self, pod: PodInfo, d: Decision) -> None:
        assert d.nominated is not None
        node = d.nominated.node
        for victim in d.nominated.pods:
            try:
                await self.client.delete("pods", victim.name, victim.namespace, uid=victim.uid)
            except ApiException as e:
                if e.status != 404:
                    log.warning("preempting %s failed: %s", victim.key, e)
                continue
            await self.recorder.event(victim.raw, "Normal", "Preempted",
                                      f"Preempted by pod {pod.uid} on node {node}")
        try:
            await self.client.patch("pods", pod.name, {"status": {"nominatedNodeName": node}}, pod.namespace,
                                    subresource="status")
        except ApiException as e:
            log.debug("nominatedNodeName of %s not written: %s", pod.key, e)

    # ---- housekeeping -----------------------------------------------------------------------
    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for uid, deadline in list(self._assume_deadline.items()):
                if deadline <= now:
                    self._assume_deadline.pop(uid, None)
                    if uid in self.cluster.assumed:
                        log.info("assumed pod %s expired without confirmation", uid)
                        self._forget(uid)
            self.queue.flush()
