"""Which API servers an agent fails over between, learned from the ``kubernetes`` Service's endpoints. Pure.

k3s agents start from the one ``--server`` they were given, then watch the
``kubernetes`` Endpoints in ``default`` (every live API server publishes itself
there: ``shoal.apiserver.endpointleases``) and balance over what it names,
keeping the given server as the fallback. shoal's agents do the same over
``shoal.client.failover``; this module decides the list:

* the learned servers first, ``https://<ip>:<port>`` in the object's order
  (the servers write it sorted), then every configured ``--server`` URL not
  already among them: a configured URL is never dropped, so an agent whose
  learned servers all went away (or were never reachable) still has what the
  operator gave it;
* an Endpoints (or EndpointSlice) object that is missing, or names no usable
  address, leaves the configured list alone;
* the server in use stays in use when it is still listed, wherever it lands:
  a change to the endpoints never moves a working agent to another server;
* loopback and unspecified addresses are never taken (an API server never
  publishes one; one written by hand would point the agent at itself).

Whether a learned server may be used at all (its certificate must name the
address it is reached at) is the caller's check, made before ``plan``: the
``learned`` it passes are the addresses that passed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HTTPS_PORT_NAME = "https"


@dataclass(frozen=True, slots=True)
class ServerList:
    servers: tuple[str, ...]
    current: int  # the index in ``servers`` of the one to use now


def url_of(ip: str, port: int) -> str:
    return f"https://[{ip}]:{port}" if ":" in ip else f"https://{ip}:{port}"


def _usable(ip: object) -> str | None:
    try:
        a = ipaddress.ip_address(str(ip))
    except ValueError:
        return None
    if a.is_loopback or a.is_unspecified:
        return None
    return str(a)


def _port(ports: Sequence[Mapping[str, Any]]) -> int | None:
    """The port named ``https``, else the first one."""
    chosen = next((p for p in ports if p.get("name") == HTTPS_PORT_NAME), ports[0] if ports else None)
    if chosen is None:
        return None
    try:
        port = int(chosen.get("port") or 0)
    except (TypeError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def endpoint_urls(obj: Mapping[str, Any] | None) -> list[str]:
    """The URLs the ``kubernetes`` Endpoints or EndpointSlice ``obj`` names, ready ones only, in order,
    without repeats (``[]`` for None)."""
    if not obj:
        return []
    pairs: list[tuple[str, int]] = []
    if obj.get("kind") == "EndpointSlice" or "endpoints" in obj:
        if obj.get("addressType", "IPv4") not in ("IPv4", "IPv6"):
            return []
        port = _port(obj.get("ports") or [])
        if port is not None:
            for ep in obj.get("endpoints") or []:
                if (ep.get("conditions") or {}).get("ready") is False:
                    continue
                pairs += [(ip, port) for ip in ep.get("addresses") or []]
    else:
        for subset in obj.get("subsets") or []:
            port = _port(subset.get("ports") or [])
            if port is not None:
                pairs += [(a.get("ip"), port) for a in subset.get("addresses") or []]  # not notReadyAddresses
    out: list[str] = []
    for ip, port in pairs:
        usable = _usable(ip)
        if usable is not None and (url := url_of(usable, port)) not in out:
            out.append(url)
    return out


def plan(*, configured: Sequence[str], learned: Sequence[str], current: str) -> ServerList:
    """The servers to fail over between, and which to use now (``current``: the URL in use)."""
    servers: list[str] = []
    for url in [*learned, *configured]:
        url = url.rstrip("/")
        if url and url not in servers:
            servers.append(url)
    current = current.rstrip("/")
    return ServerList(tuple(servers), servers.index(current) if current in servers else 0)
