"""Probes run for real from the host: what the ``docker`` and ``process`` drivers answer ``probe`` with.

An exec probe runs its command in the container through the driver's own
``exec``; an HTTP GET or TCP probe connects from the agent's host to the
address the agent resolved (the pod IP, which the host routes to for these
drivers, or the probe's own ``host``), as the kubelet does. Errors become a
failed ``ProbeOutcome`` with the message the kubelet would show; nothing is
raised. Only drivers whose pods have real, host-reachable addresses may use
this: the ``simulated`` driver decides its probes itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable

import aiohttp

from shoal.agent.drivers.base import (
    ExecCheck,
    ExecSession,
    HttpCheck,
    ProbeOutcome,
    ProbeRequest,
    TcpCheck,
)

ExecFn = Callable[[str, list[str]], Awaitable[ExecSession]]


class HostProber:
    """Owns the HTTP session the probes share (no TLS verification, as the kubelet's)."""

    def __init__(self, exec_fn: ExecFn) -> None:
        self._exec = exec_fn
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, force_close=True),
                                               trust_env=False)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def probe(self, request: ProbeRequest) -> ProbeOutcome:
        check = request.check
        try:
            if isinstance(check, ExecCheck):
                return await self._exec_probe(request.container_id, check)
            if isinstance(check, HttpCheck):
                return await self._http_probe(check)
            return await self._tcp_probe(check)
        except (OSError, aiohttp.ClientError, ValueError) as e:
            return ProbeOutcome(False, str(e) or type(e).__name__)
        except Exception as e:  # a driver error: the container is going away
            return ProbeOutcome(False, str(e))

    async def _exec_probe(self, container_id: str, check: ExecCheck) -> ProbeOutcome:
        cmd = list(check.command)
        session = await self._exec(container_id, cmd)
        out = b""
        try:
            async for _, data in session.output():
                out += data
            code = await session.wait()
        finally:
            with contextlib.suppress(Exception):
                await session.kill()
        text = out.decode(errors="replace").strip()[:1024]
        if code == 0:
            return ProbeOutcome(True, text)
        return ProbeOutcome(False, text or f"command {cmd} exited with {code}")

    async def _http_probe(self, check: HttpCheck) -> ProbeOutcome:
        url = f"{check.scheme}://{check.host}:{check.port}{check.path}"
        async with self.http.get(url, headers=dict(check.headers), allow_redirects=False) as resp:
            body = await resp.content.read(10240)
            if 200 <= resp.status < 400:
                return ProbeOutcome(True)
            return ProbeOutcome(False, f"HTTP probe failed with statuscode: {resp.status} {body[:200]!r}")

    async def _tcp_probe(self, check: TcpCheck) -> ProbeOutcome:
        try:
            _, writer = await asyncio.open_connection(check.host, check.port)
        except OSError as e:
            return ProbeOutcome(False, f"dial tcp {check.host}:{check.port}: connect: {e.strerror or e}")
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return ProbeOutcome(True)
