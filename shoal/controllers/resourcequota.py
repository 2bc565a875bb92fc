"""The resource quota controller: keeps every ResourceQuota's ``status`` (hard, used) true.

Admission (``shoal.apiserver.policyadmission``) charges each create to the
quotas it falls under; usage goes down only here — a pod that finishes or is
deleted, a Service or claim removed — and here a quota's ``status.hard``
follows its ``spec.hard``. ``reconcile`` recounts one quota from the informer
caches (pods, Services, claims, ConfigMaps, Secrets, ReplicationControllers,
and ResourceQuotas themselves) or, for any other ``count/<resource>``, a list
through the API, with the same ``shoal.api.quota`` functions admission uses.

Admission charges a quota before the object it admits is stored, so a count
taken while creates are in flight is short by them. Hence, as upstream, a
create never triggers a recount (only deletions, pods finishing, spec changes
and the periodic resync do), and a recount that disagrees with a quota whose
usage admission changed less than ``QUIET_SECONDS`` ago waits until the quota
has been quiet that long (a create in flight completes in milliseconds). A 409
means admission charged the quota meanwhile: it is counted again. Every quota is
recounted each ``RESYNC_SECONDS`` (upstream: five minutes), which gives back
what a create charged and then failed to store.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from fractions import Fraction

from shoal.api import kinds, quota
from shoal.api.views import Body, namespace, spec, status
from shoal.api.views import key as key_of
from shoal.client import ApiException, Informer
from shoal.controllers.base import Controller

log = logging.getLogger(__name__)

RESYNC_SECONDS = 30.0
QUIET_SECONDS = 3.0
# resources kept in informers (what quotas count most); others are listed when a quota counts them
WATCHED = ("pods", "services", "persistentvolumeclaims", "configmaps", "secrets", "replicationcontrollers")


class ResourceQuotaController(Controller):
    name = "resourcequota"
    workers = 2

    def setup(self) -> None:
        self._charged_at: dict[str, float] = {}  # quota key -> when its status.used last changed (monotonic)
        self.quotas = self.ctx.factory.informer("resourcequotas")
        self.watched: dict[str, Informer] = {r: self.ctx.factory.informer(r) for r in WATCHED}
        self.quotas.add_handler(on_add=self._enqueue, on_update=self._quota_updated, on_delete=lambda q: None)
        for inf in self.watched.values():
            inf.add_handler(on_add=lambda obj: None, on_update=self._updated, on_delete=self._changed)

    def _enqueue(self, q: Body) -> None:
        self.queue.add(key_of(q))

    def _quota_updated(self, old: Body, new: Body) -> None:
        if status(old).get("used") != status(new).get("used"):
            self._charged_at[key_of(new)] = self.monotonic()
        if spec(old) != spec(new) or status(new).get("hard") != spec(new).get("hard"):
            self._enqueue(new)

    def _changed(self, obj: Body) -> None:
        for q in self.quotas.list(namespace(obj)):
            self.queue.add(key_of(q))

    def _updated(self, old: Body, new: Body) -> None:
        # a pod finishing frees what it held; a Service's type or ports change what it costs
        if status(old).get("phase") != status(new).get("phase") or spec(old) != spec(new):
            self._changed(new)

    async def count(self, q: Body) -> quota.Usage:
        hard = spec(q).get("hard") or {}
        total: quota.Usage = {}
        ns = namespace(q)
        for group, plural in sorted(quota.resources_counted(hard)):
            if not group and plural in self.watched:
                objs: Sequence[Body] = self.watched[plural].list(ns)
            elif not group and plural == "resourcequotas":
                objs = self.quotas.list(ns)
            else:
                info = next((i for i in kinds.RESOURCES if i.group == group and i.plural == plural
                             and "view_of" not in i.extra and i.namespaced), None)
                if info is None:
                    continue
                try:
                    objs, _ = await self.client.list_all(info, ns)
                except ApiException as e:
                    log.debug("quota %s: cannot list %s: %s", key_of(q), plural, e)
                    continue
            for k, v in quota.total_usage(q, group, plural, objs).items():
                total[k] = total.get(k, Fraction(0)) + v
        return total

    async def reconcile(self, key: Hashable) -> None:
        q = self.quotas.get(str(key))
        if q is None:
            return
        self.queue.add_after(key, RESYNC_SECONDS)
        hard = spec(q).get("hard") or {}
        used = await self.count(q)
        want = {"hard": {k: str(v) for k, v in sorted(hard.items())},
                "used": quota.render_list({k: used.get(k, Fraction(0)) for k in hard})}
        have = status(q)
        if have.get("hard") == want["hard"] and have.get("used") == want["used"]:
            return
        if have.get("hard") == want["hard"]:  # counted before: creates may be in flight
            since = self.monotonic() - self._charged_at.get(str(key), float("-inf"))
            if since < QUIET_SECONDS:
                self.queue.add_after(key, QUIET_SECONDS - since)
                return
        try:
            await self.client.update_status("resourcequotas", {**q, "status": want})
        except ApiException as e:
            if e.status == 409:
                self.queue.add(key)  # charged by admission meanwhile: count again
            elif e.status != 404:
                raise
