"""The decisions of `shoal secrets-encrypt rotate-keys` and `status`, without a server."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from shoal.apiserver.encryption.config import parse
from shoal.apiserver.encryption.rotation import (
    RotationError,
    Served,
    Tally,
    key_label,
    new_key_name,
    resources_of,
    rotate,
    tally,
    write_keys,
)
from shoal.apiserver.encryption.store import resource_of

NOW = dt.datetime(2026, 12, 6, 20, 1, 2, tzinfo=dt.UTC)
K1 = base64.b64encode(b"1" * 32).decode()


def doc(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration", "resources": list(entries)}


def entry(resources: list[str], *providers: dict[str, Any]) -> dict[str, Any]:
    return {"resources": resources, "providers": list(providers)}


def fake_secret(n: int) -> str:
    return base64.b64encode(b"n" * n).decode()


@pytest.mark.parametrize(("taken", "want"), [
    ([], "aescbckey-20261206T200102Z"),
    (["aescbckey-20261206T200102Z"], "aescbckey-20261206T200102Z-2"),
    (["aescbckey-20261206T200102Z", "aescbckey-20261206T200102Z-2"], "aescbckey-20261206T200102Z-3"),
])
def test_new_key_name(taken: list[str], want: str) -> None:
    assert new_key_name("aescbc", NOW, taken) == want


def test_rotate_puts_a_new_key_first_and_keeps_the_old() -> None:
    before = doc(entry(["secrets"], {"aescbc": {"keys": [{"name": "key1", "secret": K1}]}}, {"identity": {}}),
                 entry(["*.apps"], {"aesgcm": {"keys": [{"name": "g1", "secret": K1}]}}))
    after, name = rotate(before, NOW, fake_secret)
    assert name == "aescbckey-20261206T200102Z"
    assert after["resources"][0]["providers"] == [
        {"aescbc": {"keys": [{"name": name, "secret": fake_secret(32)}, {"name": "key1", "secret": K1}]}},
        {"identity": {}}]
    assert [k["name"] for k in after["resources"][1]["providers"][0]["aesgcm"]["keys"]] == [name, "g1"]
    assert before["resources"][0]["providers"][0]["aescbc"]["keys"] == [{"name": "key1", "secret": K1}]  # a copy
    parse(after)  # what it writes is a configuration the server takes
    assert write_keys(after) == [(["secrets"], "aescbc", name), (["*.apps"], "aesgcm", name)]


@pytest.mark.parametrize(("bad", "why"), [
    (doc(), "names no resources"),
    (doc(entry(["secrets"], {"identity": {}}, {"aescbc": {"keys": [{"name": "k", "secret": K1}]}})),
     r"resources\[0\]: its first provider is identity"),
    (doc(entry(["secrets"], {"kms": {}})), "its first provider is kms"),
])
def test_rotate_refuses(bad: dict[str, Any], why: str) -> None:
    with pytest.raises(RotationError, match=why):
        rotate(bad, NOW, fake_secret)


def test_resources_of_resolves_names_and_wildcards() -> None:
    config = parse(doc(entry(["secrets", "*.apps"], {"aescbc": {"keys": [{"name": "k", "secret": K1}]}}),
                       entry(["configmaps"], {"identity": {}})))
    rw = frozenset({"list", "update", "get"})
    served = [Served("", "v1", "secrets", True, rw), Served("", "v1", "configmaps", True, rw),
              Served("apps", "v1", "deployments", True, rw), Served("apps", "v1", "deployments/scale", True, rw),
              Served("apps", "v1", "controllerrevisions", True, frozenset({"list"})),
              Served("batch", "v1", "jobs", True, rw)]
    assert [s.plural for s in resources_of(config, served)] == ["secrets", "deployments"]


def test_tally_and_key_labels() -> None:
    config = parse(doc(entry(["secrets"], {"aescbc": {"keys": [{"name": "new", "secret": K1},
                                                              {"name": "old", "secret": K1}]}},
                             {"identity": {}})))
    values = [("/registry/core/secrets/a/1", b"k8s:enc:aescbc:v1:new:xx"),
              ("/registry/core/secrets/a/2", b"k8s:enc:aescbc:v1:old:x:y"),
              ("/registry/core/secrets/a/3", b'{"kind":"Secret"}'),
              ("/registry/core/configmaps/a/c", b'{"kind":"ConfigMap"}')]
    assert tally(config, values, resource_of) == Tally(1, {"aescbc:old": 1, "identity": 1})
    assert tally(config, values[:1], resource_of).total == 1
    assert key_label(b"k8s:enc:secretbox:v1:k9:abc") == "secretbox:k9" and key_label(b"{}") == "identity"
