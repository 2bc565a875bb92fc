"""API discovery documents (``/api``, ``/apis``, per group version).

kubectl asks for the aggregated discovery format first but decides by the
response's Content-Type, so the plain ``APIVersions`` / ``APIGroupList`` /
``APIResourceList`` documents served here are enough. Everything is derived from
the kind registry and computed once.
"""

from __future__ import annotations

import functools
from typing import Any

from shoal.api import kinds
from shoal.api.registry import ResourceInfo

_SUB_VERBS = {
    "status": (["get", "patch", "update"], None),
    "scale": (["get", "patch", "update"], ("autoscaling", "v1", "Scale")),
    "binding": (["create"], ("", "v1", "Binding")),
    "log": (["get"], ("", "v1", "Pod")),
    "exec": (["create", "get"], ("", "v1", "PodExecOptions")),
    "eviction": (["create"], ("policy", "v1", "Eviction")),
    "finalize": (["update"], None),
    "approval": (["get", "patch", "update"], None),
}


def _resource_entries(r: ResourceInfo) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": sorted(r.verbs),
    }
    if r.short_names:
        main["shortNames"] = list(r.short_names)
    if r.categories:
        main["categories"] = list(r.categories)
    out = [main]
    for sub in r.subresources:
        verbs, gvk = _SUB_VERBS[sub]
        e: dict[str, Any] = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                             "kind": r.kind, "verbs": verbs}
        if gvk:
            g, v, k = gvk
            e["kind"] = k
            if (g, v) != (r.group, r.version):
                e["group"], e["version"] = g, v
        out.append(e)
    return out


@functools.cache
def resource_list(group_version: str) -> dict[str, Any] | None:
    rs = kinds.by_group_version().get(group_version)
    if rs is None:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [e for r in rs for e in _resource_entries(r)],
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(name: str) -> dict[str, Any]:
    versions = [gv.split("/", 1)[1] for gv in kinds.GROUP_VERSIONS if gv.startswith(name + "/")]
    vs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": vs, "preferredVersion": vs[0]}


@functools.cache
def api_group_list() -> dict[str, Any]:
    groups = list(dict.fromkeys(gv.split("/", 1)[0] for gv in kinds.GROUP_VERSIONS if "/" in gv))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g) for g in groups]}


def api_group(name: str) -> dict[str, Any] | None:
    if not any(gv.startswith(name + "/") for gv in kinds.GROUP_VERSIONS):
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name)}


def version_info() -> dict[str, str]:
    import platform

    from shoal import __version__

    return {
        "major": "1",
        "minor": "32",
        "gitVersion": f"v1.32.0+shoal-{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "2026-11-25T00:00:00Z",
        "goVersion": f"python{platform.python_version()}",
        "compiler": "cpython",
        "platform": f"linux/{ {'x86_64': 'amd64', 'aarch64': 'arm64'}.get(platform.machine(), platform.machine()) }",
    }
