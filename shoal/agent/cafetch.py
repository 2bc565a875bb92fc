"""The cluster's CA for an agent that was given only a URL and a ``K10`` token.

The agent asks the server for ``/shoal/v1/cacert`` without verifying TLS (it
has no CA to verify with yet), checks the answer's hash against the one the
token names (``shoal.jointoken.ca_mismatch``) and refuses on a mismatch:
another server answering at that address, or another cluster's token, never
gets the secret. The CA it accepts is kept as ``<data-dir>/ca.crt``, which later
starts trust without asking (as they would a copied one).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import aiohttp

from shoal import jointoken
from shoal.datadir import write_private

log = logging.getLogger(__name__)

CACERT_PATH = "/shoal/v1/cacert"


class CAMismatch(Exception):
    """The CA the server gave is not the one the token names (or none could be had); the message says which."""


async def _get(url: str, timeout: float) -> bytes:
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s, \
            s.get(url.rstrip("/") + CACERT_PATH, ssl=insecure) as r:
        if r.status != 200:
            raise CAMismatch(f"{url} did not give its CA ({r.status} on {CACERT_PATH}): is it a shoal server?")
        return await r.read()


async def trust(servers: list[str], token: jointoken.Parsed, data_dir: Path, *, timeout: float = 15.0) -> str:
    """The path of the checked CA (written into ``data_dir``), from the first server that answers."""
    errors: list[str] = []
    for url in servers:
        try:
            ca = await _get(url, timeout)
        except (aiohttp.ClientError, TimeoutError) as e:
            errors.append(f"cannot reach {url}: {e or type(e).__name__}")
            continue
        why = jointoken.ca_mismatch(ca, token.ca_hash)
        if why is not None:
            raise CAMismatch(f"{why} (server {url})")
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / "ca.crt"
        write_private(path, ca, mode=0o644)
        log.info("agent: trusting the CA %s served (sha256 %s..., as the token names)", url, token.ca_hash[:16])
        return str(path)
    raise CAMismatch("; ".join(errors) or "no server given")
