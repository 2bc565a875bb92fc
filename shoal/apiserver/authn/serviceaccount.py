"""Service-account tokens: bound, expiring JWTs the server signs, and their verification.

The signing key (RSA 2048, ``sa.key`` in the data dir) is made at first start
and kept, so tokens stay valid across restarts; its public half is published
as a JWKS at ``/openid/v1/jwks`` and the issuer's discovery document at
``/.well-known/openid-configuration`` (upstream's service-account issuer
discovery), so anything outside the cluster can verify the tokens.

A token (the TokenRequest API, ``kubectl create token``) says who it is for
(``sub`` = ``system:serviceaccount:NS:NAME``, and the account's uid), for whom
(``aud``, by default the API server's audiences), until when (``exp``), and,
when bound, to which pod or secret: it stops working when its account (or the
bound object) is deleted, even before it expires, because verification looks
the account up and compares uids, as upstream. ``claims_for`` and
``user_from_claims`` are pure; ``ServiceAccountTokens`` holds the key.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shoal.apiserver.authn import jwt
from shoal.apiserver.authn.user import User
from shoal.datadir import write_private

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES: tuple[str, ...] = (ISSUER,)
SA_PREFIX = "system:serviceaccount:"
MIN_SECONDS = 600
MAX_SECONDS = 2**32
DEFAULT_SECONDS = 3600
CREDENTIAL_ID = "authentication.kubernetes.io/credential-id"


def load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return key


def username(namespace: str, name: str) -> str:
    return f"{SA_PREFIX}{namespace}:{name}"


def groups(namespace: str) -> tuple[str, ...]:
    return ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated")


def claims_for(*, issuer: str, namespace: str, name: str, uid: str, audiences: Sequence[str], now: int,
               seconds: int, bound: Mapping[str, str] | None = None, jti: str = "") -> dict[str, Any]:
    """The claims of a token for account ``namespace/name``; ``bound``: kind, name, uid of a pod or secret."""
    k8s: dict[str, Any] = {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}}
    if bound:
        k8s[bound["kind"].lower()] = {"name": bound["name"], "uid": bound["uid"]}
    return {"aud": list(audiences), "exp": now + seconds, "iat": now, "iss": issuer,
            "jti": jti or str(uuid.uuid4()), "kubernetes.io": k8s, "nbf": now, "sub": username(namespace, name)}


def user_from_claims(claims: Mapping[str, Any]) -> User:
    """The user a (verified) service-account token authenticates."""
    k8s = claims.get("kubernetes.io") or {}
    ns = str(k8s.get("namespace") or "")
    sa = k8s.get("serviceaccount") or {}
    extra: list[tuple[str, tuple[str, ...]]] = []
    if claims.get("jti"):
        extra.append((CREDENTIAL_ID, (f"JTI={claims['jti']}",)))
    pod = k8s.get("pod")
    if isinstance(pod, dict):
        extra.append(("authentication.kubernetes.io/pod-name", (str(pod.get("name")),)))
        extra.append(("authentication.kubernetes.io/pod-uid", (str(pod.get("uid")),)))
    return User(username(ns, str(sa.get("name") or "")), groups(ns), str(sa.get("uid") or ""), tuple(sorted(extra)))


class ServiceAccountTokens:
    """The signing key, what it signs, and the checks of a token's claims (the account lookup is the caller's)."""

    def __init__(self, key: rsa.RSAPrivateKey, *, issuer: str = ISSUER,
                 audiences: Sequence[str] = API_AUDIENCES) -> None:
        self.key = key
        self.public = key.public_key()
        self.kid = jwt.key_id(self.public)
        self.issuer = issuer
        self.audiences = tuple(audiences)

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(claims, self.key, kid=self.kid)

    def verify(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """The claims of a token this server signed for its own audiences; else ``JwtError``."""
        claims = jwt.verify(token, [(self.kid, self.public)])
        if claims.get("iss") != self.issuer:
            raise jwt.JwtError("wrong issuer")
        if not set(jwt.audiences(claims)) & set(self.audiences):
            raise jwt.JwtError("token audiences are not the API server's")
        jwt.check_times(claims, time.time() if now is None else now)
        k8s = claims.get("kubernetes.io")
        if not isinstance(k8s, dict) or not isinstance(k8s.get("serviceaccount"), dict):
            raise jwt.JwtError("not a service-account token")
        return claims

    def jwks(self) -> dict[str, Any]:
        return {"keys": [jwt.to_jwk(self.public)]}

    def discovery(self, jwks_uri: str) -> dict[str, Any]:
        return {"issuer": self.issuer, "jwks_uri": jwks_uri, "response_types_supported": ["id_token"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}
