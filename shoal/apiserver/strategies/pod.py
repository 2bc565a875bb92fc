"""Pods: created Pending, admitted with their priority, deleted gracefully by their node.

What upstream's ``pkg/registry/core/pod/strategy.go`` and the Priority admission
plugin do for pods, as shoal serves them:

* a create's status is reset to ``{"phase": "Pending"}``;
* a create resolves ``spec.priorityClassName`` into ``spec.priority`` and
  ``spec.preemptionPolicy`` (``shoal.apiserver.priority``, from an in-memory
  cache of every class);
* a create runs as its service account (``shoal.apiserver.serviceaccounts``:
  ``default`` when it names none, refused when the account is missing) and
  gets its token volume; accounts are read from an in-memory cache, and a
  missing ``default`` is waited for briefly (the server makes one in every
  namespace just after the namespace, as upstream's plugin retries for it);
* validation of a create remembers the last pods admitted (``admission.admit_create``):
  controllers create pods that differ in their name alone;
* a pod bound to a node and still running gets a grace period on deletion (the
  request's, else its ``terminationGracePeriodSeconds``, else 30 s), and its node
  agent removes it once stopped; a pod never bound or already finished goes at once;
* a DELETE that removes a pod answers with the pod; field selectors as upstream's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from shoal.api.registry import ResourceInfo
from shoal.apiserver import admission, errors, ids, priority, rawobj
from shoal.apiserver import serviceaccounts as sa
from shoal.apiserver.strategies.base import DefaultStrategy

DEFAULT_GRACE_SECONDS = 30
_FINISHED = ("Succeeded", "Failed")
_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # upstream's utilrand alphabet
DEFAULT_ACCOUNT_WAITS = (0.05, 0.1, 0.2, 0.3, 0.4)  # seconds; upstream retries its default up to 10 times

# (namespace, name) -> the ServiceAccount, or None
AccountLookup = Callable[[str, str], Awaitable[dict[str, Any] | None]]


def graceful_seconds(obj: dict[str, Any], requested: int | None) -> int:
    """How long a pod's deletion may take: only pods bound to a node and not finished stop gracefully."""
    spec = obj.get("spec") or {}
    if not spec.get("nodeName"):
        return 0  # never ran: nothing to stop
    if (obj.get("status") or {}).get("phase") in _FINISHED:
        return 0
    if requested is not None:
        return max(0, requested)
    g = spec.get("terminationGracePeriodSeconds")
    return DEFAULT_GRACE_SECONDS if g is None else max(0, int(g))


class PodStrategy(DefaultStrategy):
    field_labels = frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                              "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
                              "status.nominatedNodeName"})
    returns_deleted_object = True

    def __init__(self, info: ResourceInfo, classes: priority.PriorityClassCache,
                 accounts: AccountLookup | None = None) -> None:
        super().__init__(info)
        self.classes = classes
        self.accounts = accounts

    def validate_create(self, data: dict[str, Any], *, field_validation: str, shape_checked: bool,
                        json_body: bool) -> tuple[dict[str, Any], list[str]]:
        return admission.admit_create(self.info, data, field_validation=field_validation,
                                      shape_checked=shape_checked, json_body=json_body)

    def reset_status(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Pending"}

    async def admit_create(self, ns: str | None, obj: dict[str, Any], data: dict[str, Any]) -> None:
        await priority.admit_pod(self.classes, ns, obj, data)
        if self.accounts is not None and not sa.is_mirror(obj):
            await self._admit_account(ns or "default", obj)

    async def _admit_account(self, ns: str, obj: dict[str, Any]) -> None:
        assert self.accounts is not None
        name = sa.account_name(obj)
        account = await self.accounts(ns, name)
        if account is None and name == sa.DEFAULT_ACCOUNT:
            for wait in DEFAULT_ACCOUNT_WAITS:
                await asyncio.sleep(wait)
                account = await self.accounts(ns, name)
                if account is not None:
                    break
        try:
            sa.admit(obj, account, ids.random_suffix(_SUFFIX_CHARS, 5))
        except sa.MissingAccount as e:
            raise errors.forbidden_object("pods", obj["metadata"]["name"], "", str(e)) from None

    def graceful_seconds(self, obj: dict[str, Any], requested: int | None) -> int:
        return graceful_seconds(obj, requested)

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """As any kind's, and a write of the pod itself leaves its ephemeral containers as they were (they
        change only through ``pods/ephemeralcontainers``)."""
        super().prepare_update(new, old)
        keep = (old.get("spec") or {}).get("ephemeralContainers")
        spec = new.get("spec")
        if isinstance(spec, dict):
            if keep is None:
                spec.pop("ephemeralContainers", None)
            else:
                spec["ephemeralContainers"] = rawobj.copy_json(keep)

    def prepare_subresource_update(self, sub: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """``pods/ephemeralcontainers`` (``kubectl debug``): only ``spec.ephemeralContainers`` is taken."""
        if sub != "ephemeralcontainers":
            return super().prepare_subresource_update(sub, new, old)
        out: dict[str, Any] = rawobj.copy_json(old)
        wanted = (new.get("spec") or {}).get("ephemeralContainers")
        if wanted is None:
            out.setdefault("spec", {}).pop("ephemeralContainers", None)
        else:
            out.setdefault("spec", {})["ephemeralContainers"] = wanted
        return out
