"""The web UI's files, as the API server serves them under ``/ui/``.

The UI is plain ES modules and CSS in ``static/`` (no build step: nothing to
run at install time, nothing but these files at run time). Every file is read
once, at the first request, and kept in memory with its gzip form.

Caching: one *build id* -- a digest over every file's path and bytes -- names
the asset directory, ``/ui/assets/<build>/...``. Module imports inside the UI
are relative, so they stay under that directory, and each asset is served as
``immutable`` for a year: a browser fetches a file once per build. The page
itself (``/ui/``) is ``no-cache`` with an ``ETag``, so a new build is picked
up by the next load, and a stale asset URL (an old build) is answered with
the current file but not cached. ``plan`` is pure: a request's path and
headers in, what to answer out; ``shoal.ui.routes`` does the HTTP.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).parent / "static"
PREFIX = "/ui"
ASSETS = "/ui/assets/"
BUILD_MARK = "{{ASSETS}}"  # where index.html names the asset directory

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
# the page runs only its own code and talks only to this server (fetch, and WebSockets for exec)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None  # None when gzip does not make it smaller
    content_type: str
    etag: str


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")


def _asset(name: str, body: bytes) -> Asset:
    packed = gzip.compress(body, 9, mtime=0)
    digest = hashlib.sha256(body).hexdigest()[:20]
    return Asset(body, packed if len(packed) < len(body) else None, content_type(name), f'"{digest}"')


@dataclass(frozen=True)
class Bundle:
    """Every file of the UI, by its path under ``static/``, and the page that names this build."""

    build: str
    files: dict[str, Asset]
    page: Asset

    @classmethod
    def from_files(cls, raw: dict[str, bytes]) -> Bundle:
        h = hashlib.sha256()
        for name in sorted(raw):
            h.update(name.encode() + b"\0" + raw[name] + b"\0")
        build = h.hexdigest()[:16]
        page = raw.get("index.html", b"").replace(BUILD_MARK.encode(), f"{ASSETS}{build}/".encode())
        files = {n: _asset(n, b) for n, b in raw.items() if n != "index.html"}
        return cls(build, files, _asset("index.html", page))

    @classmethod
    def load(cls, root: Path = STATIC) -> Bundle:
        return cls.from_files({p.relative_to(root).as_posix(): p.read_bytes()
                               for p in sorted(root.rglob("*")) if p.is_file()})

    def plan(self, path: str, headers: dict[str, str]) -> Answer:
        """What ``GET path`` answers (``path`` under ``/ui``; ``headers`` with lower-case names)."""
        if path in (PREFIX, PREFIX + "/index.html"):
            return Answer(301, {"Location": PREFIX + "/", "Cache-Control": REVALIDATE})
        if path == PREFIX + "/":
            return _serve(self.page, headers, REVALIDATE, page=True)
        if path.startswith(ASSETS):
            build, _, name = path[len(ASSETS):].partition("/")
            asset = self.files.get(name)
            if asset is not None and ".." not in name.split("/"):
                return _serve(asset, headers, IMMUTABLE if build == self.build else REVALIDATE, page=False)
        return Answer(404, {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": REVALIDATE},
                      b"404: no such file in the web UI\n")


def _serve(asset: Asset, headers: dict[str, str], cache: str, *, page: bool) -> Answer:
    out = {"Content-Type": asset.content_type, "Cache-Control": cache, "ETag": asset.etag,
           "Vary": "Accept-Encoding", "X-Content-Type-Options": "nosniff"}
    if page:
        out.update(SECURITY_HEADERS)
    if headers.get("if-none-match") == asset.etag:
        return Answer(304, out)
    if asset.gzipped is not None and "gzip" in headers.get("accept-encoding", ""):
        out["Content-Encoding"] = "gzip"
        return Answer(200, out, asset.gzipped)
    return Answer(200, out, asset.body)
