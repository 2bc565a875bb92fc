"""shoal's SigV4 check against botocore's own signer: what botocore signs verifies, anything changed does not."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shoal.compat.ecs import sigv4
from shoal.formats.ecs.errors import EcsError

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def signed(url: str = "https://127.0.0.1:6443/ecs", body: bytes = b'{"cluster": "default"}',
           region: str = "us-east-1", secret: str = SECRET) -> AWSRequest:
    req = AWSRequest(method="POST", url=url, data=body, headers={
        "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListServices",
        "Content-Type": "application/x-amz-json-1.1"})
    auth = SigV4Auth(Credentials("AKIAEXAMPLE", secret), "ecs", region)
    auth.add_auth(req)
    req.headers["Host"] = url.split("/")[2]
    return req


def check(req: AWSRequest, *, secret: str = SECRET, skew: dt.timedelta = dt.timedelta(0), body: bytes | None = None,
          headers: dict[str, str] | None = None) -> None:
    from urllib.parse import urlsplit

    u = urlsplit(req.url)
    signed_at = dt.datetime.strptime(req.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    auth = sigv4.parse_authorization(req.headers["Authorization"])
    sigv4.verify(auth, secret, method=req.method, raw_path=u.path, query=u.query,
                 headers={**dict(req.headers.items()), **(headers or {})},
                 body=req.body if body is None else body, now=signed_at + skew)


@pytest.mark.parametrize("url", ["https://127.0.0.1:6443/ecs", "https://127.0.0.1:6443/ecs/",
                                 "https://h:1/ecs?b=2&a=1", "https://h:1/ecs/a%20b"])
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3"])
def test_what_botocore_signs_verifies(url: str, region: str) -> None:
    req = signed(url, region=region)
    check(req)
    check(req, skew=dt.timedelta(minutes=4))  # clocks a little apart
    assert sigv4.parse_authorization(req.headers["Authorization"]).region == region


@pytest.mark.parametrize(("change", "type_"), [
    ({"secret": "x" * 40}, "InvalidSignatureException"),
    ({"body": b'{"cluster": "prod"}'}, "InvalidSignatureException"),
    ({"headers": {"X-Amz-Target": "AmazonEC2ContainerServiceV20141113.DeleteService"}}, "InvalidSignatureException"),
    ({"skew": dt.timedelta(minutes=6)}, "InvalidSignatureException"),
    ({"skew": -dt.timedelta(minutes=6)}, "InvalidSignatureException"),
])
def test_anything_changed_is_refused(change: dict[str, object], type_: str) -> None:
    with pytest.raises(EcsError) as e:
        check(signed(), **change)  # type: ignore[arg-type]
    assert e.value.type == type_ and e.value.status == 400


@pytest.mark.parametrize(("header", "type_"), [
    (None, "MissingAuthenticationTokenException"), ("", "MissingAuthenticationTokenException"),
    ("AWS4-HMAC-SHA1 Credential=a/20261206/us-east-1/ecs/aws4_request", "IncompleteSignatureException"),
    ("AWS4-HMAC-SHA256 Credential=a/20261206/us-east-1/ecs/aws4_request, Signature=ab", "IncompleteSignatureException"),
    ("AWS4-HMAC-SHA256 Credential=a/2026/us-east-1/ecs, SignedHeaders=host, Signature=ab",
     "IncompleteSignatureException"),
])
def test_malformed_authorization(header: str | None, type_: str) -> None:
    with pytest.raises(EcsError) as e:
        sigv4.parse_authorization(header)
    assert e.value.type == type_
