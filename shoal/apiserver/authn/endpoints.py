"""The authentication API: TokenRequest, SelfSubjectReview, TokenReview, and the issuer's discovery.

* ``POST .../serviceaccounts/NAME/token`` (``kubectl create token``): a signed
  token for an existing service account, for the audiences asked (default: the
  API server's), for ``expirationSeconds`` (default an hour; at least ten
  minutes, at most 2^32 seconds, upstream's limits), optionally bound to a pod
  or secret of the same namespace;
* ``POST /apis/authentication.k8s.io/v1/selfsubjectreviews`` (``kubectl auth
  whoami``): the requester's user name, uid, groups and extra;
* ``POST /apis/authentication.k8s.io/v1/tokenreviews``: whether a token is
  good and whose it is (for webhooks and in-cluster servers);
* ``GET /.well-known/openid-configuration`` and ``/openid/v1/jwks``.

``token_request_spec`` is pure: the spec with defaults, or a 422 with
upstream's messages.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from shoal.api.meta import format_time
from shoal.apiserver import errors
from shoal.apiserver.auth import USER_KEY
from shoal.apiserver.authn import serviceaccount as sa
from shoal.apiserver.authn.chain import Authenticator
from shoal.apiserver.authn.components import node_name
from shoal.apiserver.authn.user import User, user_info

GROUP = "authentication.k8s.io"
API_VERSION = f"{GROUP}/v1"

# (kind, namespace, name) -> the object, or None
ObjectLookup = Callable[[str, str, str], Awaitable[dict[str, Any] | None]]


def _invalid(kind: str, name: str, field: str, value: Any, message: str) -> errors.ApiError:
    return errors.invalid(kind, name, [{"reason": "FieldValueInvalid", "field": field,
                                        "message": f"Invalid value: {value}: {message}"}], GROUP)


def token_request_spec(spec: Any, name: str, default_audiences: tuple[str, ...]) -> dict[str, Any]:
    """The TokenRequest spec with upstream's defaults, validated."""
    spec = dict(spec) if isinstance(spec, dict) else {}
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = sa.DEFAULT_SECONDS
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise _invalid("TokenRequest", name, "spec.expirationSeconds", seconds, "must be an integer")
    if seconds < sa.MIN_SECONDS:
        raise _invalid("TokenRequest", name, "spec.expirationSeconds", seconds,
                       "may not specify a duration less than 10 minutes")
    if seconds > sa.MAX_SECONDS:
        raise _invalid("TokenRequest", name, "spec.expirationSeconds", seconds,
                       "may not specify a duration larger than 2^32 seconds")
    audiences = spec.get("audiences") or list(default_audiences)
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise _invalid("TokenRequest", name, "spec.audiences", audiences, "must be a list of strings")
    ref = spec.get("boundObjectRef")
    if ref is not None and (not isinstance(ref, dict) or ref.get("kind") not in ("Pod", "Secret")):
        kind = ref.get("kind") if isinstance(ref, dict) else ref
        raise errors.invalid("TokenRequest", name, [{"reason": "FieldValueNotSupported",
                             "field": "spec.boundObjectRef.kind",
                             "message": f'Unsupported value: "{kind}": supported values: "Pod", "Secret"'}], GROUP)
    return {**spec, "audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": ref}


def node_token_refusal(user: User | None, ref: Any, bound: dict[str, Any] | None) -> str | None:
    """NodeRestriction for a TokenRequest: a node asks only for tokens bound to a pod bound to it."""
    node = node_name(user) if user is not None else None
    if node is None:
        return None
    if not isinstance(ref, dict) or ref.get("kind") != "Pod" or bound is None:
        return f'node "{node}" requested token not bound to a pod'
    if ((bound.get("spec") or {}).get("nodeName") or "") != node:
        return f'node "{node}" requested token bound to a pod scheduled on a different node'
    return None


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status, content_type="application/json")


