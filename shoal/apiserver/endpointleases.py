"""Which API servers the ``kubernetes`` Service's endpoints name: one Lease per server, decided here. Pure.

kube-apiserver's "lease" endpoint reconciler (``--endpoint-reconciler-type=lease``,
the default) keeps one short-lived record per API server and, on every pass, rewrites
the ``kubernetes`` Endpoints to the addresses whose records are still alive, so
three servers are all listed and a server that died drops out once its record
expires. Its identity Leases (``apiserver-<hash>`` in ``kube-system``, labelled
``apiserver.kubernetes.io/identity: kube-apiserver``) are the same idea in the API.
shoal uses those Leases for both: each server keeps its own, carrying the address
and port it advertises in an annotation, and renews it every ``renew_interval``.

A server never trusts another machine's clock (as ``shoal.leader.lease``): a
Lease is alive while the moment THIS server last saw its ``renewTime`` change,
by its own monotonic clock, is less than ``leaseDurationSeconds`` ago. A server
that starts sees every Lease as fresh once, so a server that died just before
stays listed one lease duration longer; it never drops a live one. Its own
Lease is always alive to itself (it is the one writing it). A Lease expired for
``gc_after`` is deleted (upstream's apiserver lease garbage collector).

Loopback addresses are never listed: no pod can reach them (upstream refuses
them too). Servers of a cluster normally share one port (6443); when they do
not (several on one machine) the Endpoints have one subset per port.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

IDENTITY_LABEL = "apiserver.kubernetes.io/identity"
IDENTITY_VALUE = "kube-apiserver"
HOSTNAME_LABEL = "kubernetes.io/hostname"
ADDRESS_ANNOTATION = "apiserver.shoal.io/advertise-address"  # "IP:PORT" ("[IPv6]:PORT")
NAMESPACE = "kube-system"

# upstream's endpoint reconciler: a 15 s TTL, renewed every 10 s; shoal renews three times per TTL
LEASE_DURATION = 15.0
RENEW_INTERVAL = 5.0
GC_AFTER = 3600.0  # upstream's identity lease GC deletes leases expired for an hour


@dataclass(frozen=True, slots=True)
class ServerLease:
    """What an API server's Lease says."""

    name: str
    ip: str
    port: int
    renew_time: str
    duration: float


@dataclass(frozen=True, slots=True)
class Seen:
    """When this server saw a Lease's ``renewTime`` take its current value (its own monotonic clock)."""

    renew_time: str
    at: float


@dataclass(frozen=True, slots=True)
class Plan:
    endpoints: list[tuple[str, int]]  # (ip, port), sorted, without repeats
    delete: list[str]  # Lease names expired for longer than gc_after
    seen: dict[str, Seen]  # to hand to the next pass


def lease_name(ip: str, port: int) -> str:
    """One Lease per advertised address (a server restarting at the same address takes its own back)."""
    return "apiserver-" + hashlib.sha256(f"{ip}:{port}".encode()).hexdigest()[:16]


def format_address(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def parse_address(text: str) -> tuple[str, int] | None:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host, int(port)


def lease_body(*, name: str, holder: str, hostname: str, ip: str, port: int, duration: float,
               renew_time: str) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": NAMESPACE,
                         "labels": {IDENTITY_LABEL: IDENTITY_VALUE, HOSTNAME_LABEL: hostname},
                         "annotations": {ADDRESS_ANNOTATION: format_address(ip, port)}},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": max(1, round(duration)),
                     "renewTime": renew_time}}


def view_of(obj: dict[str, Any]) -> ServerLease | None:
    """The server Lease ``obj`` is, or None (another Lease, or one without an address)."""
    md = obj.get("metadata") or {}
    if (md.get("labels") or {}).get(IDENTITY_LABEL) != IDENTITY_VALUE:
        return None
    addr = parse_address(str((md.get("annotations") or {}).get(ADDRESS_ANNOTATION) or ""))
    if addr is None:
        return None
    spec = obj.get("spec") or {}
    try:
        duration = float(spec.get("leaseDurationSeconds") or LEASE_DURATION)
    except (TypeError, ValueError):
        duration = LEASE_DURATION
    return ServerLease(name=str(md.get("name") or ""), ip=addr[0], port=addr[1],
                       renew_time=str(spec.get("renewTime") or ""), duration=duration)


def _publishable(ip: str) -> bool:
    a = ipaddress.ip_address(ip)
    return not (a.is_loopback or a.is_unspecified)


def plan(leases: list[ServerLease], seen: dict[str, Seen], now: float, *, own: str | None,
         gc_after: float = GC_AFTER) -> Plan:
    """The endpoints to publish, the Leases to delete, and what was seen, at monotonic time ``now``.

    ``own``: this server's Lease name (alive to itself; None while it shuts down)."""
    new_seen: dict[str, Seen] = {}
    alive: set[tuple[str, int]] = set()
    delete: list[str] = []
    for lease in leases:
        before = seen.get(lease.name)
        s = before if before is not None and before.renew_time == lease.renew_time else Seen(lease.renew_time, now)
        new_seen[lease.name] = s
        age = now - s.at
        if lease.name == own or age < lease.duration:
            if _publishable(lease.ip):
                alive.add((lease.ip, lease.port))
        elif age >= lease.duration + gc_after:
            delete.append(lease.name)
    endpoints = sorted(alive, key=lambda e: (ipaddress.ip_address(e[0]).version, ipaddress.ip_address(e[0]), e[1]))
    return Plan(endpoints=endpoints, delete=sorted(delete), seen=new_seen)


def subsets(endpoints: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """The Endpoints' subsets: one per port, addresses in ``endpoints``' order."""
    by_port: dict[int, list[str]] = {}
    for ip, port in endpoints:
        by_port.setdefault(port, []).append(ip)
    return [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
            for port, ips in sorted(by_port.items())]


def slice_part(endpoints: list[tuple[str, int]]) -> dict[str, Any]:
    """The EndpointSlice's addressType, endpoints and ports: one slice holds one port and one address family,
    so it names the addresses of the first subset (all of them where the servers share a port and family)."""
    if not endpoints:
        return {"addressType": "IPv4", "endpoints": [], "ports": []}
    port = min(p for _, p in endpoints)
    version = min(ipaddress.ip_address(ip).version for ip, p in endpoints if p == port)
    ips = [ip for ip, p in endpoints if p == port and ipaddress.ip_address(ip).version == version]
    return {"addressType": "IPv6" if version == 6 else "IPv4",
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
