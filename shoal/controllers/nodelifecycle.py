"""Node lifecycle: notice nodes that stopped reporting, taint them, and evict their pods.

A node agent renews a Lease per node (``kube-node-lease/<node>``) every 2 s.
The controller remembers *when it saw* each renewal (its own clock, so clocks
of other machines do not matter, as upstream). A node not renewed within
``node_monitor_grace_period`` (``--node-monitor-grace-period``, 6 s) is lost:
all its conditions become ``Unknown`` (reason ``NodeStatusUnknown``), it gets the
``node.kubernetes.io/unreachable`` taint with effect ``NoSchedule`` at once and
``NoExecute`` when the zone's eviction rate allows (see ``nodehealth``), and its
ready pods are marked not ready. A node whose agent reports ``Ready=False``
gets the ``not-ready`` taints instead.

Pods on a node with NoExecute taints are deleted when their tolerations run
out (``taints.eviction_time``: replicated pods at once by shoal's default), so
their controllers create replacements elsewhere. Such pods stay ``Terminating``
until their node returns and its agent stops them: the returning node's stale
pods are cleaned up by its own agent, as in Kubernetes.

Only nodes whose agent has a Lease are monitored (``monitor_nodes_without_lease``
turns that off): a Node object registered by hand or by a tool, with no agent
behind it, is left as it is, where Kubernetes would mark it unknown; NoExecute
taints still evict pods from any node.

A node whose lease is renewed again is reachable: the controller lifts the
taints, and if the conditions it set itself (``NodeStatusUnknown``) are still
there, restores them (Ready=True, the pressure conditions False) because the
lease is the only heartbeat shoal's agents send regularly.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import logging
from collections.abc import Hashable
from typing import Any

from shoal.api.views import (
    Body,
    Condition,
    Taint,
    condition,
    conditions,
    format_time,
    is_ready,
    is_terminating,
    labels,
    meta,
    node_name,
    spec,
    taints,
)
from shoal.client import ApiException, Informer
from shoal.controllers import taints as tl
from shoal.controllers.base import Context, Controller
from shoal.controllers.nodehealth import (
    EvictionPolicy,
    TokenBucket,
    all_fully_disrupted,
    zone_of,
    zone_rate,
    zone_states,
)

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
UNKNOWN_REASON = "NodeStatusUnknown"
RECOVERED_REASON = "NodeStatusRecovered"


def _node_of_pod(pod: Body) -> list[str]:
    n = node_name(pod)
    return [n] if n else []


class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    workers = 4

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        o = ctx.options
        self.grace = float(o.get("node_monitor_grace_period", 6.0))
        self.period = float(o.get("node_monitor_period", min(1.0, self.grace / 4)))
        self.policy = EvictionPolicy(
            eviction_rate=float(o.get("node_eviction_rate", 1.0)),
            secondary_eviction_rate=float(o.get("secondary_node_eviction_rate", 0.01)),
            unhealthy_zone_threshold=float(o.get("unhealthy_zone_threshold", 0.55)),
            large_cluster_size_threshold=int(o.get("large_cluster_size_threshold", 50)),
        )
        # node -> (last heartbeat seen: lease renewTime and Ready heartbeat, when we saw it change)
        self._probe: dict[str, tuple[tuple[str, str], dt.datetime]] = {}
        # nodes whose agent renews a Lease; only these are monitored (see the module doc)
        self._leased: set[str] = set()
        self.monitor_unleased = bool(o.get("monitor_nodes_without_lease", False))
        self._buckets: dict[str, TokenBucket] = {}
        self._zone_rates: dict[str, float] = {}
        self._all_full = False
        self._monitor: asyncio.Task[None] | None = None

    # ---- wiring ---------------------------------------------------------------------------
    def setup(self) -> None:
        f = self.ctx.factory
        self.nodes: Informer = f.informer("nodes")
        self.leases: Informer = f.informer("leases", namespace=LEASE_NAMESPACE)
        self.pods: Informer = f.informer("pods")
        self.pods.add_index("nodelifecycle:node", _node_of_pod)
        self.nodes.add_handler(on_add=self._node_seen, on_update=lambda _o, n: self._node_seen(n),
                               on_delete=self._node_gone)
        self.leases.add_handler(on_add=self._lease_seen, on_update=lambda _o, n: self._lease_seen(n))
        self.pods.add_handler(on_add=self._pod_seen, on_update=lambda _o, n: self._pod_seen(n))

    def _heartbeat(self, name: str) -> tuple[str, str]:
        lease = self.leases.get_by(LEASE_NAMESPACE, name)
        renew = str(spec(lease).get("renewTime") or "") if lease is not None else ""
        node = self.nodes.get(name)
        ready = condition(node, "Ready") if node else None
        return renew, str((ready or {}).get("lastHeartbeatTime") or "")

    def monitored(self, name: str) -> bool:
        return self.monitor_unleased or name in self._leased

    def _observe(self, name: str) -> None:
        if self.leases.get_by(LEASE_NAMESPACE, name) is not None:
            self._leased.add(name)
        elif name in self._leased:
            return  # the lease is gone: no renewal either
        hb = self._heartbeat(name)
        old = self._probe.get(name)
        if old is None or old[0] != hb:
            self._probe[name] = (hb, self.clock())

    def _node_seen(self, node: Body) -> None:
        node_key = meta(node)["name"]
        self._observe(node_key)
        self.queue.add(node_key)

    def _node_gone(self, node: Body) -> None:
        self._probe.pop(meta(node)["name"], None)
        self._leased.discard(meta(node)["name"])

    def _lease_seen(self, lease: Body) -> None:
        node_key = meta(lease)["name"]
        if self.nodes.get(node_key) is not None:
            self._observe(node_key)
            self.queue.add(node_key)

    def _pod_seen(self, pod: Body) -> None:
        node = node_name(pod)
        if node and not is_terminating(pod):
            n = self.nodes.get(node)
            if n is not None and any(t.get("effect") == "NoExecute" for t in taints(n)):
                self.queue.add(node)

    async def run(self) -> None:
        self._monitor = asyncio.create_task(self._monitor_loop(), name="nodelifecycle:monitor")
        try:
            await super().run()
        finally:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
        await super().stop()

    # ---- the periodic census ------------------------------------------------------------
    def age(self, name: str, now: dt.datetime) -> float:
        p = self._probe.get(name)
        return 0.0 if p is None else (now - p[1]).total_seconds()

    def census(self, now: dt.datetime) -> None:
        """Recompute zone states and rates; enqueue nodes whose state should change."""
        entries = []
        for node in self.nodes.list():
            name = meta(node)["name"]
            if name not in self._probe:
                self._observe(name)
            if not self.monitored(name):
                continue
            age = self.age(name, now)
            ready_cond = condition(node, "Ready") or {}
            ready = age <= self.grace / 2 and ready_cond.get("status") == "True"
            entries.append((zone_of(labels(node)), ready))
            lost = age > self.grace
            if lost != (ready_cond.get("status") == "Unknown") or self._taints_wrong(node, lost=lost):
                self.queue.add(name)
        states = zone_states(entries, threshold=self.policy.unhealthy_zone_threshold)
        was_all_full = self._all_full
        self._all_full = all_fully_disrupted(states)
        if self._all_full and not was_all_full:
            log.warning("nodelifecycle: no node in any zone is ready; entering disruption mode (no evictions)")
        t = now.timestamp()
        for zone, (state, size) in states.items():
            rate = zone_rate(state, size, policy=self.policy, all_full=self._all_full)
            if self._zone_rates.get(zone) != rate:
                log.info("nodelifecycle: zone %r is %s (%d nodes): eviction rate %.3g nodes/s",
                         zone.replace("\x00", ""), state, size, rate)
            self._zone_rates[zone] = rate
            b = self._buckets.get(zone)
            if b is None:
                self._buckets[zone] = TokenBucket(rate, t)
            else:
                b.set_rate(rate, t)
        if self._all_full != was_all_full:
            for node in self.nodes.list():
                self.queue.add(meta(node)["name"])

    def _taints_wrong(self, node: Body, *, lost: bool) -> bool:
        want = self._wanted_keys(node, lost=lost)
        have = {t.get("key") for t in taints(node)
                if t.get("key") in tl.NODE_LOST_TAINTS and t.get("effect") == "NoSchedule"}
        return want != have

    def _wanted_keys(self, node: Body, *, lost: bool) -> set[str]:
        if lost:
            return {tl.UNREACHABLE}
        status = (condition(node, "Ready") or {}).get("status")
        if status == "False":
            return {tl.NOT_READY}
        if status == "True":
            return set()
        return {tl.UNREACHABLE} if status == "Unknown" else {tl.NOT_READY}

    async def _monitor_loop(self) -> None:
        while True:
            try:
                self.census(self.clock())
            except Exception:
                log.exception("nodelifecycle: census failed")
            await asyncio.sleep(self.period)

    # ---- reconcile one node ------------------------------------------------------------
    async def reconcile(self, key: Hashable) -> None:
        name = str(key)
        node: Body | None = self.nodes.get(name)
        if node is None:
            return
        now = self.clock()
        if self.monitored(name):
            lost = self.age(name, now) > self.grace
            node = await self._sync_conditions(node, lost=lost, now=now)
            node = await self._sync_taints(node, lost=lost, now=now)
            if lost:
                await self._mark_pods_not_ready(name)
        await self._evict(node, now=now)  # NoExecute taints evict on every node, whoever set them

    async def _sync_conditions(self, node: Body, *, lost: bool, now: dt.datetime) -> Body:
        conds = conditions(node)
        ready = condition(node, "Ready")
        new: list[dict[str, Any]] | None = None
        if lost and (ready is None or ready.get("status") != "Unknown"):
            stamp = format_time(now)
            new = [{**c, "status": "Unknown", "reason": UNKNOWN_REASON,
                    "message": "Kubelet stopped posting node status.", "lastTransitionTime": stamp}
                   for c in conds]
            if ready is None:
                new.append({"type": "Ready", "status": "Unknown", "reason": UNKNOWN_REASON,
                            "message": "Kubelet never posted node status.", "lastHeartbeatTime": None,
                            "lastTransitionTime": stamp})
            await self.events.event(dict(node), "Normal", "NodeNotReady",
                                    f"Node {meta(node)['name']} status is now: NodeNotReady")
        elif not lost and ready is not None and ready.get("reason") == UNKNOWN_REASON:
            stamp = format_time(now)
            new = []
            for c in conds:
                if c.get("reason") == UNKNOWN_REASON:
                    recovered: Condition = {**c, "status": "True" if c.get("type") == "Ready" else "False",
                                            "reason": RECOVERED_REASON, "message": "The node's lease is renewed again.",
                                            "lastTransitionTime": stamp}
                    c = recovered
                new.append(dict(c))
            await self.events.event(dict(node), "Normal", "NodeReady",
                                    f"Node {meta(node)['name']} status is now: NodeReady")
        if new is None:
            return node
        body = copy.deepcopy(dict(node))
        body.setdefault("status", {})["conditions"] = new
        try:
            return await self.client.update_status("nodes", body)
        except ApiException as e:
            if e.status in (404, 409):
                self.queue.add_after(meta(node)["name"], 0.05)
                return node
            raise

    async def _sync_taints(self, node: Body, *, lost: bool, now: dt.datetime) -> Body:
        node_key = meta(node)["name"]
        have = taints(node)
        want = self._wanted_keys(node, lost=lost)
        out = tl.without_taints(have, tuple(k for k in tl.NODE_LOST_TAINTS if k not in want))
        for key in want:
            if not tl.has_taint(out, key, "NoSchedule"):
                out.append({"key": key, "effect": "NoSchedule", "timeAdded": format_time(now)})
        if self._all_full:
            # every zone is down: the controller itself is probably cut off; evict nothing
            out = tl.without_taints(out, tl.NODE_LOST_TAINTS, "NoExecute")
        else:
            for key in want:
                if tl.has_taint(out, key, "NoExecute"):
                    continue
                out = tl.without_taints(out, tl.NODE_LOST_TAINTS, "NoExecute")
                bucket = self._buckets.get(zone_of(labels(node)))
                if bucket is None or not bucket.try_take(now.timestamp()):
                    self.queue.add_after(node_key, max(self.period, 0.1))  # rate-limited: try again later
                    break
                taint: Taint = {"key": key, "effect": "NoExecute", "timeAdded": format_time(now)}
                out.append(taint)
                log.info("nodelifecycle: tainting node %s with %s:NoExecute", node_key, key)
        if out == have:
            return node
        body = copy.deepcopy(dict(node))
        body.setdefault("spec", {})["taints"] = out or None
        if not out:
            body["spec"].pop("taints", None)
        try:
            return await self.client.update("nodes", body)
        except ApiException as e:
            if e.status in (404, 409):
                self.queue.add_after(node_key, 0.05)
                return node
            raise

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        for pod in self.pods.by_index("nodelifecycle:node", node_name):
            if not is_ready(pod) or is_terminating(pod):
                continue
            body = copy.deepcopy(dict(pod))
            conds = []
            for c in conditions(body):
                if c.get("type") == "Ready":
                    c = {**c, "status": "False", "lastTransitionTime": format_time(self.clock())}
                conds.append(c)
            body["status"]["conditions"] = conds
            with contextlib.suppress(ApiException):
                await self.client.update_status("pods", body)

    async def _evict(self, node: Body, *, now: dt.datetime) -> None:
        noexec = [t for t in taints(node) if t.get("effect") == "NoExecute"]
        if not noexec:
            return
        node_key = meta(node)["name"]
        soonest: dt.datetime | None = None
        for pod in self.pods.by_index("nodelifecycle:node", node_key):
            if is_terminating(pod):
                continue
            when = tl.eviction_time(pod, noexec, now)
            if when is None:
                continue
            if when > now:
                soonest = when if soonest is None or when < soonest else soonest
                continue
            md = meta(pod)
            try:
                await self.client.delete("pods", md["name"], md.get("namespace"), uid=md.get("uid"))
            except ApiException as e:
                if e.status not in (404, 409):
                    raise
                continue
            log.info("nodelifecycle: evicted pod %s/%s from node %s", md.get("namespace"), md["name"], node_key)
            await self.events.event(dict(pod), "Normal", "TaintManagerEviction",
                                    f"Marking for deletion Pod {md.get('namespace')}/{md['name']}")
        if soonest is not None:
            self.queue.add_after(node_key, max(0.05, (soonest - now).total_seconds()))
