"""Parse Kubernetes REST paths into what they address.

``/api/v1/namespaces/default/pods/web/status`` -> pods, namespace ``default``,
name ``web``, subresource ``status``. Pure, so it is tested without HTTP. The
resources are looked up in the server's registry of served kinds (custom kinds
come and go with their CRDs); without one, in the built-in table.
"""

from __future__ import annotations

from dataclasses import dataclass

from shoal.api import kinds
from shoal.api.registry import ResourceInfo
from shoal.api.served import ServedKinds


@dataclass(frozen=True, slots=True)
class Target:
    info: ResourceInfo
    namespace: str | None
    name: str | None
    subresource: str = ""


class RouteError(Exception):
    """The path names no served resource (404)."""


def parse(path: str, served: ServedKinds | None = None) -> Target:
    lookup = served.lookup if served is not None else kinds.lookup
    parts = [p for p in path.split("/") if p]
    if not parts:
        raise RouteError(path)
    if parts[0] == "api" and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise RouteError(path)
    if not rest:
        raise RouteError(path)
    ns: str | None = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        inner = lookup(group, version, rest[2])
        if inner is not None and inner.namespaced:
            ns, rest = rest[1], rest[2:]
    info = lookup(group, version, rest[0])
    if info is None or len(rest) > 3:
        raise RouteError(path)
    if info.namespaced is False and ns is not None:
        raise RouteError(path)
    name = rest[1] if len(rest) >= 2 else None
    sub = rest[2] if len(rest) == 3 else ""
    if sub and sub not in info.subresources:
        raise RouteError(path)
    return Target(info, ns, name, sub)
