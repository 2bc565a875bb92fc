"""The controller manager: every controller in one process, sharing informers.

Controllers are listed in ``CONTROLLERS`` by name; the manager builds each with
a shared ``Context`` (one client, one informer factory, one clock), lets each
register its informers, starts the informers once, waits for their caches to
fill, and runs every controller's workers until stopped. ``parse_enabled``
reads the ``--controllers`` / ``$SHOAL_CONTROLLERS`` selection ("*", "none",
"a,b") that ``shoal server`` honours.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from typing import Any

from shoal.api.views import utcnow
from shoal.client import ApiClient, InformerFactory
from shoal.controllers.base import Clock, Context, Controller

log = logging.getLogger(__name__)

# name -> "module:Class"; a controller is enabled by being listed here
CONTROLLERS: dict[str, str] = {
    "replicaset": "shoal.controllers.replicaset:ReplicaSetController",
    "replicationcontroller": "shoal.controllers.replication:ReplicationControllerController",
    "deployment": "shoal.controllers.deployment:DeploymentController",
    "daemonset": "shoal.controllers.daemonset:DaemonSetController",
    "statefulset": "shoal.controllers.statefulset:StatefulSetController",
    "job": "shoal.controllers.job:JobController",
    "cronjob": "shoal.controllers.cronjob:CronJobController",
    "nodelifecycle": "shoal.controllers.nodelifecycle:NodeLifecycleController",
    "garbagecollector": "shoal.controllers.garbagecollector:GarbageCollector",
    "namespace": "shoal.controllers.namespace:NamespaceController",
    "endpoints": "shoal.controllers.endpoints:EndpointsController",
    "servicelb": "shoal.controllers.servicelb:ServiceLBController",
    "persistentvolume": "shoal.controllers.pvcontroller:PersistentVolumeController",
    "pvc-protection": "shoal.controllers.storageprotection:PVCProtectionController",
    "pv-protection": "shoal.controllers.storageprotection:PVProtectionController",
    "nodeipam": "shoal.controllers.nodeipam:NodeIpamController",
    "disruption": "shoal.controllers.disruption:DisruptionController",
    "csrsigning": "shoal.controllers.csrsigning:CSRSigningController",
    "resourcequota": "shoal.controllers.resourcequota:ResourceQuotaController",
    "horizontalpodautoscaling": "shoal.controllers.hpa:HorizontalPodAutoscalerController",
}


def register(name: str, target: str) -> None:
    CONTROLLERS[name] = target


def parse_enabled(value: str | list[str] | None) -> list[str] | None:
    """``"*"``/None: every controller (None); ``"none"``/``""``: none ([]); ``"a,b"``: those."""
    if value is None:
        return None
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    if names == ["*"]:
        return None
    if names in ([], ["none"]):
        return []
    return names


class ControllerManager:
    """Builds the enabled controllers (all of ``CONTROLLERS`` by default) around one shared context."""

    def __init__(self, client: ApiClient, *, clock: Clock = utcnow, enabled: list[str] | None = None,
                 options: dict[str, Any] | None = None) -> None:
        self.ctx = Context(client=client, factory=InformerFactory(client), clock=clock, options=options or {})
        self.controllers: list[Controller] = []
        unknown = sorted(set(enabled or ()) - set(CONTROLLERS))
        if unknown:
            raise ValueError(f"unknown controllers: {', '.join(unknown)}")
        for name, target in CONTROLLERS.items():
            if enabled is not None and name not in enabled:
                continue
            mod, _, cls = target.partition(":")
            ctl = getattr(importlib.import_module(mod), cls)(self.ctx)
            self.controllers.append(ctl)
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for c in self.controllers:
            c.setup()
        self.ctx.factory.start()
        await self.ctx.factory.wait_synced(60)
        for c in self.controllers:
            self._tasks.append(asyncio.create_task(c.run(), name=f"controller:{c.name}"))
        log.info("controllers running: %s", ", ".join(c.name for c in self.controllers) or "none")

    def get(self, name: str) -> Controller:
        """The running controller called ``name`` (for tests and diagnostics)."""
        for c in self.controllers:
            if c.name == name:
                return c
        raise KeyError(name)

    async def stop(self) -> None:
        for c in self.controllers:
            await c.stop()
        for t in self._tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.ctx.factory.stop()
