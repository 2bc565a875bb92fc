"""Namespace policy at admission: LimitRanges, Pod Security, ResourceQuotas (upstream's plugins).

Every create of a namespaced object passes here after its kind's own admission
(priority, service account), in upstream's order:

1. **LimitRanger** (pods and claims): defaults from the namespace's LimitRanges
   filled into containers (recorded in the ``kubernetes.io/limit-ranger``
   annotation), then their min/max/ratio bounds — 403 with upstream's words;
2. **PodSecurity**: the namespace's ``pod-security.kubernetes.io/enforce`` level
   refuses a pod that breaks it (403), ``warn`` answers ``Warning`` headers, for
   pods and for workloads' pod templates alike (workloads are never refused);
3. **ResourceQuota**: the object's cost (``shoal.api.quota.usage``) charged to
   each matching quota's ``status.used`` by a compare-and-swap write of the quota,
   so two servers or two concurrent creates cannot both spend the last unit; a
   quota over its limit refuses with 403 (``exceeded quota: ...``). A quota whose
   status the controller has not written yet (new, or ``spec.hard`` just
   changed) is counted here from the store first, so a quota applies from the
   moment its create is acknowledged.

Quotas and LimitRanges are answered from memory (``ByNamespace``: loaded once,
kept current by this server's writes and the watch caches), so a namespace
without them costs a dict lookup per create. A dry run checks and charges nothing.
Usage that a failed store write charged (rare: the name was taken) is given back
by the quota controller's next pass, as upstream.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

import msgspec

from shoal.api import kinds, limitrange, podsecurity, quota
from shoal.api.defaults_pod import qos_class
from shoal.api.models.pod import PodSpec
from shoal.api.registry import ResourceInfo
from shoal.apiserver import errors, rawobj
from shoal.apiserver.audit import recorder as audit_recorder
from shoal.apiserver.nscache import WriteThrough
from shoal.store.base import ConflictError, Store

log = logging.getLogger(__name__)

CAS_ATTEMPTS = 8
NamespaceLookup = Callable[[str], Awaitable[dict[str, Any] | None]]


class ByNamespace:
    """Every object of one namespaced kind, by namespace, complete once loaded (a write-through
    and watch-cache ``Observer``, as ``nscache.NamespaceCache``)."""

    def __init__(self, store: Store, info: ResourceInfo) -> None:
        self.store = store
        self.info = info
        self._revs: dict[str, int] = {}
        self._by_ns: dict[str, dict[str, dict[str, Any]]] = {}
        self._complete = False

    def _ns_name(self, key: str) -> tuple[str, str]:
        ns, _, name = key[len(self.info.storage_prefix):].partition("/")
        return ns, name

    def observe(self, key: str, rev: int, value: bytes | None) -> None:
        if rev <= self._revs.get(key, 0):
            return
        self._revs[key] = rev
        ns, name = self._ns_name(key)
        if value is None:
            objs = self._by_ns.get(ns)
            if objs is not None:
                objs.pop(name, None)
                if not objs:
                    del self._by_ns[ns]
        else:
            obj = rawobj.decode(value)
            obj.setdefault("metadata", {})["resourceVersion"] = str(rev)
            self._by_ns.setdefault(ns, {})[name] = obj

    def observe_event(self, ev: Any) -> None:
        if ev is None:
            self._complete = False
        else:
            self.observe(ev.key, ev.rev, None if ev.type == "DELETED" else ev.raw)

    async def load(self) -> None:
        kvs, rev, _ = await self.store.list(self.info.prefix(None))
        self._by_ns = {}
        self._revs = {}
        for kv in kvs:
            self.observe(kv.key, kv.mod_revision, kv.value)
        self._complete = True

    async def in_namespace(self, ns: str) -> list[dict[str, Any]]:
        if not self._complete:
            await self.load()
        return list((self._by_ns.get(ns) or {}).values())


def _synced(q: dict[str, Any]) -> bool:
    """The controller has counted this quota's current ``spec.hard`` (else admission counts first)."""
    status = q.get("status") or {}
    hard = (q.get("spec") or {}).get("hard") or {}
    return status.get("used") is not None and set(status.get("hard") or {}) == set(hard) and all(
        quota.render(k, quota.amount(v)) == quota.render(k, quota.amount((status.get("hard") or {}).get(k)))
        for k, v in hard.items())


