"""Objects walked by their type: field sets, comparisons, the apply merge, removal of fields.

These are upstream's structured-merge-diff operations (``typed.TypedValue``'s
``ToFieldSet``, ``Compare``, ``Merge``, ``RemoveItems`` and
``Set.EnsureNamedFieldsAreMembers``) over plain JSON values and a ``TypeNode``,
with their semantics kept to the letter, since managedFields written by one
server are read by every client:

* a scalar, an atomic map or list is one *leaf*: owned, compared and replaced
  whole;
* a granular map owns each key (a struct's declared fields only when null or
  empty: a struct is owned through its fields; any other key always);
* a list of type ``map`` or ``set`` owns each item by its key (``k:``) or value
  (``v:``), and the item itself; the merge keeps the live order and places new
  items after the ones they follow in the applied list;
* a map or list that is empty (or null) on both sides is a leaf, so ``{}``
  and ``null`` stay distinct.

``compare`` walks only what differs: equal subtrees are skipped with one
``==`` (C speed), so an update that changes one field costs about its depth.
The one difference from upstream's walk order is invisible: results are sets.
"""

from __future__ import annotations

from typing import Any

from shoal.api.apply.fieldset import (
    MEMBER,
    Fields,
    children,
    entry,
    key_element,
    path_string,
    union,
    value_element,
)
from shoal.api.apply.schema import SCALAR, UNTYPED, TypeNode

__all__ = [
    "ABSENT",
    "Comparison",
    "TypedError",
    "compare",
    "ensure_named_members",
    "merge",
    "remove_items",
    "to_fieldset",
]


class _Absent:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""No value at all (a missing key), as distinct from JSON ``null``."""

_UNTYPED_MAP = TypeNode("map", elements=UNTYPED)
_UNTYPED_LIST = TypeNode("list", elements=UNTYPED, list_type="atomic")
_EMPTY: Fields = {}


class TypedError(ValueError):
    """A value that does not fit its type (a duplicate key, a key field missing, a map for a list)."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(errors[0] if len(errors) == 1 else "errors:\n  " + "\n  ".join(errors))


def _resolve(node: TypeNode, value: Any) -> TypeNode:
    """The type to walk ``value`` by: an untyped node is deduced from the value."""
    if node.kind != "untyped":
        return node
    if type(value) is dict:
        return _UNTYPED_MAP
    if type(value) is list:
        return _UNTYPED_LIST
    return SCALAR


def _go_keys(keys: tuple[str, ...]) -> str:
    return "[" + " ".join(f'"{k}"' for k in keys) + "]"


def item_element(node: TypeNode, item: Any) -> str:
    """The path element of one item of a ``map`` or ``set`` list; ``ValueError`` if it has none."""
    if node.list_type == "map":
        if item is None:
            raise ValueError("associative list with keys may not have a null element")
        if type(item) is not dict:
            raise ValueError("associative list with keys may not have non-map elements")
        keys = node.keys
        if len(keys) == 1:
            k = keys[0]
            if k in item:
                return key_element({k: item[k]})
            if k in node.key_defaults:
                return key_element({k: node.key_defaults[k]})
        else:
            found = {}
            for k in keys:
                if k in item:
                    found[k] = item[k]
                elif k in node.key_defaults:
                    found[k] = node.key_defaults[k]
            if found:
                return key_element(found)
        raise ValueError("associative list with keys has an element that omits all key fields "
                         f"{_go_keys(keys)} (and doesn't have default values for any key fields)")
    if type(item) is dict:
        raise ValueError("associative list without keys has an element that's a map type")
    if type(item) is list:
        raise ValueError("not supported: associative list with lists as elements")
    if item is None:
        raise ValueError("associative list without keys has an element that's an explicit null")
    return value_element(item)


# ---- ToFieldSet ----------------------------------------------------------------------------


def to_fieldset(node: TypeNode, value: Any) -> Fields:
    """The paths ``value`` sets (upstream's ``ToFieldSet``); ``TypedError`` lists what does not fit."""
    errors: list[str] = []
    _, children = _fs(node, value, None, errors, True)
    if errors:
        raise TypedError(errors)
    return children


