"""Deterministic controller tests: the API server in this process, controllers driven step by step.

What a controller does is tested here the way Nomad tests its scheduler (a
real state store and a harness, no mocks) and client-go tests its controllers
(a fake clock): a real ``ApiServer`` on a temporary SQLite store, a client over
the in-process transport (the server's own dispatcher: routing, defaults,
validation, admission, revisions — the same code path as HTTP, no socket), and
controllers whose informers are never started. Instead a test moves the world
one ``step`` at a time:

for each controller in turn (and each fake agent attached like one, e.g.
``FakeKubelet``), every informer relists (``Informer.relist``: the caches are
then exactly what the store holds, and their handlers have enqueued the keys
that changed), the controller reconciles the keys in its queue one after
another, and the Events it recorded are written; then the fake cluster
(``FakeCluster``, the nodes' agents and the scheduler) takes one pass over the
pods. A test watching an informer's handlers sees the state between any two
actors.

Time is a ``FakeClock`` shared by the API server (creation and deletion
timestamps), the controllers (``Context.clock`` and ``Context.monotonic``) and
the fake cluster (the times it reports). A key a controller asks to see again
later (``WorkQueue.add_after``: a batch window, a back-off, minReadySeconds)
waits on that clock, not the event loop's: ``advance(seconds)`` moves it, and
the next step reconciles what came due.

What a component does in a loop of its own (the node lifecycle controller's
census, agents renewing their leases) is registered with ``every(period, fn)``
and runs on the same clock.

``settle()`` steps until nothing happens (a step that wrote nothing and
reconciled nothing) without moving the clock. ``until(check)`` steps until
``check`` holds; when the cluster is quiet and something waits on the clock, it
moves the clock to the earliest of them (a discrete-event simulation), and it
fails at once when nothing is left to happen (or past a ``horizon`` of fake
time); ``run_for(seconds)`` lets fake time pass the same way. No sleeping, no
polling a real clock, no timeouts to tune.

What this does not test is the wire and the races between processes; the
end-to-end tests (``*_e2e.py``, ``*_kubectl.py``, the agents') do.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator, Callable, Hashable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from shoal.apiserver.app import ApiServer
from shoal.apiserver.inprocess import InProcessTransport
from shoal.client import ApiClient, InformerFactory, WorkQueue
from shoal.controllers.base import Context, Controller
from shoal.store.sqlite import SqliteStore
from tests.controllers.fake_kubelet import FakeCluster, Outcome, always_running

log = logging.getLogger(__name__)

C = TypeVar("C", bound=Controller)
R = TypeVar("R", bound="Reconciler")


class Reconciler(Protocol):
    """What the harness drives: a controller, or a fake agent that works like one."""

    name: str
    queue: WorkQueue

    async def reconcile(self, key: Hashable) -> None: ...

    async def events_written(self, timeout: float | None = None) -> None: ...

    async def stop(self) -> None: ...

START = dt.datetime(2026, 3, 1, 12, 0, 0, tzinfo=dt.UTC)
MAX_STEPS = 2_000  # a cluster that has not settled after this many steps is a controller that never rests
MAX_KEYS_PER_STEP = 10_000
EPSILON = 1e-6  # seconds past a key's due time that ``until`` moves the clock to (so "t + 0.3 >= t + 0.3" holds
# in floats too)
MAX_FAILURES = 5  # a key that keeps failing within one test stops being retried (its errors are kept)


class FakeClock:
    """Wall and monotonic time that move only when the test says: ``clock()`` is ``Context.clock``."""

    def __init__(self, start: dt.datetime = START) -> None:
        self._now = start
        self._mono = 1_000.0

    def __call__(self) -> dt.datetime:
        return self._now

    def now(self) -> dt.datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += dt.timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: dt.datetime) -> None:
        """Wall time to ``when`` (it may go back, as a wall clock can); monotonic time never goes back."""
        self._mono += max(0.0, (when - self._now).total_seconds())
        self._now = when


async def _value(check: Callable[[], Any]) -> Any:
    v = check()
    return await v if asyncio.iscoroutine(v) else v


class Harness:
    """One API server, its in-process client, the controllers under test and a fake cluster."""

    def __init__(self, store: SqliteStore, api: ApiServer, clock: FakeClock) -> None:
        self.store = store
        self.api = api
        self.clock = clock
        self.client = ApiClient(InProcessTransport(api))
        self.factory = InformerFactory(self.client)
        self.controllers: list[Reconciler] = []
        self.cluster: FakeCluster | None = None
        self.errors: list[tuple[str, str, BaseException]] = []  # (controller, key, error) of failed reconciles
        self._failures: dict[tuple[str, Any], int] = {}
        self._timers: dict[tuple[int, Hashable], tuple[float, Reconciler]] = {}  # -> (due, by the clock)
        self._periodic: list[list[Any]] = []  # [due, period, fn]: a component's own loop, on the fake clock

    # ---- building ------------------------------------------------------------------------
    def context(self, options: dict[str, Any] | None = None) -> Context:
        return Context(client=self.client, factory=self.factory, clock=self.clock, options=options or {},
                       monotonic=self.clock.monotonic)

    async def start(self, cls: type[C], *, options: dict[str, Any] | None = None) -> C:
        """A controller of ``cls``, its informers filled (its workers never run: ``step`` reconciles)."""
        ctl = cls(self.context(options))
        ctl.setup()
        return await self.attach(ctl)

    async def attach(self, r: R) -> R:
        """Drive ``r`` (set up already) at every step; its delayed keys wait on the fake clock."""
        r.queue.add_after = functools.partial(self._add_after, r)  # type: ignore[method-assign]
        self.controllers.append(r)
        await self.factory.relist()
        return r

    async def fake_cluster(self, *, nodes: tuple[str, ...] = ("node-a",), outcome: Outcome = always_running,
                           **kw: Any) -> FakeCluster:
        """The nodes' agents and the scheduler, taking one pass over the pods per ``step``."""
        fc = FakeCluster(self.client, outcome=outcome, clock=self.clock, **kw)
        fc.factory = self.factory
        fc.pods = self.factory.informer("pods")
        for n in nodes:
            await fc.add_node(n)
        self.cluster = fc
        await self.factory.relist()
        return fc

    async def namespace(self, name: str = "test") -> str:
        await self.client.create("namespaces", {"metadata": {"name": name}})
        return name

    def _add_after(self, ctl: Reconciler, key: Hashable, delay: float) -> None:
        if delay <= 0:
            ctl.queue.add(key)
            return
        due = self.clock.monotonic() + delay
        old = self._timers.get((id(ctl), key))
        if old is None or due < old[0]:  # an earlier pending timer wins, as in WorkQueue
            self._timers[(id(ctl), key)] = (due, ctl)

    def every(self, period: float, fn: Callable[[], Any]) -> None:
        """Call ``fn`` (sync or async) every ``period`` seconds of the fake clock, at the start of a step: what a
        component does in a loop of its own (the node lifecycle controller's census, agents renewing leases)."""
        self._periodic.append([self.clock.monotonic() + period, period, fn])

    async def _fire_due(self) -> bool:
        now = self.clock.monotonic()
        due = [(k, ctl) for k, (when, ctl) in self._timers.items() if when <= now]
        for k, ctl in due:
            del self._timers[k]
            ctl.queue.add(k[1])
        fired = bool(due)
        for p in self._periodic:
            if p[0] <= now:
                p[0] = max(p[0] + p[1], now)  # once, however late (as a loop that sleeps after its work)
                await self.factory.relist()
                await _value(p[2])
                fired = True
        return fired

    def next_due(self) -> float | None:
        """Seconds until the earliest key or loop waiting on the clock is due (None: nothing waits)."""
        dues = [when for when, _ in self._timers.values()] + [p[0] for p in self._periodic]
        if not dues:
            return None
        return max(0.0, min(dues) - self.clock.monotonic())

    # ---- driving ---------------------------------------------------------------------------
    async def reconcile(self, ctl: Reconciler, key: Hashable) -> None:
        """Bring the caches up to date, then one ``reconcile(key)`` (errors raise), and its Events."""
        await self.factory.relist()
        await ctl.reconcile(key)
        await ctl.events_written()

    async def step(self) -> bool:
        """One step of the world (see the module docstring); whether anything happened."""
        before = await self.store.current_revision()
        worked = await self._fire_due()
        for ctl in self.controllers:
            await self.factory.relist()
            worked = await self._drain(ctl) or worked
            await ctl.events_written()
        if self.cluster is not None:
            await self.factory.relist()
            await self.cluster.step()
        return worked or await self.store.current_revision() != before

    async def _drain(self, ctl: Reconciler) -> bool:
        q = ctl.queue
        n = 0
        while len(q):
            n += 1
            if n > MAX_KEYS_PER_STEP:
                raise AssertionError(f"{ctl.name}: more than {MAX_KEYS_PER_STEP} keys in one step")
            key = await q.get()
            try:
                await ctl.reconcile(key)
                self._failures.pop((ctl.name, key), None)
            except Exception as e:  # as the worker does: log, and try again (here: next step, a few times)
                log.debug("%s: reconcile %s failed: %s", ctl.name, key, e, exc_info=True)
                self.errors.append((ctl.name, str(key), e))
                count = self._failures[(ctl.name, key)] = self._failures.get((ctl.name, key), 0) + 1
                q.done(key)
                if count < MAX_FAILURES:
                    q.add(key)
                    return True  # the rest waits for the next step, after a relist
                continue
            q.done(key)
        return n > 0

    async def settle(self) -> None:
        """Step until nothing happens (the clock stays where it is)."""
        for _ in range(MAX_STEPS):
            if not await self.step():
                return
        raise AssertionError(f"not settled after {MAX_STEPS} steps")

    async def until(self, check: Callable[[], Any], *, horizon: float = 3600.0) -> Any:
        """Step until ``check`` (sync or async) is truthy, and return it; when the cluster is quiet, move the
        clock to the next key or loop waiting on it, for at most ``horizon`` seconds in all; fail when nothing
        is left to happen, or past the horizon."""
        start = self.clock.monotonic()
        for _ in range(MAX_STEPS):
            v = await _value(check)
            if v:
                return v
            if await self.step():
                continue
            v = await _value(check)
            if v:
                return v
            wait = self.next_due()
            waited = self.clock.monotonic() - start
            if wait is None or waited + wait > horizon:
                what = "nothing is left to happen" if wait is None else f"{horizon:g}s of fake time passed"
                raise AssertionError(f"{what} and the condition does not hold (last: {v!r}) after {waited:g}s; "
                                     f"reconcile errors: {self.errors[-3:]!r}")
            self.clock.advance(wait + EPSILON)
        raise AssertionError(f"condition not met after {MAX_STEPS} steps")

    async def run_for(self, seconds: float) -> None:
        """Let ``seconds`` of fake time pass, everything that comes due on the way happening in order."""
        end = self.clock.monotonic() + seconds
        for _ in range(MAX_STEPS):
            await self.settle()
            wait = self.next_due()
            left = end - self.clock.monotonic()
            if wait is None or wait + EPSILON > left:
                self.clock.advance(max(0.0, left))
                await self.settle()
                return
            self.clock.advance(wait + EPSILON)
        raise AssertionError(f"more than {MAX_STEPS} waits in {seconds:g}s of fake time")

    async def advance(self, seconds: float) -> None:
        """Move the clock; keys waiting on it that came due are reconciled at the next step."""
        self.clock.advance(seconds)

    async def close(self) -> None:
        for ctl in self.controllers:
            await ctl.stop()
        await self.client.close()
        await self.api.stop()
        await self.store.close()


@contextlib.asynccontextmanager
async def harness(tmp_path: Path, *, clock: FakeClock | None = None) -> AsyncIterator[Harness]:
    clock = clock or FakeClock()
    store = SqliteStore(tmp_path / "state.db")
    await store.start()
    api = ApiServer(store, clock=clock)
    await api.start()
    h = Harness(store, api, clock)
    try:
        yield h
    finally:
        await h.close()
