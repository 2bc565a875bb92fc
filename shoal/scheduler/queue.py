"""The scheduling queue: pending pods by priority, back-off, and requeue on cluster events.

Three places a pending pod can be, as in kube-scheduler:

- **active**: a heap ordered by priority (``spec.priority``, higher first),
  then by the time the pod was first queued (FIFO within a priority);
- **backoff**: pods that failed recently wait ``initial * 2^(attempts-1)``
  seconds (1 s .. 10 s by default) before they are tried again;
- **unschedulable**: pods no node can take; they stay until a cluster event
  that could let them fit, or at most ``unschedulable_timeout`` (5 min)
  anyway (upstream's periodic flush, the safety net for an event missed).
  Which events could is the pod's ``wake_on``: the events registered by the
  plugins that rejected it (kube-scheduler's EventsToRegister), so a label
  change on a node does not wake a pod that only lacked cpu. The worker
  reports each event with ``move(event)``; pods are indexed by the events
  they wait for, so an event nobody waits for costs nothing.

An event that arrives while a pod is being decided must not be lost: each
pop starts a scheduling cycle, the queue remembers the last cycle in which
each kind of event happened, and a pod that fails in a cycle no later than an
event it waits for goes to backoff instead of unschedulable.

The queue itself is synchronous (and takes a clock, for tests); ``wait``
lets the async worker sleep until there is work.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from shoal.scheduler.framework import ClusterEvent
from shoal.scheduler.podinfo import PodInfo

STALE_SCAN_INTERVAL = 1.0  # seconds between looks for pods unschedulable longer than the timeout
_BITS = tuple(int(e) for e in ClusterEvent)  # the single events (``ALL`` is an alias, not listed)


@cache
def _bits(events: int) -> tuple[int, ...]:
    return tuple(b for b in _BITS if events & b)


@dataclass(slots=True)
class QueuedPod:
    pod: PodInfo
    first_queued: float
    attempts: int = 0
    backoff_until: float = 0.0
    cycle: int = 0
    last_failure: float = 0.0
    message: str = ""  # the last failure message written to the pod
    wake_on: int = ClusterEvent.ALL  # while unschedulable: the events that can make it fit


class SchedulingQueue:
    def __init__(self, *, initial_backoff: float = 1.0, max_backoff: float = 10.0,
                 unschedulable_timeout: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self.clock = clock
        self.pods: dict[str, QueuedPod] = {}  # every pending pod known to the queue, by uid
        self._active: list[tuple[int, float, int, str]] = []
        self._in_active: set[str] = set()
        self._backoff: list[tuple[float, int, str]] = []
        self._in_backoff: set[str] = set()
        self.unschedulable: set[str] = set()
        self.in_flight: set[str] = set()
        self._seq = itertools.count()
        self.scheduling_cycle = 0
        self._event_cycle = dict.fromkeys(_BITS, -1)  # event -> the last cycle in which it happened
        self._waiting: dict[int, set[str]] = {b: set() for b in _BITS}  # event -> unschedulable pods
        self._next_stale_scan = 0.0
        self._event: asyncio.Event | None = None

    # ---- sizes --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.pods)

    def __contains__(self, uid: str) -> bool:
        return uid in self.pods

    @property
    def active_count(self) -> int:
        return len(self._in_active)

    @property
    def backoff_count(self) -> int:
        return len(self._in_backoff)

    # ---- adding -------------------------------------------------------------------------
    def add(self, pod: PodInfo) -> None:
        """A new pending pod, or a changed one (a spec change makes it worth trying now)."""
        qp = self.pods.get(pod.uid)
        if qp is None:
            self.pods[pod.uid] = QueuedPod(pod, self.clock())
            self._push_active(pod.uid)
            return
        qp.pod = pod
        if pod.uid in self.in_flight:
            return
        self._to_active(pod.uid)

    def update(self, pod: PodInfo) -> None:
        """The pod changed in a way that cannot make it fit (status only): just keep the new copy."""
        qp = self.pods.get(pod.uid)
        if qp is None:
            self.add(pod)
        else:
            qp.pod = pod

    def delete(self, uid: str) -> None:
        """The pod is gone or bound: forget it (heap entries are dropped lazily)."""
        self._unpark(uid)
        self.pods.pop(uid, None)
        self._in_active.discard(uid)
        self._in_backoff.discard(uid)
        self.in_flight.discard(uid)

    def _park(self, uid: str, qp: QueuedPod) -> None:
        self._in_active.discard(uid)
        self.unschedulable.add(uid)
        for b in _bits(qp.wake_on):
            self._waiting[b].add(uid)

    def _unpark(self, uid: str) -> None:
        if uid in self.unschedulable:
            self.unschedulable.discard(uid)
            for b in _bits(self.pods[uid].wake_on):
                self._waiting[b].discard(uid)

    def _push_active(self, uid: str) -> None:
        if uid in self._in_active:
            return
        self._in_backoff.discard(uid)
        self._unpark(uid)
        qp = self.pods[uid]
        heapq.heappush(self._active, (-qp.pod.priority, qp.first_queued, next(self._seq), uid))
        self._in_active.add(uid)
        if self._event is not None:
            self._event.set()

    def _push_backoff(self, uid: str) -> None:
        qp = self.pods[uid]
        self._unpark(uid)
        self._in_active.discard(uid)
        heapq.heappush(self._backoff, (qp.backoff_until, next(self._seq), uid))
        self._in_backoff.add(uid)

    def _to_active(self, uid: str) -> None:
        """Active now, or backoff if it is still backing off."""
        qp = self.pods[uid]
        if qp.backoff_until > self.clock():
            if uid not in self._in_backoff:
                self._push_backoff(uid)
        else:
            self._push_active(uid)

    # ---- taking -------------------------------------------------------------------------
    def flush(self) -> None:
        """Move pods whose back-off expired to active; retry long-unschedulable pods."""
        now = self.clock()
        while self._backoff and self._backoff[0][0] <= now:
            _, _, uid = heapq.heappop(self._backoff)
            if uid in self._in_backoff:
                self._in_backoff.discard(uid)
                if uid in self.pods:
                    self._push_active(uid)
        # the safety net looks at every unschedulable pod: at most once a second, not on every pop
        # (2,000 unschedulable pods made each pop cost 145 us, more than a decision)
        if self.unschedulable and now >= self._next_stale_scan:
            self._next_stale_scan = now + STALE_SCAN_INTERVAL
            stale = [uid for uid in self.unschedulable
                     if now - self.pods[uid].last_failure >= self.unschedulable_timeout]
            for uid in stale:
                self._to_active(uid)

    def pop(self) -> QueuedPod | None:
        """The most important active pod (it is then in flight until ``done``/``failed``)."""
        self.flush()
        while self._active:
            _, _, _, uid = heapq.heappop(self._active)
            if uid not in self._in_active:
                continue
            self._in_active.discard(uid)
            qp = self.pods.get(uid)
            if qp is None:
                continue
            self.scheduling_cycle += 1
            qp.cycle = self.scheduling_cycle
            qp.attempts += 1
            self.in_flight.add(uid)
            return qp
        return None

    def next_backoff_at(self) -> float | None:
        while self._backoff and self._backoff[0][2] not in self._in_backoff:
            heapq.heappop(self._backoff)
        return self._backoff[0][0] if self._backoff else None

    async def wait(self, timeout: float) -> None:
        """Sleep until a pod becomes active (or ``timeout``)."""
        if self._event is None:
            self._event = asyncio.Event()
        if self._in_active:
            return
        self._event.clear()
        nb = self.next_backoff_at()
        if nb is not None:
            timeout = max(0.0, min(timeout, nb - self.clock()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)

    # ---- outcomes -----------------------------------------------------------------------
    def _backoff_for(self, qp: QueuedPod) -> float:
        return float(min(self.max_backoff, self.initial_backoff * 2.0 ** max(0, qp.attempts - 1)))

    def done(self, uid: str) -> None:
        """Decided and handed to the binder: not pending any more (unless ``failed`` later)."""
        self.in_flight.discard(uid)

    def failed(self, uid: str, *, unschedulable: bool, message: str = "",
               wake_on: ClusterEvent = ClusterEvent.ALL) -> None:
        """No node this time: unschedulable (wait for one of the ``wake_on`` events) or an error
        (back off)."""
        self.in_flight.discard(uid)
        qp = self.pods.get(uid)
        if qp is None:
            return
        now = self.clock()
        qp.last_failure = now
        qp.backoff_until = now + self._backoff_for(qp)
        if message:
            qp.message = message
        self._unpark(uid)
        qp.wake_on = int(wake_on)
        if not unschedulable or self._missed(qp):
            self._push_backoff(uid)
        else:
            self._park(uid, qp)

    def _missed(self, qp: QueuedPod) -> bool:
        """One of the events the pod waits for happened while it was being decided."""
        return any(self._event_cycle[b] >= qp.cycle for b in _bits(qp.wake_on))

    def move(self, event: ClusterEvent) -> int:
        """A cluster event: the unschedulable pods waiting for it are tried again (after their
        back-off). Returns how many moved."""
        moved: set[str] = set()
        for b in _bits(int(event)):
            self._event_cycle[b] = self.scheduling_cycle
            waiting = self._waiting[b]
            if waiting:
                moved |= waiting
        for uid in moved:
            self._to_active(uid)
        return len(moved)

    def move_all(self) -> None:
        """Any change at all: every unschedulable pod is tried again (after back-off)."""
        self.move(ClusterEvent.ALL)
