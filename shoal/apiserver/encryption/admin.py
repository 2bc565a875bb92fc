"""The server's side of ``shoal secrets-encrypt``: reload the configuration, say which key the values use.

``POST /shoal/v1/encryption/reload`` re-reads the file the server was started
with (``--encryption-provider-config``; never a path the client names) and
answers each entry's write key; a file that does not parse leaves the running
configuration alone and answers 400 with why. A reload on request, not on
the file's mtime: the command must know the new key is in use before it
rewrites anything (a watcher would leave it guessing when, and rewriting
under the old key would finish nothing), and an error reaches the person who
ran it instead of a log line.

``GET /shoal/v1/encryption/status`` reads every stored value under
``/registry/`` as stored and counts those of the encrypted resources by the
key that wrote them (``rotation.tally``).

Both are non-resource URLs behind the API's authentication and authorization
(cluster-admin has them; nobody else unless granted).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from shoal.apiserver.encryption import options, rotation
from shoal.apiserver.encryption.config import ConfigError
from shoal.apiserver.encryption.store import EncryptedStore, resource_of

RELOAD_PATH = "/shoal/v1/encryption/reload"
STATUS_PATH = "/shoal/v1/encryption/status"

Route = tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode(body), content_type="application/json")


def _keys(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"resources": r, "provider": p, "name": n} for r, p, n in rotation.write_keys(doc)]


def routes(store: EncryptedStore, path: str) -> list[Route]:
    state: dict[str, Any] = {"doc": options.load(path)[1]}

    async def reload(request: web.Request) -> web.Response:
        try:
            config, doc = options.load(path)
        except ConfigError as e:
            return _json({"message": f"{path}: {e}"}, 400)
        store.reload(config)
        state["doc"] = doc
        return _json({"keys": _keys(doc)})

    async def status(request: web.Request) -> web.Response:
        values: list[tuple[str, bytes]] = []
        async for page in store.raw("/registry/"):
            values += [(kv.key, kv.value) for kv in page]
        t = rotation.tally(store.config, values, resource_of)
        return _json({"keys": _keys(state["doc"]), "total": t.total, "current": t.current, "other": t.other})

    return [("POST", RELOAD_PATH, reload), ("GET", STATUS_PATH, status)]
