"""Services and their Endpoints as weighted HAProxy servers. Pure.

Backends are the pods' own addresses (the ready addresses of the Service's
Endpoints for the port the route names), never the ClusterIP: one hop less,
and the proxy balances per request rather than per connection.

A route may name several Services with weights (an HTTPRoute's
``backendRefs``), and a Rollout may split one Service's traffic with a
canary's (``splits``: stable Service -> its parts and their weights). Each
Service's weight is shared among its endpoints, and the per-server weights
are scaled into HAProxy's 1..256 so the shares hold to within a fraction of a
per cent. A Service at weight 0 keeps its servers, at weight 0: moving a canary
from 0 to 20 % then changes weights only, which the runtime API applies
without a reload.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.api import views as v
from shoal.ingress.model import Server

Body = Mapping[str, Any]
ServiceKey = tuple[str, str]  # (namespace, name)
MAX_WEIGHT = 256


@dataclass(frozen=True, slots=True)
class ClusterView:
    """What the translations read: Services, Endpoints and Secrets by (namespace, name), and Rollouts' splits."""

    services: Mapping[ServiceKey, Body] = field(default_factory=dict)
    endpoints: Mapping[ServiceKey, Body] = field(default_factory=dict)
    secrets: Mapping[ServiceKey, Body] = field(default_factory=dict)
    splits: Mapping[ServiceKey, tuple[tuple[str, int], ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ref:
    """A route's reference to a Service port (a number, a name, or None: the only port), with a weight."""

    namespace: str
    service: str
    port: int | str | None
    weight: int = 1


def service_port(svc: Body, port: int | str | None) -> Mapping[str, Any] | None:
    ports = v.service_ports(svc)
    for p in ports:
        if (isinstance(port, int) and p.get("port") == port) or (isinstance(port, str) and p.get("name") == port):
            return p
    return ports[0] if port is None and len(ports) == 1 else None


def endpoints_of(view: ClusterView, ref: Ref) -> list[tuple[str, int]] | None:
    """The ready (address, port) pairs behind ``ref``; None if the Service or its port does not exist."""
    svc = view.services.get((ref.namespace, ref.service))
    if svc is None:
        return None
    sp = service_port(svc, ref.port)
    if sp is None:
        return None
    name = sp.get("name") or ""
    eps = view.endpoints.get((ref.namespace, ref.service))
    out: list[tuple[str, int]] = []
    for subset in v.subsets(eps) if eps is not None else []:
        ports = [p for p in subset.get("ports") or [] if (p.get("name") or "") == name and v.port_protocol(p) == "TCP"]
        if not ports:
            continue
        for a in subset.get("addresses") or []:
            if a.get("ip"):
                out.append((str(a["ip"]), int(ports[0]["port"])))
    return sorted(set(out))


def expand_splits(view: ClusterView, refs: Sequence[Ref]) -> list[Ref]:
    """``refs`` with each Service a Rollout splits replaced by its parts (weights multiplied out)."""
    out: list[Ref] = []
    for r in refs:
        parts = view.splits.get((r.namespace, r.service))
        if not parts:
            out.append(r)
            continue
        for svc, w in parts:
            out.append(Ref(r.namespace, svc, r.port, r.weight * w))
    return out


def weighted_servers(view: ClusterView, refs: Sequence[Ref]) -> tuple[Server, ...]:
    """The servers of a backend that sends each ref its weight's share of the requests."""
    groups: list[tuple[Ref, list[tuple[str, int]]]] = []
    for r in expand_splits(view, refs):
        eps = endpoints_of(view, r)
        if eps:
            groups.append((r, eps))
    shares = [max(r.weight, 0) / len(eps) for r, eps in groups]
    top = max(shares, default=0.0)
    servers: list[Server] = []
    seen: set[str] = set()
    for (r, eps), share in zip(groups, shares, strict=True):
        weight = 0 if share <= 0 else max(1, round(MAX_WEIGHT * share / top))
        for ip, port in eps:
            name = f"{r.namespace}.{r.service}.{ip}.{port}"
            n = 1
            while name in seen:  # one endpoint in two parts of a split
                n += 1
                name = f"{r.namespace}.{r.service}.{ip}.{port}.{n}"
            seen.add(name)
            servers.append(Server(name, ip, port, weight, f"{r.namespace}/{r.service}"))
    return tuple(servers)


def backend_name(prefix: str, *parts: str) -> str:
    """A stable HAProxy backend name from an object's identity (letters, digits, ``.-_`` only)."""
    raw = "_".join((prefix, *parts))
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in raw)
