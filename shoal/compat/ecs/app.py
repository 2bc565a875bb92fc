"""The ECS API's HTTP surface: AWS's JSON 1.1 protocol under ``/ecs`` on the API server's port.

Every request is a POST whose ``X-Amz-Target`` names the operation
(``AmazonEC2ContainerServiceV20141113.CreateService``) and whose body is the
operation's JSON; it is signed with SigV4 by a key ``shoal ecs credentials``
issued. The order is AWS's: the signature is checked before the operation is
looked at, so an unsigned or badly signed request learns nothing. Answers are
``application/x-amz-json-1.1``; errors carry ``__type`` and ``message`` (what
botocore reads) with ECS's status, and never a traceback.

``make_app`` is mounted on the API server's application under ``/ecs``, which
its authentication lets through: SigV4 is this surface's authentication, and
the user a key is bound to is authorized through shoal's RBAC (``authz``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from shoal.client import ApiClient, ApiException
from shoal.compat.ecs import essential, sigv4
from shoal.compat.ecs.authz import Caller
from shoal.compat.ecs.backend import OPERATIONS, EcsBackend
from shoal.compat.ecs.credentials import KeyStore
from shoal.formats.ecs import errors
from shoal.formats.ecs.errors import EcsError

log = logging.getLogger("shoal.compat.ecs")

PREFIX = "/ecs"
TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_BODY = 1024 * 1024


def _answer(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(body).encode(),
                        headers={"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4())})


def _error(e: EcsError) -> web.Response:
    return _answer(e.body(), e.status)


class EcsApi:
    """The ECS API, mounted on the API server by ``shoal server``."""

    def __init__(self, client: ApiClient) -> None:
        self.backend = EcsBackend(client)
        self.keys = KeyStore(client)
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._watcher = asyncio.create_task(essential.run(self.backend), name="ecs-essential-containers")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watcher
            self._watcher = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._handle(request)
        except EcsError as e:
            return _error(e)
        except ApiException as e:
            log.warning("ECS %s: the cluster answered %s", request.headers.get("X-Amz-Target"), e)
            return _error(EcsError(errors.SERVER, f"shoal: the cluster did not answer: {e.message}"))
        except Exception as e:  # a bug: ECS's shape, the traceback in the log
            log.exception("ECS %s failed", request.headers.get("X-Amz-Target"))
            return _error(EcsError(errors.SERVER, f"shoal: internal error: {e!r}"))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            raise EcsError(errors.UNKNOWN_OPERATION, "The ECS API takes POST requests with X-Amz-Target.", 404)
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise EcsError(errors.SERIALIZATION, "The request is too large.", 413)
        body = await request.read()
        auth = sigv4.parse_authorization(request.headers.get("Authorization"))
        cred = await self.keys.find(auth.access_key)
        if cred is None:
            raise EcsError(errors.UNRECOGNIZED_CLIENT, "The security token included in the request is invalid.")
        sigv4.verify(auth, cred.secret_access_key, method=request.method, raw_path=request.rel_url.raw_path,
                     query=request.rel_url.raw_query_string, headers=request.headers, body=body,
                     now=dt.datetime.now(dt.UTC))
        target = request.headers.get("X-Amz-Target", "")
        op = OPERATIONS.get(target[len(TARGET_PREFIX):]) if target.startswith(TARGET_PREFIX) else None
        if op is None:
            raise EcsError(errors.UNKNOWN_OPERATION, f"shoal's ECS API does not serve the operation '{target}'.")
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            raise EcsError(errors.SERIALIZATION, "The request body is not valid JSON.") from None
        if not isinstance(req, dict):
            raise EcsError(errors.SERIALIZATION, "The request body must be a JSON object.")
        result = await op(self.backend, req, Caller(cred.user, cred.groups), auth.region)
        return _answer(result)


def make_app(api: Callable[[], EcsApi | None]) -> web.Application:
    """The sub-application under ``PREFIX``; ``api`` gives the running ``EcsApi`` (None before it starts)."""

    async def dispatch(request: web.Request) -> web.StreamResponse:
        running = api()
        if running is None:
            return _error(EcsError(errors.SERVER, "shoal's ECS API is starting; try again.", 503))
        return await running.handle(request)

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app