def fieldset_of(node: TypeNode, value: Any) -> Fields:
    """``to_fieldset`` of a stored object: what does not fit is skipped, not refused."""
    _, children = _fs(node, value, None, [], False)
    return children


# The path to a value while walking, as a chain (element, parent): built for free on the way down,
# read only to name a path in an error.
Chain = tuple[str, Any] | None
_SCALAR_TYPES = (str, int, float, bool)


def _where(chain: Chain) -> str:
    parts: list[str] = []
    while chain is not None:
        parts.append(chain[0])
        chain = chain[1]
    return path_string(parts[::-1])


def _fs(node: TypeNode, v: Any, path: Chain, errors: list[str], check: bool) -> tuple[bool, Fields]:
    """(whether the path is a member by its type alone, the paths under it)."""
    n = _resolve(node, v)
    kind = n.kind
    if kind == "scalar":
        if check and type(v) in (dict, list):
            errors.append(f"{_where(path)}: expected scalar, got {_kind_name(v)}")
        return True, _EMPTY
    if kind == "list":
        if n.list_type == "atomic":
            if check and v is not None and type(v) is not list:
                errors.append(f"{_where(path)}: expected list, got {_kind_name(v)}")
            return True, _EMPTY
        if type(v) is not list:
            if check and v is not None:
                errors.append(f"{_where(path)}: expected list, got {_kind_name(v)}")
            return False, _EMPTY
        return False, _fs_items(n, v, path, errors, check)
    # map
    if n.atomic:
        if check and v is not None and type(v) is not dict:
            errors.append(f"{_where(path)}: expected map, got {_kind_name(v)}")
        return True, _EMPTY
    if type(v) is not dict:
        if check and v is not None:
            errors.append(f"{_where(path)}: expected map, got {_kind_name(v)}")
        return False, _EMPTY
    out: Fields = {}
    fields = n.fields
    elements = n.elements
    for k, val in v.items():
        t = fields.get(k)
        declared = t is not None
        if t is None:
            t = elements
            if t is None:
                if check:
                    errors.append(f"{_where(('f:' + k, path))}: field not declared in schema")
                    continue
                t = UNTYPED
        pe = "f:" + k
        if isinstance(val, _SCALAR_TYPES) and (t.kind == "scalar" or t.kind == "untyped"):
            out[pe] = _EMPTY  # a scalar leaf: the common case, without a call
            continue
        member, sub = _fs(t, val, (pe, path), errors, check)
        if val is None or (type(val) is dict and not val) or not declared:
            member = True
        e = entry(member, sub)
        if e is not None:
            out[pe] = e
    return False, out


def _kind_name(v: Any) -> str:
    if type(v) is dict:
        return "map"
    if type(v) is list:
        return "list"
    if v is None:
        return "null"
    return type(v).__name__


def _fs_items(n: TypeNode, items: list[Any], path: Chain, errors: list[str], check: bool) -> Fields:
    el = n.elements or UNTYPED
    pes: list[str | None] = []
    seen: set[str] = set()
    dups: set[str] = set()
    out: Fields = {}
    for i, item in enumerate(items):
        try:
            pe = item_element(n, item)
        except ValueError as err:
            if check:
                errors.append(f"{_where(path)}: element {i}: {err}")
            pes.append(None)
            continue
        pes.append(pe)
        if pe in seen:
            if pe not in dups:
                dups.add(pe)
                if check:
                    errors.append(f"{_where(path)}: duplicate entries for key {path_string((pe,))}")
                out[pe] = _EMPTY
        else:
            seen.add(pe)
    for key, item in zip(pes, items, strict=True):
        if key is None or key in dups:
            continue
        if isinstance(item, _SCALAR_TYPES):
            out[key] = _EMPTY  # an item of a set
            continue
        _, sub = _fs(el, item, (key, path), errors, check)
        out[key] = {MEMBER: _EMPTY, **sub} if sub else _EMPTY
    return out


