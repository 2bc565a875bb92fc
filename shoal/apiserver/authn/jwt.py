"""JSON Web Tokens: the compact JWS form, signed and verified with ``cryptography``. Pure.

Enough of RFC 7515/7519 for service-account tokens and OIDC ID tokens: RS256
(what upstream signs service-account tokens with, and every OIDC provider
offers) and ES256; keys as JWKs (RFC 7517). ``verify`` checks the signature
with the key the header's ``kid`` names (any key of a matching type when it
names none) and returns the claims; the claims' meaning (issuer, audience,
expiry) is the caller's to check, with ``check_times``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
LEEWAY = 60  # seconds of clock skew tolerated, as upstream's validators


class JwtError(ValueError):
    """A token that is not a valid, well-signed JWT (the reason is for the server's log, not the client)."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as e:
        raise JwtError(f"bad base64url: {e}") from None


def _int_b64(n: int) -> str:
    return b64url(n.to_bytes((n.bit_length() + 7) // 8 or 1, "big"))


def _b64_int(text: str) -> int:
    return int.from_bytes(b64url_decode(text), "big")


def key_id(key: PublicKey) -> str:
    """Upstream's key id: the base64url SHA-256 of the public key's DER."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url(hashlib.sha256(der).digest())


def alg_of(key: PublicKey | PrivateKey) -> str:
    return "RS256" if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey) else "ES256"


def to_jwk(key: PublicKey) -> dict[str, str]:
    kid = key_id(key)
    if isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        return {"use": "sig", "kty": "RSA", "kid": kid, "alg": "RS256", "n": _int_b64(nums.n), "e": _int_b64(nums.e)}
    pn = key.public_numbers()
    return {"use": "sig", "kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256",
            "x": b64url(pn.x.to_bytes(32, "big")), "y": b64url(pn.y.to_bytes(32, "big"))}


def from_jwk(jwk: Mapping[str, Any]) -> PublicKey | None:
    """The public key of a JWK, or ``None`` for a kind this module does not verify with."""
    try:
        if jwk.get("kty") == "RSA":
            return rsa.RSAPublicNumbers(_b64_int(jwk["e"]), _b64_int(jwk["n"])).public_key()
        if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
            return ec.EllipticCurvePublicNumbers(_b64_int(jwk["x"]), _b64_int(jwk["y"]), ec.SECP256R1()).public_key()
    except (KeyError, ValueError, TypeError, JwtError):
        return None
    return None


def encode(claims: Mapping[str, Any], key: PrivateKey, *, kid: str = "") -> str:
    alg = alg_of(key)
    header: dict[str, str] = {"alg": alg, **({"kid": kid} if kid else {})}
    signing_input = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}." \
                    f"{b64url(json.dumps(claims, separators=(',', ':')).encode())}".encode()
    if isinstance(key, rsa.RSAPrivateKey):
        sig = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{signing_input.decode()}.{b64url(sig)}"


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """(header, claims, signing input, signature) of a compact JWS, unverified."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError) as e:
        raise JwtError(f"undecodable header or claims: {e}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JwtError("header and claims must be JSON objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), b64url_decode(parts[2])


def peek_issuer(token: str) -> str | None:
    """The ``iss`` claim of what looks like a JWT (unverified: only to pick who verifies it)."""
    if token.count(".") != 2:
        return None
    try:
        _, claims, _, _ = split(token)
    except JwtError:
        return None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


def _verify_with(key: PublicKey, alg: str, signing_input: bytes, sig: bytes) -> bool:
    try:
        if alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return True
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey) and len(sig) == 64:
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
            return True
    except InvalidSignature:
        return False
    return False


def verify(token: str, keys: Iterable[tuple[str, PublicKey]]) -> dict[str, Any]:
    """The claims of ``token`` if one of ``keys`` ((kid, key) pairs) signed it; else ``JwtError``."""
    header, claims, signing_input, sig = split(token)
    alg = header.get("alg")
    if alg not in ("RS256", "ES256"):
        raise JwtError(f"unsupported signing algorithm {alg!r}")  # "none" included
    kid = header.get("kid")
    for k, key in keys:
        if kid and k and k != kid:
            continue
        if _verify_with(key, alg, signing_input, sig):
            return claims
    raise JwtError("no key verifies the signature")


def check_times(claims: Mapping[str, Any], now: float) -> None:
    """Refuse a token past ``exp`` or before ``nbf`` (with ``LEEWAY``); ``exp`` is required."""
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise JwtError("no expiry")
    if now > exp + LEEWAY:
        raise JwtError("expired")
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and not isinstance(nbf, bool) and now + LEEWAY < nbf:
        raise JwtError("not valid yet")


def audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list):
        return [a for a in aud if isinstance(a, str)]
    return []
