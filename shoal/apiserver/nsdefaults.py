"""What every namespace holds, and the ``kubernetes`` Service: kept by the API server itself.

Upstream's controller manager runs the serviceaccounts controller (a
``default`` ServiceAccount in every namespace, made again if deleted) and the
root-ca-cert-publisher (a ``kube-root-ca.crt`` ConfigMap with the cluster CA
in every namespace, put back if changed or deleted); its API server keeps the
``kubernetes`` Service of ``default`` (the first address of the service range,
port 443) and its Endpoints and EndpointSlice pointing at every API server
(which ones: ``shoal.apiserver.endpointleases``).

shoal keeps all three inside the API server, as it keeps the system
namespaces, priority classes and RBAC defaults: a pod create waits for its
namespace's ``default`` account (``strategies.pod``), so the account must exist
wherever pods are served, including servers run without the controller
manager. ``NamespaceDefaults`` listens to the watch caches of namespaces,
ServiceAccounts and ConfigMaps, queues the namespaces that need a look, and a
single task makes what is missing; it is level-triggered (it reads before it
writes) so a replayed or duplicated event does nothing. The object bodies are
pure functions below.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from shoal.apiserver import endpointleases, errors, rawobj
from shoal.apiserver.resource import Resource
from shoal.apiserver.serviceaccounts import DEFAULT_ACCOUNT, ROOT_CA_CONFIGMAP, ROOT_CA_KEY
from shoal.store.base import KeyExistsError

log = logging.getLogger(__name__)

KUBERNETES = "kubernetes"
ROOT_CA_ANNOTATION = "kubernetes.io/description"
ROOT_CA_DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
                       "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
                       "guaranteed across distributions of Kubernetes clusters.")


def default_account(namespace: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT_ACCOUNT, "namespace": namespace}}


def root_ca(namespace: str, ca_pem: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": namespace,
                         "annotations": {ROOT_CA_ANNOTATION: ROOT_CA_DESCRIPTION}},
            "data": {ROOT_CA_KEY: ca_pem}}


def first_service_ip(service_cidr: str) -> str:
    """The ``kubernetes`` Service's ClusterIP: the range's first address (10.43.0.1 for 10.43.0.0/16)."""
    return str(ipaddress.ip_network(service_cidr, strict=False)[1])


def kubernetes_objects(cluster_ip: str, endpoints: list[tuple[str, int]],
                       port: int) -> list[tuple[str, dict[str, Any]]]:
    """(resource, body) of the ``kubernetes`` Service (to ``port``), its Endpoints and its EndpointSlice (to
    ``endpoints``, the API servers' (ip, port), as ``shoal.apiserver.endpointleases`` decides them)."""
    md = {"name": KUBERNETES, "namespace": "default"}
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {**md, "labels": {"component": "apiserver", "provider": "kubernetes"}},
           "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                    "sessionAffinity": "None",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}}
    eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {**md, "labels": {
        "endpointslice.kubernetes.io/skip-mirror": "true"}}, "subsets": endpointleases.subsets(endpoints)}
    slice_ = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
              "metadata": {**md, "labels": {"kubernetes.io/service-name": KUBERNETES}},
              **endpointleases.slice_part(endpoints)}
    return [("services", svc), ("endpoints", eps), ("endpointslices", slice_)]


def _differs(want: dict[str, Any], have: dict[str, Any]) -> bool:
    """Whether the stored object lacks what ``want`` sets (fields the server fills in are ignored)."""
    for k, v in want.items():
        if k in ("apiVersion", "kind", "metadata"):
            continue
        if k == "spec" and isinstance(v, dict):
            if any(have.get("spec", {}).get(sk) != sv for sk, sv in v.items() if sk != "ports"):
                return True
            if [{**p} for p in have.get("spec", {}).get("ports") or []] != v.get("ports"):
                return True
            continue
        if have.get(k) != v:
            return True
    return False


