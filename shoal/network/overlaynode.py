"""The overlay on one node: follow every Node, keep this machine's forwarding entries equal to the plan.

Level-triggered like the service proxy: any Node event marks the state dirty,
and a pass (debounced by a few milliseconds, and every ``resync`` seconds in
any case, to heal entries someone removed by hand) does, in order:

1. wait for this node's own Node (the agent registers it) and its pod CIDR
   (node IPAM gives it);
2. ``backend.ensure``: the node's own device, when a node on another machine
   needs it; then publish this node's annotations (backend, underlay address,
   backend data) if the Node does not carry them yet;
3. ``backend.plan`` over every Node, ``backend.current`` from the kernel, and
   apply the difference (``overlay.diff``, ``netlink.apply``).

The first pass waits for the informer's full list, so an agent restarting
never removes the entries of nodes it has not seen yet; and it only ever
removes what shoal owns (``netlink``). Stopping leaves the entries in place:
pods keep talking across machines while their agent restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from shoal.api import views
from shoal.api.views import Body
from shoal.client import ApiClient, ApiException, Informer, InformerFactory
from shoal.network import netlink
from shoal.network.backends import Backend, NoBackend
from shoal.network.overlay import NodeNet, Plan, diff, node_net, published

log = logging.getLogger(__name__)


class NodeOverlay:
    def __init__(self, client: ApiClient, factory: InformerFactory, *, node_name: str, node_ip: str,
                 debounce: float = 0.01, resync: float = 30.0) -> None:
        self.client = client
        self.node_name = node_name
        self.node_ip = node_ip
        self.backend: Backend = NoBackend()
        self.debounce = debounce
        self.resync = resync
        self.nodes: Informer = factory.informer("nodes")
        self.nodes.add_handler(on_add=self._changed, on_update=lambda _o, _n: self._changed(None),
                               on_delete=self._changed)
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_plan: Plan | None = None
        self.passes = 0
        self._skipped_logged: tuple[tuple[str, str], ...] = ()

    def _changed(self, _obj: object) -> None:
        self._dirty.set()

    async def start(self, backend: Backend) -> None:
        """Run with ``backend`` (chosen once the underlay is known; the informer exists from the start)."""
        self.backend = backend
        log.info("overlay: backend %s, node %s at %s", self.backend.name, self.node_name, self.node_ip)
        self._dirty.set()
        self._task = asyncio.create_task(self._loop(), name="overlay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        await self.nodes.wait_synced()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.resync)
            await asyncio.sleep(self.debounce)
            self._dirty.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("overlay: sync failed (%s); retrying", e)
                await asyncio.sleep(1.0)
                self._dirty.set()

    async def sync(self) -> None:
        own = self.nodes.get(self.node_name)
        if own is None:
            return  # not registered yet: the agent's registration is an event
        mine = node_net(own)
        local = NodeNet(self.node_name, mine.cidrs, self.node_ip, self.backend.name, mine.vtep_mac)
        nodes = [node_net(n) for n in self.nodes.list()]
        data = None
        if local.cidrs:
            remote = any(n.name != local.name and n.cidrs and n.public_ip and n.public_ip != local.public_ip
                         for n in nodes)
            data = await self.backend.ensure(local, remote)
        await self._publish(own, published(self.backend.name, self.node_ip, data))
        plan = self.backend.plan(local, nodes) if local.cidrs else Plan()
        add, remove = diff(await self.backend.current(), plan.entries)
        if add or remove:
            errors = await netlink.apply(add, remove)
            log.info("overlay: %d entries added, %d removed (peers: %s)%s",
                     len(add.routes) + len(add.neighs) + len(add.fdb),
                     len(remove.routes) + len(remove.neighs) + len(remove.fdb), ", ".join(plan.peers) or "none",
                     f"; refused: {'; '.join(errors)}" if errors else "")
            if errors:
                self._dirty.set()  # read the kernel again and retry what is missing
        if plan.skipped != self._skipped_logged:
            for node, why in plan.skipped:
                log.info("overlay: no entries for node %s: %s", node, why)
            self._skipped_logged = plan.skipped
        self.last_plan = plan
        self.passes += 1

    async def _publish(self, own: Body, want: dict[str, str]) -> None:
        have = views.annotations(own)
        if all(have.get(k) == v for k, v in want.items()):
            return
        try:
            await self.client.patch("nodes", self.node_name, {"metadata": {"annotations": want}})
        except ApiException as e:
            if e.status != 404:
                raise
