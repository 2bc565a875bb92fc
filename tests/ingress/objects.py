"""Builders of the objects the ingress tests feed the translations and the server."""

from __future__ import annotations

import base64
from typing import Any


def meta(name: str, ns: str = "default", created: str = "2026-01-01T00:00:00Z", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": ns, "creationTimestamp": created, **extra}


def service(name: str, port: int = 80, port_name: str = "http", ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"ports": [{"name": port_name, "port": port, "protocol": "TCP"}]}}


def endpoints(name: str, addrs: list[tuple[str, int]], port_name: str = "http",
              ns: str = "default") -> dict[str, Any]:
    by_port: dict[int, list[str]] = {}
    for ip, port in addrs:
        by_port.setdefault(port, []).append(ip)
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": name, "namespace": ns},
            "subsets": [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": port_name, "port": p}]}
                        for p, ips in sorted(by_port.items())]}


def path(p: str, svc: str, kind: str = "Prefix", port: int | str = 80) -> dict[str, Any]:
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"path": p, "pathType": kind, "backend": {"service": {"name": svc, "port": ref}}}


def ingress(name: str, rules: list[tuple[str, list[dict[str, Any]]]], *, created: str = "2026-01-01T00:00:00Z",
            tls: list[dict[str, Any]] | None = None, default: str | None = None,
            cls: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"rules": [({"host": h} if h else {}) | {"http": {"paths": ps}} for h, ps in rules]}
    if tls:
        spec["tls"] = tls
    if default:
        spec["defaultBackend"] = {"service": {"name": default, "port": {"number": 80}}}
    if cls:
        spec["ingressClassName"] = cls
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta(name, created=created),
            "spec": spec}


def tls_secret(name: str, crt: str, key: str, ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "type": "kubernetes.io/tls",
            "data": {"tls.crt": base64.b64encode(crt.encode()).decode(),
                     "tls.key": base64.b64encode(key.encode()).decode()}}
