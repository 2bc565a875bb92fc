"""Sets of field paths, kept in the FieldsV1 form that ``metadata.managedFields`` stores.

Server-side apply records, per field manager, the set of paths it owns. Upstream
(structured-merge-diff's ``fieldpath.Set``) holds a set as *members* (paths in the
set) and *children* (sets under a path element), and writes it as FieldsV1: a JSON
object whose keys are path elements, where ``{}`` is a member with nothing under
it, a ``"."`` key marks a member that also has children, and an object without
``"."`` has children only::

    {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
     "f:spec": {"f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}}}}}

shoal computes on that very form, so a stored entry is never converted to another
structure and back: a write touches only the managers whose sets it changes, and
encoding is a sort. Sets are values: no function here changes its arguments, and
results share unchanged subtrees with them.

Path elements are their FieldsV1 keys: ``f:<field>``, ``k:<JSON object of the key
fields, sorted by name>`` (an item of a list keyed by fields), ``v:<JSON value>``
(an item of a set), ``i:<index>``. Keys and values are written as Go's
``encoding/json`` writes them, so shoal's keys equal upstream's byte for byte.
Order (for encoding and for naming conflicts) is upstream's ``PathElement.Compare``:
fields, then keys, then values, then indices.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

__all__ = [
    "MEMBER",
    "Fields",
    "FieldsError",
    "decode",
    "difference",
    "encode",
    "field",
    "has",
    "insert",
    "intersection",
    "is_empty",
    "json_text",
    "key_element",
    "path_string",
    "paths",
    "recursive_difference",
    "union",
    "value_element",
]

Fields = dict[str, Any]
"""A set of paths: path element -> the entry under it (``{}``: a member; ``"."`` in it: a member too)."""

MEMBER = "."
_EMPTY: Fields = {}


class FieldsError(ValueError):
    """A FieldsV1 value that is not one (a non-object, an unknown path element that cannot parse)."""


# ---- path elements -------------------------------------------------------------------------


def json_text(value: Any, *, sort_keys: bool = False) -> str:
    """``value`` as Go's ``encoding/json`` writes it (compact, ``<>&`` and U+2028/9 escaped)."""
    if type(value) is str and value.isalnum() and value.isascii():
        return '"' + value + '"'
    if type(value) is int:
        return str(value)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str,
                      sort_keys=sort_keys)
    if "<" in text or ">" in text or "&" in text or "\u2028" in text or "\u2029" in text:
        text = (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return text


def field(name: str) -> str:
    return "f:" + name


def key_element(fields: Mapping[str, Any]) -> str:
    """The element of a list item identified by ``fields`` (sorted by name, as upstream's FieldList)."""
    items = tuple(sorted(fields.items())) if len(fields) > 1 else tuple(fields.items())
    for _, v in items:
        if type(v) is not str and type(v) is not int:
            return "k:" + json_text(dict(items))
    return _scalar_key(items)


@lru_cache(maxsize=16384)
def _scalar_key(items: tuple[tuple[str, str | int], ...]) -> str:
    """Keys of scalars, remembered: the same containers, ports and env names recur on every write."""
    return "k:{" + ",".join(json_text(k) + ":" + json_text(v) for k, v in items) + "}"


def value_element(value: Any) -> str:
    """The element of an item of a set of scalars."""
    return "v:" + json_text(value)


def _value_rank(v: Any) -> tuple[Any, ...]:
    """upstream's ``value.Compare``: numbers (compared as numbers), strings, booleans, lists, maps, null."""
    if v is None:
        return (5,)
    if isinstance(v, bool):
        return (2, v)
    if isinstance(v, int | float):
        return (0, v)
    if isinstance(v, str):
        return (1, v)
    if isinstance(v, list):
        return (3, [_value_rank(x) for x in v])
    if isinstance(v, dict):
        return (4, [(k, _value_rank(v[k])) for k in sorted(v)])
    return (6, str(v))


def _order(pe: str) -> tuple[Any, ...]:
    """Sort key of a path element, as upstream's ``PathElement.Compare``."""
    kind = pe[:2]
    if kind == "f:":
        return (0, pe[2:])
    try:
        if kind == "k:":
            obj = json.loads(pe[2:])
            return (1, [(k, _value_rank(obj[k])) for k in sorted(obj)])
        if kind == "v:":
            return (2, _value_rank(json.loads(pe[2:])))
        if kind == "i:":
            return (3, int(pe[2:]))
    except (ValueError, TypeError):
        pass
    return (4, pe)


def _go_number(v: int | float) -> str:
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    return str(v)


def _value_string(v: Any) -> str:
    """upstream's ``value.ToString``: what a conflict message prints for a key or set value."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return _go_number(v) if not (isinstance(v, float) and math.isnan(v)) else "NaN"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(_value_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "".join(f"{k}={_value_string(x)}" for k, x in v.items())
    return str(v)


def element_string(pe: str) -> str:
    """A path element as upstream prints it: ``.spec``, ``[name="web"]``, ``[="a"]``, ``[3]``."""
    kind = pe[:2]
    if kind == "f:":
        return "." + pe[2:]
    try:
        if kind == "k:":
            obj = json.loads(pe[2:])
            return "[" + ",".join(f"{k}={_value_string(obj[k])}" for k in obj) + "]"
        if kind == "v:":
            return "[=" + _value_string(json.loads(pe[2:])) + "]"
    except ValueError:
        pass
    if kind == "i:":
        return "[" + pe[2:] + "]"
    return pe


def path_string(path: Sequence[str]) -> str:
    """A path as upstream's ``Path.String``: ``.spec.template.spec.containers[name="web"].image``."""
    return "".join(element_string(pe) for pe in path)


# ---- entries --------------------------------------------------------------------------------


def is_member(e: Fields) -> bool:
    """Whether the entry under a path element says the path itself is in the set."""
    return not e or MEMBER in e


def children(e: Fields) -> Fields:
    """The paths under an entry (without its member mark)."""
    if MEMBER not in e:
        return e
    return {k: v for k, v in e.items() if k != MEMBER}


def entry(member: bool, under: Fields) -> Fields | None:
    """The entry of a path with this membership and these paths under it; None when it holds nothing."""
    if not under:
        return _EMPTY if member else None
    if member:
        return {MEMBER: _EMPTY, **under}
    return under


# ---- set algebra (upstream's Set.Union / Intersection / Difference / RecursiveDifference) ----


def is_empty(s: Fields) -> bool:
    return not s


def union(a: Fields, b: Fields) -> Fields:
    """Paths in ``a`` or ``b``."""
    if not a:
        return b
    if not b or a is b:
        return a
    out = dict(a)
    for pe, bv in b.items():
        av = out.get(pe)
        if av is None:
            out[pe] = bv
        elif av is not bv:
            e = entry(is_member(av) or is_member(bv), union(children(av), children(bv)))
            assert e is not None
            out[pe] = e
    return out


def intersection(a: Fields, b: Fields) -> Fields:
    """Paths in both ``a`` and ``b``."""
    if not a or not b:
        return _EMPTY
    if len(b) < len(a):
        a, b = b, a
    out: Fields = {}
    for pe, av in a.items():
        bv = b.get(pe)
        if bv is None:
            continue
        e = av if av is bv else entry(is_member(av) and is_member(bv),
                                       intersection(children(av), children(bv)))
        if e is not None:
            out[pe] = e
    return out


def difference(a: Fields, b: Fields) -> Fields:
    """Paths in ``a`` but not in ``b``; a member of ``b`` does not take away what is under it in ``a``."""
    if not a or not b:
        return a
    out: Fields = {}
    for pe, av in a.items():
        bv = b.get(pe)
        if bv is None:
            out[pe] = av
            continue
        if av is bv:
            continue
        e = entry(is_member(av) and not is_member(bv), difference(children(av), children(bv)))
        if e is not None:
            out[pe] = e
    return out


def recursive_difference(a: Fields, b: Fields) -> Fields:
    """Paths in ``a`` but not in ``b``, and nothing under a member of ``b``."""
    if not a or not b:
        return a
    out: Fields = {}
    for pe, av in a.items():
        bv = b.get(pe)
        if bv is None:
            out[pe] = av
            continue
        if is_member(bv):
            continue
        e = entry(is_member(av), recursive_difference(children(av), bv))
        if e is not None:
            out[pe] = e
    return out


def only(s: Fields, pe: str) -> Fields:
    """The paths of ``s`` that begin with ``pe`` (``s`` restricted to one top-level element)."""
    v = s.get(pe)
    return {pe: v} if v is not None else _EMPTY


def with_prefix(s: Fields, pe: str) -> Fields:
    """The paths under ``pe``, with ``pe`` taken off (upstream's ``WithPrefix``)."""
    v = s.get(pe)
    return children(v) if v else _EMPTY


# ---- building and reading ---------------------------------------------------------------------


def insert(s: Fields, path: Sequence[str]) -> Fields:
    """``s`` with ``path`` added (a new set; the empty path is the whole object, never tracked)."""
    if not path:
        return s
    add: Fields = _EMPTY
    for pe in reversed(path[1:]):
        add = {pe: add}
    return union(s, {path[0]: add})


def has(s: Fields, path: Sequence[str]) -> bool:
    """Whether ``path`` is a member of ``s``."""
    node = s
    for i, pe in enumerate(path):
        e = node.get(pe)
        if e is None:
            return False
        if i == len(path) - 1:
            return is_member(e)
        node = e
    return False


def paths(s: Fields, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every member path, in upstream's order."""
    for pe in sorted(s, key=_order):
        if pe == MEMBER:
            continue
        e = s[pe]
        here = (*prefix, pe)
        if is_member(e):
            yield here
        yield from paths(e, here)


def encode(s: Fields) -> Fields:
    """The FieldsV1 object of ``s``, its keys in upstream's order (``"."`` first)."""
    out: Fields = {}
    if MEMBER in s:
        out[MEMBER] = {}
    keys = [k for k in s if k != MEMBER]
    if len(keys) > 1:
        keys.sort(key=_order)
    for k in keys:
        v = s[k]
        out[k] = encode(v) if v else {}
    return out


def decode(raw: Any, *, canonical: bool = False) -> Fields:
    """A FieldsV1 object as a set; unknown kinds of path element are dropped, as upstream does.

    ``canonical``: write ``k:``/``v:`` keys again as shoal writes them (a client may space its
    JSON otherwise); stored entries, written by shoal, need not be.
    """
    if not isinstance(raw, dict):
        raise FieldsError("FieldsV1 must be a JSON object")
    return _decode_children(raw, canonical, 0)


def _decode_children(raw: dict[str, Any], canonical: bool, depth: int) -> Fields:
    if depth > 100:
        raise FieldsError("FieldsV1 is nested too deeply")
    out: Fields = {}
    for k, v in raw.items():
        if k == MEMBER:
            continue
        if not isinstance(v, dict):
            raise FieldsError(f"FieldsV1: the value of {k!r} must be an object")
        pe = _canonical_element(k) if canonical else k
        if pe is None:
            continue
        member = not v or MEMBER in v
        e = entry(member, _decode_children(v, canonical, depth + 1) if v else _EMPTY)
        if e is not None:
            out[pe] = union(out[pe], e) if pe in out else e
    return out


def _canonical_element(k: str) -> str | None:
    if len(k) < 2 or k[1] != ":":
        raise FieldsError(f"FieldsV1: invalid path element {k!r}")
    kind = k[0]
    if kind == "f":
        return k
    if kind not in "kvi":
        return None  # a kind a later version may know: dropped
    try:
        if kind == "i":
            return "i:" + str(int(k[2:]))
        value = json.loads(k[2:])
    except ValueError:
        raise FieldsError(f"FieldsV1: invalid path element {k!r}") from None
    if kind == "k":
        if not isinstance(value, dict):
            raise FieldsError(f"FieldsV1: invalid key element {k!r}")
        return key_element(value)
    return value_element(value)
