"""Encryption at rest without a server: the configuration, the providers' formats, reads by prefix, rotation."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from shoal.apiserver.encryption.config import ConfigError, parse
from shoal.apiserver.encryption.providers import DecryptError, from_storage, to_storage
from shoal.apiserver.encryption.store import resource_of

K1, K2 = os.urandom(32), os.urandom(32)


def b64(k: bytes) -> str:
    return base64.b64encode(k).decode()


def config(resources: list[str], *providers: dict[str, Any]) -> Any:
    return parse({"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
                  "resources": [{"resources": resources, "providers": list(providers)}]})


def keys(kind: str, *named: tuple[str, bytes]) -> dict[str, Any]:
    return {kind: {"keys": [{"name": n, "secret": b64(k)} for n, k in named]}}


@pytest.mark.parametrize("kind", ["aescbc", "aesgcm", "secretbox"])
def test_each_provider_round_trips_under_its_prefix(kind: str) -> None:
    t = config(["secrets"], keys(kind, ("key1", K1))).for_resource("", "secrets")
    assert t is not None
    stored = to_storage(t, b'{"data":{"password":"aHVudGVyMg=="}}', b"/registry/core/secrets/a/s")
    assert stored.startswith(f"k8s:enc:{kind}:v1:key1:".encode())
    assert b"aHVudGVyMg" not in stored
    assert from_storage(t, stored, b"/registry/core/secrets/a/s") == b'{"data":{"password":"aHVudGVyMg=="}}'
    # a fresh nonce or IV every write
    assert to_storage(t, b"x", b"k") != to_storage(t, b"x", b"k")


def test_aesgcm_binds_the_value_to_its_key() -> None:
    t = config(["secrets"], keys("aesgcm", ("k", K1))).for_resource("", "secrets")
    assert t is not None
    stored = to_storage(t, b"v", b"/registry/core/secrets/a/s1")
    with pytest.raises(DecryptError):
        from_storage(t, stored, b"/registry/core/secrets/a/s2")


def test_rotation_reads_every_key_and_writes_with_the_first() -> None:
    old = config(["secrets"], keys("aescbc", ("key1", K1)))
    adding = config(["secrets"], keys("aescbc", ("key1", K1), ("key2", K2)))  # step 1: new key second
    rotated = config(["secrets"], keys("aescbc", ("key2", K2), ("key1", K1)))  # step 2: new key first
    done = config(["secrets"], keys("aescbc", ("key2", K2)))  # step 4: old key dropped
    ctx = b"/registry/core/secrets/a/s"
    v1 = to_storage(old.for_resource("", "secrets"), b"plain", ctx)
    assert from_storage(adding.for_resource("", "secrets"), v1, ctx) == b"plain"
    assert to_storage(adding.for_resource("", "secrets"), b"plain", ctx).startswith(b"k8s:enc:aescbc:v1:key1:")
    v2 = to_storage(rotated.for_resource("", "secrets"), b"plain", ctx)  # step 3: the rewrite
    assert v2.startswith(b"k8s:enc:aescbc:v1:key2:")
    assert from_storage(rotated.for_resource("", "secrets"), v1, ctx) == b"plain"
    assert from_storage(done.for_resource("", "secrets"), v2, ctx) == b"plain"
    with pytest.raises(DecryptError):
        from_storage(done.for_resource("", "secrets"), v1, ctx)  # dropped before the rewrite: unreadable


def test_identity_first_writes_plain_and_still_reads_encrypted() -> None:
    ctx = b"k"
    enc = to_storage(config(["secrets"], keys("aesgcm", ("k", K1))).for_resource("", "secrets"), b"v", ctx)
    decrypting = config(["secrets"], {"identity": {}}, keys("aesgcm", ("k", K1))).for_resource("", "secrets")
    assert decrypting is not None
    assert to_storage(decrypting, b"v", ctx) == b"v"
    assert from_storage(decrypting, enc, ctx) == b"v" and from_storage(decrypting, b'{"a":1}', ctx) == b'{"a":1}'
    with pytest.raises(DecryptError, match="identity transformer tried to read encrypted data"):
        from_storage(config(["secrets"], {"identity": {}}).for_resource("", "secrets"), enc, ctx)


@pytest.mark.parametrize(("resources", "group", "resource", "matched"), [
    (["secrets"], "", "secrets", True),
    (["secrets"], "", "configmaps", False),
    (["deployments.apps"], "apps", "deployments", True),
    (["*.apps"], "apps", "statefulsets", True),
    (["*.apps"], "", "secrets", False),
    (["*."], "", "configmaps", True),
    (["*."], "apps", "deployments", False),
    (["*.*"], "batch", "jobs", True),
])
def test_which_resources_an_entry_names(resources: list[str], group: str, resource: str, matched: bool) -> None:
    assert (config(resources, {"identity": {}}).for_resource(group, resource) is not None) is matched


@pytest.mark.parametrize(("key", "gr"), [
    ("/registry/core/secrets/ns/n", ("", "secrets")),
    ("/registry/apps/deployments/ns/n", ("apps", "deployments")),
    ("/registry/core/nodes/n1", ("", "nodes")),
    ("/other", ("", "")),
])
def test_resource_of_a_key(key: str, gr: tuple[str, str]) -> None:
    assert resource_of(key) == gr


@pytest.mark.parametrize(("providers", "message"), [
    ([{"aescbc": {"keys": [{"name": "k", "secret": b64(os.urandom(20))}]}}], "16 or 24 or 32 bytes, got 20"),
    ([{"secretbox": {"keys": [{"name": "k", "secret": b64(os.urandom(16))}]}}], "32 bytes, got 16"),
    ([{"aesgcm": {"keys": [{"name": "k", "secret": "%%%"}]}}], "not base64"),
    ([{"aesgcm": {"keys": []}}], "at least one key"),
    ([{"kms": {"name": "x"}}], "kms is not supported"),
    ([{"aescbc": {"keys": [{"name": "a:b", "secret": b64(K1)}]}}], "must not contain"),
])
def test_bad_configurations_are_refused(providers: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(["secrets"], *providers)
