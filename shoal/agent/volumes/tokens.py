"""Service-account tokens for projected volumes, as the kubelet's token manager keeps them.

A ``serviceAccountToken`` source asks for a token of the pod's service
account, for an audience and a lifetime. The agent asks the TokenRequest API
(``POST .../serviceaccounts/NAME/token``) for one bound to the pod (its kind,
name and uid: the token dies with the pod), keeps it in memory by (pod uid,
audience, lifetime), and asks for a new one once 80% of its lifetime has
passed, or 24 hours, whichever comes first (the kubelet's
``requiresRefresh``). Every pod sync projects the volume again through the
atomic writer, so a fresh token lands in the file without a restart.

``requires_refresh``, ``token_request`` and ``token_sources`` are pure and
table-tested; ``TokenCache`` holds the tokens and does the one call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shoal.api import views

MAX_TTL_BEFORE_REFRESH = 24 * 3600.0  # seconds: a longer token is renewed after a day anyway
REFRESH_FRACTION = 0.8
DEFAULT_SECONDS = 3600

# (namespace, service account, TokenRequest body) -> the TokenRequest answered
Request = Callable[[str, str, dict[str, Any]], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class Token:
    token: str
    issued: float  # epoch seconds
    expires: float


def requires_refresh(t: Token, now: float) -> bool:
    """Past 80% of its lifetime, or older than a day (the kubelet's rule)."""
    ttl = t.expires - t.issued
    age = now - t.issued
    return now >= t.expires or age > REFRESH_FRACTION * ttl or age > MAX_TTL_BEFORE_REFRESH


def refresh_at(t: Token) -> float:
    """When ``requires_refresh`` first turns true."""
    ttl = t.expires - t.issued
    return t.issued + min(REFRESH_FRACTION * ttl, MAX_TTL_BEFORE_REFRESH)


def token_sources(volume_source: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``serviceAccountToken`` sources of a projected volume's source."""
    return [s["serviceAccountToken"] for s in volume_source.get("sources") or []
            if s.get("serviceAccountToken") is not None]


def token_request(pod: views.Pod, source: Mapping[str, Any]) -> dict[str, Any]:
    """The TokenRequest the agent sends for one source: bound to the pod, the audience and lifetime asked."""
    spec: dict[str, Any] = {"expirationSeconds": int(source.get("expirationSeconds") or DEFAULT_SECONDS),
                            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": views.name(pod),
                                               "uid": views.uid(pod)}}
    if source.get("audience"):
        spec["audiences"] = [str(source["audience"])]
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}


def _epoch(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class TokenCache:
    def __init__(self, request: Request, clock: Callable[[], float]) -> None:
        self.request = request
        self.clock = clock
        self._tokens: dict[tuple[str, str, int], Token] = {}  # (pod uid, audience, seconds) -> token

    async def get(self, pod: views.Pod, source: Mapping[str, Any]) -> Token:
        """A current token for the source (asks the API when there is none or it is due)."""
        body = token_request(pod, source)
        key = (views.uid(pod), str(source.get("audience") or ""), int(body["spec"]["expirationSeconds"]))
        now = self.clock()
        have = self._tokens.get(key)
        if have is not None and not requires_refresh(have, now):
            return have
        account = str(views.spec(pod).get("serviceAccountName") or "default")
        answer = await self.request(views.namespace(pod) or "default", account, body)
        status = answer.get("status") or {}
        t = Token(str(status.get("token") or ""), now, _epoch(str(status.get("expirationTimestamp"))))
        self._tokens[key] = t
        return t

    def forget(self, uid: str) -> None:
        for key in [k for k in self._tokens if k[0] == uid]:
            del self._tokens[key]
