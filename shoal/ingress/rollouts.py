"""The Rollout controller: ``rolloutplan`` decides, this carries it out and feeds it the proxy's counters.

Why a Rollout object (``shoal.io/v1alpha1``, Argo Rollouts' shape) rather
than Deployment annotations: a canary needs state a Deployment has no place
for (the stable and canary template hashes, the step it is on, when that step
began, why it aborted), two ReplicaSets alive at once that the Deployment
controller would fight over, and a status users read (``kubectl get ro``
shows phase, step, weight and message). Promote and abort are annotations
(``kubectl annotate rollout web shoal.io/promote=true``), removed once acted
on; ``scripts/kubectl-rollout`` wraps them as a kubectl plugin.

For each Rollout, on every change and when its plan asks to be woken:

* observe: the template's hash, whether its ReplicaSet's pods are ready, the
  promote/abort annotations, and the canary Service's servers' counters in
  this node's HAProxy (``show stat``: responses by class and the average
  response time), as the difference over the analysis interval; a counter
  that went down (a reload started a new worker) starts the window again;
* decide (``rolloutplan.plan``), then act: one ReplicaSet per wanted hash
  (``<rollout>-<hash>``, pods labelled ``rollouts-pod-template-hash``), others
  scaled to 0; each Service named by the strategy gets the hash added to its
  selector (a Service without a selector has hand-made Endpoints and is left
  alone); status written; consumed annotations removed; Events recorded. The
  proxy follows by itself: the node reads the Rollouts' ``canaryWeight``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import logging
import time
from collections import deque
from typing import Any

from shoal.api import views as v
from shoal.client import ApiClient, ApiException, InformerFactory
from shoal.client.events import EventRecorder
from shoal.controllers.hashing import pod_template_hash
from shoal.ingress import rolloutplan as rp
from shoal.ingress.haproxy import HAProxy
from shoal.ingress.resources import ROLLOUTS

log = logging.getLogger(__name__)


def _int(x: object) -> int:
    try:
        return int(str(x or 0))
    except ValueError:
        return 0


def canary_counters(rows: list[dict[str, str]], namespace: str, service: str) -> tuple[int, int, float] | None:
    """(responses, 5xx responses, mean response time ms) of a Service's servers; None if none is there."""
    prefix = f"{namespace}.{service}."
    servers = [r for r in rows if r.get("svname", "").startswith(prefix)]
    if not servers:
        return None
    total = errors = 0
    weighted = 0.0
    for r in servers:
        n = sum(_int(r.get(f"hrsp_{c}")) for c in ("1xx", "2xx", "3xx", "4xx", "5xx", "other"))
        total += n
        errors += _int(r.get("hrsp_5xx"))
        weighted += n * _int(r.get("rtime"))
    return total, errors, (weighted / total if total else 0.0)


