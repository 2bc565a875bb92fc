"""A small Docker Engine API client: JSON requests, multiplexed streams, hijacked exec.

Docker and Podman serve the same REST API, over a Unix socket or TCP. Plain
requests go through one aiohttp session (keep-alive, no new dependency).
``exec`` needs the connection itself after the ``101 UPGRADED`` answer (stdin
goes up the same socket the output comes down), which aiohttp does not hand
over cleanly, so that one request is written by hand on a raw asyncio stream.

Errors become ``EngineError`` with the engine's own message, which the driver
turns into the Kubernetes reasons users see.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp

API_VERSION = "v1.41"
DEFAULT_SOCKETS = ("/run/podman/podman.sock", "/var/run/docker.sock")


class EngineError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def resolve_host(docker_host: str | None) -> str | None:
    """The engine URL to use: the flag, ``DOCKER_HOST``, then the usual sockets that exist."""
    if docker_host:
        return docker_host
    env = os.environ.get("DOCKER_HOST")
    if env:
        return env
    for path in DEFAULT_SOCKETS:
        if os.path.exists(path):
            return f"unix://{path}"
    return None


def socket_path(host: str) -> str | None:
    """The Unix socket path of a ``unix://`` URL, else None."""
    u = urlsplit(host)
    if u.scheme == "unix":
        return u.path or u.netloc
    return None


async def demux(reader: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes]]:
    """Split Docker's multiplexed stream (8-byte headers: stream, 0, 0, 0, size) into frames."""
    buf = b""
    async for chunk in reader:
        buf += chunk
        while len(buf) >= 8:
            stream, size = buf[0], struct.unpack(">I", buf[4:8])[0]
            if len(buf) < 8 + size:
                break
            yield (2 if stream == 2 else 1), buf[8 : 8 + size]
            buf = buf[8 + size :]
    if buf:
        yield 1, buf


class Engine:
    """One engine endpoint (``unix:///run/podman/podman.sock``, ``tcp://host:2375``)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._unix = socket_path(host)
        if self._unix is None:
            u = urlsplit(host)
            if u.scheme not in ("tcp", "http"):
                raise ValueError(f"unsupported docker host {host!r} (unix:// or tcp://)")
            self._tcp = (u.hostname or "127.0.0.1", u.port or 2375)
            self.base = f"http://{self._tcp[0]}:{self._tcp[1]}/{API_VERSION}"
        else:
            self.base = f"http://engine/{API_VERSION}"
        self._session: aiohttp.ClientSession | None = None

    @property
    def local(self) -> bool:
        """The engine runs on this machine (its kernel log and processes are ours to read)."""
        return self._unix is not None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            conn: aiohttp.BaseConnector
            if self._unix is not None:
                conn = aiohttp.UnixConnector(path=self._unix, limit=64)
            else:
                conn = aiohttp.TCPConnector(limit=64)
            self._session = aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=None))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                      body: Any = None, timeout: float = 120) -> Any:
        """One JSON request; raises ``EngineError`` on a status >= 400."""
        try:
            async with self.session.request(
                method, self.base + path, params=_params(params), json=body,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise EngineError(resp.status, _message(raw))
                if not raw:
                    return None
                try:
                    return json.loads(raw)
                except ValueError:
                    return raw
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise EngineError(0, f"cannot reach the container engine at {self.host}: {e!r}") from e

    async def stream(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                     body: Any = None) -> AsyncIterator[bytes]:
        """A long response, chunk by chunk (logs, pull progress, events)."""
        try:
            async with self.session.request(
                method, self.base + path, params=_params(params), json=body,
                timeout=aiohttp.ClientTimeout(total=None, sock_read=None),
            ) as resp:
                if resp.status >= 400:
                    raise EngineError(resp.status, _message(await resp.read()))
                async for chunk in resp.content.iter_any():
                    yield chunk
        except (aiohttp.ClientError, OSError) as e:
            raise EngineError(0, f"stream {path}: {e!r}") from e

    async def hijack(self, path: str, body: Any) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """POST ``path`` asking for a raw connection (exec start); returns the open stream. ``body`` None:
        no body (an attach, whose connection carries the container's stdin from the first byte)."""
        if self._unix is not None:
            reader, writer = await asyncio.open_unix_connection(self._unix)
        else:
            reader, writer = await asyncio.open_connection(*self._tcp)
        data = b"" if body is None else json.dumps(body).encode()
        head = (f"POST /{API_VERSION}{path} HTTP/1.1\r\nHost: engine\r\nContent-Type: application/json\r\n"
                f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(data)}\r\n\r\n")
        writer.write(head.encode() + data)
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.decode(errors="replace").split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode(errors="replace").partition(":")
            headers[k.strip().lower()] = v.strip()
        if status >= 400 or status == 0:
            n = int(headers.get("content-length") or 0)
            raw = await reader.readexactly(n) if n else b""
            writer.close()
            raise EngineError(status, _message(raw) or status_line.decode(errors="replace").strip())
        return reader, writer


def _params(params: dict[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    out: dict[str, str] = {}
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            out[k] = "1" if v else "0"
        elif isinstance(v, dict | list):
            out[k] = json.dumps(v)
        else:
            out[k] = str(v)
    return out


def _message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()
    if isinstance(body, dict):
        return str(body.get("message") or body.get("cause") or body)
    return str(body)


def query(params: dict[str, Any]) -> str:
    p = _params(params)
    return "?" + urlencode(p) if p else ""
