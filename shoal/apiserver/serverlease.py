"""This API server's Lease, and the ``kubernetes`` endpoints every server's Lease adds up to (the I/O).

Every ``renew_interval`` the keeper writes a fresh ``renewTime`` into its own
Lease (``apiserver-<hash>`` in ``kube-system``, made if missing), reads every API
server's Lease, and has ``NamespaceDefaults`` write the ``kubernetes`` Endpoints
and EndpointSlice that ``endpointleases.plan`` decides (a write only when they
differ, so servers that agree write nothing). Each server does this on its own,
as kube-apiserver's lease reconciler: there is no leader, and a 409 from two
servers writing together is settled by the next pass.

A clean stop deletes its own Lease and writes the endpoints without it, so a
server that shuts down drops out at once; one that dies drops out when its Lease
expires for the others. Errors are logged, never fatal (the next pass tries again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from shoal.apiserver import endpointleases, errors, rawobj
from shoal.apiserver.endpointleases import NAMESPACE, Seen
from shoal.apiserver.nsdefaults import NamespaceDefaults
from shoal.apiserver.resource import Resource
from shoal.store.base import KeyExistsError, StoreError

log = logging.getLogger(__name__)


def _micro(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ServerLeaseKeeper:
    """See the module docstring."""

    def __init__(self, leases: Resource, defaults: NamespaceDefaults, *, cluster_ip: str, ip: str, port: int,
                 duration: float = endpointleases.LEASE_DURATION,
                 renew_interval: float = endpointleases.RENEW_INTERVAL,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.leases = leases
        self.defaults = defaults
        self.cluster_ip = cluster_ip
        self.ip = ip
        self.port = port
        self.duration = duration
        self.renew_interval = renew_interval
        self.monotonic = monotonic
        self.name = endpointleases.lease_name(ip, port)
        self.holder = f"kube-apiserver-{uuid.uuid4()}"
        self.seen: dict[str, Seen] = {}
        self.endpoints: list[tuple[str, int]] = []  # as last published
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """One pass (so the endpoints are right when the server starts serving), then one per interval."""
        await self._pass()
        self._task = asyncio.create_task(self._run(), name="apiserver-lease")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            with contextlib.suppress(errors.ApiError):
                await self.leases.delete(NAMESPACE, self.name)
            await self.publish(own=None)
        except (errors.ApiError, StoreError) as e:
            log.warning("removing this server from the kubernetes endpoints: %s", e)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.renew_interval)
            await self._pass()

    async def _pass(self) -> None:
        try:
            await self.sync()
        except (errors.ApiError, StoreError) as e:
            log.warning("renewing this API server's lease %s: %s", self.name, e)
        except Exception:
            log.exception("renewing this API server's lease %s", self.name)

    async def sync(self) -> None:
        await self.renew()
        await self.publish(own=self.name)

    async def renew(self) -> None:
        body = endpointleases.lease_body(name=self.name, holder=self.holder, hostname=socket.gethostname(),
                                         ip=self.ip, port=self.port, duration=self.duration,
                                         renew_time=_micro(datetime.now(UTC)))
        kv = await self.leases.store.get(self.leases.info.key(NAMESPACE, self.name))
        if kv is None:
            try:
                await self.leases.create(NAMESPACE, body)
            except KeyExistsError:
                pass  # another pass of ours, or a restart racing its old self: the next pass renews
            except errors.ApiError as e:
                if e.code != 409:
                    raise
            return
        have = rawobj.decode_rv(kv.value, kv.mod_revision)
        body["metadata"] = {**have["metadata"], **body["metadata"]}  # its resourceVersion: compare-and-swap
        await self.leases.update(NAMESPACE, self.name, body)

    async def server_leases(self) -> list[endpointleases.ServerLease]:
        listed = await self.leases.list(NAMESPACE, want_objects=True)
        views = (endpointleases.view_of(o) for o in listed.objs or [])
        return [v for v in views if v is not None]

    async def publish(self, *, own: str | None) -> None:
        leases = [v for v in await self.server_leases() if own is not None or v.name != self.name]
        p = endpointleases.plan(leases, self.seen, self.monotonic(), own=own)
        self.seen = p.seen
        for name in p.delete:
            with contextlib.suppress(errors.ApiError):
                await self.leases.delete(NAMESPACE, name)
        await self.defaults.publish_kubernetes(self.cluster_ip, self.port, p.endpoints)
        self.endpoints = p.endpoints