# ---- Compare -------------------------------------------------------------------------------


class Comparison:
    """What changed from one object to another: paths ``added``, ``modified`` and ``removed``."""

    __slots__ = ("added", "modified", "removed")

    def __init__(self, added: Fields, modified: Fields, removed: Fields) -> None:
        self.added = added
        self.modified = modified
        self.removed = removed

    def is_same(self) -> bool:
        return not (self.added or self.modified or self.removed)


def compare(node: TypeNode, lhs: Any, rhs: Any) -> Comparison:
    """How ``rhs`` differs from ``lhs`` (upstream's ``Compare``); ``TypedError`` for a list item
    without a key."""
    a, m, r = _cmp(node, lhs, rhs)
    return Comparison(_children_of(a), _children_of(m), _children_of(r))


def _children_of(e: Fields | None) -> Fields:
    return children(e) if e else _EMPTY


_NONE3: tuple[None, None, None] = (None, None, None)


def _cmp(node: TypeNode, lhs: Any, rhs: Any) -> tuple[Fields | None, Fields | None, Fields | None]:
    """(added, modified, removed) entries of the current path."""
    if lhs is not ABSENT and rhs is not ABSENT and lhs == rhs:
        return _NONE3
    # null takes the type of the other side (upstream's deduced atoms)
    n = _resolve(node, lhs if rhs is ABSENT or rhs is None else rhs)
    if lhs is not ABSENT and lhs is not None and n is not _resolve(node, lhs):
        return None, _EMPTY, None  # a map became a list or a scalar: one changed leaf
    kind = n.kind
    if kind == "list":
        lv = lhs if type(lhs) is list else None
        rv = rhs if type(rhs) is list else None
        if n.list_type == "atomic" or (not lv and not rv):
            return _leaf(lhs, rhs)
        a, m, r = _cmp_items(n, lv or [], rv or [])
    elif kind == "map":
        lm = lhs if type(lhs) is dict else None
        rm = rhs if type(rhs) is dict else None
        if n.atomic or (not lm and not rm):
            return _leaf(lhs, rhs)
        a, m, r = _cmp_map(n, lm or _EMPTY, rm or _EMPTY)
    else:
        return _leaf(lhs, rhs)
    return entry(lhs is ABSENT, a), entry(False, m), entry(rhs is ABSENT, r)


def _leaf(lhs: Any, rhs: Any) -> tuple[Fields | None, Fields | None, Fields | None]:
    if lhs is ABSENT:
        return _EMPTY, None, None
    if rhs is ABSENT:
        return None, None, _EMPTY
    if lhs != rhs:
        return None, _EMPTY, None
    return _NONE3


def _put(out: Fields, pe: str, e: Fields | None) -> None:
    if e is not None:
        out[pe] = union(out[pe], e) if pe in out else e


def _cmp_map(n: TypeNode, lhs: dict[str, Any], rhs: dict[str, Any]) -> tuple[Fields, Fields, Fields]:
    added: Fields = {}
    modified: Fields = {}
    removed: Fields = {}
    for k, lv in lhs.items():
        rv = rhs.get(k, ABSENT)
        if rv is not ABSENT and (lv is rv or lv == rv):
            continue
        t = n.field_type(k) or UNTYPED
        a, m, r = _cmp(t, lv, rv)
        pe = "f:" + k
        _put(added, pe, a)
        _put(modified, pe, m)
        _put(removed, pe, r)
    for k, rv in rhs.items():
        if k in lhs:
            continue
        t = n.field_type(k) or UNTYPED
        a, m, r = _cmp(t, ABSENT, rv)
        pe = "f:" + k
        _put(added, pe, a)
        _put(modified, pe, m)
        _put(removed, pe, r)
    return added, modified, removed


def _index(n: TypeNode, items: list[Any]) -> tuple[list[str], dict[str, list[Any]]]:
    order: list[str] = []
    values: dict[str, list[Any]] = {}
    for item in items:
        try:
            pe = item_element(n, item)
        except ValueError as e:
            raise TypedError([str(e)]) from None
        got = values.get(pe)
        if got is None:
            values[pe] = [item]
            order.append(pe)
        else:
            got.append(item)
    return order, values


