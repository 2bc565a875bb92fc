"""The Docker Engine API's Swarm endpoints, served on a Unix socket for the ``docker`` CLI.

A thin aiohttp application: it negotiates the API version as the Engine does
(``/_ping`` and every answer carry ``API-Version``; a path may start with
``/v1.NN``, refused with 400 outside ``MIN_API``..``MAX_API``), says it is an
active swarm manager (the ``Swarm: active/manager`` header of ``/_ping``,
``/info``'s ``Swarm.ControlAvailable``) so the CLI shows and allows its
``service``, ``node``, ``secret``, ``config`` and ``stack`` commands, and
hands each request to ``SwarmBackend``. Errors leave in Docker's shape,
``{"message": ...}`` with Docker's status; bad input is never a 500.

On the Unix socket there is no authentication: like Docker's own socket,
whoever may open it is an administrator, so it is created mode 0600. Over TCP
(``--docker-listen``) it is TLS with a client certificate the cluster CA signed,
as Docker's ``--tlsverify``: the certificate names a user (CN) and groups (O),
and, since Docker's API gives whoever it lets in control of everything, only a
user the cluster's RBAC allows every verb on every resource (``cluster-admin``,
``system:masters``) gets in; anyone else is answered 403 in Docker's shape.
The decision is a SubjectAccessReview, so RBAC bindings made later count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import platform
import re
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

import shoal
from shoal.compat.docker import logs
from shoal.compat.docker.backend import SwarmBackend
from shoal.formats.swarm import names
from shoal.formats.swarm.wire import SpecError

log = logging.getLogger("shoal.compat.docker")

MIN_API = "1.41"
MAX_API = "1.51"
_VERSIONED = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
_TIME_KEYS = frozenset({"CreatedAt", "UpdatedAt", "Timestamp", "Created"})
_ZERO_TIME = "0001-01-01T00:00:00Z"
Handler = Callable[[web.Request, SwarmBackend, re.Match[str]], Awaitable[web.StreamResponse]]


def _ver(v: str) -> tuple[int, int]:
    major, _, minor = v.partition(".")
    return int(major), int(minor or 0)


def _fix_times(value: Any) -> Any:
    """Go cannot decode an empty string as a time: absent times are its zero time."""
    if isinstance(value, dict):
        return {k: (_ZERO_TIME if k in _TIME_KEYS and not v else _fix_times(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_fix_times(v) for v in value]
    return value


def reply(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(_fix_times(body)).encode() + b"\n",
                        content_type="application/json")


def error(message: str, status: int) -> web.Response:
    return web.Response(status=status, body=json.dumps({"message": message}).encode() + b"\n",
                        content_type="application/json")


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as e:
        raise SpecError(f"invalid JSON: {e}") from None


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


# --- system ---------------------------------------------------------------------------------------
async def ping(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return web.Response(text="OK" if request.method != "HEAD" else "", content_type="text/plain",
                        headers={"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"})


async def version(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    details = {"ApiVersion": MAX_API, "MinAPIVersion": MIN_API, "Os": "linux", "Arch": _arch()}
    return reply({"Platform": {"Name": f"shoal {shoal.__version__} (Swarm API)"},
                  "Components": [{"Name": "Engine", "Version": shoal.__version__, "Details": details}],
                  "Version": shoal.__version__, "ApiVersion": MAX_API, "MinAPIVersion": MIN_API, "GitCommit": "",
                  "GoVersion": "", "Os": "linux", "Arch": _arch(), "KernelVersion": platform.release(),
                  "BuildTime": ""})


def _arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


async def _cluster(b: SwarmBackend) -> dict[str, Any]:
    snap = await b.snap("nodes")
    ns = await b.client.get("namespaces", "default")
    return {"ID": names.swarm_id(str((ns.get("metadata") or {}).get("uid") or "")),
            "Version": {"Index": 1}, "CreatedAt": (ns.get("metadata") or {}).get("creationTimestamp") or "",
            "UpdatedAt": (ns.get("metadata") or {}).get("creationTimestamp") or "",
            "Spec": {"Name": "default", "Labels": {}, "Orchestration": {"TaskHistoryRetentionLimit": 0},
                     "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
                              "ElectionTick": 10, "HeartbeatTick": 1},
                     "Dispatcher": {"HeartbeatPeriod": 5_000_000_000},
                     "CAConfig": {"NodeCertExpiry": 7_776_000_000_000_000}, "TaskDefaults": {},
                     "EncryptionConfig": {"AutoLockManagers": False}},
            "TLSInfo": {}, "RootRotationInProgress": False, "DefaultAddrPool": ["10.0.0.0/8"], "SubnetSize": 24,
            "DataPathPort": 4789, "_nodes": snap.nodes, "_snap": snap}


async def info(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    cluster = await _cluster(b)
    snap = cluster.pop("_snap")
    node_list = cluster.pop("_nodes")
    views_ = [snap.node_view(n) for n in node_list]
    managers = [v for v in views_ if v["Spec"]["Role"] == "manager"]
    local = next((v for v in views_ if v["Description"]["Hostname"] == b.local_node), None)
    swarm = {"NodeID": local["ID"] if local else "", "NodeAddr": local["Status"]["Addr"] if local else "",
             "LocalNodeState": "active", "ControlAvailable": True, "Error": "",
             "RemoteManagers": [{"NodeID": v["ID"], "Addr": v["ManagerStatus"]["Addr"]} for v in managers],
             "Nodes": len(views_), "Managers": len(managers), "Cluster": cluster}
    return reply({"ID": cluster["ID"], "Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0,
                  "ContainersStopped": 0, "Images": 0, "Driver": "shoal", "DriverStatus": [],
                  "Plugins": {"Volume": [], "Network": ["overlay"], "Authorization": None, "Log": []},
                  "MemoryLimit": True, "SwapLimit": False, "CpuCfsPeriod": True, "CpuCfsQuota": True,
                  "IPv4Forwarding": True, "Debug": False, "NFd": 0, "NGoroutines": 0, "SystemTime": "",
                  "LoggingDriver": "json-file", "CgroupDriver": "systemd", "CgroupVersion": "2", "NEventsListener": 0,
                  "KernelVersion": platform.release(), "OperatingSystem": "shoal", "OSVersion": "",
                  "OSType": "linux", "Architecture": platform.machine(), "IndexServerAddress": "", "NCPU":
                  os.cpu_count() or 1, "MemTotal": 0, "Name": b.local_node or platform.node(), "Labels": [],
                  "ExperimentalBuild": False, "ServerVersion": shoal.__version__, "Runtimes": {},
                  "DefaultRuntime": "runc", "Swarm": swarm, "LiveRestoreEnabled": False, "Isolation": "",
                  "InitBinary": "", "SecurityOptions": [], "Warnings": None})


async def swarm_inspect(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    cluster = await _cluster(b)
    cluster.pop("_snap")
    cluster.pop("_nodes")
    return reply({**cluster, "JoinTokens": {"Worker": "", "Manager": ""}})


async def swarm_other(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    what = m.group(1)
    if what in ("init", "join"):
        return error("This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm "
                     "and join another one.", 503)
    return error(f"shoal does not support docker swarm {what}: join nodes with `shoal agent`", 400)


# --- services, tasks ------------------------------------------------------------------------------
async def services(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.list_services(request.query.get("filters"), status=_flag(request, "status")))


async def service_create(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.create_service(await _body(request)), 201)


async def service_inspect(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.inspect_service(m.group(1)))


async def service_update(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    rollback = request.query.get("rollback", "") == "previous"
    return reply(await b.update_service(m.group(1), request.query.get("version"), await _body(request),
                                        rollback=rollback))


async def service_delete(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    await b.delete_service(m.group(1))
    return web.Response(status=200)


async def _logs(request: web.Request, b: SwarmBackend, sources: list[logs.LogSource]) -> web.StreamResponse:
    tail_raw = request.query.get("tail", "all")
    tail = None if tail_raw in ("all", "") else int(tail_raw) if tail_raw.isdigit() else None
    resp = web.StreamResponse(headers={"Content-Type": "application/vnd.docker.multiplexed-stream"})
    await resp.prepare(request)
    async for chunk in logs.stream(b.client, sources, follow=_flag(request, "follow"), tail=tail,
                                   details=_flag(request, "details"), timestamps=_flag(request, "timestamps")):
        await resp.write(chunk)
    await resp.write_eof()
    return resp


async def service_logs(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    snap = await b.snap("workloads", "pods", "nodes", "replicasets")
    w = snap.find_service(m.group(1))
    sid = names.swarm_id(str((w.get("metadata") or {}).get("uid") or ""))
    sources = [logs.LogSource(p["metadata"]["namespace"], p["metadata"]["name"],
                              snap.node_id(str((p.get("spec") or {}).get("nodeName") or "")), sid,
                              names.swarm_id(str(p["metadata"].get("uid") or ""))) for p in snap.pods_of(w)]
    return await _logs(request, b, sources)


async def task_logs(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    snap = await b.snap("workloads", "pods", "nodes", "replicasets")
    for w in snap.workloads:
        for p in snap.pods_of(w):
            tid = names.swarm_id(str(p["metadata"].get("uid") or ""))
            if names.matches(m.group(1), id_=tid, name="") > 0:
                src = logs.LogSource(p["metadata"]["namespace"], p["metadata"]["name"],
                                     snap.node_id(str((p.get("spec") or {}).get("nodeName") or "")),
                                     names.swarm_id(str((w.get("metadata") or {}).get("uid") or "")), tid)
                return await _logs(request, b, [src])
    raise SpecError(f"No such task: {m.group(1)}", 404)


async def tasks(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.list_tasks(request.query.get("filters")))


async def task_inspect(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.inspect_task(m.group(1)))


# --- nodes ----------------------------------------------------------------------------------------
async def node_list(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.list_nodes(request.query.get("filters")))


async def node_inspect(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.inspect_node(m.group(1)))


async def node_update(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    await b.update_node(m.group(1), request.query.get("version"), await _body(request))
    return web.Response(status=200)


async def node_delete(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    await b.delete_node(m.group(1), force=_flag(request, "force"))
    return web.Response(status=200)


# --- secrets, configs -----------------------------------------------------------------------------
def _data_routes(kind: str) -> list[tuple[str, str, Handler]]:
    plural = kind + "s"

    async def lst(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
        return reply(await b.list_data(kind, request.query.get("filters")))

    async def create(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
        return reply(await b.create_data(kind, await _body(request)), 201)

    async def inspect(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
        return reply(await b.inspect_data(kind, m.group(1)))

    async def update(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
        await b.update_data(kind, m.group(1), request.query.get("version"), await _body(request))
        return web.Response(status=200)

    async def delete(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
        await b.delete_data(kind, m.group(1))
        return web.Response(status=204)

    return [("GET", rf"/{plural}", lst), ("POST", rf"/{plural}/create", create),
            ("GET", rf"/{plural}/([^/]+)", inspect), ("POST", rf"/{plural}/([^/]+)/update", update),
            ("DELETE", rf"/{plural}/([^/]+)", delete)]


# --- networks -------------------------------------------------------------------------------------
async def network_list(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.list_networks(request.query.get("filters")))


async def network_inspect(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.inspect_network(m.group(1)))


async def network_create(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.create_network(await _body(request)), 201)


async def network_delete(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    await b.delete_network(m.group(1))
    return web.Response(status=204)


async def distribution(request: web.Request, b: SwarmBackend, m: re.Match[str]) -> web.StreamResponse:
    return error(f"shoal's Swarm API does not query registries (image {m.group(1)}): nodes pull it themselves", 404)


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", r"/_ping", ping), ("HEAD", r"/_ping", ping), ("GET", r"/version", version), ("GET", r"/info", info),
    ("GET", r"/swarm", swarm_inspect), ("POST", r"/swarm/(init|join|leave|update|unlock)", swarm_other),
    ("GET", r"/services", services), ("POST", r"/services/create", service_create),
    ("GET", r"/services/([^/]+)", service_inspect), ("POST", r"/services/([^/]+)/update", service_update),
    ("DELETE", r"/services/([^/]+)", service_delete), ("GET", r"/services/([^/]+)/logs", service_logs),
    ("GET", r"/tasks", tasks), ("GET", r"/tasks/([^/]+)", task_inspect), ("GET", r"/tasks/([^/]+)/logs", task_logs),
    ("GET", r"/nodes", node_list), ("GET", r"/nodes/([^/]+)", node_inspect),
    ("POST", r"/nodes/([^/]+)/update", node_update), ("DELETE", r"/nodes/([^/]+)", node_delete),
    *_data_routes("secret"), *_data_routes("config"),
    ("GET", r"/networks", network_list), ("POST", r"/networks/create", network_create),
    ("GET", r"/networks/([^/]+)", network_inspect), ("DELETE", r"/networks/([^/]+)", network_delete),
    ("GET", r"/distribution/(.+)/json", distribution),
]
_COMPILED = [(method, re.compile(f"^{pattern}/?$"), handler) for method, pattern, handler in ROUTES]


def negotiate(path: str) -> tuple[str, str | None]:
    """(path without its version prefix, an error message if the version is out of range)."""
    m = _VERSIONED.match(path)
    if not m:
        return path, None
    v = (int(m.group(1)), int(m.group(2)))
    asked = f"{m.group(1)}.{m.group(2)}"
    if v > _ver(MAX_API):
        return m.group(3), f"client version {asked} is too new. Maximum supported API version is {MAX_API}"
    if v < _ver(MIN_API):
        return m.group(3), (f"client version {asked} is too old. Minimum supported API version is {MIN_API}, "
                            "please upgrade your client to a newer version")
    return m.group(3), None


# (user, groups) of a client certificate -> whether it may use the whole API
Authorize = Callable[[str, tuple[str, ...]], Awaitable[bool]]


def certificate_identity(peercert: dict[str, Any] | None) -> tuple[str, tuple[str, ...]] | None:
    """The user (CN) and groups (each O) of a verified peer certificate, as ``ssl`` decodes it."""
    if not peercert:
        return None
    cn, groups = "", []
    for rdn in peercert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                groups.append(value)
    return (cn, tuple(groups)) if cn else None


def make_app(backend: SwarmBackend, authorize: Authorize | None = None) -> web.Application:
    """The API; ``authorize``: served over TLS, each request's client certificate must pass it."""

    async def dispatch(request: web.Request) -> web.StreamResponse:
        path, bad_version = negotiate(request.path)
        refused = await _refused(request) if authorize is not None else None
        if refused is not None:
            resp: web.StreamResponse = error(refused, 403)
        elif bad_version:
            resp = error(bad_version, 400)
        else:
            resp = await _route(request, path)
        if not resp.prepared:
            resp.headers["API-Version"] = MAX_API
            resp.headers["Server"] = f"shoal/{shoal.__version__} (linux)"
            resp.headers["OSType"] = "linux"
            resp.headers["Docker-Experimental"] = "false"
            resp.headers["Swarm"] = "active/manager"
        return resp

    async def _refused(request: web.Request) -> str | None:
        assert authorize is not None
        ident = certificate_identity(request.transport.get_extra_info("peercert") if request.transport else None)
        if ident is None:
            return "a client certificate signed by the cluster CA is required"
        user, groups = ident
        if await authorize(user, groups):
            return None
        return (f'user "{user}" may not use the Docker API: it needs every verb on every resource '
                "(cluster-admin), as Docker's API gives control of the whole cluster")

    async def _route(request: web.Request, path: str) -> web.StreamResponse:
        allowed = False
        for method, rx, handler in _COMPILED:
            m = rx.match(path)
            if m is None:
                continue
            allowed = True
            if method != request.method:
                continue
            try:
                return await handler(request, backend, m)
            except SpecError as e:
                return error(e.message, e.status)
            except (ConnectionResetError, web.HTTPException):
                raise
            except Exception as e:  # a bug: say so in Docker's shape, log the traceback
                log.exception("%s %s failed", request.method, request.path)
                return error(f"shoal: internal error: {e!r}", 500)
        if allowed:
            return error(f"method {request.method} not allowed for {path}", 405)
        return error("page not found", 404)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


