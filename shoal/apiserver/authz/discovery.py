"""Discovery entries of the resources served without storage: the reviews, TokenRequest, resource metrics.

``authentication.k8s.io/v1`` (``selfsubjectreviews``, ``tokenreviews``) and
``authorization.k8s.io/v1`` (the four access reviews) are create-only: a
request is answered, nothing is kept, so they are not in the kind registry
(which is for stored kinds) but are listed here for ``shoal.apiserver.discovery``,
as is the ``serviceaccounts/token`` subresource of core/v1 and the read-only
``metrics.k8s.io/v1beta1`` (``shoal.apiserver.metricsapi``).
"""

from __future__ import annotations

from typing import Any


def _entry(name: str, kind: str, *, namespaced: bool = False) -> dict[str, Any]:
    return {"name": name, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind, "verbs": ["create"]}


RESOURCES: dict[str, list[dict[str, Any]]] = {
    "v1": [{"name": "serviceaccounts/token", "singularName": "", "namespaced": True, "group": "authentication.k8s.io",
            "version": "v1", "kind": "TokenRequest", "verbs": ["create"]}],
    "authentication.k8s.io/v1": [_entry("selfsubjectreviews", "SelfSubjectReview"),
                                 _entry("tokenreviews", "TokenReview")],
    "authorization.k8s.io/v1": [_entry("localsubjectaccessreviews", "LocalSubjectAccessReview", namespaced=True),
                                _entry("selfsubjectaccessreviews", "SelfSubjectAccessReview"),
                                _entry("selfsubjectrulesreviews", "SelfSubjectRulesReview"),
                                _entry("subjectaccessreviews", "SubjectAccessReview")],
    "metrics.k8s.io/v1beta1": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]}],
}

GROUPS = ("authentication.k8s.io", "authorization.k8s.io")


def aggregated(group_version: str, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The aggregated-discovery resources of ``group_version`` with the unstored ones added: a top-level
    one as its own entry, a subresource (``serviceaccounts/token``) under its parent's entry."""
    out = [dict(r) for r in resources]
    for e in RESOURCES.get(group_version, []):
        kind = {"group": e.get("group", group_version.rpartition("/")[0]), "version": e.get("version", "v1"),
                "kind": e["kind"]}
        parent, _, sub = e["name"].partition("/")
        if sub:
            for r in out:
                if r["resource"] == parent:
                    r["subresources"] = [*r.get("subresources", []),
                                         {"subresource": sub, "responseKind": kind, "verbs": e["verbs"]}]
            continue
        out.append({"resource": e["name"], "responseKind": kind,
                    "scope": "Namespaced" if e["namespaced"] else "Cluster", "singularResource": e["singularName"],
                    "verbs": e["verbs"]})
    return out