def _cmp_items(n: TypeNode, lhs: list[Any], rhs: list[Any]) -> tuple[Fields, Fields, Fields]:
    el = n.elements or UNTYPED
    lorder, lvals = _index(n, lhs)
    rorder, rvals = _index(n, rhs)
    added: Fields = {}
    modified: Fields = {}
    removed: Fields = {}
    for pe in lorder + [pe for pe in rorder if pe not in lvals]:
        ll = lvals.get(pe, ())
        rl = rvals.get(pe, ())
        if len(ll) <= 1 and len(rl) <= 1:
            a, m, r = _cmp(el, ll[0] if ll else ABSENT, rl[0] if rl else ABSENT)
            _put(added, pe, a)
            _put(modified, pe, m)
            _put(removed, pe, r)
        elif len(ll) >= 2 and len(rl) >= 2:
            if list(ll) != list(rl):
                _put(modified, pe, _EMPTY)
        elif len(ll) >= 2:
            if rl:
                a, m, r = _cmp(el, ABSENT, rl[0])
                _put(added, pe, a)
                _put(modified, pe, m)
                _put(removed, pe, r)
            _put(removed, pe, _EMPTY)
        else:
            if ll:
                a, m, r = _cmp(el, ll[0], ABSENT)
                _put(added, pe, a)
                _put(modified, pe, m)
                _put(removed, pe, r)
            _put(added, pe, _EMPTY)
    return added, modified, removed


# ---- Merge -----------------------------------------------------------------------------------


def merge(node: TypeNode, lhs: Any, rhs: Any) -> Any:
    """``rhs`` (an applied configuration) merged into ``lhs`` (the live object): upstream's ``Merge``
    with its keep-the-right-hand-side rule. Values are shared with the inputs, never changed."""
    if rhs is ABSENT:
        return lhs
    if lhs is ABSENT or lhs is None:
        return rhs  # nothing to merge with (upstream rebuilds the same value item by item)
    n = _resolve(node, lhs if rhs is None else rhs)  # null takes the type of the other side
    if n is not _resolve(node, lhs):
        return rhs  # a map became a list or a scalar: the applied value wins
    kind = n.kind
    if kind == "list":
        lv = lhs if type(lhs) is list else None
        rv = rhs if type(rhs) is list else None
        if n.list_type == "atomic" or (not lv and not rv):
            return rhs
        out_list = _merge_items(n, lv or [], rv or [])
        return out_list if out_list else ABSENT
    if kind == "map":
        lm = lhs if type(lhs) is dict else None
        rm = rhs if type(rhs) is dict else None
        if n.atomic or (not lm and not rm):
            return rhs
        lm = lm or _EMPTY
        rm = rm or _EMPTY
        fields = n.fields
        out: dict[str, Any] = {}
        for k, lv2 in lm.items():
            rv2 = rm.get(k, ABSENT)
            if rv2 is ABSENT:
                out[k] = lv2
            elif isinstance(rv2, _SCALAR_TYPES) or lv2 is None:
                out[k] = rv2  # a scalar is applied as it is, whatever its type (validation judges it)
            else:
                o = merge(fields.get(k) or n.elements or UNTYPED, lv2, rv2)
                if o is not ABSENT:
                    out[k] = o
        for k, rv2 in rm.items():
            if k not in lm:
                out[k] = rv2  # nothing to merge with
        return out if out else ABSENT
    return rhs