class PolicyAdmission:
    """The three plugins over one store; ``admit_create`` is the hook ``Resource.create`` calls."""

    def __init__(self, store: Store, namespaces: NamespaceLookup) -> None:
        q_info = kinds.lookup("", "v1", "resourcequotas")
        lr_info = kinds.lookup("", "v1", "limitranges")
        assert q_info is not None and lr_info is not None
        self.namespaces = namespaces
        self.quota_info = q_info
        self.quotas = ByNamespace(store, q_info)
        self.limit_ranges = ByNamespace(store, lr_info)
        self.store = WriteThrough(store, self.quotas)  # its charges reach its own index at once

    async def admit_create(self, info: ResourceInfo, ns: str | None, obj: dict[str, Any], *,
                           dry_run: bool = False) -> list[str]:
        """Admit ``obj`` (mutated in place by LimitRange defaults); the warnings to answer; 403 if refused."""
        if not ns:
            return []
        warnings: list[str] = []
        name = str(obj["metadata"].get("name") or "")
        is_pod = info.group == "" and info.plural == "pods"
        if is_pod or (info.group == "" and info.plural == "persistentvolumeclaims"):
            ranges = await self.limit_ranges.in_namespace(ns)
            if ranges:
                self._limit(info, name, obj, ranges, is_pod)
        warnings += await self._pod_security(info, ns, name, obj, is_pod)
        await self._charge(info, ns, name, obj, is_pod, dry_run=dry_run)
        return warnings

    # ---- LimitRanger ----------------------------------------------------------------------
    def _limit(self, info: ResourceInfo, name: str, obj: dict[str, Any], ranges: list[dict[str, Any]],
               is_pod: bool) -> None:
        if is_pod:
            said = limitrange.default_pod(obj, ranges)
            if said:
                obj["metadata"].setdefault("annotations", {})[limitrange.ANNOTATION] = said
                _check_requests_within_limits(name, obj)
                _refresh_qos(obj)
            errs = limitrange.check_pod(obj, ranges)
        else:
            errs = limitrange.check_claim(obj, ranges)
        if errs:
            why = errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]"
            raise errors.forbidden_object(info.plural, name, info.group, why)

    # ---- PodSecurity ------------------------------------------------------------------------
    async def _pod_security(self, info: ResourceInfo, ns: str, name: str, obj: dict[str, Any],
                            is_pod: bool) -> list[str]:
        nsobj = await self.namespaces(ns)
        policy = podsecurity.policy_of(((nsobj or {}).get("metadata") or {}).get("labels"))
        if podsecurity.fully_privileged(policy):
            return []
        if is_pod:
            spec, meta = obj.get("spec") or {}, obj.get("metadata") or {}
        else:
            template = podsecurity.template_of(info.group, info.plural, obj)
            if template is None:
                return []
            spec, meta = template.get("spec") or {}, template.get("metadata") or {}
        if audit_recorder.logged():  # the audit mode: annotations on this request's audit event (also when refused)
            audit_recorder.annotate(podsecurity.audit_annotations(policy, spec, meta, is_pod=is_pod))
        if is_pod and policy.enforce != "privileged":
            failed = podsecurity.check(policy.enforce, spec, meta)
            if failed:
                raise errors.forbidden_object(info.plural, name, info.group,
                                              podsecurity.message(policy.enforce, failed))
        if policy.warn != "privileged":
            failed = podsecurity.check(policy.warn, spec, meta)
            if failed:
                return [podsecurity.message(policy.warn, failed, warn=True)]
        return []

    # ---- ResourceQuota ----------------------------------------------------------------------
    async def _charge(self, info: ResourceInfo, ns: str, name: str, obj: dict[str, Any], is_pod: bool, *,
                      dry_run: bool) -> None:
        quotas = await self.quotas.in_namespace(ns)
        if not quotas:
            return
        cost = quota.usage(info.group, info.plural, obj)
        if not cost:
            return
        for q in sorted(quotas, key=lambda q: str(q["metadata"]["name"])):
            if not quota.matches(q, info.group, info.plural, obj):
                continue
            await self._charge_one(info, ns, name, obj, q, cost, is_pod, dry_run=dry_run)

    async def _charge_one(self, info: ResourceInfo, ns: str, name: str, obj: dict[str, Any],
                          q: dict[str, Any], cost: quota.Usage, is_pod: bool, *, dry_run: bool) -> None:
        key = self.quota_info.key(ns, str(q["metadata"]["name"]))
        for _ in range(CAS_ATTEMPTS):
            used_now = None if _synced(q) else await self._count(ns, q)
            try:
                charged = quota.charge(q, cost, obj, is_pod=is_pod, used_now=used_now)
            except quota.Refused as e:
                raise errors.forbidden_object(info.plural, name, info.group, str(e)) from None
            if charged is None or dry_run:
                return
            new = dict(q)
            new["metadata"] = {k: v for k, v in q["metadata"].items() if k != "resourceVersion"}
            new["status"] = {"hard": charged.hard, "used": charged.used}
            try:
                await self.store.update(key, rawobj.encode_for_store(new),
                                        expected_revision=int(q["metadata"].get("resourceVersion") or 0))
                return
            except ConflictError as e:
                cur = rawobj.decode(e.current.value)
                cur["metadata"]["resourceVersion"] = str(e.current.mod_revision)
                q = cur
        raise errors.ApiError(409, "Conflict", f'Operation cannot be fulfilled on resourcequotas "{q["metadata"]["name"]}": '
                              "the quota is being updated by too many writers; please try again")

    async def _count(self, ns: str, q: dict[str, Any]) -> quota.Usage:
        """Usage of ``q`` counted from the store (its status is not the controller's count yet)."""
        hard = (q.get("spec") or {}).get("hard") or {}
        total: quota.Usage = {}
        for group, plural in quota.resources_counted(hard):
            info = next((i for i in kinds.RESOURCES if i.group == group and i.plural == plural
                         and "view_of" not in i.extra), None)
            if info is None or not info.namespaced:
                continue
            kvs, _, _ = await self.store.list(info.prefix(ns))
            for k, v in quota.total_usage(q, group, plural, (rawobj.decode(kv.value) for kv in kvs)).items():
                total[k] = total.get(k, Fraction(0)) + v
        return total


def _check_requests_within_limits(name: str, pod: dict[str, Any]) -> None:
    """After defaults, a request over its limit is the pod validation's 422, as upstream's order gives."""
    spec = pod.get("spec") or {}
    causes = []
    for field, cs in (("initContainers", spec.get("initContainers") or []), ("containers", spec.get("containers") or [])):
        for i, c in enumerate(cs):
            res = c.get("resources") or {}
            for rname, raw in (res.get("requests") or {}).items():
                lim = (res.get("limits") or {}).get(rname)
                if lim is not None and quota.amount(raw) > quota.amount(lim):
                    causes.append({"reason": "FieldValueInvalid",
                                   "field": f"spec.{field}[{i}].resources.requests[{rname}]",
                                   "message": f'Invalid value: "{raw}": must be less than or equal to {rname} '
                                              f"limit of {lim}"})
    if causes:
        raise errors.invalid("Pod", name, causes)


def _refresh_qos(pod: dict[str, Any]) -> None:
    try:
        spec = msgspec.convert(pod.get("spec") or {}, PodSpec)
    except msgspec.ValidationError:
        return
    pod.setdefault("status", {})["qosClass"] = qos_class(spec)
