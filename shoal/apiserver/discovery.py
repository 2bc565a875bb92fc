"""API discovery documents (``/api``, ``/apis``, per group version).

kubectl asks for the aggregated discovery format first but decides by the
response's Content-Type, so the plain ``APIVersions`` / ``APIGroupList`` /
``APIResourceList`` documents served here are enough. Everything is derived from
the server's registry of served kinds (``shoal.api.served``): ``Discovery``
computes each document once per registry generation, so a CRD that becomes
established shows up in the very next discovery request.
"""

from __future__ import annotations

from typing import Any

from shoal.api import kinds
from shoal.api.registry import ResourceInfo
from shoal.api.served import ServedKinds

_SUB_VERBS = {
    "status": (["get", "patch", "update"], None),
    "scale": (["get", "patch", "update"], ("autoscaling", "v1", "Scale")),
    "binding": (["create"], ("", "v1", "Binding")),
    "log": (["get"], ("", "v1", "Pod")),
    "exec": (["create", "get"], ("", "v1", "PodExecOptions")),
    "eviction": (["create"], ("policy", "v1", "Eviction")),
    "finalize": (["update"], None),
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


def _resource_list(group_version: str, rs: list[ResourceInfo]) -> dict[str, Any]:
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


def _group(name: str, group_versions: list[str]) -> dict[str, Any]:
    versions = [gv.split("/", 1)[1] for gv in group_versions if gv.startswith(name + "/")]
    vs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": vs, "preferredVersion": vs[0]}


class Discovery:
    """The discovery documents of a server's served kinds, rebuilt when the registry changes."""

    def __init__(self, served: ServedKinds | None = None) -> None:
        self.served = served if served is not None else ServedKinds(kinds.RESOURCES)
        self._generation = -1
        self._lists: dict[str, dict[str, Any] | None] = {}
        self._groups: dict[str, Any] | None = None

    def _fresh(self) -> None:
        if self._generation != self.served.generation:
            self._generation = self.served.generation
            self._lists = {}
            self._groups = None

    def resource_list(self, group_version: str) -> dict[str, Any] | None:
        self._fresh()
        if group_version not in self._lists:
            rs = self.served.by_group_version().get(group_version)
            self._lists[group_version] = _resource_list(group_version, rs) if rs is not None else None
        return self._lists[group_version]

    def api_group_list(self) -> dict[str, Any]:
        self._fresh()
        if self._groups is None:
            gvs = self.served.group_versions()
            groups = list(dict.fromkeys(gv.split("/", 1)[0] for gv in gvs if "/" in gv))
            self._groups = {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g, gvs) for g in groups]}
        return self._groups

    def api_group(self, name: str) -> dict[str, Any] | None:
        gvs = self.served.group_versions()
        if not any(gv.startswith(name + "/") for gv in gvs):
            return None
        return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, gvs)}


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
