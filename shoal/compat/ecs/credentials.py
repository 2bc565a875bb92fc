"""ECS access keys: issued by ``shoal ecs credentials``, each a Secret bound to a user.

A key is a Secret ``ecs-credentials-<key id>`` in ``kube-system`` (type
``shoal.io/ecs-credentials``) holding the secret access key and the user (and
groups) a request signed with it acts as. Kubernetes RBAC on Secrets in
``kube-system`` guards the keys; deleting the Secret revokes the key (within
``CACHE_SECONDS``, the time a looked-up key is remembered so that a burst of
requests costs one read).
"""

from __future__ import annotations

import base64
import secrets
import string
import time
from dataclasses import dataclass

from shoal.client import ApiClient, ApiException
from shoal.formats.ecs import names

NAMESPACE = "kube-system"
SECRET_TYPE = "shoal.io/ecs-credentials"
CACHE_SECONDS = 2.0
_KEY_ALPHABET = string.ascii_uppercase + "234567"


@dataclass(frozen=True, slots=True)
class Credential:
    access_key_id: str
    secret_access_key: str
    user: str
    groups: tuple[str, ...]


def secret_name(access_key_id: str) -> str:
    return f"ecs-credentials-{access_key_id.lower()}"


def new_key() -> tuple[str, str]:
    key_id = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    secret = base64.b64encode(secrets.token_bytes(30)).decode()
    return key_id, secret


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


async def issue(client: ApiClient, *, user: str, groups: tuple[str, ...] = ()) -> Credential:
    key_id, secret = new_key()
    await client.create("secrets", {
        "metadata": {"name": secret_name(key_id), "namespace": NAMESPACE,
                     "labels": {names.MANAGED_BY: names.MANAGER, "ecs.shoal.io/user": names.label_value(user)}},
        "type": SECRET_TYPE,
        "data": {"accessKeyId": _b64(key_id), "secretAccessKey": _b64(secret), "user": _b64(user),
                 "groups": _b64(",".join(groups))}}, namespace=NAMESPACE)
    return Credential(key_id, secret, user, groups)


class KeyStore:
    """Finds the credential of an access key id, remembering answers for ``CACHE_SECONDS``."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._cache: dict[str, tuple[float, Credential | None]] = {}

    async def find(self, access_key_id: str) -> Credential | None:
        now = time.monotonic()
        hit = self._cache.get(access_key_id)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        cred = await self._read(access_key_id)
        if len(self._cache) > 1000:
            self._cache.clear()
        self._cache[access_key_id] = (now, cred)
        return cred

    async def _read(self, access_key_id: str) -> Credential | None:
        if not access_key_id.isalnum() or len(access_key_id) > 128:
            return None
        try:
            s = await self.client.get("secrets", secret_name(access_key_id), NAMESPACE)
        except ApiException as e:
            if e.not_found:
                return None
            raise
        if s.get("type") != SECRET_TYPE:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()}
        if data.get("accessKeyId") != access_key_id or not data.get("secretAccessKey"):
            return None
        groups = tuple(g for g in (data.get("groups") or "").split(",") if g)
        return Credential(access_key_id, data["secretAccessKey"], data.get("user") or "", groups)
