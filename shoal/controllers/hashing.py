"""The pod-template-hash: a short, stable name for one version of a pod template.

A Deployment names each ReplicaSet ``<deployment>-<hash>`` and labels its pods
``pod-template-hash=<hash>``, so the hash must depend on the template alone
(and on ``status.collisionCount``, which is bumped to step around a name taken
by a foreign ReplicaSet), be the same after a restart, and fit a label value.
As upstream: 32-bit FNV-1a, then the decimal digits mapped onto an alphabet
without vowels (no accidental words) or look-alike characters. The bytes hashed
are the template's canonical JSON (sorted keys), not Go's object dump, so the
values differ from Kubernetes' own, which nothing relies on.
"""

from __future__ import annotations

import json
from typing import Any

from shoal.api.views import Body

HASH_LABEL = "pod-template-hash"
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def fnv1a_32(data: bytes, h: int = _FNV_OFFSET) -> int:
    for b in data:
        h = ((h ^ b) * _FNV_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    """Map each character onto the safe alphabet (upstream's ``rand.SafeEncodeString``)."""
    return "".join(_ALPHANUMS[ord(c) % len(_ALPHANUMS)] for c in s)


def template_without_hash(template: Body | None) -> dict[str, Any]:
    """A copy-on-write view of ``template`` without the pod-template-hash label."""
    t = dict(template or {})
    md = t.get("metadata")
    if isinstance(md, dict) and HASH_LABEL in (md.get("labels") or {}):
        labels = {k: v for k, v in md["labels"].items() if k != HASH_LABEL}
        t["metadata"] = {**md, "labels": labels}
    return t


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def pod_template_hash(template: Body | None, collision_count: int | None = None) -> str:
    data = canonical(template_without_hash(template))
    h = fnv1a_32(data)
    if collision_count is not None:
        h = fnv1a_32((collision_count & 0xFFFFFFFF).to_bytes(8, "little"), h)
    return safe_encode(str(h))


def _normal(template: Body | None) -> dict[str, Any]:
    t = template_without_hash(template)
    md = t.get("metadata")
    if isinstance(md, dict):  # an empty labels map and none are the same template
        t["metadata"] = {k: v for k, v in md.items() if v not in (None, {}, [])}
        if not t["metadata"]:
            del t["metadata"]
    return t


def equal_ignore_hash(a: Body | None, b: Body | None) -> bool:
    """Whether two pod templates are the same version (upstream's ``EqualIgnoreHash``)."""
    return _normal(a) == _normal(b)
