"""API discovery documents (``/api``, ``/apis``, per group version).

kubectl asks for the aggregated discovery format first but decides by the
response's Content-Type. Both are served: the aggregated
``APIGroupDiscoveryList`` (``apidiscovery.k8s.io/v2``: every resource of every
group version in one answer for ``/api`` and one for ``/apis``) to a client that
asks for it first, the plain ``APIVersions`` / ``APIGroupList`` /
``APIResourceList`` documents otherwise. Everything is derived from
the server's registry of served kinds (``shoal.api.served``): ``Discovery``
computes each document once per registry generation, so a CRD that becomes
established shows up in the very next discovery request.
"""

from __future__ import annotations

from typing import Any

from shoal.api import kinds
from shoal.api.registry import ResourceInfo
from shoal.api.served import ServedKinds
from shoal.apiserver.authz import discovery as unstored

_SUB_VERBS = {
    "status": (["get", "patch", "update"], None),
    "scale": (["get", "patch", "update"], ("autoscaling", "v1", "Scale")),
    "binding": (["create"], ("", "v1", "Binding")),
    "log": (["get"], ("", "v1", "Pod")),
    "exec": (["create", "get"], ("", "v1", "PodExecOptions")),
    "portforward": (["create", "get"], ("", "v1", "PodPortForwardOptions")),
    "attach": (["create", "get"], ("", "v1", "PodAttachOptions")),
    "ephemeralcontainers": (["get", "patch", "update"], ("", "v1", "Pod")),
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


def _resource_list(group_version: str, rs: list[ResourceInfo]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [e for r in rs for e in _resource_entries(r)] + unstored.RESOURCES.get(group_version, []),
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


AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
_AGGREGATED_VERSIONS = ("v2", "v2beta1")


def aggregated_version(accept: str) -> str | None:
    """The aggregated discovery version (``v2``, ``v2beta1``) the Accept header prefers, or None when the
    client's first acceptable type is a plain document (or it asks for no aggregated one)."""
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media = fields[0].lower()
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList":
            if media in ("application/json", "*/*") and params.get("v") in _AGGREGATED_VERSIONS:
                return params["v"]
            continue
        if media in ("application/json", "*/*", "application/*"):
            return None
    return None


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def _resource_discovery(r: ResourceInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resource": r.plural,
        "responseKind": _gvk(r.group, r.version, r.kind),
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular,
        "verbs": sorted(r.verbs),
    }
    if r.short_names:
        out["shortNames"] = list(r.short_names)
    if r.categories:
        out["categories"] = list(r.categories)
    subs = []
    for sub in r.subresources:
        verbs, gvk = _SUB_VERBS[sub]
        g, v, k = gvk if gvk else (r.group, r.version, r.kind)
        subs.append({"subresource": sub, "responseKind": _gvk(g, v, k), "verbs": list(verbs)})
    if subs:
        out["subresources"] = subs
    return out


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

    def _group_versions(self) -> list[str]:
        """The served group versions, then those only the unstored resources (the reviews) are in."""
        gvs = self.served.group_versions()
        return [*gvs, *(gv for gv in unstored.RESOURCES if gv not in gvs)]

    def resource_list(self, group_version: str) -> dict[str, Any] | None:
        self._fresh()
        if group_version not in self._lists:
            rs = self.served.by_group_version().get(group_version)
            known = rs is not None or group_version in unstored.RESOURCES
            self._lists[group_version] = _resource_list(group_version, rs or []) if known else None
        return self._lists[group_version]

    def api_group_list(self) -> dict[str, Any]:
        self._fresh()
        if self._groups is None:
            gvs = self._group_versions()
            groups = list(dict.fromkeys(gv.split("/", 1)[0] for gv in gvs if "/" in gv))
            self._groups = {"kind": "APIGroupList", "apiVersion": "v1", "groups": [_group(g, gvs) for g in groups]}
        return self._groups

    def aggregated(self, *, legacy: bool, version: str = "v2") -> dict[str, Any]:
        """The ``APIGroupDiscoveryList`` of ``/api`` (``legacy``: the core group) or of ``/apis``."""
        self._fresh()
        key = f"aggregated:{legacy}:{version}"
        cached = self._lists.get(key)
        if cached is not None:
            return cached
        by_group: dict[str, list[dict[str, Any]]] = {}
        served = self.served.by_group_version()
        for gv in self._group_versions():
            group, _, v = gv.rpartition("/")
            if (group == "") != legacy:
                continue
            resources = unstored.aggregated(gv, [_resource_discovery(r) for r in served.get(gv, [])])
            by_group.setdefault(group, []).append({"version": v, "resources": resources, "freshness": "Current"})
        doc = {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}", "metadata": {},
               "items": [{"metadata": {"name": g} if g else {}, "versions": vs} for g, vs in by_group.items()]}
        self._lists[key] = doc
        return doc

    def api_group(self, name: str) -> dict[str, Any] | None:
        gvs = self._group_versions()
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
