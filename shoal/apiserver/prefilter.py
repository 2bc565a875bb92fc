"""Byte needles: a label selector's test on an object's stored JSON, before decoding it.

A watch or list with a label selector has to decode every object of its kind
to ask the selector, though most fail it: the ECS API's standalone-task sweep
follows the pods labelled ``app.kubernetes.io/managed-by=shoal-ecs``, so every
pod created anywhere was decoded (~25 µs for a 4.7 KB pod) on every server,
only to be dropped (issue 19's write path).

A requirement that pins a label to one value (``k=v``, ``k==v``, ``k in (v)``)
holds only for an object whose JSON has the string ``"v"`` in it. Label values
are ``[A-Za-z0-9._-]`` (validation refuses others), characters no JSON encoder
escapes, so the needle ``b'"v"'`` is in the bytes of every object the selector
matches: an object whose bytes lack one of the needles fails the selector and
needs no decoding. The converse does not hold (``"v"`` may be another field's
value), so an object with all needles is decoded and asked as before. Values
outside that alphabet (not valid labels, yet a selector may name them) give
no needle.
"""

from __future__ import annotations

import re

from shoal.api import selectors

_PLAIN = re.compile(r"[A-Za-z0-9._-]+")
_PINNING = (selectors.EQUALS, selectors.DOUBLE_EQUALS, selectors.IN)


def label_needles(sel: selectors.Selector | None) -> tuple[bytes, ...]:
    """Byte strings the stored JSON of every object ``sel`` matches contains (none: no test)."""
    if sel is None:
        return ()
    needles = []
    for r in sel.requirements:
        if r.operator in _PINNING and len(r.values) == 1 and _PLAIN.fullmatch(r.values[0]):
            needles.append(b'"' + r.values[0].encode() + b'"')
    return tuple(needles)


def may_match(needles: tuple[bytes, ...], raw: bytes) -> bool:
    """False only if ``raw`` lacks a needle, i.e. the selector the needles came from refuses it."""
    return all(n in raw for n in needles)
