"""Key rotation (``shoal secrets-encrypt rotate-keys``, k3s's command): the decisions, pure.

Upstream's rotation is three steps by hand (a new key listed second and a
restart, then first and a restart, then every object rewritten). shoal folds
them into one command because a single ``shoal server`` is its own only
reader: ``rotate`` puts a new key *first* in each entry's first provider and
keeps the old ones after it (so what they wrote still reads), the server
reloads the file, and every object of the resources the file names is read and
replaced unchanged (the store marks a value read with a non-first key stale, so
the unchanged update writes it again, under the new key). The old key can then
be dropped.

``resources_of`` resolves the file's names (``secrets``, ``deployments.apps``,
``*.apps``, ``*.*``) against what discovery serves; ``tally`` counts the stored
values by the key that wrote them, for ``status``.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shoal.apiserver.encryption.config import EncryptionConfig
from shoal.apiserver.encryption.providers import ENCRYPTED

ROTATABLE = ("aescbc", "aesgcm", "secretbox")
_KEY_BYTES = 32


class RotationError(ValueError):
    """A configuration this command cannot rotate; the message says what to change."""


def new_key_name(kind: str, now: dt.datetime, taken: Iterable[str]) -> str:
    """``<kind>key-<UTC time>`` as k3s names them (no ':', which a key name may not hold), unique in ``taken``."""
    base = f"{kind}key-{now.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"
    names, name, n = set(taken), base, 1
    while name in names:
        n += 1
        name = f"{base}-{n}"
    return name


def rotate(doc: Mapping[str, Any], now: dt.datetime, secret: Callable[[int], str]) -> tuple[dict[str, Any], str]:
    """A copy of the EncryptionConfiguration ``doc`` with a new key first in each entry's first provider,
    and the new key's name. ``secret(n)``: n random bytes, base64."""
    out = copy.deepcopy(dict(doc))
    entries = out.get("resources") or []
    if not entries:
        raise RotationError("the configuration names no resources: nothing is encrypted")
    firsts = []
    for i, entry in enumerate(entries):
        providers = entry.get("providers") or [] if isinstance(entry, dict) else []
        first = providers[0] if providers and isinstance(providers[0], dict) and len(providers[0]) == 1 else None
        kind = next(iter(first)) if first else None
        if kind not in ROTATABLE:
            raise RotationError(f"resources[{i}]: its first provider is {kind or 'missing'}, not one of "
                                f"{', '.join(ROTATABLE)}: put the provider that should encrypt first")
        assert first is not None and kind is not None
        firsts.append((kind, first))
    taken = [str(k.get("name")) for _, p in firsts for k in ((p[next(iter(p))] or {}).get("keys") or [])]
    name = new_key_name(firsts[0][0], now, taken)
    for kind, provider in firsts:
        body = provider[kind] = dict(provider[kind] or {})
        body["keys"] = [{"name": name, "secret": secret(_KEY_BYTES)}, *(body.get("keys") or [])]
    return out, name


@dataclass(frozen=True, slots=True)
class Served:
    """A resource discovery lists, as rotation needs it."""

    group: str
    version: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]


def resources_of(config: EncryptionConfig, served: Iterable[Served]) -> list[Served]:
    """The served resources whose values the configuration encrypts and which can be listed and replaced."""
    out = []
    for s in served:
        if "/" in s.plural or not {"list", "update"} <= s.verbs:
            continue
        t = config.for_resource(s.group, s.plural)
        if t and t[0].prefix:  # an entry whose writes are encrypted (identity first writes plain)
            out.append(s)
    return out


@dataclass(frozen=True, slots=True)
class Tally:
    """Stored values of encrypted resources by what wrote them."""

    current: int  # under the key writes use
    other: dict[str, int]  # under another key (its prefix's name) or "identity" (plain)

    @property
    def total(self) -> int:
        return self.current + sum(self.other.values())


def key_label(value: bytes) -> str:
    """``aescbc:<key name>`` for a stored value, ``identity`` for a plain one."""
    if not value.startswith(ENCRYPTED):
        return "identity"
    parts = value.split(b":", 5)  # k8s:enc:<kind>:v1:<name>:<data>
    return f"{parts[2].decode(errors='replace')}:{parts[4].decode(errors='replace')}" if len(parts) > 5 else "?"


def tally(config: EncryptionConfig, values: Iterable[tuple[str, bytes]],
          resource_of: Callable[[str], tuple[str, str]]) -> Tally:
    current, other = 0, dict[str, int]()
    for key, value in values:
        t = config.for_resource(*resource_of(key))
        if not t:
            continue
        if t[0].prefix and value.startswith(t[0].prefix) or not t[0].prefix and not value.startswith(ENCRYPTED):
            current += 1
        else:
            label = key_label(value)
            other[label] = other.get(label, 0) + 1
    return Tally(current, other)


def write_keys(doc: Mapping[str, Any]) -> list[tuple[list[str], str, str]]:
    """(resources, provider, key name) of each entry's write key, as the file lists them."""
    out = []
    for entry in doc.get("resources") or []:
        first = (entry.get("providers") or [{}])[0]
        kind = next(iter(first), "identity")
        keys = ((first.get(kind) or {}).get("keys") or [{}]) if kind != "identity" else [{}]
        out.append(([str(r) for r in entry.get("resources") or []], kind, str(keys[0].get("name", ""))))
    return out
