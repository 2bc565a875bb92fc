"""Service-account tokens for projected volumes (shoal.agent.volumes.tokens): the refresh schedule,
the TokenRequest sent, the cache, and the payload they make. No I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from shoal.agent.volumes.payload import File, payload
from shoal.agent.volumes.plan import MountError, Projected
from shoal.agent.volumes.tokens import (
    Token,
    TokenCache,
    refresh_at,
    requires_refresh,
    token_request,
)

H = 3600.0


@pytest.mark.parametrize(("issued", "expires", "now", "want"), [
    (0, H, 0, False),
    (0, H, 0.79 * H, False),
    (0, H, 0.8 * H + 1, True),  # past 80% of its life
    (0, H, H, True),
    (0, H, 2 * H, True),  # expired
    (0, 10 * 24 * H, 23 * H, False),
    (0, 10 * 24 * H, 24 * H + 1, True),  # a long token is renewed after a day
    (100, 100 + 600, 100 + 479, False),
    (100, 100 + 600, 100 + 481, True),
])
def test_refresh_at_eighty_percent_or_a_day(issued: float, expires: float, now: float, want: bool) -> None:
    assert requires_refresh(Token("t", issued, expires), now) is want


@pytest.mark.parametrize(("issued", "expires", "want"), [(0, H, 0.8 * H), (0, 10 * 24 * H, 24 * H),
                                                         (50, 50 + 3607, 50 + 0.8 * 3607)])
def test_refresh_at(issued: float, expires: float, want: float) -> None:
    assert refresh_at(Token("t", issued, expires)) == pytest.approx(want)


POD: dict[str, Any] = {"metadata": {"name": "web", "namespace": "team", "uid": "u-1"},
                       "spec": {"serviceAccountName": "builder"}}


@pytest.mark.parametrize(("source", "spec"), [
    ({"path": "token", "expirationSeconds": 3607},
     {"expirationSeconds": 3607, "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "u-1"}}),
    ({"path": "vault", "audience": "vault", "expirationSeconds": 7200},
     {"expirationSeconds": 7200, "audiences": ["vault"],
      "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "u-1"}}),
    ({"path": "token"},  # upstream's default lifetime
     {"expirationSeconds": 3600, "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "u-1"}}),
])
def test_token_request_is_bound_to_the_pod(source: dict[str, Any], spec: dict[str, Any]) -> None:
    assert token_request(POD, source) == {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                          "spec": spec}


def test_cache_asks_again_only_when_due() -> None:
    now = [1_000_000.0]
    asked: list[tuple[str, str, dict[str, Any]]] = []

    async def request(ns: str, account: str, body: dict[str, Any]) -> Mapping[str, Any]:
        asked.append((ns, account, body))
        import datetime as dt
        exp = dt.datetime.fromtimestamp(now[0] + body["spec"]["expirationSeconds"], dt.UTC)
        return {"status": {"token": f"tok{len(asked)}", "expirationTimestamp": exp.strftime("%Y-%m-%dT%H:%M:%SZ")}}

    async def run() -> list[str]:
        cache = TokenCache(request, lambda: now[0])
        src = {"path": "token", "expirationSeconds": 1000}
        got = [(await cache.get(POD, src)).token]
        now[0] += 700
        got.append((await cache.get(POD, src)).token)  # 70%: the same token
        now[0] += 150
        got.append((await cache.get(POD, src)).token)  # 85%: a new one
        cache.forget("u-1")
        got.append((await cache.get(POD, src)).token)  # a pod gone and back: asked afresh
        return got

    assert asyncio.run(run()) == ["tok1", "tok1", "tok2", "tok3"]
    assert [(ns, acc) for ns, acc, _ in asked] == [("team", "builder")] * 3


def test_payload_writes_the_token_beside_the_other_sources() -> None:
    vol = Projected("kube-api-access-x", "/x", "projected", {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]},
        True)
    cms = {("configmaps", "kube-root-ca.crt"): {"data": {"ca.crt": "PEM"}}}
    files = payload(vol, POD, lambda kind, name: cms.get((kind, name)), tokens={"token": b"jwt"})
    assert files == {"token": File(b"jwt", 0o644), "ca.crt": File(b"PEM", 0o644),
                     "namespace": File(b"team", 0o644)}
    with pytest.raises(MountError, match="failed to fetch token"):
        payload(vol, POD, lambda kind, name: cms.get((kind, name)))
