"""Discovery entries of the resources served without storage: the reviews and TokenRequest.

``authentication.k8s.io/v1`` (``selfsubjectreviews``, ``tokenreviews``) and
``authorization.k8s.io/v1`` (the four access reviews) are create-only: a
request is answered, nothing is kept, so they are not in the kind registry
(which is for stored kinds) but are listed here for ``shoal.apiserver.discovery``,
as is the ``serviceaccounts/token`` subresource of core/v1.
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
}

GROUPS = ("authentication.k8s.io", "authorization.k8s.io")
