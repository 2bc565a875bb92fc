"""A running agent renews its node certificate itself, as the kubelet does with ``rotateCertificates``.

At the certificate's rotation deadline (``shoal.agent.certrotation``: 70-90 %
of its lifetime) the agent makes a new key and a certificate request for the
same subject and posts it to ``/shoal/v1/node-join`` over a new connection
authenticated by its *current* certificate, not the join token: the server
approves it by upstream's csrapproving ``selfnodeclient`` rule (a node asking
for its own name; any other name is the ``nodeclient`` case, which a node may
not create: 403, nothing signed; ``shoal.apiserver.authn.nodejoin``). The new
pair replaces the old in the data dir (``nodecert.store``), and the API
client's transports open their next connections with it (``renew_connections``:
the connections open now end after a grace period: 30 s, or less if the old
certificate expires sooner, so that no connection outlives the certificate
it was opened with, which is why the kubelet closes its connections after a
rotation) -- no restart.

A failed attempt is retried with upstream's backoff (2 s doubling to 32 s,
then every 32 s) while the old certificate stays in use; once it has expired
it no longer authenticates, so the attempt is made with the join token, as a
restart would (the token may be gone by then: the log says so each time).

The deadline is read from the certificate file each time round, so a
certificate written by something else (a restart racing, an operator) is
followed, never overwritten blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from shoal.agent import nodecert
from shoal.agent.certrotation import Renew, Validity, jitter_of, plan, retry_delay
from shoal.client import ApiClient, ApiException

log = logging.getLogger(__name__)

LONGEST_SLEEP = 600.0  # seconds: a long wait is cut so a suspended machine or a changed file is noticed
GRACE = 30.0  # seconds the connections opened with the old certificate may finish what they do


class RenewalRefused(Exception):
    """The server's answer was not a certificate this node can use (the message says why)."""


def _read(path: Path) -> tuple[Validity, int] | None:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    return Validity(cert.not_valid_before_utc, cert.not_valid_after_utc), cert.serial_number


def grace(old: Validity | None, now: dt.datetime) -> float:
    """Seconds the connections made with the old certificate are kept after a renewal."""
    if old is None:
        return 0.0
    return max(0.0, min(GRACE, (old.not_after - now).total_seconds()))


class CertRenewer:
    """Renews ``data_dir``'s node certificate while the agent runs; ``on_renewed(grace)`` is called after each
    new pair is in place (the agent's transports reconnect with it and drop their old connections after
    ``grace`` seconds)."""

    def __init__(self, *, servers: list[str], ca_file: str | None, data_dir: Path, want: nodecert.Subject,
                 token: str, user_agent: str, on_renewed: Callable[[float], None],
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.servers = servers
        self.ca_file = ca_file
        self.data_dir = data_dir
        self.want = want
        self.token = token
        self.user_agent = user_agent
        self.on_renewed = on_renewed
        self.clock = clock
        self.renewals = 0  # certificates got while running
        self._task: asyncio.Task[None] | None = None

    @property
    def cert_file(self) -> Path:
        return self.data_dir / nodecert.CERT_FILE

    @property
    def key_file(self) -> Path:
        return self.data_dir / nodecert.KEY_FILE

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="agent-cert-renewal")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failures, announced = 0, -1
        while True:
            held = _read(self.cert_file)
            now = self.clock()
            step = plan(held[0], jitter_of(held[1]), now) if held else Renew("it cannot be read", expired=True)
            if not isinstance(step, Renew):
                if held and held[1] != announced:
                    announced = held[1]
                    log.info("agent: node certificate %x is valid until %s; it is renewed at %s",
                             held[1], f"{held[0].not_after:%Y-%m-%d %H:%M:%S}Z", f"{step.until:%Y-%m-%d %H:%M:%S}Z")
                await asyncio.sleep(min(LONGEST_SLEEP, max(0.0, (step.until - now).total_seconds())))
                continue
            log.info("agent: renewing the node certificate in %s: %s", self.data_dir, step.why)
            try:
                serial = await self.renew_once(with_token=step.expired)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                failures += 1
                delay = retry_delay(failures)
                still = (f"the current one stays in use until {held[0].not_after:%Y-%m-%d %H:%M:%S}Z"
                         if held and not step.expired else "the current one no longer authenticates")
                log.warning("agent: renewing the node certificate failed (attempt %d: %s); trying again in %.0fs; "
                            "%s", failures, _why(e), delay, still)
                await asyncio.sleep(delay)
                continue
            failures = 0
            self.renewals += 1
            log.info("agent: node certificate renewed (serial %x); new connections use it", serial)
            self.on_renewed(grace(held[0] if held else None, self.clock()))

    async def renew_once(self, *, with_token: bool = False) -> int:
        """Ask for and store a new certificate (authenticated by the current one, or the join token);
        its serial."""
        key = ec.generate_private_key(ec.SECP256R1())
        client = (ApiClient.servers(self.servers, token=self.token, ca_file=self.ca_file, user_agent=self.user_agent)
                  if with_token else
                  ApiClient.servers(self.servers, ca_file=self.ca_file, user_agent=self.user_agent,
                                    client_cert=(str(self.cert_file), str(self.key_file))))
        try:
            answer = await client.request("POST", nodecert.JOIN_PATH, timeout=30,
                                          body={"csr": nodecert.request_pem(key, self.want)})
        finally:
            await client.close()
        pem = str(answer.get("certificate") or "")
        ca_pem = Path(self.ca_file).read_bytes() if self.ca_file else None
        why = nodecert.usable(pem.encode(), self.want, ca_pem, self.clock(), renew_before=dt.timedelta(0))
        if why is None and not nodecert.key_matches(pem.encode(), nodecert.key_pem(key)):
            why = "it certifies another key"
        if why is not None:
            raise RenewalRefused(f"the server's certificate will not do: {why}")
        nodecert.store(self.data_dir, key, pem)
        return x509.load_pem_x509_certificate(pem.encode()).serial_number


def _why(e: Exception) -> str:
    if isinstance(e, ApiException):
        return f"{e.status} {e.reason}: {e.message}" if e.status else f"the server could not be reached: {e}"
    return f"{type(e).__name__}: {e}"


__all__ = ["CertRenewer", "RenewalRefused"]
