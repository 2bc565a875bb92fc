"""Service environment variables, as the kubelet sets them (enableServiceLinks).

For every Service with a ClusterIP that exists in the pod's namespace (plus the
``kubernetes`` Service of ``default``) when a container starts: the
``{SVC}_SERVICE_HOST`` / ``{SVC}_SERVICE_PORT[_{PORT}]`` variables and the
Docker-links-compatible ``{SVC}_PORT``, ``{SVC}_PORT_{port}_{PROTO}[_PROTO|_PORT|_ADDR]``.
Names are upper-cased with ``-`` turned into ``_``. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from shoal.api import views as v
from shoal.api.views import Body, ServicePort


def _name(s: str) -> str:
    return s.upper().replace("-", "_")


def service_env(services: Iterable[Body], namespace: str, *, enable_service_links: bool = True) -> dict[str, str]:
    """The variables for a container of a pod in ``namespace``; user ``env`` is applied after these."""
    chosen: dict[str, tuple[str, list[ServicePort]]] = {}  # name -> (ClusterIP, ports)
    for svc in services:
        ns, name = v.namespace(svc), v.name(svc)
        ip, ports = v.cluster_ip(svc), v.service_ports(svc)
        if not ip or ip == "None" or not ports:
            continue
        if ns == namespace and enable_service_links:
            chosen[name] = (ip, ports)
        elif ns == "default" and name == "kubernetes":
            chosen.setdefault(name, (ip, ports))
    env: dict[str, str] = {}
    for name in sorted(chosen):
        ip, ports = chosen[name]
        pre = _name(name)
        env[f"{pre}_SERVICE_HOST"] = ip
        env[f"{pre}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            if p.get("name"):
                env[f"{pre}_SERVICE_PORT_{_name(p['name'])}"] = str(p["port"])
        first = ports[0]
        env[f"{pre}_PORT"] = f"{v.port_protocol(first).lower()}://{ip}:{first['port']}"
        for p in ports:
            proto = v.port_protocol(p)
            base = f"{pre}_PORT_{p['port']}_{proto.upper()}"
            env[base] = f"{proto.lower()}://{ip}:{p['port']}"
            env[f"{base}_PROTO"] = proto.lower()
            env[f"{base}_PORT"] = str(p["port"])
            env[f"{base}_ADDR"] = ip
    return env
