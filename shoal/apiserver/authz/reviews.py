"""The access reviews: ``kubectl auth can-i`` (and ``--list``) ask these.

* SelfSubjectAccessReview: may I do this (a resource or a non-resource request)?
* SubjectAccessReview / LocalSubjectAccessReview: may that user (and groups) do this?
  (in the review's namespace, for the local one)
* SelfSubjectRulesReview: what may I do in this namespace?

Each is a create that stores nothing: the body comes back with ``status``
filled. The request itself was authorized already (``create`` on the review
resource: every authenticated user may ask about themselves through
``system:basic-user``). ``review_status`` and ``rules_status`` are pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from aiohttp import web

from shoal.apiserver import errors
from shoal.apiserver.auth import USER_KEY, User
from shoal.apiserver.authz.attributes import Attributes
from shoal.apiserver.authz.authorizer import Authorizer
from shoal.apiserver.authz.rules import Rule

GROUP = "authorization.k8s.io"
API_VERSION = f"{GROUP}/v1"
_EXACTLY_ONE = "exactly one of nonResourceAttributes or resourceAttributes must be specified"


def _invalid(kind: str, field: str, value: str, message: str) -> errors.ApiError:
    return errors.invalid(kind, "", [{"reason": "FieldValueInvalid", "field": field,
                                      "message": f"Invalid value: {value}: {message}"}], GROUP)


def attributes_of(kind: str, spec: dict[str, Any], user: User) -> Attributes:
    """The request a review asks about, as ``user``."""
    ra, nra = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (ra is None) == (nra is None) or not isinstance(ra or nra, dict):
        raise _invalid(kind, "spec.resourceAttributes", '"null"' if ra is None else "{...}", _EXACTLY_ONE)
    if isinstance(nra, dict):
        return Attributes(user, str(nra.get("verb") or ""), False, path=str(nra.get("path") or ""))
    assert isinstance(ra, dict)
    return Attributes(user, str(ra.get("verb") or ""), True, group=str(ra.get("group") or ""),
                      version=str(ra.get("version") or ""), resource=str(ra.get("resource") or ""),
                      subresource=str(ra.get("subresource") or ""), namespace=str(ra.get("namespace") or ""),
                      name=str(ra.get("name") or ""))


def review_status(allowed: bool) -> dict[str, Any]:
    return {"allowed": allowed} if allowed else {"allowed": False}


def rules_status(rules: Sequence[Rule]) -> dict[str, Any]:
    """A SelfSubjectRulesReview's status: the resource rules and the non-resource rules."""
    resource_rules: list[dict[str, Any]] = []
    url_rules: list[dict[str, Any]] = []
    for r in rules:
        if r.urls:
            url_rules.append({"verbs": sorted(r.verbs), "nonResourceURLs": sorted(r.urls)})
        else:
            d: dict[str, Any] = {"verbs": sorted(r.verbs), "apiGroups": sorted(r.groups),
                                 "resources": sorted(r.resources)}
            if r.names:
                d["resourceNames"] = sorted(r.names)
            resource_rules.append(d)
    return {"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": False}


def _user_of_spec(spec: dict[str, Any]) -> User:
    name = spec.get("user") or ""
    groups = [g for g in spec.get("groups") or [] if isinstance(g, str)]
    if not name and not groups:
        raise _invalid("SubjectAccessReview", "spec.user", '""', "at least one of user or group must be specified")
    extra = spec.get("extra") or {}
    return User(str(name), tuple(groups), str(spec.get("uid") or ""),
                tuple(sorted((str(k), tuple(v)) for k, v in extra.items() if isinstance(v, list))))


class Reviews:
    """The four review endpoints, answered from ``authorizer``."""

    def __init__(self, authorizer: Authorizer, read_body: Callable[[web.Request], Any]) -> None:
        self.authorizer = authorizer
        self.read_body = read_body

    async def _body(self, request: web.Request, kind: str) -> dict[str, Any]:
        body = await self.read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {kind} object")
        if body.get("kind") not in (None, kind):
            raise errors.bad_request(f"the body of the request must be a {kind}, not a {body.get('kind')}")
        return body

    def _answer(self, kind: str, body: dict[str, Any], status: dict[str, Any]) -> web.Response:
        md = dict(body.get("metadata") or {})
        md.setdefault("creationTimestamp", None)
        out = {"kind": kind, "apiVersion": API_VERSION, "metadata": md, "spec": body.get("spec") or {},
               "status": status}
        return web.Response(body=msgspec.json.encode(out), status=201, content_type="application/json")

    def _requester(self, request: web.Request) -> User:
        user: User | None = request.get(USER_KEY)
        if user is None:
            raise errors.ApiError(500, "InternalError", "no user for a review (authentication is off)")
        return user

    async def self_subject_access_review(self, request: web.Request) -> web.Response:
        kind = "SelfSubjectAccessReview"
        body = await self._body(request, kind)
        a = attributes_of(kind, body.get("spec") or {}, self._requester(request))
        return self._answer(kind, body, review_status(self.authorizer.allowed(a)))

    async def subject_access_review(self, request: web.Request) -> web.Response:
        kind = "SubjectAccessReview"
        body = await self._body(request, kind)
        spec = body.get("spec") or {}
        a = attributes_of(kind, spec, _user_of_spec(spec))
        return self._answer(kind, body, review_status(self.authorizer.allowed(a)))

    async def local_subject_access_review(self, request: web.Request) -> web.Response:
        kind = "LocalSubjectAccessReview"
        ns = request.match_info["namespace"]
        body = await self._body(request, kind)
        spec = body.get("spec") or {}
        ra = spec.get("resourceAttributes")
        if not isinstance(ra, dict) or (ra.get("namespace") or ns) != ns:
            raise _invalid(kind, "spec.resourceAttributes.namespace", f'"{(ra or {}).get("namespace", "")}"',
                           "must match metadata.namespace")
        a = attributes_of(kind, {**spec, "resourceAttributes": {**ra, "namespace": ns}}, _user_of_spec(spec))
        body.setdefault("metadata", {})["namespace"] = ns
        return self._answer(kind, body, review_status(self.authorizer.allowed(a)))

    async def self_subject_rules_review(self, request: web.Request) -> web.Response:
        kind = "SelfSubjectRulesReview"
        body = await self._body(request, kind)
        ns = str((body.get("spec") or {}).get("namespace") or "")
        rules = self.authorizer.index.rules_for(self._requester(request), ns)
        return self._answer(kind, body, rules_status(rules))

    def install(self, router: web.UrlDispatcher) -> None:
        base = f"/apis/{API_VERSION}"
        router.add_post(f"{base}/selfsubjectaccessreviews", self.self_subject_access_review)
        router.add_post(f"{base}/subjectaccessreviews", self.subject_access_review)
        router.add_post(f"{base}/namespaces/{{namespace}}/localsubjectaccessreviews", self.local_subject_access_review)
        router.add_post(f"{base}/selfsubjectrulesreviews", self.self_subject_rules_review)
