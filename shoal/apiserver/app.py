"""The API server as an aiohttp application, and the lean server's way into it.

Builds one ``Resource`` per served resource and one watch-cache ``Broadcaster``
per stored kind over a store, and the request pipeline: error translation (every failure becomes a
``Status``; never a traceback) -> authentication -> authorization -> handlers.
``accepts``/``dispatch`` are the same pipeline for the unary requests that
``shoal.apiserver.leanhttp`` serves without aiohttp's request machinery.

What is served is one registry (``ServedKinds``): the built-in kinds, and the
custom kinds the CRD controller (``shoal.apiserver.crd.controller``) installs
and removes through ``install_custom`` / ``uninstall_custom``. Routing,
discovery, OpenAPI and the watch caches all consult it, so nothing else needs
to know that a kind is custom.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import msgspec
from aiohttp import web
from prometheus_client import REGISTRY

from shoal.api import kinds
from shoal.api.crd.kind import CustomKind
from shoal.api.served import ServedKinds
from shoal.apiserver import (
    apiservices,
    discovery,
    endpointleases,
    errors,
    leanhttp,
    memtrim,
    prom,
    rawobj,
    routing,
    strategies,
)
from shoal.apiserver.allocator import ServiceAllocator
from shoal.apiserver.audit import recorder as audit_recorder
from shoal.apiserver.audit.policy import Level
from shoal.apiserver.audit.recorder import Auditor, AuditRequest, long_running, status_of
from shoal.apiserver.auth import (
    CURRENT_USER,
    PUBLIC_PATHS,
    USER_KEY,
    TokenAuthenticator,
    User,
)
from shoal.apiserver.authn import websocket
from shoal.apiserver.authn.chain import Authenticator, TokenRefused
from shoal.apiserver.authn.serviceaccount import ServiceAccountTokens
from shoal.apiserver.authz import impersonation
from shoal.apiserver.authz.attributes import request_attributes
from shoal.apiserver.authz.authorizer import Authorizer
from shoal.apiserver.authz.bootstrap import RbacBootstrap
from shoal.apiserver.authz.index import INFOS as RBAC_INFOS
from shoal.apiserver.authz.index import RbacIndex
from shoal.apiserver.authz.nodegraph import CUSTOM_PREFIXES as GRAPH_CUSTOM_PREFIXES
from shoal.apiserver.authz.nodegraph import INFOS as GRAPH_INFOS
from shoal.apiserver.authz.nodegraph import NodeGraph
from shoal.apiserver.authz.rbac import denied, is_master, why_denied
from shoal.apiserver.crd.controller import CrdController
from shoal.apiserver.eventsview import CONVERSIONS, Conversion, EventsView, ViewBroadcaster
from shoal.apiserver.handlers import (
    BODY_KEY,
    Handlers,
    broadcaster_key,
    parse_body,
    read_body,
    resource_key,
)
from shoal.apiserver.metricsapi import API_SERVICE, MetricsApi, MetricsStore
from shoal.apiserver.nscache import NamespaceCache, Observer, WriteThrough
from shoal.apiserver.nsdefaults import NamespaceDefaults, first_service_ip
from shoal.apiserver.podcidrs import PodCidrGuard
from shoal.apiserver.policyadmission import PolicyAdmission
from shoal.apiserver.priority import PriorityClassCache, system_classes
from shoal.apiserver.resource import Clock, Resource, utcnow
from shoal.apiserver.serverlease import ServerLeaseKeeper
from shoal.apiserver.storage import StorageClasses, default_class_to_create
from shoal.apiserver.storehealth import StoreHealth
from shoal.apiserver.strategies.customresource import CustomResourceStrategy
from shoal.apiserver.watchcache import Broadcaster
from shoal.apiserver.webhooks.chain import AdmissionChain
from shoal.store.base import KeyExistsError, Store, StoreError, StoreUnavailableError
from shoal.ui.routes import UiRoutes, is_ui_path

log = logging.getLogger(__name__)
# the users of shoal's own components (shoal.apiserver.authn.components), whose refusals are logged
_COMPONENT_PREFIXES = ("system:kube-", "system:node:", "system:shoal:")

# glibc fixes its arena limit when a second thread first allocates; the server
# imports this module before it starts any thread (see shoal.apiserver.memtrim)
memtrim.limit_arenas()

# a reservation left without its object this long is no other server's write in flight (requests time out sooner)
REPAIR_GRACE = 60.0
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# answered as streams (through the node's tunnel), so never on the lean path
_STREAMING_SUBRESOURCES = frozenset({"log", "exec", "attach", "portforward"})

_IMPERSONATE = ("Impersonate-User", "Impersonate-Group", "Impersonate-Uid")

# the audit record of the request being served (when auditing is on)
AUDIT_KEY: web.RequestKey[AuditRequest] = web.RequestKey("audit", AuditRequest)


async def _create_unless_exists(resource: Resource, body: dict[str, Any]) -> None:
    """Create a cluster-scoped object the server provides; another server creating it first is fine."""
    try:
        await resource.create(None, body)
    except errors.ApiError as e:
        if e.code != 409:
            raise
    except KeyExistsError:
        pass


class ApiServer:
    """The Kubernetes API over one store."""

    def __init__(
        self,
        store: Store,
        *,
        authenticator: TokenAuthenticator | Authenticator | None = None,
        service_accounts: ServiceAccountTokens | None = None,
        clock: Clock = utcnow,
        server_address: str = "127.0.0.1:6443",
        bookmark_interval: float = 5.0,
        service_cidr: str = "10.43.0.0/16",
        ca_pem: str | None = None,
        shared_store: bool = False,
        auditor: Auditor | None = None,
    ) -> None:
        self.store = store
        self.auditor = auditor
        # other API servers write to this store too (etcd): repairs must not race their writes in flight
        self.shared_store = shared_store
        self._repairs: asyncio.Task[None] | None = None
        self.extra_routes: list[tuple[str, str, Handler]] = []  # added to ``app()`` before the catch-all
        self.store_health: StoreHealth | None = None  # set with a shared store: /readyz names it when it fails
        self.service_cidr = service_cidr
        self.allocator = ServiceAllocator(store, service_cidr=service_cidr)
        if isinstance(authenticator, TokenAuthenticator):
            authenticator = Authenticator(authenticator, service_accounts=service_accounts,
                                          account_uid=self.account_uid)
        self.pod_cidrs = PodCidrGuard(store)
        self.authenticator = authenticator
        self.service_accounts = service_accounts
        self.server_address = server_address
        # RBAC: roles and bindings in memory, fed by this server's writes and the watch caches
        self.rbac_index = RbacIndex(store)
        # the Node authorizer's graph: pods by node and what they reference, from the watch caches
        self.node_graph = NodeGraph(store)
        self.authorizer = Authorizer(self.rbac_index, self.node_graph)
        self.ready = False
        ns_info = kinds.lookup("", "v1", "namespaces")
        assert ns_info is not None
        self.clock = clock
        # what this server serves: the built-in kinds, and custom kinds as their CRDs are established
        self.served = ServedKinds(kinds.RESOURCES)
        self.discovery = discovery.Discovery(self.served)
        self.resources: dict[tuple[str, str, str], Resource] = {}
        self.broadcasters: dict[str, Broadcaster] = {}
        # creates check their namespace here: from memory, the store only on a miss
        self.namespaces = NamespaceCache(store, ns_info)
        # pod creates resolve their priority here (every class, in memory)
        pc_info = kinds.lookup("scheduling.k8s.io", "v1", "priorityclasses")
        assert pc_info is not None
        self.priority_classes = PriorityClassCache(store, pc_info)
        # pod creates find their ServiceAccount here (the same cache as namespaces, over accounts)
        sa_info = kinds.lookup("", "v1", "serviceaccounts")
        assert sa_info is not None
        self.accounts = NamespaceCache(store, sa_info)
        # admission webhooks and policies, their four kinds kept in memory
        self.admission_chain = AdmissionChain(store, served=self.served, namespace=self.namespaces.get)
        # every create: the namespace's LimitRanges, Pod Security level and ResourceQuotas
        self.policy = PolicyAdmission(store, self.namespaces.get)
        caches: dict[str, Observer] = {**{c.info.storage_prefix: c for c in self.admission_chain.caches.values()},
                                       ns_info.storage_prefix: self.namespaces,
                                       self.policy.quota_info.storage_prefix: self.policy.quotas,
                                       self.policy.limit_ranges.info.storage_prefix: self.policy.limit_ranges,
                                       sa_info.storage_prefix: self.accounts,
                                       pc_info.storage_prefix: self.priority_classes,
                                       **{i.storage_prefix: self.rbac_index for i in RBAC_INFOS}}
        # claim creates find the default class here (the store, listed: claims are rare)
        sc_info = kinds.lookup("storage.k8s.io", "v1", "storageclasses")
        assert sc_info is not None
        self.storage_classes = StorageClasses(store, sc_info)
        shared = strategies.Shared(service_allocator=self.allocator, priority_classes=self.priority_classes,
                                   storage_classes=self.storage_classes, authorizer=self.authorizer,
                                   accounts=self.accounts.get_in, pod_cidrs=self.pod_cidrs)
        for info in kinds.RESOURCES:
            if "view_of" in info.extra:  # events.k8s.io Events, autoscaling/v1 HPAs: the stored ones, converted
                core = kinds.lookup(*info.extra["view_of"])
                assert core is not None
                conv = CONVERSIONS[(info.group, info.kind)]
                self.resources[resource_key(info)] = EventsView(self.resources[resource_key(core)], info, conv)
                self.broadcasters[broadcaster_key(info)] = ViewBroadcaster(
                    self.broadcasters[core.storage_prefix], info, partial(_convert_raw, conv=conv), conv.to_stored)
                continue
            cache = caches.get(info.storage_prefix)
            self.resources[resource_key(info)] = Resource(
                WriteThrough(store, cache) if cache is not None else store, info, clock=clock,
                namespace_lookup=self.namespaces.get, strategy=strategies.for_resource(info, shared),
                policy=self.policy if info.namespaced else None,
            )
            self.resources[resource_key(info)].hooks = self.admission_chain
            self.broadcasters[info.storage_prefix] = Broadcaster(store, info)
        for prefix, cache in caches.items():
            self.broadcasters[prefix].listeners.append(cache.observe_event)
        for info in GRAPH_INFOS:
            self.broadcasters[info.storage_prefix].listeners.append(self.node_graph.observe_event)
        self._pc_info = pc_info
        self._sc_info = sc_info
        self._ns_info = ns_info
        self.handlers = Handlers(self.resources, self.broadcasters, bookmark_interval=bookmark_interval,
                                 served=self.served)
        self.rbac = RbacBootstrap(self.rbac_index, self.resources)
        # a default ServiceAccount and the root CA in every namespace; the kubernetes Service
        self.ns_defaults = NamespaceDefaults({i.plural: self.resources[resource_key(i)] for i in kinds.RESOURCES
                                              if i.group in ("", "discovery.k8s.io")}, ca_pem=ca_pem,
                                             namespace=self.namespaces.get)
        cm_info = kinds.lookup("", "v1", "configmaps")
        assert cm_info is not None
        for watched, listener in ((ns_info, self.ns_defaults.on_namespace), (sa_info, self.ns_defaults.on_account),
                                  (cm_info, self.ns_defaults.on_configmap)):
            self.broadcasters[watched.storage_prefix].listeners.append(listener)
        self._trimmer: asyncio.Task[None] | None = None
        self.server_lease: ServerLeaseKeeper | None = None  # once publish_endpoint is called
        # Prometheus: requests counted and timed (shoal.apiserver.prom); other processes' /metrics sockets
        self.request_metrics = prom.RequestMetrics()
        self.count_requests = prom.request_metrics_enabled()
        self.watchers = prom.WatchersCollector(self.broadcasters)
        self.metrics_sockets: list[Path] = []
        # metrics.k8s.io: what the node agents push, in memory (shoal.apiserver.metricsapi)
        self.metrics = MetricsStore()
        crd_info = kinds.lookup("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        assert crd_info is not None
        self.crd_controller = CrdController(
            store=store, crds=self.resources[resource_key(crd_info)], served=self.served,
            install=self.install_custom, uninstall=self.uninstall_custom, resources_of=self._custom_resources,
            clock=clock)
        self.broadcasters[crd_info.storage_prefix].listeners.append(self.crd_controller.observe)
        self._custom_docs: dict[str, tuple[int, bytes, str]] = {}
        self._v2_docs: dict[tuple[int, bool], tuple[bytes, str]] = {}  # (served generation, protobuf) -> doc
        self._mounted: tuple[str, ...] = ()  # prefixes of the APIs mounted beside this one (see ``app``)

    # ---- custom kinds (the CRD controller's calls) ------------------------------------------
    async def install_custom(self, crd_name: str, custom: list[CustomKind]) -> None:
        """Serve ``custom`` (a CRD's served versions) from now on, in place of what the CRD served before."""
        for ck in custom:
            prefix = ck.info.storage_prefix
            if prefix not in self.broadcasters:
                b = Broadcaster(self.store, ck.info)
                if prefix in GRAPH_CUSTOM_PREFIXES:  # Gateways, their classes, ReferenceGrants: the Node authorizer's graph
                    b.listeners.append(self.node_graph.observe_event)
                await b.start()
                self.broadcasters[prefix] = b
        before = {resource_key(i) for i in self.served.custom(crd_name)}
        for ck in custom:
            self.resources[resource_key(ck.info)] = Resource(
                self.store, ck.info, clock=self.clock, namespace_lookup=self.namespaces.get,
                strategy=CustomResourceStrategy(ck.info, ck), policy=self.policy if ck.info.namespaced else None)
            self.resources[resource_key(ck.info)].hooks = self.admission_chain
        for key in before - {resource_key(ck.info) for ck in custom}:
            self.resources.pop(key, None)
        self.served.set_custom(crd_name, [ck.info for ck in custom])

    async def uninstall_custom(self, crd_name: str) -> None:
        infos = self.served.custom(crd_name)
        if not infos:
            return
        self.served.remove_custom(crd_name)
        for info in infos:
            self.resources.pop(resource_key(info), None)
        prefixes = {i.storage_prefix for i in infos} - {i.storage_prefix for i in self.served.all()}
        for prefix in prefixes:
            b = self.broadcasters.pop(prefix, None)
            if b is not None:
                await b.stop()
            if prefix in GRAPH_CUSTOM_PREFIXES:
                self.node_graph.forget(prefix)

    def _custom_resources(self, crd_name: str) -> list[Resource]:
        return [self.resources[resource_key(i)] for i in self.served.custom(crd_name)
                if resource_key(i) in self.resources]

    async def _namespace(self, name: str) -> dict[str, Any] | None:
        kv = await self.store.get(self._ns_info.key(None, name))
        return None if kv is None else rawobj.decode(kv.value)

    async def namespace_uid(self, name: str) -> str | None:
        """The stored namespace's UID (``kube-system``'s is the cluster ID, shoal.clusterid), None if absent."""
        ns = await self._namespace(name)
        return None if ns is None else str(ns.get("metadata", {}).get("uid") or "") or None

    async def start(self) -> None:
        if self.auditor is not None:
            await self.auditor.start()
        for b in self.broadcasters.values():
            await b.start()
        await self.admission_chain.start()
        if self.shared_store:
            self._repairs = asyncio.create_task(self._repair(REPAIR_GRACE), name="allocation-repair")
        else:
            await self._repair(0.0)
        ns = self.resources[resource_key(self._ns_info)]
        for name in SYSTEM_NAMESPACES:
            if await self._namespace(name) is None:
                await _create_unless_exists(ns, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        # a local APIService per served group version, as upstream's aggregator registers them
        as_info = kinds.lookup("apiregistration.k8s.io", "v1", "apiservices")
        assert as_info is not None
        api_services = self.resources[resource_key(as_info)]
        listed = await api_services.list(None, want_objects=True)
        for body in apiservices.to_register(kinds.GROUP_VERSIONS,
                                            (o["metadata"]["name"] for o in listed.objs or [])):
            await _create_unless_exists(api_services, body)
        if API_SERVICE["metadata"]["name"] not in {o["metadata"]["name"] for o in listed.objs or []}:
            await _create_unless_exists(api_services, API_SERVICE)
        # the system PriorityClasses, as upstream's bootstrap hook (the cache's load is its one list)
        await self.priority_classes.load()
        pcs = self.resources[resource_key(self._pc_info)]
        for body in system_classes():
            if await self.priority_classes.get(body["metadata"]["name"]) is None:
                await _create_unless_exists(pcs, body)
        # the default StorageClass, ``local`` (shoal.apiserver.storage)
        local_class = default_class_to_create(await self.storage_classes.all())
        if local_class is not None:
            await _create_unless_exists(self.resources[resource_key(self._sc_info)], local_class)
        # the RBAC index from the store, then upstream's default roles and bindings, then aggregation
        await self.rbac.start()
        await self.node_graph.load()
        # the custom kinds of the CRDs already stored are served before the server says it is ready
        await self.crd_controller.start()
        await self.ns_defaults.start()
        self._trimmer = asyncio.create_task(memtrim.trim_periodically(), name="malloc-trim")
        REGISTRY.register(self.watchers)
        self.ready = True

    async def _repair(self, grace: float) -> None:
        """Release address and pod-CIDR reservations nothing holds (see ``allocator`` and ``podcidrs``)."""
        svc = kinds.lookup("", "v1", "services")
        nodes = kinds.lookup("", "v1", "nodes")
        assert svc is not None and nodes is not None
        try:
            await self.allocator.repair(svc.storage_prefix, grace=grace)
            await self.pod_cidrs.repair(nodes.storage_prefix, grace=grace)
        except StoreError as e:
            if not grace:
                raise
            log.warning("repairing allocations failed (retried at the next start): %s", e)

    async def stop(self) -> None:
        self.ready = False
        with contextlib.suppress(KeyError):
            REGISTRY.unregister(self.watchers)
        if self._repairs is not None:
            self._repairs.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._repairs
        if self._trimmer is not None:
            self._trimmer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._trimmer
            self._trimmer = None
        if self.server_lease is not None:  # first: it writes the endpoints without this server
            await self.server_lease.stop()
            self.server_lease = None
        await self.rbac.stop()
        await self.ns_defaults.stop()
        await self.crd_controller.stop()
        await self.admission_chain.stop()
        for b in list(self.broadcasters.values()):
            await b.stop()
        if self.auditor is not None:
            await self.auditor.stop()

    # ---- middleware ---------------------------------------------------------------------
    @web.middleware
    async def metrics_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Count and time the API requests aiohttp serves (the lean server's are counted in ``dispatch``)."""
        path = request.path
        if not self.count_requests or not path.startswith(("/api/", "/apis/")):
            return await handler(request)
        gauge = self.request_metrics.inflight(request.method)
        gauge.inc()
        t0 = time.perf_counter()
        code = 500
        try:
            resp = await handler(request)
            code = resp.status
            return resp
        finally:
            gauge.dec()
            self._observe(request.method, path, request.query.get("watch", "") if request.query_string else "",
                          code, time.perf_counter() - t0)

    def _observe(self, method: str, path: str, watch: str, code: int, seconds: float,
                 target: routing.Target | None = None) -> None:
        if target is None:
            try:
                target = routing.parse(path, self.served)
            except routing.RouteError:
                target = None
        if target is None:
            self.request_metrics.observe(method, None, namespaced=False, named=False, sub="", watch=False,
                                         code=code, seconds=seconds)
            return
        self.request_metrics.observe(method, target.info, namespaced=target.namespace is not None,
                                     named=target.name is not None, sub=target.subresource,
                                     watch=watch.lower() in ("1", "true", "yes"), code=code, seconds=seconds)

    @web.middleware
    async def error_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            # aiohttp's own refusals (no route matched, e.g. a path with a newline) answer as a Status too
            err = errors.from_http_status(e.status, e.reason)
            headers = {k: v for k, v in e.headers.items() if k.lower() == "allow"}
            return web.Response(body=err.body(), status=e.status, content_type="application/json", headers=headers)
        except Exception as e:
            return error_response(e, request.method, request.path)

    @web.middleware
    async def audit_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The audit record of a request aiohttp serves (the lean path's is in ``dispatch``); the
        ``Audit-ID`` header and the ResponseStarted stage are added as the answer starts (``_audit_prepare``)."""
        auditor = self.auditor
        if auditor is None or request.path in PUBLIC_PATHS or is_ui_path(request.path) or \
                (request.path + "/").startswith(self._mounted):
            return await handler(request)
        ar = request[AUDIT_KEY] = auditor.begin(method=request.method, path=request.path,
                                                query_string=request.query_string, headers=request.headers,
                                                remote=request.remote)
        try:
            resp = await handler(request)
        except errors.ApiError as e:
            auditor.finish(ar, e.code, e.status())
            raise
        except web.HTTPException as e:
            auditor.finish(ar, e.status, {"status": "Failure", "message": e.reason})
            raise
        except Exception as e:
            auditor.finish(ar, 500, {"status": "Failure", "message": f"APIServer panic'd: {e!r}"}, panic=True)
            raise
        status, body = self._audited_answer(ar, resp)
        auditor.finish(ar, resp.status, status, method=request.method, request_body=request.get(BODY_KEY),
                       response_body=body)
        return resp

    @staticmethod
    def _audited_answer(ar: AuditRequest, resp: web.StreamResponse) -> tuple[dict[str, Any] | None, bytes | None]:
        """The Status of a failed answer and the body the audit may log (JSON only); the content type is read
        only when one of them is wanted (a success below RequestResponse needs neither)."""
        body = resp.body if isinstance(resp, web.Response) and isinstance(resp.body, bytes) else None
        if body is None or (resp.status < 300 and ar.level < Level.REQUEST_RESPONSE):
            return None, None
        content_type = resp.content_type
        return status_of(resp.status, body, content_type), body if content_type == "application/json" else None

    async def _audit_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        ar = request.get(AUDIT_KEY)
        if ar is None or self.auditor is None:
            return
        response.headers["Audit-ID"] = ar.audit_id
        if long_running(ar.attrs) and response.status < 300:
            self.auditor.started(ar, response.status)

    @web.middleware
    async def auth_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # a mounted API's own prefix too ("/ecs": the AWS CLI posts to the endpoint URL's path as given)
        if self.authenticator is None or request.path in PUBLIC_PATHS or is_ui_path(request.path) or \
                (request.path + "/").startswith(self._mounted):
            return await handler(request)
        transport = request.transport
        peercert = transport.get_extra_info("peercert") if transport is not None else None
        request[USER_KEY] = await self._authenticate(request, peercert, request.get(AUDIT_KEY))
        return await handler(request)

    async def _authenticate(self, request: web.Request | leanhttp.Request, peercert: Any,
                            ar: AuditRequest | None = None) -> User:
        """The user a request is from, if it may do what it asks; else a 401 or 403 ``ApiError``.

        Also leaves the user in ``CURRENT_USER`` for admission (the handler runs in this task), and tells
        the auditor (``ar``: the request's audit record, when auditing is on) who it is and what was decided."""
        assert self.authenticator is not None
        headers = request.headers
        authorization = headers.get("Authorization")
        try:
            if authorization is None and "Sec-WebSocket-Protocol" in headers:  # a browser's exec (the web UI)
                try:
                    token = websocket.bearer_token(headers.get("Upgrade"), headers.getall("Sec-WebSocket-Protocol"))
                except websocket.ProtocolTokenError:
                    raise TokenRefused("a malformed bearer token in Sec-WebSocket-Protocol") from None
                authorization = None if token is None else f"Bearer {token}"
            user = await self.authenticator.authenticate(authorization, peercert)
            if user is None:
                # anonymous requests are answered only on the public paths (let through before this)
                raise TokenRefused("no credentials (anonymous requests are not allowed here)")
        except errors.ApiError as e:
            if ar is not None and self.auditor is not None:
                self.auditor.refused(ar, method=request.method, path=request.path, watch=self._watch(request),
                                     why=e.why if isinstance(e, TokenRefused) else e.message)
            raise
        authenticated = user
        if any(h in headers for h in _IMPERSONATE):
            plan = impersonation.from_headers(user, headers, list(headers.items()))
            for check in plan.checks:
                if not self.authorizer.allowed(check):
                    if ar is not None:
                        self._audit_received(ar, request, authenticated, None)
                        self._audit_decision(ar, False, why_denied(check))
                    raise denied(check)  # users "alice" is forbidden: User "bob" cannot impersonate ...
            user = plan.user
        if ar is not None:
            self._audit_received(ar, request, authenticated, None if user is authenticated else user)
        if not is_master(user):  # system:masters may do anything: not even the path is parsed
            attrs = request_attributes(user, request.method, request.path, self._watch(request),
                                       request.query.get("fieldSelector", "") if request.query_string else "")
            allowed, reason = self.authorizer.decide(attrs)
            if not allowed:
                if user.name.startswith(_COMPONENT_PREFIXES):  # shoal's own components: a missing permission
                    log.warning("a component was refused: %s%s", why_denied(attrs), f": {reason}" if reason else "")
                if ar is not None:
                    self._audit_decision(ar, False, why_denied(attrs))
                raise denied(attrs, reason)
        if ar is not None:
            self._audit_decision(ar, True, "")
        CURRENT_USER.set(user)
        audit_recorder.CURRENT.set(ar)  # admission's annotations go on this request's event (audit.annotate)
        return user

    @staticmethod
    def _watch(request: web.Request | leanhttp.Request) -> str:
        return request.query.get("watch", "") if request.query_string else ""

    def _audit_received(self, ar: AuditRequest, request: web.Request | leanhttp.Request, user: User,
                        impersonated: User | None) -> None:
        assert self.auditor is not None
        self.auditor.received(ar, user, method=request.method, path=request.path, watch=self._watch(request),
                              impersonated=impersonated)

    def _audit_decision(self, ar: AuditRequest, allowed: bool, reason: str) -> None:
        assert self.auditor is not None
        self.auditor.authorized(ar, allowed, reason)

    async def publish_endpoint(self, ip: str, port: int, *, lease_duration: float = endpointleases.LEASE_DURATION,
                               renew_interval: float = endpointleases.RENEW_INTERVAL) -> None:
        """This server's Lease, kept from now on, and the ``kubernetes`` Service of ``default`` pointing at every
        API server with a live one (once this one's port is known; ``shoal.apiserver.serverlease``)."""
        leases = kinds.lookup("coordination.k8s.io", "v1", "leases")
        assert leases is not None
        self.server_lease = ServerLeaseKeeper(self.resources[resource_key(leases)], self.ns_defaults,
                                              cluster_ip=first_service_ip(self.service_cidr), ip=ip, port=port,
                                              duration=lease_duration, renew_interval=renew_interval)
        await self.server_lease.start()

    async def account_uid(self, namespace: str, name: str) -> str | None:
        """The uid of a service account (``None``: it does not exist), for service-account tokens."""
        info = kinds.lookup("", "v1", "serviceaccounts")
        assert info is not None
        kv = await self.store.get(info.key(namespace, name))
        return None if kv is None else str((rawobj.decode(kv.value).get("metadata") or {}).get("uid") or "")

    # ---- the lean server's path (shoal.apiserver.leanhttp), on both sockets ---------------------
    def accepts(self, request: leanhttp.Request) -> bool:
        """Unary requests for API resources; watches, streams, discovery and the rest go to aiohttp."""
        if not request.path.startswith(("/api/", "/apis/")):
            return False
        try:
            target = routing.parse(request.path, self.served)
        except routing.RouteError:
            return False  # "/api/v1" is discovery; a wrong path gets aiohttp's routing as before
        if target.subresource in _STREAMING_SUBRESOURCES:
            return False
        if request.method == "GET" and target.name is None and "watch" in request.query_string and \
                request.query.get("watch", "").lower() in ("1", "true", "yes"):
            return False
        request.route = target
        return True

    async def dispatch(self, request: leanhttp.Request) -> web.Response:
        """What the middlewares and the router do for an accepted request, without them."""
        if not self.count_requests:
            return await self._dispatch(request)
        gauge = self.request_metrics.inflight(request.method)
        gauge.inc()
        t0 = time.perf_counter()
        resp = await self._dispatch(request)
        gauge.dec()
        self._observe(request.method, request.path, "", resp.status, time.perf_counter() - t0, request.route)
        return resp

    async def _dispatch(self, request: leanhttp.Request) -> web.Response:
        auditor = self.auditor
        ar = None if auditor is None else auditor.begin(
            method=request.method, path=request.path, query_string=request.query_string, headers=request.headers,
            remote=request.remote)
        panic = False
        try:
            if self.authenticator is not None:
                request[USER_KEY] = await self._authenticate(request, request.peercert, ar)
            # a Request offers what the unary handlers use of web.Request (see leanhttp.Request)
            resp = await self.handlers.handle(cast(web.Request, request), request.route)
            if not isinstance(resp, web.Response):
                raise TypeError(f"a unary handler answered with a {type(resp).__name__}")
        except Exception as e:
            resp = error_response(e, request.method, request.path)
            panic = not isinstance(e, errors.ApiError | StoreUnavailableError)
        if ar is not None and auditor is not None:
            resp.headers["Audit-ID"] = ar.audit_id
            status, body = self._audited_answer(ar, resp)
            auditor.finish(ar, resp.status, status, method=request.method, request_body=request.body,
                           response_body=body, panic=panic)
        return resp

    # ---- simple endpoints ------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        if not self.ready:
            return web.Response(status=503, text="not ready")
        if self.store_health is not None and request.path.rstrip("/") in ("/readyz", "/healthz"):
            status, text = self.store_health.readyz("verbose" in request.query)
            return web.Response(status=status, text=text)
        return web.Response(text="ok")

    async def version(self, request: web.Request) -> web.Response:
        return _json(discovery.version_info())

    def _aggregated(self, request: web.Request, *, legacy: bool) -> web.Response | None:
        """The aggregated discovery document, when the client asks for it first (kubectl does)."""
        version = discovery.aggregated_version(request.headers.get("Accept", ""))
        if version is None:
            return None
        body = msgspec.json.encode(self.discovery.aggregated(legacy=legacy, version=version))
        ctype = f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
        return web.Response(body=body, headers={"Content-Type": ctype, "Vary": "Accept"})

    async def api(self, request: web.Request) -> web.Response:
        return self._aggregated(request, legacy=True) or _json(discovery.api_versions(self.server_address))

    async def apis(self, request: web.Request) -> web.Response:
        return self._aggregated(request, legacy=False) or _json(self.discovery.api_group_list())

    async def api_group(self, request: web.Request) -> web.Response:
        g = self.discovery.api_group(request.match_info["group"])
        if g is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json(g)

    async def resource_list(self, request: web.Request) -> web.Response:
        gv = request.match_info.get("gv") or f"{request.match_info['group']}/{request.match_info['version']}"
        rl = self.discovery.resource_list(gv)
        if rl is None:
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json(rl)

    def _document(self, gv: str) -> tuple[bytes, str]:
        """A group version's OpenAPI document: built-in ones computed once, custom ones per registry change."""
        from shoal.api import openapi

        if self.served.is_static(gv):
            return openapi.document_bytes(gv)
        cached = self._custom_docs.get(gv)
        if cached is not None and cached[0] == self.served.generation:
            return cached[1], cached[2]
        resources = self.served.by_group_version().get(gv)
        if resources is None:
            raise KeyError(gv)
        import hashlib

        from shoal.api.openapi.custom import build_custom_document

        data = msgspec.json.encode(build_custom_document(group_version=gv, resources=resources))
        digest = hashlib.sha512(data).hexdigest().upper()
        self._custom_docs[gv] = (self.served.generation, data, digest)
        return data, digest

    async def openapi_index(self, request: web.Request) -> web.Response:
        from shoal.api import openapi

        paths: dict[str, Any] = {}
        for gv in self.served.group_versions():
            key = openapi.group_version_path(gv)
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={self._document(gv)[1]}"}
        return _json({"paths": paths})

    async def openapi_doc(self, request: web.Request) -> web.Response:
        gv = request.match_info["path"].strip("/")
        gv = gv[4:] if gv.startswith("api/") else gv[5:] if gv.startswith("apis/") else gv
        try:
            body, etag = self._document(gv)
        except KeyError:
            raise errors.ApiError(404, "NotFound", f"no OpenAPI document for {gv}") from None
        return web.Response(body=body, content_type="application/json", headers={"ETag": f'"{etag}"'})

    async def openapi_v2(self, request: web.Request) -> web.Response:
        """Swagger 2.0 of every served kind (custom ones too), as protobuf when asked for (kubectl asks
        for nothing else), else JSON; built from the v3 documents once per change of the served kinds."""
        import hashlib

        from shoal.api.openapi import v2proto
        from shoal.api.openapi.v2 import build_v2

        accept = request.headers.get("Accept", "")
        proto = any(t in accept for t in v2proto.ACCEPT_TYPES)
        key = (self.served.generation, proto)
        cached = self._v2_docs.get(key)
        if cached is None:
            docs = (msgspec.json.decode(self._document(gv)[0]) for gv in self.served.group_versions())
            doc = build_v2(docs, version=discovery.version_info()["gitVersion"])
            data = v2proto.document(doc) if proto else msgspec.json.encode(doc)
            cached = (data, hashlib.sha512(data).hexdigest().upper())
            self._v2_docs = {k: v for k, v in self._v2_docs.items() if k[0] == self.served.generation}
            self._v2_docs[key] = cached
        body, etag = cached
        return web.Response(body=body, headers={"Content-Type": v2proto.CONTENT_TYPE if proto else "application/json",
                                                "ETag": f'"{etag}"'})

    def _install_auth_endpoints(self, r: web.UrlDispatcher) -> None:
        """The access reviews, TokenRequest, whoami and the issuer's discovery (served without storage)."""
        from shoal.apiserver.authn.endpoints import AuthnEndpoints
        from shoal.apiserver.authz.reviews import Reviews

        async def read(request: web.Request) -> Any:
            return parse_body(await read_body(request), request.content_type)

        Reviews(self.authorizer, read).install(r)
        if isinstance(self.authenticator, Authenticator) and self.service_accounts is not None:
            AuthnEndpoints(authenticator=self.authenticator, tokens=self.service_accounts, lookup=self._object,
                           read_body=read, jwks_uri=f"https://{self.server_address}/openid/v1/jwks").install(r)

    async def _object(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        info = next((i for i in kinds.RESOURCES if i.group == "" and i.kind == kind), None)
        if info is None:
            return None
        kv = await self.store.get(info.key(namespace, name))
        return None if kv is None else rawobj.decode(kv.value)

    async def not_found(self, request: web.Request) -> web.Response:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")

    def app(self, mounts: Sequence[tuple[str, web.Application]] = ()) -> web.Application:
        """The API's application; ``mounts`` are other APIs served under a prefix on the same port (the
        compat APIs: ``/marathon`` ...). They authenticate by what each request carries and reach the
        cluster through this API with the caller's credentials, so its middleware lets them through."""
        self._mounted = tuple(prefix.rstrip("/") + "/" for prefix, _ in mounts)
        app = web.Application(middlewares=[self.metrics_middleware, self.error_middleware, self.audit_middleware,
                                           self.auth_middleware],
                              client_max_size=4 * 1024 * 1024)
        if self.auditor is not None:
            app.on_response_prepare.append(self._audit_prepare)
        r = app.router
        # every fixed path answers with or without a trailing slash, as upstream's router does
        for path, handler in (("/livez", self.health), ("/readyz", self.health), ("/healthz", self.health),
                              ("/version", self.version), ("/api", self.api), ("/api/{gv:v1}", self.resource_list),
                              ("/apis", self.apis), ("/apis/{group}", self.api_group),
                              ("/apis/{group}/{version}", self.resource_list),
                              ("/openapi/v3", self.openapi_index), ("/openapi/v2", self.openapi_v2)):
            r.add_get(path, handler)
            r.add_get(path + "/", handler)
        r.add_get("/openapi/v3/{path:.+}", self.openapi_doc)
        r.add_get("/metrics", prom.handler(self.metrics_sockets))
        # the node agents' tunnel (/shoal/v1/tunnel), which pods/log and pods/exec go through
        from shoal.apiserver import tunnel

        tunnel.install(app)
        self._install_auth_endpoints(r)
        MetricsApi(self.metrics).install(r)
        for method, path, extra in self.extra_routes:  # the composition root's (a server joining this one)
            r.add_route(method, path, extra)
        UiRoutes().install(r)  # the web UI's files (shoal.ui), served to anyone
        r.add_route("*", "/api/{tail:.+}", self.handlers.handle)
        r.add_route("*", "/apis/{tail:.+}", self.handlers.handle)
        for prefix, sub in mounts:
            # the bare prefix ("/ecs": the AWS CLI posts to the endpoint URL's path as given) goes to the
            # mounted application's catch-all route, registered first (a sub-application's prefix alone
            # would answer it with a 404 of its own)
            catch_all = next((rt.handler for rt in sub.router.routes()
                              if rt.resource is not None and rt.resource.canonical == "/{tail}"), None)
            if catch_all is not None:
                r.add_route("*", prefix.rstrip("/"), catch_all)
            app.add_subapp(prefix, sub)
        r.add_route("*", "/{tail:.*}", self.not_found)
        return app


def _convert_raw(raw: bytes, *, conv: Conversion) -> bytes:
    return rawobj.encode(conv.to_served(rawobj.decode(raw)))


def error_response(e: Exception, method: str, path: str) -> web.Response:
    """Every failure of a handler as a ``Status`` (never a traceback to the client)."""
    if isinstance(e, errors.ApiError):
        return web.Response(body=e.body(), status=e.code, content_type="application/json", headers=e.headers)
    if isinstance(e, StoreUnavailableError):
        err = errors.ApiError(503, "ServiceUnavailable", f"the storage backend is unavailable: {e}")
        return web.Response(body=err.body(), status=503, content_type="application/json",
                            headers={"Retry-After": "1"})
    log.error("internal error serving %s %s", method, path, exc_info=e)
    err = errors.ApiError(500, "InternalError", "an internal error occurred; see the server log")
    return web.Response(body=err.body(), status=500, content_type="application/json")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status, content_type="application/json")
