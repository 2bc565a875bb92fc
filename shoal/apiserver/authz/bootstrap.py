"""RBAC at server start: the index loaded, upstream's defaults reconciled, aggregation running.

Every server reconciles (as every kube-apiserver does): creating what is
missing is a create that may meet another server's (409 is fine), and an
update that meets a newer write (409) is left to that write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shoal.apiserver import errors, rawobj
from shoal.apiserver.authz import defaults
from shoal.apiserver.authz.aggregate import Aggregator
from shoal.apiserver.authz.index import CLUSTER_ROLE_BINDINGS, CLUSTER_ROLES, RbacIndex
from shoal.apiserver.handlers import resource_key
from shoal.apiserver.resource import Resource
from shoal.store.base import KeyExistsError

log = logging.getLogger(__name__)

Reconcile = Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any] | None]


class RbacBootstrap:
    def __init__(self, index: RbacIndex, resources: dict[tuple[str, str, str], Resource]) -> None:
        self.index = index
        self.roles = resources[resource_key(CLUSTER_ROLES)]
        self.bindings = resources[resource_key(CLUSTER_ROLE_BINDINGS)]
        self.aggregator = Aggregator(index, self.roles)

    async def start(self) -> None:
        await self.index.load()
        await self.reconcile()
        await self.aggregator.sync()
        self.aggregator.start()

    async def stop(self) -> None:
        await self.aggregator.stop()

    async def reconcile(self) -> None:
        for want in defaults.cluster_roles():
            await self._write(self.roles, want, defaults.reconcile_role)
        for want in defaults.cluster_role_bindings():
            await self._write(self.bindings, want, defaults.reconcile_binding)
        for name in defaults.RETIRED_BINDINGS:
            kv = await self.bindings.store.get(self.bindings.info.key(None, name))
            if kv is not None and defaults.retire(rawobj.decode(kv.value)):
                try:
                    await self.bindings.delete(None, name)
                except errors.ApiError as e:
                    if e.code != 404:
                        raise

    async def _write(self, resource: Resource, want: dict[str, Any], reconcile: Reconcile) -> None:
        name = str(want["metadata"]["name"])
        kv = await resource.store.get(resource.info.key(None, name))
        live = rawobj.decode_rv(kv.value, kv.mod_revision) if kv is not None else None
        body = reconcile(want, live)
        if body is None:
            return
        try:
            if live is None:
                await resource.create(None, body)
            else:
                await resource.update(None, name, body)
        except KeyExistsError:
            pass
        except errors.ApiError as e:
            if e.code != 409:
                raise
