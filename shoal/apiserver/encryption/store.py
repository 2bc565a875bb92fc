"""A store whose values are encrypted for the resources an EncryptionConfiguration names.

It wraps the store the API server is given, so every path to the bytes goes
through it: writes (create, update) encrypt; reads (get, list, watch, and the
previous and deleted values a watch carries) decrypt, so the watch caches,
lists and everything built on them see the objects as before. Keys are
``/registry/<group>/<resource>/...`` (``core`` for the core group); which
transformers a key gets is decided once per resource and remembered.

A value that carries ``k8s:enc:`` but that no provider of its resource can
read (a key removed too early) fails that read with ``DecryptError``, as
upstream answers an internal error; nothing is ever silently served as
ciphertext.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from shoal.apiserver.encryption.config import EncryptionConfig
from shoal.apiserver.encryption.providers import (
    ENCRYPTED,
    DecryptError,
    Transformer,
    read,
    to_storage,
)
from shoal.store.base import KeyValue, Store, WatchEvent

_NONE: tuple[Transformer, ...] = ()


@dataclass(frozen=True, slots=True)
class StaleKeyValue(KeyValue):
    """A value read by a transformer other than the one writes use: an update rewrites it even when the
    object is unchanged (upstream's ``stale``), so ``kubectl replace`` of everything moves it to the new key."""


def is_stale(kv: KeyValue) -> bool:
    return isinstance(kv, StaleKeyValue)


def resource_of(key: str) -> tuple[str, str]:
    """(group, resource) of a storage key: ``/registry/core/secrets/ns/n`` -> ``("", "secrets")``."""
    parts = key.split("/", 4)
    if len(parts) < 4 or parts[1] != "registry":
        return "", ""
    return ("" if parts[2] == "core" else parts[2]), parts[3]


class EncryptedStore:
    def __init__(self, store: Store, config: EncryptionConfig) -> None:
        self._store = store
        self.config = config
        self._by_resource: dict[tuple[str, str], tuple[Transformer, ...]] = {}

    def reload(self, config: EncryptionConfig) -> None:
        """Use ``config`` from now on (``shoal secrets-encrypt rotate-keys``: a new key first, the old ones
        still readable); what was decided per resource is decided again."""
        self.config = config
        self._by_resource = {}

    async def raw(self, prefix: str, page: int = 1000) -> AsyncGenerator[builtins.list[KeyValue], None]:
        """The stored values under ``prefix`` as stored (encrypted), a page at a time."""
        after: str | None = None
        while True:
            items, _, more = await self._store.list(prefix, start_after=after, limit=page)
            if items:
                yield items
                after = items[-1].key
            if not more or not items:
                return

    def _transformers(self, key: str) -> tuple[Transformer, ...]:
        gr = resource_of(key)
        t = self._by_resource.get(gr)
        if t is None:
            t = self._by_resource[gr] = self.config.for_resource(*gr) or _NONE
        return t

    def encode(self, key: str, value: bytes) -> bytes:
        t = self._transformers(key)
        return to_storage(t, value, key.encode()) if t else value

    def decode(self, key: str, value: bytes) -> tuple[bytes, bool]:
        """The plain value and whether it is stale (see ``StaleKeyValue``)."""
        t = self._transformers(key)
        if t:
            return read(t, value, key.encode())
        if value.startswith(ENCRYPTED):
            raise DecryptError(f"{key} is encrypted and no provider is configured for its resource")
        return value, False

    def _kv(self, kv: KeyValue) -> KeyValue:
        if not kv.value or not (self._transformers(kv.key) or kv.value.startswith(ENCRYPTED)):
            return kv
        plain, stale = self.decode(kv.key, kv.value)
        return (StaleKeyValue if stale else KeyValue)(kv.key, plain, kv.create_revision, kv.mod_revision)

    # ---- the Store protocol ------------------------------------------------------------
    async def start(self) -> None:
        await self._store.start()

    async def close(self) -> None:
        await self._store.close()

    async def current_revision(self) -> int:
        return await self._store.current_revision()

    async def get(self, key: str) -> KeyValue | None:
        kv = await self._store.get(key)
        return None if kv is None else self._kv(kv)

    async def list(self, prefix: str, *, start_after: str | None = None, limit: int = 0,
                   revision: int = 0) -> tuple[builtins.list[KeyValue], int, bool]:
        items, rev, more = await self._store.list(prefix, start_after=start_after, limit=limit, revision=revision)
        return [self._kv(kv) for kv in items], rev, more

    async def count(self, prefix: str) -> int:
        return await self._store.count(prefix)

    async def create(self, key: str, value: bytes) -> int:
        return await self._store.create(key, self.encode(key, value))

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        return await self._store.update(key, self.encode(key, value), expected_revision=expected_revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        return self._kv(await self._store.delete(key, expected_revision=expected_revision))

    async def watch(self, prefix: str, *, from_revision: int) -> AsyncGenerator[builtins.list[WatchEvent], None]:
        gen = self._store.watch(prefix, from_revision=from_revision)
        try:
            async for batch in gen:
                yield [WatchEvent(e.type, self._kv(e.kv), None if e.prev is None else self._kv(e.prev))
                       for e in batch]
        finally:
            await gen.aclose()

    async def compact(self, revision: int) -> None:
        await self._store.compact(revision)

    async def compacted_revision(self) -> int:
        return await self._store.compacted_revision()
