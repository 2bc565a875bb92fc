"""upstream's EncryptionConfiguration (``apiserver.config.k8s.io/v1``) as transformers by resource. Pure.

```yaml
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources: [secrets, configmaps, "*.apps"]   # "*.*": everything
  providers:
  - aescbc: {keys: [{name: key2, secret: <base64 of 32 bytes>}, {name: key1, secret: ...}]}
  - identity: {}
```

For each resource the first entry naming it applies (``secrets`` is a core
resource, ``deployments.apps`` one of a group, ``*.apps`` every resource of
``apps``, ``*.`` every core one, ``*.*`` all). Writes use the first
provider's first key; reads try every key of every provider of the entry by
the prefix the value carries. So a key rotation is upstream's: add the new
key second and restart, move it first and restart, rewrite every object
(``kubectl get secrets -A -o json | kubectl replace -f -``), then drop the
old key. A resource no entry names is stored as is.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shoal.apiserver.encryption.providers import Identity, Transformer, make

KINDS = ("aescbc", "aesgcm", "secretbox", "identity")
_KEY_SIZES = {"aescbc": (16, 24, 32), "aesgcm": (16, 24, 32), "secretbox": (32,)}


class ConfigError(ValueError):
    """An EncryptionConfiguration upstream's apiserver would refuse."""


@dataclass(frozen=True, slots=True)
class Entry:
    resources: tuple[str, ...]
    transformers: tuple[Transformer, ...]


@dataclass(frozen=True, slots=True)
class EncryptionConfig:
    entries: tuple[Entry, ...]

    def for_resource(self, group: str, resource: str) -> tuple[Transformer, ...] | None:
        """The transformers of ``resource`` in ``group`` ("" is core), or ``None``: stored as is."""
        names = (f"{resource}.{group}" if group else resource, f"*.{group}", "*.*")
        for e in self.entries:
            if any(n in e.resources for n in names):
                return e.transformers
        return None


def _key(kind: str, raw: Any, where: str) -> tuple[str, bytes]:
    if not isinstance(raw, dict) or not raw.get("name") or not isinstance(raw.get("secret"), str):
        raise ConfigError(f"{where}: a key needs a name and a secret")
    try:
        secret = base64.b64decode(raw["secret"], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}.secret: not base64") from None
    if len(secret) not in _KEY_SIZES[kind]:
        raise ConfigError(f"{where}.secret: {kind} needs a key of {' or '.join(map(str, _KEY_SIZES[kind]))} "
                          f"bytes, got {len(secret)}")
    if ":" in str(raw["name"]):
        raise ConfigError(f"{where}.name: must not contain ':'")
    return str(raw["name"]), secret


def _provider(raw: Any, where: str, cipher: Callable[[str, bytes], Any]) -> list[Transformer]:
    if not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in KINDS:
        raise ConfigError(f"{where}: one of {', '.join(KINDS)} (kms is not supported)")
    kind, body = next(iter(raw.items()))
    if kind == "identity":
        return [Transformer(b"", Identity())]
    keys = (body or {}).get("keys")
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"{where}.{kind}.keys: at least one key is required")
    out = []
    for i, k in enumerate(keys):
        name, secret = _key(kind, k, f"{where}.{kind}.keys[{i}]")
        out.append(Transformer(f"k8s:enc:{kind}:v1:{name}:".encode(), cipher(kind, secret)))
    return out


def parse(doc: Any, *, cipher: Callable[[str, bytes], Any] = make) -> EncryptionConfig:
    """An EncryptionConfiguration (decoded) as transformers; ``ConfigError`` says what is wrong."""
    if not isinstance(doc, dict) or doc.get("kind") != "EncryptionConfiguration" or \
            doc.get("apiVersion") not in ("apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1beta1"):
        raise ConfigError("expected kind EncryptionConfiguration of apiVersion apiserver.config.k8s.io/v1")
    entries = []
    for i, r in enumerate(doc.get("resources") or []):
        where = f"resources[{i}]"
        if not isinstance(r, dict) or not r.get("resources") or not r.get("providers"):
            raise ConfigError(f"{where}: needs resources and providers")
        transformers = [t for j, p in enumerate(r["providers"]) for t in _provider(p, f"{where}.providers[{j}]",
                                                                                   cipher)]
        entries.append(Entry(tuple(str(x) for x in r["resources"]), tuple(transformers)))
    return EncryptionConfig(tuple(entries))
