"""Marathon's REST API v2 as an aiohttp application, mounted at ``/marathon`` on the API server's port.

Each request is authenticated by what it carries: ``Authorization: Bearer
<token>`` or DC/OS's ``Authorization: token=<token>``. The token is not
checked here: the request's backend talks to the Kubernetes API with it (a
client per token, kept for reuse), so the API server authenticates and
authorizes every read and write as that user, exactly as for kubectl. A
request without credentials is 401 before anything is read; ``/ping`` is
answered to anyone, as Marathon's is.

Routing is a table of (method, pattern, handler); an app id may hold
slashes, so the patterns for ``.../restart``, ``.../tasks`` and
``.../versions`` come before the bare id. Every refusal leaves as Marathon's
JSON (``MarathonError``'s status and body); a bug is a 500 with a message,
never a traceback.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

from aiohttp import web

import shoal
from shoal.client import ApiClient
from shoal.compat.marathon.backend import MarathonBackend
from shoal.compat.marathon.stream import EventStream
from shoal.formats.marathon import errors, ids
from shoal.formats.marathon.errors import MarathonError

log = logging.getLogger("shoal.compat.marathon")

PREFIX = "/marathon"
MARATHON_VERSION = "1.11.0"  # the API shoal answers as (clients check it)
Handler = Callable[[web.Request, MarathonBackend, re.Match[str]], Awaitable[web.StreamResponse]]
ClientFactory = Callable[[str], ApiClient]


def reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(), content_type="application/json",
                        headers=headers)


def token_of(header: str | None) -> str | None:
    """The token of ``Authorization: Bearer X`` or DC/OS's ``Authorization: token=X``."""
    if not header:
        return None
    h = header.strip()
    if h[:7].lower() == "bearer ":
        return h[7:].strip() or None
    if h[:6].lower() == "token=":
        return h[6:].strip() or None
    return None


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as e:
        raise errors.bad_json(str(e)) from None


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def _embed(request: web.Request) -> list[str]:
    return [e for v in request.query.getall("embed", []) for e in v.split(",") if e]


def _app_id(m: re.Match[str]) -> str:
    return ids.canonical(m.group(1))


def _deployed(body: dict[str, Any], status: int = 200) -> web.Response:
    return reply(body, status, headers={"Marathon-Deployment-Id": str(body.get("deploymentId") or "")})