class RolloutController:
    def __init__(self, client: ApiClient, factory: InformerFactory, proxy: HAProxy, recorder: EventRecorder) -> None:
        self.client = client
        self.proxy = proxy
        self.recorder = recorder
        self.rollouts = factory.informer(ROLLOUTS)
        self.replicasets = factory.informer("replicasets")
        self.services = factory.informer("services")
        self._wake = asyncio.Event()
        self._due: dict[str, float] = {}
        self._samples: dict[str, deque[tuple[float, int, int, float]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.rollouts.add_handler(on_add=self._changed, on_update=lambda o, n: self._changed(n),
                                  on_delete=self._changed)
        self.replicasets.add_handler(on_update=lambda o, n: self._changed(n))

    def _changed(self, obj: dict[str, Any]) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="rollouts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _loop(self) -> None:
        await self.rollouts.wait_synced()
        while True:
            now = time.monotonic()
            wait = min((t for t in self._due.values()), default=now + 2.0) - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, min(wait, 2.0)))
            self._wake.clear()
            for ro in self.rollouts.list():
                try:
                    await self.reconcile(ro)
                except asyncio.CancelledError:
                    raise
                except ApiException as e:
                    if e.status != 409:
                        log.warning("rollout %s: %s", v.key(ro), e)
                except Exception:
                    log.exception("rollout %s failed", v.key(ro))

    async def metrics(self, ro: dict[str, Any]) -> rp.Metrics | None:
        canary = (v.spec(ro).get("strategy") or {}).get("canary") or {}
        if not canary.get("canaryService") or not self.proxy.running:
            return None
        try:
            rows = await self.proxy.stats()
        except (OSError, TimeoutError):
            return None
        c = canary_counters(rows, v.namespace(ro), str(canary["canaryService"]))
        if c is None:
            return None
        now = time.monotonic()
        samples = self._samples.setdefault(v.key(ro), deque(maxlen=512))
        if samples and (c[0] < samples[-1][1] or c[1] < samples[-1][2]):
            samples.clear()  # a new worker: its counters started at 0
        samples.append((now, c[0], c[1], c[2]))
        interval = rp.seconds((canary.get("analysis") or {}).get("interval"), 5.0)
        while len(samples) > 1 and samples[1][0] <= now - interval:
            samples.popleft()
        first, last = samples[0], samples[-1]
        return rp.Metrics(requests=last[1] - first[1] if len(samples) > 1 else last[1],
                          errors=last[2] - first[2] if len(samples) > 1 else last[2], latency_ms=last[3])

    def _owned(self, ro: dict[str, Any]) -> list[dict[str, Any]]:
        return [rs for rs in self.replicasets.list(v.namespace(ro)) if v.controller_uid(rs) == v.uid(ro)]

    async def reconcile(self, ro: dict[str, Any]) -> None:
        key, ns, name = v.key(ro), v.namespace(ro), v.name(ro)
        spec, status = v.spec(ro), v.status(ro)
        template = spec.get("template") or {}
        h = pod_template_hash(template)
        owned = {v.labels(rs).get(rp.HASH_LABEL, ""): rs for rs in self._owned(ro)}
        rs = owned.get(h)
        want_n = int(spec.get("replicas", 1))
        ready = want_n == 0 or (rs is not None and int(v.status(rs).get("readyReplicas") or 0) >= want_n)
        ann = v.annotations(ro)
        obs = rp.Observed(template_hash=h, new_ready=ready, promote=rp.PROMOTE in ann, abort=rp.ABORT in ann,
                          metrics=await self.metrics(ro))
        d = rp.plan(spec, status, obs, dt.datetime.now(dt.UTC))
        await self._replicasets(ro, template, rp.replicas(spec, d.status), owned)
        await self._services(ro, rp.service_hashes(spec, d.status))
        if d.status != status:
            await self.client.patch(ROLLOUTS, name, {"status": rp.status_patch(status, d.status)}, ns, subresource="status")
        if d.consumed:
            await self.client.patch(ROLLOUTS, name, {"metadata": {"annotations": dict.fromkeys(d.consumed)}}, ns)
        for reason, message in d.events:
            await self.recorder.event({**ro, "apiVersion": "shoal.io/v1alpha1", "kind": "Rollout"},
                                      "Warning" if reason == "Aborted" else "Normal", reason, message)
        if d.requeue_after is not None:
            self._due[key] = time.monotonic() + d.requeue_after
        else:
            self._due.pop(key, None)

    async def _replicasets(self, ro: dict[str, Any], template: dict[str, Any], want: dict[str, int],
                           owned: dict[str, dict[str, Any]]) -> None:
        ns, name = v.namespace(ro), v.name(ro)
        selector = copy.deepcopy(v.spec(ro).get("selector") or {})
        for h, n in want.items():
            rs = owned.get(h)
            if rs is None:
                if h != pod_template_hash(template):
                    continue  # an old version no longer here: nothing to scale up
                t = copy.deepcopy(template)
                t.setdefault("metadata", {}).setdefault("labels", {})[rp.HASH_LABEL] = h
                sel = {**selector, "matchLabels": {**(selector.get("matchLabels") or {}), rp.HASH_LABEL: h}}
                body = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "metadata": {"name": f"{name}-{h}", "namespace": ns,
                                     "labels": {**(t["metadata"].get("labels") or {})},
                                     "ownerReferences": [v.owner_reference(ro, api_version="shoal.io/v1alpha1",
                                                                           kind="Rollout")]},
                        "spec": {"replicas": n, "selector": sel, "template": t}}
                with contextlib.suppress(ApiException):
                    await self.client.create("replicasets", body, ns)
            elif int(v.spec(rs).get("replicas") or 0) != n:
                await self.client.patch("replicasets", v.name(rs), {"spec": {"replicas": n}}, ns)
        for h, rs in owned.items():
            if h not in want and int(v.spec(rs).get("replicas") or 0) != 0:
                await self.client.patch("replicasets", v.name(rs), {"spec": {"replicas": 0}}, ns)

    async def _services(self, ro: dict[str, Any], hashes: dict[str, str]) -> None:
        ns = v.namespace(ro)
        for svc_name, h in hashes.items():
            svc = self.services.get_by(ns, svc_name)
            sel = v.service_spec(svc).get("selector") if svc is not None else None
            if not sel or sel.get(rp.HASH_LABEL) == h:
                continue
            await self.client.patch("services", svc_name, {"spec": {"selector": {rp.HASH_LABEL: h}}}, ns)
