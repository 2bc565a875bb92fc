"""The agent follows the API servers: it learns them from the ``kubernetes`` endpoints (the I/O).

As a k3s agent's load balancer: the agent starts from the ``--server`` URLs it
was given, watches the ``kubernetes`` Endpoints in ``default`` (every live API
server publishes itself there: ``shoal.apiserver.serverlease``) and hands the
list ``shoal.client.serverlist.plan`` decides to its failover transport, so an
agent given one server keeps working when that server goes, through the
others. The Node authorizer lets every node read it (``get`` from upstream's
``system:node``, ``list``/``watch`` from ``system:shoal:node-agent``).

A learned address is used only once a request to it has passed TLS
verification with the cluster CA: its serving certificate must name that
address (``shoal.apiserver.certs``: every server's names its advertised
address). One that does not, or that this machine cannot reach (a server
advertising an address only its own network routes), is skipped with one log
line, and tried again on the next change of the endpoints or every
``recheck`` seconds. The configured URLs are used as given (the operator chose
them), and always kept.

Failures here are logged, never fatal: the agent keeps the list it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp

from shoal.client import ApiClient, serverlist
from shoal.client.failover import FailoverTransport
from shoal.client.httptransport import HttpTransport
from shoal.client.informer import Informer

log = logging.getLogger(__name__)

NAMESPACE = "default"
NAME = "kubernetes"
RECHECK = 30.0  # seconds between passes without a change (retrying addresses that failed their check)
PROBE_TIMEOUT = 5.0


async def check(t: HttpTransport, *, timeout: float = PROBE_TIMEOUT) -> tuple[str, str] | None:
    """None when a request to ``t``'s server gets an answer over verified TLS; else (why, detail)."""
    try:
        await t.request("GET", "/livez", timeout=timeout)
    except aiohttp.ClientConnectorCertificateError as e:
        return "its certificate is not valid for that address", str(e.certificate_error)
    except aiohttp.ClientSSLError as e:
        return "TLS failed", str(e)
    except (OSError, TimeoutError, aiohttp.ClientError) as e:
        return "not reachable from here", repr(e)
    return None


Checker = Callable[[HttpTransport], Awaitable[tuple[str, str] | None]]


class ServerFollower:
    """See the module docstring. ``start`` once the client works; ``stop`` before closing it."""

    def __init__(self, client: ApiClient, balancer: FailoverTransport, *, configured: Sequence[str],
                 recheck: float = RECHECK, checker: Checker = check) -> None:
        self.balancer = balancer
        self.configured = [u.rstrip("/") for u in configured]
        self.recheck = recheck
        self.checker = checker
        self.informer = Informer(client, "endpoints", namespace=NAMESPACE, field_selector=f"metadata.name={NAME}")
        self.passed: set[str] = set()  # learned URLs whose check passed
        self.failed: dict[str, str] = {}  # learned URL -> why its last check failed
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _kick(self, *_: Any) -> None:
        self._changed.set()

    async def start(self) -> None:
        self.informer.add_handler(on_add=self._kick, on_update=self._kick, on_delete=self._kick)
        self.informer.start()
        self._task = asyncio.create_task(self._run(), name="agent-apiservers")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.informer.stop()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.recheck)
            self._changed.clear()
            try:
                await self.sync()
            except Exception:
                log.exception("agent: following the API servers")

    async def sync(self) -> None:
        """One pass: the endpoints as the informer has them -> the balancer's list."""
        if not self.informer.synced:
            return
        learned = serverlist.endpoint_urls(self.informer.get_by(NAMESPACE, NAME))
        await asyncio.gather(*(self._check(u) for u in learned if u not in self.configured and u not in self.passed))
        usable = [u for u in learned if u in self.configured or u in self.passed]
        # no await from here on: the server in use is the one the new list keeps in use
        chosen = serverlist.plan(configured=self.configured, learned=usable, current=self.balancer.server)
        if list(chosen.servers) != self.balancer.servers:
            log.info("agent: API servers %s (using %s)", ", ".join(chosen.servers), chosen.servers[chosen.current])
            self.balancer.set_servers(chosen.servers, chosen.current)

    async def _check(self, url: str) -> None:
        failed = await self.checker(self.balancer.transport_for(url))
        if failed is None:
            self.passed.add(url)
            self.failed.pop(url, None)
            return
        why, detail = failed
        if self.failed.get(url) != why:  # one line per address and reason, not one per pass
            log.warning("agent: API server %s (from the kubernetes endpoints) not used: %s (%s)", url, why, detail)
        self.failed[url] = why
