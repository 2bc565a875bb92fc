"""The TLS Secrets one node's proxy serves, each watched by name (as the kubelet watches its pods' Secrets).

A node's own credential may not list Secrets: the Node authorizer lets every
node read, by name, exactly the TLS Secrets of the Ingresses and Gateways
shoal's proxy serves (``shoal.apiserver.authz.ingressgraph``). So an agent's
proxy does not run a cluster-wide Secret informer; it computes that same set
from the Ingresses and Gateways it already watches
(``shoal.api.ingresssecrets.served_secrets``) and keeps one informer per
Secret (``?fieldSelector=metadata.name=NAME`` in its namespace): started when
an object starts naming the Secret, stopped when none does. A new watch is
waited for (at most ``SYNC_TIMEOUT``) before the proxy is rendered, so a new
TLS host does not go out with the default certificate first. A watch the
server still refuses (its graph a moment behind) retries on its own, and its
first list triggers a new render.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Set
from typing import Any

from shoal.api.ingresssecrets import SecretRef
from shoal.client import ApiClient, Informer

SYNC_TIMEOUT = 5.0  # seconds a render waits for a new Secret watch's first list


class NamedSecrets:
    """One informer per Secret in the wanted set; ``by_key`` is what they hold now."""

    def __init__(self, client: ApiClient, on_change: Callable[[], None]) -> None:
        self.client = client
        self.on_change = on_change
        self._informers: dict[SecretRef, Informer] = {}

    async def want(self, refs: Set[SecretRef], timeout: float = SYNC_TIMEOUT) -> None:
        """Watch exactly ``refs``: start the new watches (and wait for their first list), stop the others."""
        for ref in self._informers.keys() - refs:
            await self._informers.pop(ref).stop()
        new = []
        for ref in refs - self._informers.keys():
            ns, name = ref
            inf = Informer(self.client, "secrets", namespace=ns, field_selector=f"metadata.name={name}")
            inf.add_handler(on_add=self._changed, on_update=lambda _o, n: self._changed(n), on_delete=self._changed)
            inf.start()
            self._informers[ref] = inf
            new.append(inf)
        if new:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(i.wait_synced() for i in new)), timeout)

    def _changed(self, _obj: object) -> None:
        self.on_change()

    def by_key(self) -> dict[SecretRef, dict[str, Any]]:
        out = {}
        for (ns, name), inf in self._informers.items():
            obj = inf.get_by(ns, name)
            if obj is not None:
                out[(ns, name)] = obj
        return out

    @property
    def watched(self) -> frozenset[SecretRef]:
        return frozenset(self._informers)

    async def stop(self) -> None:
        for inf in self._informers.values():
            await inf.stop()
        self._informers.clear()
