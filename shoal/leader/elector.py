"""The leader elector: one Lease, one candidate, components run only while it leads.

``LeaderElector`` is the I/O around ``shoal.leader.lease.decide``: every retry
period it reads the Lease (a leader that wrote it last tries its own copy
first: one request per renewal), decides, and writes with the Lease's
resourceVersion. While it leads it runs a ``Component`` built afresh by a
factory each time leadership begins (so nothing of an earlier term, no cache
and no queued work, survives into the next); when its renew deadline passes
without a successful renewal it stops that component and goes back to being a
candidate, as kube-scheduler does (it exits instead, and is restarted).

Acting after the deadline is prevented where it matters, at the write:
components are given a client whose transport is fenced by ``leading``
(``shoal.client.fence``). Stopping the component is the tidy-up, which can
only happen once this task runs again (after a freeze, maybe later than other
callbacks that were ready). Starting the component runs in a task of its own,
so a slow start (informers listing a big cluster) never holds up renewals.

A clean shutdown stops the component, then releases the Lease (empty holder)
so another candidate takes over at its next retry instead of waiting out the
lease duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from shoal.client import ApiClient, ApiException
from shoal.client.fence import FencedTransport
from shoal.leader.lease import (
    Action,
    ElectionConfig,
    LeaseRecord,
    Observation,
    decide,
    leading,
    record_of,
    released,
    spec_of,
)

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"


class Component(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def new_identity() -> str:
    """Upstream's holder identity: the hostname, an underscore, a fresh UUID (several servers on one host
    stay apart)."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LeaderElector:
    """Campaigns for the Lease ``namespace/name``; see the module docstring."""

    def __init__(self, client: ApiClient, *, name: str, namespace: str = NAMESPACE, identity: str | None = None,
                 config: ElectionConfig | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = _utcnow) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or new_identity()
        self.config = config or ElectionConfig()
        problems = self.config.problems()
        if problems:
            raise ValueError("; ".join(problems))
        self.clock = clock
        self.wall = wall
        self.renewed_at: float | None = None  # when the last successful write of ours was SENT
        self.observed: Observation | None = None
        self._lease: dict[str, Any] | None = None  # the Lease as we last wrote it (the renewal's fast path)
        self.terms = 0  # how many times this candidate became leader
        self._task: asyncio.Task[None] | None = None
        self._component: Component | None = None
        self._starting: asyncio.Task[None] | None = None
        self.wake_in: float | None = None  # WAIT: seconds until the holder's Lease runs out for us

    # ---- the fence ----------------------------------------------------------------------
    def leading(self) -> bool:
        """Whether this candidate may act as leader now (monotonic clock against the renew deadline)."""
        return leading(self.clock(), self.renewed_at, self.config.renew_deadline)

    def fenced(self, client: ApiClient) -> ApiClient:
        """A client over ``client``'s transport whose writes are refused unless ``leading()``."""
        return ApiClient(FencedTransport(client.transport, self.leading, what=f"{self.name} ({self.identity})"))

    # ---- one round ----------------------------------------------------------------------------
    async def try_once(self) -> bool:
        """Read, decide, write once; whether this candidate leads afterwards."""
        sent = self.clock()
        self.wake_in = None
        if self.renewed_at is not None and self.leading():
            timeout = max(0.05, self.renewed_at + self.config.renew_deadline - sent)
        else:
            timeout = self.config.renew_deadline
        try:
            if self._lease is not None and self.leading() and await self._renew_fast(sent, timeout):
                return True
            try:
                lease: dict[str, Any] | None = await self.client.request(
                    "GET", self._path(), timeout=timeout)
            except ApiException as e:
                if not e.not_found:
                    raise
                lease = None
            current = None if lease is None else record_of(lease)
            d = decide(now=self.clock(), current=current, observed=self.observed, identity=self.identity,
                       wall_now=self.wall(), lease_seconds=self.config.lease_seconds)
            self.observed = d.observation
            if d.action is Action.WAIT:
                self._lease = None
                self.wake_in = d.expires_in
                return self.leading()
            assert d.record is not None
            written = await self._write(d.action, lease, d.record, timeout)
        except ApiException as e:
            if e.status not in (0, 409):
                log.warning("lease %s/%s: %s", self.namespace, self.name, e)
            self._lease = None
            return self.leading()
        self._took(written, sent, d.action)
        return True

    async def _renew_fast(self, sent: float, timeout: float) -> bool:
        """Renew from our own last write without reading first; False (read, then decide) on a conflict."""
        assert self._lease is not None
        rec = record_of(self._lease)
        if rec.holder != self.identity:
            return False
        d = decide(now=sent, current=rec, observed=self.observed, identity=self.identity,
                   wall_now=self.wall(), lease_seconds=self.config.lease_seconds)
        assert d.record is not None
        try:
            written = await self._write(Action.RENEW, self._lease, d.record, timeout)
        except ApiException as e:
            if e.status != 409:
                raise
            return False
        self._took(written, sent, Action.RENEW)
        return True

    async def _write(self, action: Action, lease: dict[str, Any] | None, rec: LeaseRecord,
                     timeout: float) -> dict[str, Any]:
        if action is Action.CREATE or lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec_of(rec)}
            path = self._path(collection=True)
            return await self.client.request("POST", path, body=body, timeout=timeout)  # type: ignore[no-any-return]
        md = lease.get("metadata") or {}
        body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace,
                             "resourceVersion": md.get("resourceVersion"), "uid": md.get("uid"),
                             **({"labels": md["labels"]} if md.get("labels") else {})},
                "spec": spec_of(rec)}
        return await self.client.request("PUT", self._path(), body=body, timeout=timeout)  # type: ignore[no-any-return]

    def _took(self, lease: dict[str, Any], sent: float, action: Action) -> None:
        was = self.leading()
        self.renewed_at = sent
        self._lease = lease
        self.observed = Observation(record_of(lease), sent)
        if not was or action is not Action.RENEW:
            log.info("lease %s/%s: %s is the leader (%s)", self.namespace, self.name, self.identity, action.value)

    def _path(self, *, collection: bool = False) -> str:
        base = f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"
        return base if collection else f"{base}/{self.name}"

    # ---- the campaign ---------------------------------------------------------------------------
    def start(self, factory: Callable[[], Component]) -> None:
        """Campaign in the background; run ``factory()``'s component while leading."""
        self._task = asyncio.create_task(self._campaign(factory), name=f"leader-election:{self.name}")

    async def _campaign(self, factory: Callable[[], Component]) -> None:
        cfg = self.config
        while True:
            if self._component is not None and not self.leading():
                log.warning("lease %s/%s: %s could not renew within %.1f s: stepping down", self.namespace,
                            self.name, self.identity, cfg.renew_deadline)
                await self._stop_component()
            if await self.try_once() and self._component is None and self.leading():
                self.terms += 1
                self._component = factory()
                self._starting = asyncio.create_task(self._component.start(), name=f"leading:{self.name}")
                self._starting.add_done_callback(self._started)
            if self.leading():
                assert self.renewed_at is not None
                # wake for the next renewal, or at the deadline at the latest (to step down promptly)
                delay = min(cfg.retry_period, max(0.0, self.renewed_at + cfg.renew_deadline - self.clock()))
            else:
                delay = cfg.retry_period * (1 + 0.2 * random.random())  # client-go's jitter for candidates
                if self.wake_in is not None:  # try again the moment the holder's Lease runs out, not later
                    delay = min(delay, self.wake_in + 0.01)
            await asyncio.sleep(delay)

    def _started(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("lease %s/%s: starting the leader's components failed: %r", self.namespace, self.name,
                      task.exception())

    async def _stop_component(self) -> None:
        comp, starting = self._component, self._starting
        self._component = self._starting = None
        if starting is not None and not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
        if comp is not None:
            try:
                await comp.stop()
            except Exception:
                log.exception("lease %s/%s: stopping the leader's components failed", self.namespace, self.name)

    async def stop(self, *, release: bool = True) -> None:
        """Stop campaigning and the component; release the Lease if still held (a clean hand-over)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stop_component()
        if release and self.leading() and self._lease is not None:
            with contextlib.suppress(ApiException):
                await self._write(Action.RENEW, self._lease, released(record_of(self._lease), self.wall()),
                                  timeout=self.config.renew_deadline)
                log.info("lease %s/%s: released by %s", self.namespace, self.name, self.identity)
        self.renewed_at = None
        self._lease = None
