"""An asyncio client for the Kubernetes API as shoal serves it.

Every component that is not the API server (scheduler, controllers, node
agent, network) reaches the cluster only through this client: plain REST with
JSON, watch streams of JSON lines. Objects are plain dicts, as they are on the
wire; the typed models in ``shoal.api`` are there to convert when wanted.

How requests reach the server is the client's ``Transport`` (HTTPS with a
bearer token and the cluster CA; inside ``shoal server``, its private Unix
socket; in tests, the API server's dispatcher called in process): see
``shoal.client.transport``.
"""

from __future__ import annotations

import builtins
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from shoal.api import kinds
from shoal.api.registry import ResourceInfo
from shoal.client.errors import ApiException
from shoal.client.httptransport import HttpTransport, UnixSocketTransport
from shoal.client.transport import StreamResponse, Transport

PATCH_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}


def resource(name: str) -> ResourceInfo:
    """Look a resource up by plural, ``plural.group``, kind or short name."""
    for r in kinds.RESOURCES:
        if name in (r.plural, r.kind, r.singular, f"{r.plural}.{r.group}") or name in r.short_names:
            return r
    raise KeyError(f"unknown resource {name!r}")


ResourceArg = ResourceInfo | str


def _info(r: ResourceArg) -> ResourceInfo:
    return r if isinstance(r, ResourceInfo) else resource(r)


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED | BOOKMARK
    object: dict[str, Any]


def object_path(info: ResourceInfo, namespace: str | None = None, name: str | None = None,
                subresource: str = "") -> str:
    base = f"/api/{info.version}" if not info.group else f"/apis/{info.group}/{info.version}"
    if info.namespaced and namespace:
        base += f"/namespaces/{namespace}"
    base += f"/{info.plural}"
    if name:
        base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
    return base


