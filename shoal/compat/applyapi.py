"""``POST /shoal/v1/apply``: apply any definition a user pastes, as that user (the web UI's deploy page).

The body is the text of a Kubernetes manifest (one or many documents), a
Compose file, a Marathon app or group, or an ECS task or service definition,
JSON or YAML; ``shoal.compat.apply`` recognises each document and applies it
with its system's own code. The query carries what the documents do not say:
``namespace`` (a Kubernetes object's default namespace; ECS's cluster),
``stack`` (a Compose file's stack name), ``force`` (Kubernetes: take fields
from other managers; Marathon: update during a deployment), ``prune``
(Compose: remove services no longer in the file), ``fieldManager``.

The API server's middleware has authenticated the request (the route is an
ordinary non-resource URL: ``system:basic-user`` lets every authenticated
user post to it) and the composition root gives the handler a client that
carries the caller's own credentials, so every request the appliers make is
authorized as the caller: a user who may not create Deployments gets the 403
for the Deployment. The answer is ``ApplyResult`` (what each document did and
the objects written), or the refusal as a ``Status`` with its system's code
(Marathon's 422 with its details as causes, ECS's exception as the reason).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from shoal.client import ApiClient
from shoal.compat.apply import ApplyError, Options, apply_text

PATH = "/shoal/v1/apply"
ClientFor = Callable[[web.Request], ApiClient | None]


def _status(err: ApplyError) -> web.Response:
    return web.Response(status=err.code, body=json.dumps(err.status()).encode(), content_type="application/json")


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def handler(client_for: ClientFor) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The route's handler; ``client_for`` builds a client acting as the request's caller (None: it cannot)."""

    async def apply(request: web.Request) -> web.StreamResponse:
        try:
            text = (await request.read()).decode()
        except UnicodeDecodeError:
            return _status(ApplyError(400, "BadRequest", "the body is not UTF-8 text"))
        q = request.query
        opts = Options(namespace=q.get("namespace", ""), stack=q.get("stack", ""), force=_flag(request, "force"),
                       prune=_flag(request, "prune"), field_manager=q.get("fieldManager") or "shoal")
        client = client_for(request)
        if client is None:
            return _status(ApplyError(400, "BadRequest", "applying needs a bearer token (sign in with a token): "
                                                         "a client certificate cannot be passed on"))
        messages: list[str] = []
        try:
            async with client:
                res = await apply_text(client, text, opts, say=messages.append)
        except ApplyError as e:
            return _status(e)
        body: dict[str, Any] = {
            "apiVersion": "shoal.io/v1", "kind": "ApplyResult", "results": res.lines,
            "messages": [m for m in messages if m not in res.lines],
            "objects": [{"kind": o.kind, "namespace": o.namespace, "name": o.name, "action": o.action}
                        for o in res.objects]}
        return web.Response(body=json.dumps(body).encode(), content_type="application/json")

    return apply
