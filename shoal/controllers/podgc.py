"""Pod garbage collection, on a timer (upstream's PodGC, run by the garbage collector).

* Terminated pods (Succeeded or Failed) beyond ``terminated_pod_gc_threshold``
  (upstream's ``--terminated-pod-gc-threshold``, 12,500) are deleted, oldest
  first, so finished Jobs and crashed bare pods cannot fill the store.
* Pods bound to a node that no longer exists are deleted with grace 0: no
  agent is left to stop them. The node must be missing on two passes in a row
  and in a live read, so a node that is just registering is not mistaken for
  a gone one (upstream's quarantine).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from shoal.api.views import Body, is_terminal, is_terminating, meta, node_name
from shoal.client import ApiException, Informer
from shoal.controllers.base import Context

log = logging.getLogger(__name__)


def terminated_to_delete(pods: Sequence[Body], threshold: int) -> list[Body]:
    """The oldest terminated pods beyond ``threshold`` (pure; pods already terminating excluded)."""
    done = [p for p in pods if is_terminal(p) and not is_terminating(p)]
    excess = len(done) - threshold
    if threshold <= 0 or excess <= 0:
        return []
    done.sort(key=lambda p: (str(meta(p).get("creationTimestamp") or ""), str(meta(p).get("name"))))
    return done[:excess]


class PodGC:
    def __init__(self, ctx: Context, *, period: float, threshold: int) -> None:
        self.client = ctx.client
        self.period = period
        self.threshold = threshold
        self._suspect_nodes: set[str] = set()

    def setup(self, pods: Informer, nodes: Informer) -> None:
        self.pods = pods
        self.nodes = nodes

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.pass_once()
            except Exception:
                log.exception("podgc: pass failed")

    async def pass_once(self) -> int:
        """One collection pass; returns how many pods it deleted."""
        pods = self.pods.list()
        n = 0
        for p in terminated_to_delete(pods, self.threshold):
            n += await self._delete(p, grace=0, why="terminated pods over the threshold")
        missing: set[str] = set()
        for p in pods:
            node = node_name(p)
            if node and self.nodes.get(node) is None:
                missing.add(node)
        confirmed: set[str] = set()
        for node in missing & self._suspect_nodes:
            try:
                await self.client.get("nodes", node)
            except ApiException as e:
                if e.status == 404:
                    confirmed.add(node)
        self._suspect_nodes = missing - confirmed
        for p in pods:
            if node_name(p) in confirmed:
                n += await self._delete(p, grace=0, why="its node is gone")
        return n

    async def _delete(self, pod: Body, *, grace: int, why: str) -> int:
        md = meta(pod)
        try:
            await self.client.delete("pods", md["name"], md.get("namespace"), grace_period_seconds=grace,
                                     uid=md.get("uid"))
        except ApiException as e:
            if e.status in (404, 409):
                return 0
            raise
        log.info("podgc: deleted pod %s/%s: %s", md.get("namespace"), md["name"], why)
        return 1
