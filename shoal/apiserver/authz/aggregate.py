"""ClusterRole aggregation: a role with an ``aggregationRule`` holds the rules of the roles it selects.

``aggregated_rules`` is upstream's ClusterRoleAggregationController's rule,
pure: for each selector in order, the ClusterRoles it matches (by name, the
role itself left out), each of their rules once. ``Aggregator`` runs it
whenever a ClusterRole changes (the index tells it) and writes the roles whose
rules differ, through the API server's own ``Resource`` (a conflict means
another write got there first; the change it made brings another pass). Roles
that aggregate roles that aggregate (``admin`` <- ``edit`` <- ``view``) settle
in as many passes as the chain is long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from shoal.api import selectors
from shoal.apiserver import errors
from shoal.apiserver.authz.index import RbacIndex
from shoal.apiserver.resource import Resource

log = logging.getLogger(__name__)


def aggregated_rules(role: Mapping[str, Any], roles: Mapping[str, Mapping[str, Any]]) -> list[Any] | None:
    """The rules ``role`` aggregates from ``roles`` (by name), or ``None`` if it has no aggregationRule."""
    rule = role.get("aggregationRule")
    if not isinstance(rule, dict):
        return None
    me = (role.get("metadata") or {}).get("name")
    out: list[Any] = []
    for sel in rule.get("clusterRoleSelectors") or []:
        try:
            selector = selectors.from_label_selector(sel)
        except selectors.SelectorError:
            continue
        for name in sorted(roles):
            other = roles[name]
            if name == me or not selector.matches((other.get("metadata") or {}).get("labels")):
                continue
            for r in other.get("rules") or []:
                if r not in out:
                    out.append(r)
    return out


class Aggregator:
    """Keeps every aggregated ClusterRole's rules current."""

    def __init__(self, index: RbacIndex, cluster_roles: Resource) -> None:
        self.index = index
        self.resource = cluster_roles
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        index.cluster_roles_changed.append(self._wake.set)

    def start(self) -> None:
        self._wake.set()
        self._task = asyncio.create_task(self._run(), name="clusterrole-aggregation")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.sync()
            except Exception:
                log.exception("aggregating ClusterRoles failed; trying again")
                await asyncio.sleep(1.0)
                self._wake.set()

    async def sync(self) -> int:
        """Write every aggregated role whose rules are out of date; returns how many were written."""
        roles = dict(self.index.cluster_role_objects)
        written = 0
        for name, role in roles.items():
            want = aggregated_rules(role, roles)
            if want is None or want == (role.get("rules") or []):
                continue
            # written over the version read (a 409: someone wrote it since; their write brings another pass)
            md = {**(role.get("metadata") or {}), "resourceVersion": str(self.index.cluster_role_revision(name))}
            body = {**role, "metadata": md, "rules": want}
            try:
                await self.resource.update(None, name, body)
                written += 1
            except errors.ApiError as e:
                if e.code not in (404, 409):
                    raise
        return written
