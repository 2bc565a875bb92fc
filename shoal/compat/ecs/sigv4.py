"""AWS Signature Version 4, checked as AWS checks it (pure: no clock, no key store).

``parse_authorization`` reads the ``Authorization`` header into its parts;
``verify`` recomputes the signature over the canonical request (method, the
path URI-encoded once more as AWS does for every service but S3, the sorted
query, the signed headers with their values trimmed, the body's SHA-256) with
the key derived from the secret, date, region and service, compares in
constant time and checks that ``X-Amz-Date`` is within five minutes of
``now``. Failures are ``EcsError``s with AWS's types and messages. Tested
against botocore's own signer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

from shoal.formats.ecs import errors
from shoal.formats.ecs.errors import EcsError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = dt.timedelta(minutes=5)
_FIELD = re.compile(r"(\w+)=([^,\s]*)")
BAD_SIGNATURE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                 "Secret Access Key and signing method. Consult the service documentation for details.")


@dataclass(frozen=True, slots=True)
class Authorization:
    access_key: str
    date: str  # YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def parse_authorization(header: str | None) -> Authorization:
    if not header:
        raise EcsError(errors.MISSING_AUTH, "Missing Authentication Token")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise EcsError(errors.INCOMPLETE_SIGNATURE, f"Unsupported AWS 'algorithm': '{algorithm}'")
    fields = dict(_FIELD.findall(rest))
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    if missing:
        raise EcsError(errors.INCOMPLETE_SIGNATURE, f"Authorization header requires '{missing[0]}' parameter. "
                                                    f"Authorization={header}")
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request" or not re.fullmatch(r"\d{8}", cred[1]):
        raise EcsError(errors.INCOMPLETE_SIGNATURE, f"Credential should be scoped to a valid region. "
                                                    f"Credential={fields['Credential']}")
    return Authorization(cred[0], cred[1], cred[2], cred[3], tuple(fields["SignedHeaders"].split(";")),
                         fields["Signature"])


def _canonical_path(raw_path: str) -> str:
    segments: list[str] = []
    for seg in raw_path.split("/"):
        if seg == "..":
            if segments:
                segments.pop()
        elif seg not in (".", ""):
            segments.append(seg)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and path != "/":
        path += "/"
    return quote(path, safe="/~")


def _canonical_query(query: str) -> str:
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_request(method: str, raw_path: str, query: str, headers: Mapping[str, str],
                      signed: tuple[str, ...], body: bytes) -> str:
    lower = {k.lower(): v for k, v in headers.items()}
    lines = [f"{h}:{' '.join(lower.get(h, '').split())}" for h in signed]
    return "\n".join([method, _canonical_path(raw_path), _canonical_query(query), "\n".join(lines) + "\n",
                      ";".join(signed), hashlib.sha256(body).hexdigest()])


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signature(secret: str, auth: Authorization, amz_date: str, canonical: str) -> str:
    to_sign = "\n".join([ALGORITHM, amz_date, auth.scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode(), auth.date), auth.region), auth.service), "aws4_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify(auth: Authorization, secret: str, *, method: str, raw_path: str, query: str,
           headers: Mapping[str, str], body: bytes, now: dt.datetime) -> None:
    """Raise ``InvalidSignatureException`` unless the request was signed with ``secret`` in the last minutes."""
    lower = {k.lower(): v for k, v in headers.items()}
    if "host" not in auth.signed_headers:
        raise EcsError(errors.INCOMPLETE_SIGNATURE, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    amz_date = lower.get("x-amz-date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise EcsError(errors.INCOMPLETE_SIGNATURE, "Authorization header requires existence of either a "
                                                    "'X-Amz-Date' or a 'Date' header.") from None
    if not amz_date.startswith(auth.date):
        raise EcsError(errors.INVALID_SIGNATURE, f"Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                                                 f"version of date from HTTP: '{auth.date}' != '{amz_date[:8]}', "
                                                 f"from '{amz_date}'.")
    if abs(now - when) > MAX_SKEW:
        raise EcsError(errors.INVALID_SIGNATURE, f"Signature expired: {amz_date} is now earlier than "
                                                 f"{(now - MAX_SKEW).strftime('%Y%m%dT%H%M%SZ')} "
                                                 f"({now.strftime('%Y%m%dT%H%M%SZ')} - 5 min.)")
    canonical = canonical_request(method, raw_path, query, headers, auth.signed_headers, body)
    if not hmac.compare_digest(signature(secret, auth, amz_date, canonical), auth.signature):
        raise EcsError(errors.INVALID_SIGNATURE, BAD_SIGNATURE)