class AuthnEndpoints:
    def __init__(self, *, authenticator: Authenticator, tokens: sa.ServiceAccountTokens, lookup: ObjectLookup,
                 read_body: Callable[[web.Request], Any], jwks_uri: str) -> None:
        self.authenticator = authenticator
        self.tokens = tokens
        self.lookup = lookup
        self.read_body = read_body
        self.jwks_uri = jwks_uri

    async def _body(self, request: web.Request, kind: str) -> dict[str, Any]:
        body = await self.read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {kind} object")
        return body

    async def token_request(self, request: web.Request) -> web.Response:
        ns, name = request.match_info["namespace"], request.match_info["name"]
        body = await self._body(request, "TokenRequest")
        account = await self.lookup("ServiceAccount", ns, name)
        if account is None:
            raise errors.not_found("serviceaccounts", name)
        spec = token_request_spec(body.get("spec"), name, self.tokens.audiences)
        bound: dict[str, str] | None = None
        obj: dict[str, Any] | None = None
        ref = spec.get("boundObjectRef")
        if ref is not None:
            obj = await self.lookup(ref["kind"], ns, str(ref.get("name") or ""))
            uid = ((obj or {}).get("metadata") or {}).get("uid")
            if obj is None or (ref.get("uid") and ref["uid"] != uid):
                raise errors.not_found(f"{ref['kind'].lower()}s", str(ref.get("name") or ""))
            bound = {"kind": ref["kind"], "name": str(ref.get("name")), "uid": str(uid)}
            spec["boundObjectRef"] = {**ref, "uid": uid}
        else:
            spec.pop("boundObjectRef")
        refusal = node_token_refusal(request.get(USER_KEY), ref, obj)
        if refusal is not None:  # NodeRestriction: a node's tokens are for its own pods
            raise errors.forbidden_object("serviceaccounts", name, "", refusal)
        now = int(time.time())
        claims = sa.claims_for(issuer=self.tokens.issuer, namespace=ns, name=name,
                               uid=str(account["metadata"].get("uid") or ""), audiences=spec["audiences"], now=now,
                               seconds=spec["expirationSeconds"], bound=bound)
        expires = dt.datetime.fromtimestamp(claims["exp"], dt.UTC)
        md = {"name": name, "namespace": ns, "creationTimestamp": None}
        return _json({"kind": "TokenRequest", "apiVersion": API_VERSION, "metadata": md, "spec": spec,
                      "status": {"token": self.tokens.sign(claims), "expirationTimestamp": format_time(expires)}},
                     201)

    async def self_subject_review(self, request: web.Request) -> web.Response:
        user = request.get(USER_KEY)
        if user is None:
            raise errors.ApiError(500, "InternalError", "no user for a review (authentication is off)")
        return _json({"kind": "SelfSubjectReview", "apiVersion": API_VERSION,
                      "metadata": {"creationTimestamp": None}, "status": {"userInfo": user_info(user)}}, 201)

    async def token_review(self, request: web.Request) -> web.Response:
        body = await self._body(request, "TokenReview")
        spec = body.get("spec") or {}
        token = spec.get("token")
        status: dict[str, Any]
        try:
            user = await self.authenticator.authenticate(f"Bearer {token}") if isinstance(token, str) and token \
                else None
        except errors.ApiError:
            user = None
        if user is None:
            status = {"authenticated": False, "user": {}, "error": "invalid bearer token"}
        else:
            status = {"authenticated": True, "user": user_info(user),
                      "audiences": spec.get("audiences") or list(self.tokens.audiences)}
        return _json({"kind": "TokenReview", "apiVersion": API_VERSION,
                      "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}, 201)

    async def openid_configuration(self, request: web.Request) -> web.Response:
        return _json(self.tokens.discovery(self.jwks_uri))

    async def jwks(self, request: web.Request) -> web.Response:
        return web.Response(body=msgspec.json.encode(self.tokens.jwks()), content_type="application/jwk-set+json")

    def install(self, router: web.UrlDispatcher) -> None:
        router.add_post("/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token", self.token_request)
        router.add_post(f"/apis/{API_VERSION}/selfsubjectreviews", self.self_subject_review)
        router.add_post(f"/apis/{API_VERSION}/tokenreviews", self.token_review)
        router.add_get("/.well-known/openid-configuration", self.openid_configuration)
        router.add_get("/openid/v1/jwks", self.jwks)