# --- apps -----------------------------------------------------------------------------------------
async def apps_list(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply({"apps": await b.list_apps(embed=_embed(request), label=request.query.get("label"),
                                            id_=request.query.get("id"), cmd=request.query.get("cmd"))})


async def apps_in_group(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    gid = ids.canonical(m.group(1))
    apps = [a for a in await b.list_apps(embed=_embed(request)) if ids.is_under(a["id"], gid)]
    return reply({"apps": apps})


async def app_create(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    app = await b.create_app(await _body(request))
    return reply(app, 201, headers={"Location": f"{PREFIX}/v2/apps{app['id']}",
                                    "Marathon-Deployment-Id": app["deployments"][0]["id"]})


async def app_get(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply({"app": await b.get_app(_app_id(m))})


async def app_put(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    partial = request.method == "PATCH" or request.query.get("partialUpdate", "true").lower() != "false"
    status, out = await b.update_app(_app_id(m), await _body(request), partial=partial, force=_flag(request, "force"),
                                     upsert=request.method == "PUT")
    return _deployed(out, status)


async def app_delete(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return _deployed(await b.delete_app(_app_id(m), force=_flag(request, "force")))


async def app_restart(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return _deployed(await b.restart_app(_app_id(m), force=_flag(request, "force")))


async def app_versions(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply({"versions": await b.versions(_app_id(m))})


async def app_version(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.version(_app_id(m), m.group(2)))


async def app_tasks(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply({"tasks": await b.list_tasks(_app_id(m))})


async def app_tasks_kill(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    out = await b.kill_tasks([], app_id=_app_id(m), host=request.query.get("host"), scale=_flag(request, "scale"),
                             force=_flag(request, "force"))
    return _deployed(out) if "deploymentId" in out else reply(out)


async def app_task_kill(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    app_id, tid = _app_id(m), m.group(2)
    out = await b.kill_tasks([tid], scale=_flag(request, "scale"), force=_flag(request, "force"))
    if "tasks" in out:
        if not out["tasks"]:
            raise MarathonError(404, {"message": f"Task '{tid}' does not exist"})
        return reply({"task": out["tasks"][0]})
    del app_id
    return _deployed(out)


# --- tasks ----------------------------------------------------------------------------------------
async def tasks_list(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply({"tasks": await b.list_tasks(status=request.query.get("status"))})


async def tasks_delete(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    body = await _body(request)
    task_ids = body.get("ids") if isinstance(body, dict) else None
    if not isinstance(task_ids, list) or not all(isinstance(t, str) for t in task_ids):
        raise errors.one_invalid("/ids", "error.expected.jsarray of task ids")
    out = await b.kill_tasks(task_ids, scale=_flag(request, "scale"), force=_flag(request, "force"))
    return _deployed(out) if "deploymentId" in out else reply(out)


# --- groups ---------------------------------------------------------------------------------------
def _gid(m: re.Match[str]) -> str:
    return ids.canonical(m.group(1) if m.groups() and m.group(1) else "/")


async def group_get(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    embed = _embed(request)
    return reply(await b.get_group(_gid(m), embed_apps=not embed or "group.apps" in embed))


async def group_post(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    status, out = await b.put_group(await _body(request), gid=_gid(m), create=True, force=_flag(request, "force"))
    return _deployed(out, status)


async def group_put(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    status, out = await b.put_group(await _body(request), gid=_gid(m), create=False, force=_flag(request, "force"))
    return _deployed(out, status)


async def group_delete(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return _deployed(await b.delete_group(_gid(m), force=_flag(request, "force")))


# --- deployments, queue, info, events -------------------------------------------------------------
async def deployments_list(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply(await b.deployments())


async def deployment_delete(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    status, out = await b.delete_deployment(m.group(1), force=_flag(request, "force"))
    return _deployed(out, status) if out else web.Response(status=status)


async def queue(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply({"queue": await b.queue()})


def _leader(request: web.Request) -> str:
    return request.host or "127.0.0.1:6443"


async def info(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    await b.snap(pods=False)  # the caller may read apps, or this is their 401/403
    return reply({"name": "marathon", "version": MARATHON_VERSION, "buildref": f"shoal {shoal.__version__}",
                  "elected": True, "leader": _leader(request), "frameworkId": "shoal",
                  "marathon_config": {"master": "shoal", "hostname": _leader(request).rsplit(":", 1)[0],
                                      "http_port": None, "https_port": None, "checkpoint": True,
                                      "failover_timeout": 604800, "local_port_min": 10000,
                                      "local_port_max": 20000, "mesos_role": "*", "features": []},
                  "zookeeper_config": {}, "http_config": {"http_port": None, "https_port": None},
                  "event_subscriber": {"type": "http_callback"}})


async def leader(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    return reply({"leader": _leader(request)})


async def ping(request: web.Request, b: MarathonBackend | None, m: re.Match[str]) -> web.StreamResponse:
    return web.Response(text="pong", content_type="text/plain", headers={"Cache-Control": "must-revalidate,no-cache,no-store"})


async def event_stream(request: web.Request, b: MarathonBackend, m: re.Match[str]) -> web.StreamResponse:
    types = set(request.query.getall("event_type", []))
    stream = EventStream(b.client, types=types)
    frames: AsyncGenerator[bytes, None] = stream.frames()
    first = await frames.__anext__()  # the list is done before the stream is: a 401/403 is still an answer
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    await resp.write(first)
    try:
        async for chunk in frames:
            await resp.write(chunk)
    except (ConnectionResetError, RuntimeError):
        pass
    finally:
        await frames.aclose()
    return resp


_APP = r"(/.+?)"
ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", r"/v2/apps", apps_list), ("POST", r"/v2/apps", app_create),
    ("GET", rf"/v2/apps{_APP}/\*", apps_in_group),
    ("POST", rf"/v2/apps{_APP}/restart", app_restart),
    ("GET", rf"/v2/apps{_APP}/tasks", app_tasks), ("DELETE", rf"/v2/apps{_APP}/tasks", app_tasks_kill),
    ("DELETE", rf"/v2/apps{_APP}/tasks/([^/]+)", app_task_kill),
    ("GET", rf"/v2/apps{_APP}/versions", app_versions), ("GET", rf"/v2/apps{_APP}/versions/([^/]+)", app_version),
    ("GET", rf"/v2/apps{_APP}", app_get), ("PUT", rf"/v2/apps{_APP}", app_put),
    ("PATCH", rf"/v2/apps{_APP}", app_put), ("DELETE", rf"/v2/apps{_APP}", app_delete),
    ("GET", r"/v2/tasks", tasks_list), ("POST", r"/v2/tasks/delete", tasks_delete),
    ("GET", r"/v2/groups()", group_get), ("POST", r"/v2/groups()", group_post), ("PUT", r"/v2/groups()", group_put),
    ("GET", r"/v2/groups(/.+?)", group_get), ("POST", r"/v2/groups(/.+?)", group_post),
    ("PUT", r"/v2/groups(/.+?)", group_put), ("DELETE", r"/v2/groups(/.+?)", group_delete),
    ("GET", r"/v2/deployments", deployments_list), ("DELETE", r"/v2/deployments/([^/]+)", deployment_delete),
    ("GET", r"/v2/queue", queue), ("GET", r"/v2/info", info), ("GET", r"/v2/leader", leader),
    ("GET", r"/v2/events", event_stream),
]
_COMPILED = [(method, re.compile(f"^{pattern}/?$"), handler) for method, pattern, handler in ROUTES]


class Clients:
    """One API client per caller's token, the most recent ``size`` kept open."""

    def __init__(self, factory: ClientFactory, *, size: int = 64) -> None:
        self.factory = factory
        self.size = size
        self._by_token: OrderedDict[str, MarathonBackend] = OrderedDict()
        self._closing: list[ApiClient] = []

    def backend(self, token: str) -> MarathonBackend:
        b = self._by_token.get(token)
        if b is None:
            b = self._by_token[token] = MarathonBackend(self.factory(token))
            while len(self._by_token) > self.size:
                _, old = self._by_token.popitem(last=False)
                self._closing.append(old.client)
        else:
            self._by_token.move_to_end(token)
        return b

    async def close(self) -> None:
        for b in self._by_token.values():
            self._closing.append(b.client)
        self._by_token.clear()
        for c in self._closing:
            await c.close()
        self._closing.clear()


def make_app(clients: Clients) -> web.Application:
    async def dispatch(request: web.Request) -> web.StreamResponse:
        path = request.match_info.get("tail", "")
        path = "/" + path.lstrip("/")
        if path.rstrip("/") == "/ping":
            return await ping(request, None, re.match("", ""))  # type: ignore[arg-type]
        allowed = False
        for method, rx, handler in _COMPILED:
            m = rx.match(path)
            if m is None:
                continue
            allowed = True
            if method != request.method:
                continue
            token = token_of(request.headers.get("Authorization"))
            if token is None:
                return reply({"message": "Unauthorized: this API needs 'Authorization: Bearer <token>' "
                                         "or 'Authorization: token=<token>'"}, 401,
                             headers={"WWW-Authenticate": 'Bearer realm="shoal"'})
            try:
                return await handler(request, clients.backend(token), m)
            except MarathonError as e:
                return reply(e.body, e.status)
            except (ConnectionResetError, web.HTTPException):
                raise
            except Exception as e:  # a bug: say so in Marathon's shape, log the traceback
                log.exception("%s %s failed", request.method, request.path)
                return reply({"message": f"shoal: internal error: {e!r}"}, 500)
        if allowed:
            return reply({"message": f"HTTP method {request.method} is not allowed for {path}"}, 405)
        return reply({"message": f"{path} is not a Marathon API path"}, 404)

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", dispatch)

    async def close(_: web.Application) -> None:
        await clients.close()

    app.on_cleanup.append(close)
    return app
