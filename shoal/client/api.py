"""An asyncio client for the Kubernetes API as shoal serves it.

Every component that is not the API server (scheduler, controllers, node
agent, network) reaches the cluster only through this client: plain REST with
JSON, watch streams of JSON lines. Objects are plain dicts, as they are on the
wire; the typed models in ``shoal.api`` are there to convert when wanted.

Transport: HTTPS with a bearer token and the cluster CA, or, inside
``shoal server``, a Unix socket to the same aiohttp application (no TLS, same
code path, same admission), which is what "in-process" means here.
"""

from __future__ import annotations

import builtins
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from shoal.api import kinds
from shoal.api.registry import ResourceInfo
from shoal.client.errors import ApiException
from shoal.client.unixhttp import UnixHttpPool

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
    """Async Kubernetes REST client (one aiohttp session, keep-alive connections)."""

    def __init__(
        self,
        server: str,
        *,
        token: str | None = None,
        ca_file: str | None = None,
        unix_socket: str | None = None,
        insecure: bool = False,
        timeout: float = 30.0,
        user_agent: str = "shoal",
        limit: int = 64,
    ) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self._ca_file = ca_file
        self._unix_socket = unix_socket
        self._insecure = insecure
        self._timeout = timeout
        self._limit = limit
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._session: aiohttp.ClientSession | None = None
        # unary requests over the Unix socket skip aiohttp's client (see ``unixhttp``); watches use it
        self._unary: UnixHttpPool | None = None

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
        return cls(cluster["server"], token=user.get("token"), ca_file=ca_file, **kw)

    def _connector(self) -> aiohttp.BaseConnector:
        if self._unix_socket:
            return aiohttp.UnixConnector(path=self._unix_socket, limit=self._limit)
        ssl_ctx: ssl.SSLContext | bool = True
        if self.server.startswith("https"):
            if self._insecure:
                ssl_ctx = False
            else:
                ssl_ctx = ssl.create_default_context(cafile=self._ca_file)
        return aiohttp.TCPConnector(ssl=ssl_ctx, limit=self._limit)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=self._connector(), headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    @property
    def unary(self) -> UnixHttpPool | None:
        if self._unix_socket and self._unary is None:
            self._unary = UnixHttpPool(self._unix_socket, headers=self._headers, limit=self._limit)
        return self._unary

    async def close(self) -> None:
        if self._unary is not None:
            await self._unary.close()
            self._unary = None
        if self._session is not None:
            await self._session.close()

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
        headers = {}
        if body is not None:
            data = body if isinstance(body, bytes) else msgspec.json.encode(body)
            headers["Content-Type"] = content_type
        pool = self.unary
        try:
            if pool is not None:
                status, raw = await pool.request(method, path, params=dict(params) if params else None, body=data,
                                                 content_type=content_type, timeout=timeout or self._timeout)
            else:
                async with self.session.request(
                    method, self.server + path, params=params, data=data, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout or self._timeout),
                ) as resp:
                    status, raw = resp.status, await resp.read()
        except (TimeoutError, OSError, aiohttp.ClientError) as e:  # ConnectionError is an OSError
            raise ApiException(0, "ConnectionError", f"{method} {path}: {e!r}") from e
        if status >= 400:
            raise _exception(status, raw)
        return msgspec.json.decode(raw) if raw else None

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
        try:
            async with self.session.get(self.server + path, params=params,
                                        timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
                if resp.status >= 400:
                    raise _exception(resp.status, await resp.read())
                # whole chunks, split here: the server writes what it has queued in one go, and
                # aiohttp's readline per event cost more than decoding the event
                rest = b""
                async for chunk in resp.content.iter_any():
                    lines = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
                    rest = lines.pop()
                    for line in lines:
                        if line.strip():
                            yield _watch_event(line)
                if rest.strip():  # a last event without its newline
                    yield _watch_event(rest)
        except (TimeoutError, aiohttp.ClientError) as e:
            raise ApiException(0, "ConnectionError", f"watch {path}: {e!r}") from e


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
