"""What ``/ui/`` answers (``shoal.ui.assets.Bundle.plan``), as a table; and the real files, over HTTPS."""

from __future__ import annotations

import gzip

import pytest
import requests

from shoal.ui.assets import ASSETS, IMMUTABLE, REVALIDATE, Bundle
from tests.server_fixture import RunningServer

FILES = {"index.html": b"<script src=\"{{ASSETS}}js/main.js\"></script>" + b" " * 400,
         "js/main.js": b"import './api.js';\n" * 50, "style.css": b"body{}", "logo.png": b"\x89PNG"}
B = Bundle.from_files(FILES)


@pytest.mark.parametrize(("path", "headers", "status", "want"), [
    ("/ui", {}, 301, {"Location": "/ui/"}),
    ("/ui/index.html", {}, 301, {"Location": "/ui/"}),
    ("/ui/", {}, 200, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": REVALIDATE,
                       "X-Frame-Options": "DENY"}),
    (f"{ASSETS}{B.build}/js/main.js", {}, 200, {"Content-Type": "text/javascript; charset=utf-8",
                                                 "Cache-Control": IMMUTABLE}),
    (f"{ASSETS}{B.build}/style.css", {}, 200, {"Content-Type": "text/css; charset=utf-8"}),
    (f"{ASSETS}{B.build}/logo.png", {}, 200, {"Content-Type": "image/png"}),
    # an old build's URL gets today's file, but nothing caches it for long
    (f"{ASSETS}0000000000000000/js/main.js", {}, 200, {"Cache-Control": REVALIDATE}),
    (f"{ASSETS}{B.build}/js/nothing.js", {}, 404, {}),
    (f"{ASSETS}{B.build}/../index.html", {}, 404, {}),
    (f"{ASSETS}{B.build}/index.html", {}, 404, {}),  # the page only at /ui/ (it names the build)
    ("/ui/secret", {}, 404, {}),
])
def test_plan(path: str, headers: dict[str, str], status: int, want: dict[str, str]) -> None:
    a = B.plan(path, headers)
    assert a.status == status
    for k, v in want.items():
        assert a.headers[k] == v


def test_the_page_names_this_build_and_revalidates_by_etag() -> None:
    page = B.plan("/ui/", {})
    assert f"{ASSETS}{B.build}/js/main.js".encode() in page.body
    assert B.plan("/ui/", {"if-none-match": page.headers["ETag"]}).status == 304
    assert B.plan("/ui/", {"if-none-match": '"other"'}).status == 200


def test_gzip_when_asked_and_smaller() -> None:
    js = f"{ASSETS}{B.build}/js/main.js"
    packed = B.plan(js, {"accept-encoding": "gzip, br"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.body) == FILES["js/main.js"]
    assert "Content-Encoding" not in B.plan(js, {}).headers
    assert "Content-Encoding" not in B.plan(f"{ASSETS}{B.build}/logo.png", {"accept-encoding": "gzip"}).headers


def test_any_change_is_a_new_build() -> None:
    assert Bundle.from_files({**FILES, "style.css": b"body{color:red}"}).build != B.build
    assert Bundle.from_files(dict(FILES)).build == B.build


def test_the_shipped_files_load() -> None:
    real = Bundle.load()
    for name in ("js/main.js", "js/api.js", "style.css", "vendor/js-yaml.min.js", "favicon.svg"):
        assert name in real.files, name
    for ref in (b"js/main.js", b"style.css"):
        assert f"{ASSETS}{real.build}/".encode() + ref in real.page.body


def test_served_by_the_api_server_without_a_token(server: RunningServer) -> None:
    s = requests.Session()
    s.trust_env = False
    s.verify = server.ca
    r = s.get(server.url + "/ui", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/ui/"
    page = s.get(server.url + "/ui/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    build = Bundle.load().build
    js = s.get(f"{server.url}{ASSETS}{build}/js/main.js")
    assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")
    assert js.headers["Cache-Control"] == IMMUTABLE
    assert s.get(f"{server.url}{ASSETS}{build}/js/main.js", headers={"If-None-Match": js.headers["ETag"]}).status_code == 304
    # the API beside it still wants a token
    assert s.get(server.url + "/api/v1/pods").status_code == 401