class DockerApi:
    """The Swarm API on a Unix socket (mode 0600), started and stopped by the server."""

    def __init__(self, backend: SwarmBackend, socket_path: Path | None, *,
                 tcp: tuple[str, int, ssl.SSLContext, Authorize] | None = None) -> None:
        self.backend = backend
        self.socket_path = socket_path
        self.tcp = tcp  # (host, port, server TLS context asking for client certificates, authorizer)
        self.tcp_port = 0
        self._runner: web.AppRunner | None = None
        self._tcp_runner: web.AppRunner | None = None
        self._label_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.socket_path is not None:
            self.socket_path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
            self._runner = web.AppRunner(make_app(self.backend), access_log=None, handle_signals=False)
            await self._runner.setup()
            old = os.umask(0o177)
            try:
                await web.UnixSite(self._runner, str(self.socket_path)).start()
            finally:
                os.umask(old)
            os.chmod(self.socket_path, 0o600)
            log.info("Docker Swarm API on unix://%s", self.socket_path)
        if self.tcp is not None:
            host, port, ctx, authorize = self.tcp
            self._tcp_runner = web.AppRunner(make_app(self.backend, authorize), access_log=None,
                                             handle_signals=False)
            await self._tcp_runner.setup()
            site = web.TCPSite(self._tcp_runner, host, port, ssl_context=ctx, reuse_address=True)
            await site.start()
            self.tcp_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            log.info("Docker Swarm API on tcp://%s:%d (TLS, client certificates)", host, self.tcp_port)
        if self.backend.local_node:
            self._label_task = asyncio.create_task(self.backend.ensure_manager(), name="swarm-manager-label")

    async def stop(self) -> None:
        if self._label_task is not None:
            self._label_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._label_task
        for runner in (self._runner, self._tcp_runner):
            if runner is not None:
                await runner.cleanup()
        self._runner = self._tcp_runner = None
        if self.socket_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
