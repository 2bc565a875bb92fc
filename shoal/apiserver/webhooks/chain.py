"""Dynamic admission as the REST storage calls it: what the webhooks and policies need, gathered.

``AdmissionChain`` keeps the four admissionregistration kinds in memory (fed
by this server's own writes through ``nscache.WriteThrough``, the watch
caches for everyone else's, and a store listing at start or after a reset),
rebuilds the compiled webhooks and policies when one changes, and answers
the storage's two calls: ``mutate`` (mutating webhooks, before the object is
validated against its schema) and ``validate`` (validating webhooks and
policies, after). ``active`` is False while none of the four kinds has an
object, so the hot path pays one attribute read.

It also does the lookups those need: a namespace's labels (selectors, and
``namespaceObject``), a policy's parameter objects, and a webhook Service's
endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from shoal.api import kinds, selectors
from shoal.api.registry import ResourceInfo
from shoal.api.served import ServedKinds
from shoal.apiserver import errors, rawobj
from shoal.apiserver.webhooks import policies, review
from shoal.apiserver.webhooks.attributes import Attributes
from shoal.apiserver.webhooks.caller import Caller, CallError
from shoal.apiserver.webhooks.dispatch import Dispatcher
from shoal.store.base import Store

log = logging.getLogger(__name__)

GROUP = "admissionregistration.k8s.io"
PLURALS = ("mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies",
           "validatingadmissionpolicybindings")


def infos() -> list[ResourceInfo]:
    out = []
    for p in PLURALS:
        info = kinds.lookup(GROUP, "v1", p)
        assert info is not None
        out.append(info)
    return out


class KindCache:
    """The objects of one kind, by key, each with the revision it is from (an ``nscache.Observer``)."""

    def __init__(self, info: ResourceInfo, changed: Callable[[], None]) -> None:
        self.info = info
        self._changed = changed
        self._revs: dict[str, int] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.stale = True

    def observe(self, key: str, rev: int, value: bytes | None) -> None:
        if rev <= self._revs.get(key, 0):
            return
        self._revs[key] = rev
        if value is None:
            self.objects.pop(key, None)
        else:
            self.objects[key] = rawobj.decode(value)
        self._changed()

    def observe_event(self, ev: Any) -> None:
        if ev is None:
            self.stale = True
            self._changed()
        else:
            self.observe(ev.key, ev.rev, None if ev.type == "DELETED" else ev.raw)

    async def load(self, store: Store) -> None:
        self.stale = False
        start: str | None = None
        fresh: dict[str, dict[str, Any]] = {}
        revs: dict[str, int] = {}
        while True:
            kvs, _, more = await store.list(self.info.storage_prefix, start_after=start, limit=500)
            for kv in kvs:
                fresh[kv.key] = rawobj.decode(kv.value)
                revs[kv.key] = kv.mod_revision
            if not more or not kvs:
                break
            start = kvs[-1].key
        self.objects, self._revs = fresh, revs
        self._changed()


class AdmissionChain:
    """Webhooks and policies of one server (see the module docstring)."""

    def __init__(self, store: Store, *, served: ServedKinds,
                 namespace: Callable[[str], Awaitable[dict[str, Any] | None]]) -> None:
        self.store = store
        self.served = served
        self._namespace = namespace
        self.caches = {i.plural: KindCache(i, self._changed) for i in infos()}
        self.dispatcher = Dispatcher(Caller(self._resolve_service), self._namespace_labels)
        self.policies: dict[str, policies.Policy] = {}
        self.bindings: list[policies.Binding] = []
        self.active = False
        self._dirty = True
        self._loading: asyncio.Lock | None = None

    # ---- configuration --------------------------------------------------------------------
    def _changed(self) -> None:
        self._dirty = True
        self.active = any(kc.objects or kc.stale for kc in self.caches.values())

    async def start(self) -> None:
        for kc in self.caches.values():
            await kc.load(self.store)

    async def stop(self) -> None:
        await self.dispatcher.caller.close()

    async def _current(self) -> None:
        if any(kc.stale for kc in self.caches.values()):
            if self._loading is None:
                self._loading = asyncio.Lock()
            async with self._loading:
                for kc in self.caches.values():
                    if kc.stale:
                        await kc.load(self.store)
        if not self._dirty:
            return
        self._dirty = False
        by = self.caches
        self.dispatcher.set_configurations(list(by["mutatingwebhookconfigurations"].objects.values()),
                                           list(by["validatingwebhookconfigurations"].objects.values()))
        self.policies = {p.name: p for p in map(policies.compile_policy,
                                                 by["validatingadmissionpolicies"].objects.values())}
        self.bindings = sorted(map(policies.compile_binding, by["validatingadmissionpolicybindings"].objects.values()),
                               key=lambda b: b.name)

    # ---- the storage's calls ----------------------------------------------------------------
    async def mutate(self, attrs: Attributes) -> list[str]:
        """The mutating webhooks, when any may concern ``attrs`` (``attrs.obj`` ends mutated)."""
        if attrs.exempt:
            return []
        await self._current()
        if not self.dispatcher.mutates(attrs):
            return []
        return await self.dispatcher.mutate(attrs)

    def may_mutate(self, attrs: Attributes) -> bool:
        """Cheap: whether ``mutate`` may call a webhook (the configuration as last compiled)."""
        return not attrs.exempt and (self._dirty or self.dispatcher.mutates(attrs))

    async def validate(self, attrs: Attributes) -> list[str]:
        """The validating webhooks and the policies; raises the refusal, returns the warnings."""
        if attrs.exempt:
            return []
        await self._current()
        warnings: list[str] = []
        if self.dispatcher.validates(attrs):
            warnings += await self.dispatcher.validate(attrs)
        if self.bindings:
            outcome = await self._policies(attrs)
            if outcome.denied is not None:
                raise outcome.denied
            warnings += outcome.warnings
        return warnings

    # ---- policies --------------------------------------------------------------------------
    async def _policies(self, attrs: Attributes) -> policies.Outcome:
        outcome = policies.Outcome()
        request: dict[str, Any] | None = None
        ns_obj: dict[str, Any] | None = None
        ns_read = False
        for b in self.bindings:
            p = self.policies.get(b.policy)
            if p is None or not policies.policy_matches(p, attrs):
                continue
            if not ns_read:
                ns_read = True
                ns_obj = await self._namespace_object(attrs)
            labels = ((ns_obj or {}).get("metadata") or {}).get("labels") or {}
            if not policies.resources_match(p.constraints, attrs, labels, need_rules=True):
                continue
            if b.match_resources is not None and not policies.resources_match(b.match_resources, attrs, labels,
                                                                               need_rules=False):
                continue
            if request is None:
                request = review.admission_request(attrs, "")
            try:
                params = await self._params(p, b, attrs)
            except errors.ApiError as e:
                if p.fail_open:
                    continue
                policies._fail(p, b, attrs, e.message, "Invalid", outcome)
                continue
            for param in params:
                policies.evaluate(p, b, attrs, request=request, params=param, namespace=ns_obj, outcome=outcome)
        return outcome

    async def _namespace_object(self, attrs: Attributes) -> dict[str, Any] | None:
        if attrs.resource == "namespaces" and not attrs.subresource:
            return attrs.obj if attrs.obj is not None else attrs.old
        if not attrs.namespace:
            return None
        return await self._namespace(attrs.namespace)

    async def _params(self, p: policies.Policy, b: policies.Binding, attrs: Attributes) -> list[Any]:
        """The parameter objects of a binding ([None] for a policy without a paramKind)."""
        if p.param_kind is None:
            return [None]
        ref = b.param_ref
        if ref is None:
            raise errors.bad_request(f"policy '{p.name}' has a paramKind but binding '{b.name}' has no paramRef")
        api_version, kind = p.param_kind
        group, _, version = api_version.rpartition("/")
        info = next((i for i in self.served.all() if i.group == group and i.version == version and i.kind == kind),
                    None)
        if info is None:
            raise errors.bad_request(f"paramKind {api_version}, Kind={kind} of policy '{p.name}' is not served")
        ns = ref.get("namespace") or ""
        if info.namespaced and not ns:
            ns = attrs.namespace
            if not ns:
                raise errors.bad_request("cannot use a namespaced paramRef without a namespace for a cluster-scoped "
                                         "request")
        found: list[Any] = []
        name = ref.get("name")
        if isinstance(name, str) and name:
            kv = await self.store.get(info.key(ns if info.namespaced else None, name))
            if kv is not None:
                found.append(rawobj.decode(kv.value))
        else:
            try:
                sel = selectors.from_label_selector_or_everything(ref.get("selector"))
            except selectors.SelectorError as e:
                raise errors.bad_request(str(e)) from None
            kvs, _, _ = await self.store.list(info.prefix(ns if info.namespaced else None))
            for kv in kvs:
                o = rawobj.decode(kv.value)
                if sel.matches((o.get("metadata") or {}).get("labels") or {}):
                    found.append(o)
        if not found:
            if ref.get("parameterNotFoundAction") == "Allow":
                return []
            raise errors.bad_request("no params found for policy binding with `Deny` parameterNotFoundAction")
        return found

    # ---- lookups ---------------------------------------------------------------------------
    async def _namespace_labels(self, name: str) -> dict[str, str] | None:
        ns = await self._namespace(name)
        if ns is None:
            return None
        labels = (ns.get("metadata") or {}).get("labels")
        return labels if isinstance(labels, dict) else {}

    async def _resolve_service(self, namespace: str, name: str, port: int) -> tuple[str, int]:
        svc_info, ep_info = kinds.lookup("", "v1", "services"), kinds.lookup("", "v1", "endpoints")
        assert svc_info is not None and ep_info is not None
        kv = await self.store.get(svc_info.key(namespace, name))
        if kv is None:
            raise CallError(f'service "{name}" not found')
        ekv = await self.store.get(ep_info.key(namespace, name))
        return endpoint_for(rawobj.decode(kv.value), None if ekv is None else rawobj.decode(ekv.value), name, port)


def endpoint_for(svc: dict[str, Any], endpoints: dict[str, Any] | None, name: str, port: int) -> tuple[str, int]:
    """Where a webhook's Service port leads (upstream's ``ResolveEndpoint``): an ExternalName's host on that
    port, else the first ready address of the Endpoints subset that carries the port (matched by name)."""
    spec = svc.get("spec") or {}
    sp = next((p for p in spec.get("ports") or [] if p.get("port") == port), None)
    if sp is None:
        raise CallError(f"unable to find service port {port}")
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName") or ""), port
    for subset in (endpoints or {}).get("subsets") or []:
        ports = subset.get("ports") or []
        ep_port = next((p.get("port") for p in ports if (p.get("name") or "") == (sp.get("name") or "")), None)
        if ep_port is None and len(ports) == 1:
            ep_port = ports[0].get("port")
        for addr in subset.get("addresses") or []:
            if addr.get("ip") and isinstance(ep_port, int):
                return str(addr["ip"]), ep_port
    raise CallError(f'no endpoints available for service "{name}"')