def _merge_items(n: TypeNode, lhs: list[Any], rhs: list[Any]) -> list[Any]:
    """Items merged by key, as upstream: the live order, with each applied item placed after the
    shared items it follows in the applied list."""
    el = n.elements or UNTYPED
    rpes: list[str] = []
    robs: dict[str, Any] = {}
    for i, item in enumerate(rhs):
        try:
            pe = item_element(n, item)
        except ValueError as e:
            raise TypedError([f"element {i}: {e}"]) from None
        if pe in robs:
            raise TypedError([f"duplicate entries for key {path_string((pe,))}"])
        robs[pe] = item
        rpes.append(pe)
    lpes: list[str] = []
    lobs: dict[str, Any] = {}
    for i, item in enumerate(lhs):
        try:
            pe = item_element(n, item)
        except ValueError as e:
            raise TypedError([f"element {i}: {e}"]) from None
        # a key the live list repeats merges as if it were null (upstream keeps one of them)
        lobs[pe] = None if pe in lobs else item
        lpes.append(pe)
    shared = [pe for pe in rpes if pe in lobs]
    si = 0
    next_shared = shared[0] if shared else None
    merged_rhs: set[str] = set()
    out: list[Any] = []
    li = ri = 0
    ll, rl = len(lpes), len(rpes)

    def advance() -> None:
        nonlocal si, next_shared
        si += 1
        next_shared = shared[si] if si < len(shared) else None

    while li < ll or ri < rl:
        if li < ll and ri < rl:
            pe = lpes[li]
            if pe == rpes[ri]:
                merged_rhs.add(pe)
                o = merge(el, lobs[pe], robs[pe])
                if o is not ABSENT:
                    out.append(o)
                li += 1
                ri += 1
                advance()
                continue
            if pe in robs and next_shared is not None and next_shared != pe:
                li += 1
                continue
        if li < ll:
            pe = lpes[li]
            if pe not in robs:
                out.append(lhs[li])
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
        if ri < rl:
            pe = rpes[ri]
            merged_rhs.add(pe)
            o = merge(el, lobs.get(pe, ABSENT), robs[pe])
            if o is not ABSENT:
                out.append(o)
            ri += 1
            if next_shared is not None and next_shared == pe:
                advance()
    return out


# ---- RemoveItems -------------------------------------------------------------------------------


def remove_items(node: TypeNode, value: Any, to_remove: Fields) -> Any:
    """``value`` without the paths of ``to_remove`` (a member goes with all under it), as upstream's
    ``RemoveItems``: a map or list left empty becomes null."""
    if not to_remove:
        return value
    n = _resolve(node, value)
    if n.kind == "list":
        if type(value) is not list:
            return value
        if not value or n.list_type == "atomic":
            return None
        el = n.elements or UNTYPED
        items: list[Any] = []
        for item in value:
            try:
                pe = item_element(n, item)
            except ValueError:
                items.append(item)
                continue
            gone = to_remove.get(pe)
            if gone is None:
                items.append(item)
            elif not gone or MEMBER in gone:
                continue
            else:
                items.append(remove_items(el, item, gone))
        return items if items else None
    if n.kind == "map":
        if type(value) is not dict:
            return value
        if not value or n.atomic:
            return None
        out: dict[str, Any] = {}
        for k, v in value.items():
            gone = to_remove.get("f:" + k)
            if gone is None:
                out[k] = v
            elif not gone or MEMBER in gone:
                continue
            else:
                out[k] = remove_items(n.field_type(k) or UNTYPED, v, gone)
        return out if out else None
    return value


# ---- EnsureNamedFieldsAreMembers ---------------------------------------------------------------


def ensure_named_members(node: TypeNode | None, s: Fields) -> Fields:
    """``s`` with every declared field that has paths under it made a member too (so removing it
    removes the field, not only what is under it)."""
    if not s:
        return s
    out: Fields = {}
    is_map = node is not None and node.kind == "map"
    is_list = node is not None and node.kind == "list"
    for pe, got in s.items():
        if pe == MEMBER:
            continue
        member = not got or MEMBER in got
        under = children(got)
        t: TypeNode | None = None
        if pe[:2] == "f:" and is_map:
            assert node is not None
            name = pe[2:]
            if name in node.fields:
                member = member or bool(under)
                t = node.fields[name]
            else:
                t = node.elements
        elif pe[:2] == "k:" and is_list:
            assert node is not None
            t = node.elements
        sub = ensure_named_members(t, under) if under and t is not None else under
        e = entry(member, sub)
        if e is not None:
            out[pe] = e
    return out
