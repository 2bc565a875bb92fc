"""``/ui/`` on the API server: the web UI's page and files, to anyone.

The files hold no data and no secret, so they are served without
authentication (as upstream serves ``/version``): the page asks for a token
(or relies on the browser's client certificate) and then reads everything
through the ordinary Kubernetes API as that user, so it sees exactly what the
user may see. What each path answers is decided in ``shoal.ui.assets``.
"""

from __future__ import annotations

from aiohttp import web

from shoal.ui.assets import PREFIX, Bundle


def is_ui_path(path: str) -> bool:
    """A path this module serves (the API server lets these through without authentication)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


class UiRoutes:
    def __init__(self, bundle: Bundle | None = None) -> None:
        self._bundle = bundle

    @property
    def bundle(self) -> Bundle:
        if self._bundle is None:  # read at the first request: a server that never serves the UI pays nothing
            self._bundle = Bundle.load()
        return self._bundle

    async def serve(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        headers = {k.lower(): v for k, v in request.headers.items()}
        answer = self.bundle.plan(request.path, headers)
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    def install(self, router: web.UrlDispatcher) -> None:
        router.add_route("*", PREFIX, self.serve)
        router.add_route("*", PREFIX + "/{tail:.*}", self.serve)
