"""The HTTPS call to one webhook: where it listens, the TLS it must present, the deadline.

A ``url`` is called as written; a ``service`` is reached at one of its
Endpoints' addresses (the port the Service's port maps to), with the TLS
server name ``<service>.<namespace>.svc`` that its certificate must carry, as
upstream's resolver does with aggregator routing. ``caBundle`` (PEM, base64 on
the wire) is the only trust for that webhook; without one, the system's roots.
Every call appends ``?timeout=<n>s`` as client-go does and is abandoned at
that deadline. Failures raise ``CallError`` worded as Go's HTTP client words
them (``Post "https://...": context deadline exceeded``), because that is what
users of upstream see in the Status and search for.
"""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

MAX_RESPONSE = 3 * 1024 * 1024

# (namespace, name, port) -> (host, port) of an endpoint; raises CallError when there is none
ServiceResolver = Callable[[str, str, int], Awaitable[tuple[str, int]]]


class CallError(Exception):
    """The webhook could not be called, or did not answer a 200 (a "failed to call webhook" error)."""


def display_url(client_config: dict[str, Any], timeout: int) -> str:
    """The URL as upstream names it in errors (the service's DNS name, not the address called)."""
    url = client_config.get("url")
    if isinstance(url, str) and url:
        base = url
    else:
        svc = client_config.get("service") or {}
        base = f"https://{svc.get('name')}.{svc.get('namespace')}.svc:{svc.get('port') or 443}{svc.get('path') or '/'}"
    return f"{base}{'&' if '?' in base else '?'}timeout={timeout}s"


class Caller:
    """One pooled HTTP client for every webhook of a server, and one TLS context per caBundle."""

    def __init__(self, resolve_service: ServiceResolver) -> None:
        self._resolve = resolve_service
        self._session: aiohttp.ClientSession | None = None
        self._contexts: dict[str, ssl.SSLContext] = {}

    def _context(self, ca_bundle: str | None) -> ssl.SSLContext:
        key = ca_bundle or ""
        ctx = self._contexts.get(key)
        if ctx is None:
            if ca_bundle:
                try:
                    pem = base64.b64decode(ca_bundle).decode()
                    ctx = ssl.create_default_context(cadata=pem)
                except (ValueError, ssl.SSLError) as e:
                    raise CallError(f"unable to load root certificates: {e}") from None
            else:
                ctx = ssl.create_default_context()
            if len(self._contexts) > 256:
                self._contexts.clear()
            self._contexts[key] = ctx
        return ctx

    def _sess(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30), trust_env=False,
                auto_decompress=True)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, client_config: dict[str, Any], body: bytes, *, timeout: int) -> bytes:
        """POST ``body`` to the webhook; its answer's bytes, or ``CallError``."""
        shown = display_url(client_config, timeout)
        try:
            async with asyncio.timeout(timeout):
                return await self._post(client_config, body, timeout, shown)
        except TimeoutError:
            raise CallError(f'Post "{shown}": context deadline exceeded') from None

    async def _post(self, client_config: dict[str, Any], body: bytes, timeout: int, shown: str) -> bytes:
        ctx = self._context(client_config.get("caBundle"))
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        server_hostname: str | None = None
        url = client_config.get("url")
        if isinstance(url, str) and url:
            target = f"{url}{'&' if '?' in url else '?'}timeout={timeout}s"
        else:
            svc = client_config.get("service") or {}
            ns, name, port = str(svc.get("namespace")), str(svc.get("name")), int(svc.get("port") or 443)
            try:
                host, hport = await self._resolve(ns, name, port)
            except CallError as e:
                raise CallError(f'Post "{shown}": {e}') from None
            server_hostname = f"{name}.{ns}.svc"
            headers["Host"] = f"{server_hostname}:{port}"
            h = f"[{host}]" if ":" in host else host
            target = f"https://{h}:{hport}{svc.get('path') or '/'}?timeout={timeout}s"
        try:
            async with self._sess().post(target, data=body, headers=headers, ssl=ctx,
                                         server_hostname=server_hostname, allow_redirects=False) as resp:
                data = await resp.content.read(MAX_RESPONSE + 1)
                if len(data) > MAX_RESPONSE:
                    raise CallError(f'Post "{shown}": the response is larger than {MAX_RESPONSE} bytes')
                if resp.status != 200:
                    raise CallError(_status_error(resp.status, data))
                return data
        except aiohttp.ClientConnectorCertificateError as e:
            raise CallError(f'Post "{shown}": tls: failed to verify certificate: {_cert_reason(e)}') from None
        except aiohttp.ClientSSLError as e:
            raise CallError(f'Post "{shown}": tls: {e}') from None
        except aiohttp.ClientConnectorError as e:
            errno = e.os_error.errno
            why = os.strerror(errno).lower() if errno else str(e.os_error)
            raise CallError(f'Post "{shown}": dial tcp {e.host}:{e.port}: connect: {why}') from None
        except aiohttp.ClientError as e:
            raise CallError(f'Post "{shown}": {e or type(e).__name__}') from None


def _cert_reason(e: aiohttp.ClientConnectorCertificateError) -> str:
    err = e.certificate_error
    text = getattr(err, "verify_message", None) or str(err)
    if any(t in text for t in ("unable to get local issuer", "self-signed", "self signed", "signature failure")):
        return "x509: certificate signed by unknown authority"
    if "Hostname mismatch" in text or "IP address mismatch" in text:
        return f"x509: certificate is not valid for the name called ({text})"
    return f"x509: {text}"


def _status_error(code: int, body: bytes) -> str:
    text = body[:512].decode(errors="replace").strip()
    if code >= 500:
        return f'an error on the server ("{text}") has prevented the request from succeeding'
    return f"the server responded with the status code {code} but did not return more information"