class NamespaceDefaults:
    """Keeps ``default`` and ``kube-root-ca.crt`` in every namespace, and the ``kubernetes`` Service."""

    def __init__(self, resources: dict[str, Resource], *, ca_pem: str | None,
                 namespace: Callable[[str], Awaitable[dict[str, Any] | None]]) -> None:
        self.resources = resources
        self.namespace = namespace  # the server's namespace cache  # by plural: namespaces, serviceaccounts, configmaps, services, ...
        self.ca_pem = ca_pem
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    # ---- events from the watch caches -------------------------------------------------------
    def _enqueue(self, namespace: str) -> None:
        if namespace and namespace not in self._queued:
            self._queued.add(namespace)
            self._queue.put_nowait(namespace)

    def _key_parts(self, plural: str, key: str) -> tuple[str, str]:
        rest = key[len(self.resources[plural].info.storage_prefix):]
        ns, _, name = rest.partition("/")
        return ns, name

    def on_namespace(self, ev: Any) -> None:
        if ev is not None and ev.type != "DELETED":
            self._enqueue(self._key_parts("namespaces", ev.key)[0])

    def on_account(self, ev: Any) -> None:
        if ev is not None and ev.type == "DELETED":
            ns, name = self._key_parts("serviceaccounts", ev.key)
            if name == DEFAULT_ACCOUNT:
                self._enqueue(ns)

    def on_configmap(self, ev: Any) -> None:
        if ev is not None and ev.type != "ADDED":
            ns, name = self._key_parts("configmaps", ev.key)
            if name == ROOT_CA_CONFIGMAP:
                self._enqueue(ns)

    # ---- the worker -------------------------------------------------------------------------
    async def start(self) -> None:
        """Look at every namespace once, then follow the events."""
        for ns in (await self.resources["namespaces"].list(None, want_objects=True)).objs or []:
            self._enqueue(str(ns["metadata"]["name"]))
        self._task = asyncio.create_task(self._run(), name="namespace-defaults")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            ns = await self._queue.get()
            self._queued.discard(ns)
            try:
                await self.ensure(ns)
            except Exception:
                log.exception("namespace %s: making its default ServiceAccount and root CA failed", ns)

    async def _get(self, plural: str, ns: str | None, name: str) -> dict[str, Any] | None:
        res = self.resources[plural]
        kv = await res.store.get(res.info.key(ns, name))
        return None if kv is None else rawobj.decode_rv(kv.value, kv.mod_revision)

    async def _create(self, plural: str, ns: str | None, body: dict[str, Any]) -> None:
        try:
            await self.resources[plural].create(ns, body)
        except errors.ApiError as e:
            if e.code not in (403, 409):  # 403: the namespace is terminating
                raise
        except KeyExistsError:
            pass

    async def ensure(self, ns: str) -> None:
        """The namespace's ``default`` ServiceAccount and ``kube-root-ca.crt`` ConfigMap exist."""
        nso = await self.namespace(ns)
        if nso is None or (nso.get("metadata") or {}).get("deletionTimestamp"):
            return
        if await self._get("serviceaccounts", ns, DEFAULT_ACCOUNT) is None:
            await self._create("serviceaccounts", ns, default_account(ns))
        if self.ca_pem is None:
            return
        want = root_ca(ns, self.ca_pem)
        have = await self._get("configmaps", ns, ROOT_CA_CONFIGMAP)
        if have is None:
            await self._create("configmaps", ns, want)
        elif have.get("data") != want["data"]:
            body = {**have, "data": want["data"]}
            body.pop("binaryData", None)
            with contextlib.suppress(errors.ApiError):  # a conflict: the next event looks again
                await self.resources["configmaps"].update(ns, ROOT_CA_CONFIGMAP, body)

    async def publish_kubernetes(self, cluster_ip: str, port: int, endpoints: list[tuple[str, int]]) -> None:
        """The ``kubernetes`` Service (to this server's ``port``), its Endpoints and EndpointSlice (to
        ``endpoints``: every live API server's, loopback ones left out).

        With no endpoints to name (servers on loopback addresses) the Endpoints and EndpointSlice are not
        made, and ones made before are emptied: no pod could reach a loopback address (upstream refuses
        loopback endpoints, and to start with a loopback advertise address)."""
        for plural, want in kubernetes_objects(cluster_ip, endpoints, port):
            have = await self._get(plural, "default", KUBERNETES)
            try:
                if have is None:
                    if plural == "services" or endpoints:
                        await self._create(plural, "default", want)
                elif _differs(want, have):
                    body = {**want, "metadata": {**have["metadata"], **want["metadata"]}}
                    if plural == "services":  # keep what the allocator gave it
                        body["spec"] = {**have.get("spec", {}), **want["spec"]}
                    await self.resources[plural].update("default", KUBERNETES, body)
            except errors.ApiError as e:
                log.warning("the kubernetes %s: %s", plural, e.message)