class ApiClient:
    """Async Kubernetes REST client over one ``Transport`` (see ``shoal.client.transport``).

    ``ApiClient.http(url, ...)`` and ``ApiClient.unix(socket, ...)`` build the
    two socket transports; ``ApiClient(transport)`` takes any other (a test's
    in-process one). The client owns its transport: ``close`` closes it.
    """

    def __init__(self, transport: Transport, *, timeout: float = 30.0) -> None:
        self.transport = transport
        self._timeout = timeout

    @classmethod
    def http(cls, server: str, *, token: str | None = None, ca_file: str | None = None, insecure: bool = False,
             timeout: float = 30.0, user_agent: str = "shoal", limit: int = 64,
             client_cert: tuple[str, str] | None = None) -> ApiClient:
        """HTTPS (or HTTP) to ``server`` with a bearer token (or a client certificate: (cert file, key file))
        and the cluster CA."""
        return cls(HttpTransport(server, token=token, ca_file=ca_file, insecure=insecure, user_agent=user_agent,
                                 limit=limit, client_cert=client_cert), timeout=timeout)

    @classmethod
    def servers(cls, servers: list[str], *, token: str | None = None, ca_file: str | None = None,
                insecure: bool = False, timeout: float = 30.0, user_agent: str = "shoal",
                limit: int = 64, client_cert: tuple[str, str] | None = None) -> ApiClient:
        """Several servers of one cluster, failing over in order (``shoal.client.failover``); one URL is
        plain ``http``."""
        if len(servers) == 1:
            return cls.http(servers[0], token=token, ca_file=ca_file, insecure=insecure, timeout=timeout,
                            user_agent=user_agent, limit=limit, client_cert=client_cert)
        from shoal.client.failover import FailoverTransport

        return cls(FailoverTransport(servers, token=token, ca_file=ca_file, insecure=insecure,
                                     user_agent=user_agent, limit=limit, client_cert=client_cert), timeout=timeout)

    @classmethod
    def unix(cls, socket: str, *, token: str | None = None, timeout: float = 30.0, user_agent: str = "shoal",
             limit: int = 64) -> ApiClient:
        """The API server's private Unix socket (inside ``shoal server``: no TLS, same code path)."""
        return cls(UnixSocketTransport(socket, token=token, user_agent=user_agent, limit=limit), timeout=timeout)

    @classmethod
    def from_kubeconfig(cls, path: str, **kw: Any) -> ApiClient:
        import base64
        import tempfile

        import yaml

        with open(path) as f:
            cfg = yaml.safe_load(f)
        ctx_name = cfg.get("current-context")
        ctx = next(c["context"] for c in cfg["contexts"] if c["name"] == ctx_name)
        cluster = next(c["cluster"] for c in cfg["clusters"] if c["name"] == ctx["cluster"])
        user = next(u["user"] for u in cfg["users"] if u["name"] == ctx["user"])
        ca_file = cluster.get("certificate-authority")
        if cluster.get("certificate-authority-data"):
            tmp = tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False)  # noqa: SIM115
            tmp.write(base64.b64decode(cluster["certificate-authority-data"]))
            tmp.close()
            ca_file = tmp.name
        return cls.http(cluster["server"], token=user.get("token"), ca_file=ca_file, **kw)

    async def close(self) -> None:
        await self.transport.close()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- raw requests ------------------------------------------------------------------
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else msgspec.json.encode(body)
        try:
            status, raw = await self.transport.request(method, path, params=params, body=data,
                                                       content_type=content_type, timeout=timeout or self._timeout)
        except (TimeoutError, OSError, aiohttp.ClientError) as e:  # ConnectionError is an OSError
            raise ApiException(0, "ConnectionError", f"{method} {path}: {e!r}") from e
        if status >= 400:
            raise _exception(status, raw)
        return msgspec.json.decode(raw) if raw else None

    @contextlib.asynccontextmanager
    async def stream(self, path: str, *, params: Mapping[str, str] | None = None) -> AsyncIterator[StreamResponse]:
        """A GET whose body is read as it arrives (a pod's log with ``follow``); an error status raises."""
        try:
            async with self.transport.stream("GET", path, params=params) as resp:
                if resp.status >= 400:
                    raise _exception(resp.status, await resp.read())
                yield resp
        except (TimeoutError, aiohttp.ClientError) as e:
            raise ApiException(0, "ConnectionError", f"GET {path}: {e!r}") from e

    # ---- verbs -------------------------------------------------------------------------
    async def get(self, res: ResourceArg, name: str, namespace: str | None = None, *,
                  subresource: str = "") -> dict[str, Any]:
        return await self.request("GET", object_path(_info(res), namespace, name, subresource))  # type: ignore[no-any-return]

    async def list(
        self,
        res: ResourceArg,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 0,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        params: dict[str, str] = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if limit:
            params["limit"] = str(limit)
        if continue_:
            params["continue"] = continue_
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        return await self.request("GET", object_path(_info(res), namespace), params=params)  # type: ignore[no-any-return]

    async def list_all(self, res: ResourceArg, namespace: str | None = None, *, page: int = 5000,
                       **kw: Any) -> tuple[builtins.list[dict[str, Any]], str]:
        """Every item (following continue tokens) and the list's resourceVersion."""
        items: list[dict[str, Any]] = []
        cont: str | None = None
        while True:
            lst = await self.list(res, namespace, limit=page, continue_=cont, **kw)
            items += lst.get("items") or []
            cont = (lst.get("metadata") or {}).get("continue")
            if not cont:
                return items, str(lst["metadata"]["resourceVersion"])

    async def create(self, res: ResourceArg, obj: dict[str, Any], namespace: str | None = None, *,
                     dry_run: bool = False) -> dict[str, Any]:
        info = _info(res)
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        params = {"dryRun": "All"} if dry_run else None
        body = {"apiVersion": info.api_version, "kind": info.kind, **obj}
        return await self.request("POST", object_path(info, ns), params=params, body=body)  # type: ignore[no-any-return]

    async def update(self, res: ResourceArg, obj: dict[str, Any], *, subresource: str = "") -> dict[str, Any]:
        info = _info(res)
        md = obj["metadata"]
        body = {"apiVersion": info.api_version, "kind": info.kind, **obj}
        return await self.request(  # type: ignore[no-any-return]
            "PUT", object_path(info, md.get("namespace"), md["name"], subresource), body=body)

    async def update_status(self, res: ResourceArg, obj: dict[str, Any]) -> dict[str, Any]:
        return await self.update(res, obj, subresource="status")

    async def patch(self, res: ResourceArg, name: str, patch: Any, namespace: str | None = None, *,
                    patch_type: str = "merge", subresource: str = "") -> dict[str, Any]:
        ct = PATCH_TYPES.get(patch_type, patch_type)
        return await self.request(  # type: ignore[no-any-return]
            "PATCH", object_path(_info(res), namespace, name, subresource), body=patch, content_type=ct)

    async def delete(
        self,
        res: ResourceArg,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation_policy: str | None = None,
    ) -> dict[str, Any] | None:
        opts: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        pre = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if pre:
            opts["preconditions"] = pre
        if propagation_policy:
            opts["propagationPolicy"] = propagation_policy
        return await self.request(  # type: ignore[no-any-return]
            "DELETE", object_path(_info(res), namespace, name), body=opts)

    async def bind(self, namespace: str, pod: str, node: str, *, uid: str | None = None) -> None:
        info = _info("pods")
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Binding",
                                "metadata": {"name": pod, "namespace": namespace},
                                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        if uid:
            body["metadata"]["uid"] = uid
        await self.request("POST", object_path(info, namespace, pod, "binding"), body=body)

    async def watch(
        self,
        res: ResourceArg,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        allow_bookmarks: bool = True,
        timeout_seconds: int | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Stream events; ends when the server ends the stream. 410 raises ``ApiException``."""
        params: dict[str, str] = {"watch": "1"}
        if resource_version is not None:
            params["resourceVersion"] = resource_version
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if allow_bookmarks:
            params["allowWatchBookmarks"] = "true"
        if timeout_seconds:
            params["timeoutSeconds"] = str(timeout_seconds)
        path = object_path(_info(res), namespace)
        async with self.stream(path, params=params) as resp:
            # whole chunks, split here: the server writes what it has queued in one go, and
            # aiohttp's readline per event cost more than decoding the event
            rest = b""
            try:
                async for chunk in resp.chunks():
                    lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
                    rest = lines.pop()
                    for line in lines:
                        if line.strip():
                            yield _watch_event(line)
            except (TimeoutError, aiohttp.ClientError) as e:
                raise ApiException(0, "ConnectionError", f"watch {path}: {e!r}") from e
            if rest.strip():  # a last event without its newline
                yield _watch_event(rest)


def _watch_event(line: bytes) -> WatchEvent:
    ev = msgspec.json.decode(line)
    if ev.get("type") == "ERROR":
        st = ev.get("object") or {}
        raise ApiException(int(st.get("code") or 500), str(st.get("reason") or ""), str(st.get("message") or ""), st)
    return WatchEvent(ev["type"], ev["object"])


def _exception(status: int, raw: bytes) -> ApiException:
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return ApiException(status, str(body.get("reason") or ""), str(body.get("message") or raw[:200]), body)
