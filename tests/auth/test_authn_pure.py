"""Authentication decisions without I/O: JWTs, service-account and OIDC claims, the token file, certificates."""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shoal.apiserver.authn import jwt, tokenfile
from shoal.apiserver.authn.oidc import OidcOptions, check_claims, user_from_claims
from shoal.apiserver.authn.serviceaccount import ISSUER, ServiceAccountTokens, claims_for
from shoal.apiserver.authn.serviceaccount import user_from_claims as sa_user
from shoal.apiserver.authn.x509 import user_from_peercert

RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC = ec.generate_private_key(ec.SECP256R1())
NOW = 1_800_000_000


@pytest.mark.parametrize("key", [RSA, EC], ids=["RS256", "ES256"])
def test_jwt_round_trip_and_tampering(key: jwt.PrivateKey) -> None:
    pub = key.public_key()
    token = jwt.encode({"sub": "x", "exp": NOW}, key, kid=jwt.key_id(pub))
    assert jwt.verify(token, [(jwt.key_id(pub), pub)])["sub"] == "x"
    assert jwt.from_jwk(jwt.to_jwk(pub)) is not None
    head, body, sig = token.split(".")
    forged = jwt.encode({"sub": "admin", "exp": NOW}, key).split(".")[1]
    with pytest.raises(jwt.JwtError):
        jwt.verify(f"{head}.{forged}.{sig}", [("", pub)])
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(jwt.JwtError):
        jwt.verify(token, [("", other)])


def test_unsigned_and_malformed_tokens_are_refused() -> None:
    pub = RSA.public_key()
    alg_none, admin = jwt.b64url(b'{"alg":"none"}'), jwt.b64url(b'{"sub":"admin","exp":9999999999}')
    none = f"{alg_none}.{admin}."
    for bad in (none, "a.b", "not-a-jwt", "....", f"{jwt.b64url(b'[]')}.{jwt.b64url(b'{}')}.x"):
        with pytest.raises(jwt.JwtError):
            jwt.verify(bad, [("", pub)])


@pytest.mark.parametrize(("claims", "ok"), [
    ({"exp": NOW + 10}, True),
    ({"exp": NOW - 30}, True),  # within the leeway
    ({"exp": NOW - 120}, False),
    ({}, False),
    ({"exp": NOW + 600, "nbf": NOW + 300}, False),
])
def test_check_times(claims: dict[str, int], ok: bool) -> None:
    if ok:
        jwt.check_times(claims, NOW)
    else:
        with pytest.raises(jwt.JwtError):
            jwt.check_times(claims, NOW)


def test_service_account_tokens() -> None:
    sa = ServiceAccountTokens(RSA)
    now = int(time.time())
    claims = claims_for(issuer=ISSUER, namespace="team-a", name="builder", uid="u1", audiences=[ISSUER], now=now,
                        seconds=600, bound={"kind": "Pod", "name": "p", "uid": "pu"})
    user = sa_user(sa.verify(sa.sign(claims)))
    assert user.name == "system:serviceaccount:team-a:builder" and user.uid == "u1"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated")
    assert dict(user.extra)["authentication.kubernetes.io/pod-name"] == ("p",)
    for bad in ({**claims, "iss": "https://elsewhere"}, {**claims, "aud": ["vault"]},
                {**claims, "exp": now - 3600}):
        with pytest.raises(jwt.JwtError):
            sa.verify(sa.sign(bad))
    with pytest.raises(jwt.JwtError):  # signed by another key
        sa.verify(ServiceAccountTokens(rsa.generate_private_key(public_exponent=65537, key_size=2048)).sign(claims))
    doc = sa.discovery("https://h/openid/v1/jwks")
    assert doc["issuer"] == ISSUER and sa.jwks()["keys"][0]["kid"] == sa.kid


OPTS = OidcOptions(issuer_url="https://idp.example", client_id="shoal", groups_claim="groups", groups_prefix="oidc:")


@pytest.mark.parametrize(("opts", "claims", "name", "groups"), [
    (OPTS, {"sub": "42", "groups": ["dev", "ops"]}, "https://idp.example#42", ("oidc:dev", "oidc:ops")),
    (OidcOptions(issuer_url="https://idp.example", client_id="c", username_claim="email"),
     {"email": "a@x.org", "email_verified": True}, "a@x.org", ()),
    (OidcOptions(issuer_url="https://idp.example", client_id="c", username_prefix="-"), {"sub": "42"}, "42", ()),
    (OidcOptions(issuer_url="https://idp.example", client_id="c", username_prefix="sso:", groups_claim="g"),
     {"sub": "42", "g": "one"}, "sso:42", ("one",)),
])
def test_oidc_user(opts: OidcOptions, claims: dict[str, object], name: str, groups: tuple[str, ...]) -> None:
    u = user_from_claims(opts, claims)
    assert u.name == name and u.groups == (*groups, "system:authenticated")


def test_oidc_claims_checks() -> None:
    good = {"iss": "https://idp.example", "aud": "shoal", "exp": NOW + 60, "sub": "1"}
    check_claims(OPTS, good, NOW)
    for bad in ({**good, "iss": "https://evil"}, {**good, "aud": ["other"]}, {**good, "exp": NOW - 3600}):
        with pytest.raises(jwt.JwtError):
            check_claims(OPTS, bad, NOW)
    with pytest.raises(jwt.JwtError):
        user_from_claims(OidcOptions(issuer_url="https://i", client_id="c", username_claim="email"),
                         {"email": "a@x", "email_verified": False})
    with pytest.raises(ValueError, match="https"):
        OidcOptions(issuer_url="http://idp.example", client_id="c").check()
    OidcOptions(issuer_url="http://127.0.0.1:5556", client_id="c").check()


def test_token_file() -> None:
    users = tokenfile.parse('# comment\n\nt1,alice,1001,"dev,ops"\nt2,bob,1002\n')
    assert users["t1"].name == "alice" and users["t1"].uid == "1001"
    assert users["t1"].groups == ("dev", "ops", "system:authenticated")
    assert users["t2"].groups == ("system:authenticated",)
    with pytest.raises(tokenfile.TokenFileError, match="line 1"):
        tokenfile.parse("t1,alice\n")
    with pytest.raises(tokenfile.TokenFileError, match="line 2"):
        tokenfile.parse("t1,alice,1\n,bob,2\n")


def test_client_certificate_subject() -> None:
    cert = {"subject": ((("organizationName", "dev"),), (("organizationName", "ops"),), (("commonName", "alice"),))}
    u = user_from_peercert(cert)
    assert u is not None and u.name == "alice" and u.groups == ("dev", "ops", "system:authenticated")
    assert user_from_peercert({"subject": ((("organizationName", "dev"),),)}) is None
    assert user_from_peercert({}) is None and user_from_peercert(None) is None
