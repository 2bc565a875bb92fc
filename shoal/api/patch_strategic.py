"""Kubernetes' strategic merge patch, driven by the patch metadata on shoal models.

``kubectl apply``, ``edit``, ``set image`` and ``rollout restart`` send these.
It is JSON merge patch plus two ideas:

* Lists carry a strategy. A list whose field says ``x-kubernetes-patch-strategy:
  merge`` with ``x-kubernetes-patch-merge-key: name`` (containers, env, volumes)
  is merged item by item on that key; a ``merge`` list of scalars (finalizers)
  is merged as a set; every other list is replaced whole (tolerations, args).
* Directives in the patch: ``$patch: replace|delete|merge`` on a map or a list
  item, ``$retainKeys``, ``$deleteFromPrimitiveList/<field>`` and
  ``$setElementOrder/<field>``. ``null`` deletes a key.

The metadata is read once per model class through ``msgspec.inspect`` (the same
``Annotated[list[X], merge_key("name")]`` the OpenAPI documents publish), so any
model works; fields the model does not know, ``dict[str, Any]`` and ``Any``
behave as JSON merge patch (directives still apply, lists are replaced).

Ordering follows upstream exactly (apimachinery ``strategicpatch``): after a
merge the items named in the patch (or in ``$setElementOrder``) keep the
patch's order, the items only the server has keep theirs, and the two are
interleaved by their positions in the live list. So an item new to the list
lands *before* the server-only items unless an order directive says otherwise,
as ``kubectl patch`` users see it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import msgspec.inspect as mi

from shoal.api.patch_errors import PatchError
from shoal.api.patch_json import copy_json

__all__ = ["apply_strategic_merge_patch", "PatchField", "SchemaNode", "schema_for"]

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ORDER_PREFIX = "$setElementOrder/"
DELETE_PRIMITIVE_PREFIX = "$deleteFromPrimitiveList/"
_LIST_DIRECTIVES = (SET_ORDER_PREFIX, DELETE_PRIMITIVE_PREFIX)

_STRUCT, _MAP, _LIST, _SCALAR, _ANY = "struct", "map", "list", "scalar", "any"


@dataclass(frozen=True, slots=True)
class PatchField:
    """What strategic merge needs to know about one field: its shape and patch metadata."""

    node: SchemaNode
    strategy: str = ""  # "merge", "replace" or "" (retainKeys stripped: it only guides diffing)
    merge_key: str | None = None


@dataclass(eq=False, slots=True)
class SchemaNode:
    """One type in a model, reduced to the shape strategic merge cares about."""

    kind: str
    fields: dict[str, PatchField] = field(default_factory=dict)  # struct: wire name -> field
    item: PatchField | None = None  # map value / list item

    def child(self, key: str) -> PatchField:
        if self.kind == _STRUCT:
            return self.fields.get(key, _OPAQUE)
        if self.kind == _MAP and self.item is not None:
            return self.item
        return _OPAQUE


_ANY_NODE = SchemaNode(_ANY)
_OPAQUE = PatchField(_ANY_NODE)


@functools.lru_cache(maxsize=512)
def schema_for(model: type | None) -> SchemaNode:
    """The (cached) schema of a model class; ``None`` gives the untyped schema."""
    if model is None:
        return _ANY_NODE
    node, _ = _convert(mi.type_info(model), {})
    return node


def _convert(t: mi.Type, structs: dict[type, SchemaNode]) -> tuple[SchemaNode, dict[str, Any]]:
    """Reduce a msgspec type to a node, collecting ``x-kubernetes-*`` extensions on the way."""
    extensions: dict[str, Any] = {}
    while True:
        if isinstance(t, mi.Metadata):
            extensions.update(t.extra_json_schema or {})
            t = t.type
        elif isinstance(t, mi.UnionType):
            members = [m for m in t.types if not isinstance(m, mi.NoneType)]
            if len(members) != 1:
                return _ANY_NODE, extensions
            t = members[0]
        else:
            break
    if isinstance(t, mi.StructType | mi.DataclassType | mi.TypedDictType):
        cached = structs.get(t.cls)
        if cached is not None:
            return cached, extensions
        node = SchemaNode(_STRUCT)
        structs[t.cls] = node  # registered before the fields: models may be recursive
        for f in t.fields:
            node.fields[f.encode_name] = _field(f.type, structs)
        return node, extensions
    if isinstance(t, mi.DictType):
        value, _ = _convert(t.value_type, structs)
        return SchemaNode(_MAP, item=PatchField(value)), extensions
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        item, _ = _convert(t.item_type, structs)
        return SchemaNode(_LIST, item=PatchField(item)), extensions
    if isinstance(t, mi.AnyType | mi.RawType | mi.CustomType | mi.TupleType):
        return _ANY_NODE, extensions
    return SchemaNode(_SCALAR), extensions


def _field(t: mi.Type, structs: dict[type, SchemaNode]) -> PatchField:
    node, extensions = _convert(t, structs)
    strategies = str(extensions.get("x-kubernetes-patch-strategy", "")).split(",")
    strategy = next((s.strip() for s in strategies if s.strip() not in ("", "retainKeys")), "")
    merge_key = extensions.get("x-kubernetes-patch-merge-key")
    return PatchField(node, strategy, merge_key if isinstance(merge_key, str) else None)


def apply_strategic_merge_patch(doc: dict[str, Any], patch: Any, *, model: type | None) -> Any:
    """Apply a strategic merge ``patch`` to ``doc`` (owned by the caller, may be mutated)."""
    if not isinstance(patch, dict):
        raise PatchError(f"strategic merge patch must be a JSON object, got {_kind(patch)}")
    root = PatchField(schema_for(model))
    result = _merge_map(doc, patch, root.node, "")
    return {} if result is _ABSENT else result


class _Absent:
    """Marks a value a directive removed (``$patch: delete`` on something not there)."""


_ABSENT: Any = _Absent()


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _merge_map(
    original: dict[str, Any], patch: Mapping[str, Any], node: SchemaNode, path: str
) -> Any:
    directive = patch.get(DIRECTIVE)
    if directive is not None:
        if directive == "replace":
            return _merge_map({}, {k: v for k, v in patch.items() if k != DIRECTIVE}, node, path)
        if directive == "delete":
            return {}
        if directive != "merge":
            raise PatchError(f"{path or '<root>'}: unknown $patch directive {directive!r}")
        patch = {k: v for k, v in patch.items() if k != DIRECTIVE}

    if RETAIN_KEYS in patch:
        _retain_keys(original, patch, path)

    handled: set[str] = set()
    for key, value in patch.items():
        if key.startswith(DELETE_PRIMITIVE_PREFIX):
            _delete_from_primitive_list(original, key[len(DELETE_PRIMITIVE_PREFIX) :], value, path)
    for key, value in patch.items():
        if key.startswith(SET_ORDER_PREFIX):
            name = key[len(SET_ORDER_PREFIX) :]
            if _set_element_order(original, patch, name, value, node, path):
                handled.add(name)

    for key, value in patch.items():
        if key in handled or key == RETAIN_KEYS or key.startswith(_LIST_DIRECTIVES):
            continue
        here = _join(path, key)
        if value is None:
            original.pop(key, None)
            continue
        spec = node.child(key)
        _check_shape(spec, value, here)
        current = original.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            if spec.strategy == "replace":
                merged = _fresh(value, spec, here)
            else:
                merged = _merge_map(current, value, spec.node, here)
        elif isinstance(current, list) and isinstance(value, list):
            merged = _merge_list(current, value, spec, here)
        else:
            merged = _fresh(value, spec, here)
        if merged is _ABSENT:
            original.pop(key, None)
        else:
            original[key] = merged
    return original


def _check_shape(spec: PatchField, value: Any, path: str) -> None:
    """Refuse a patch value that cannot fit the model (a map where a list belongs, ...)."""
    kind = spec.node.kind
    if kind == _LIST and not isinstance(value, list):
        raise PatchError(f"{path}: expected a list, got {_kind(value)}")
    if kind in (_STRUCT, _MAP) and not isinstance(value, dict):
        raise PatchError(f"{path}: expected an object, got {_kind(value)}")


def _fresh(value: Any, spec: PatchField, path: str) -> Any:
    """A patch value with nothing to merge into: directives applied, nulls dropped."""
    if isinstance(value, dict):
        if value.get(DIRECTIVE) == "delete":
            return _ABSENT
        return _merge_map({}, value, spec.node, path)
    if isinstance(value, list):
        return _merge_list([], value, spec, path)
    return value


def _retain_keys(original: dict[str, Any], patch: Mapping[str, Any], path: str) -> None:
    keep = patch[RETAIN_KEYS]
    if not isinstance(keep, list) or not all(isinstance(k, str) for k in keep):
        raise PatchError(f"{_join(path, RETAIN_KEYS)}: must be a list of field names")
    allowed = set(keep)
    for key, value in patch.items():
        if value is None or key == RETAIN_KEYS or key.startswith(_LIST_DIRECTIVES):
            continue
        if key not in allowed:
            raise PatchError(
                f"{_join(path, RETAIN_KEYS)}: field {key!r} is in the patch but not in $retainKeys"
            )
    for key in [k for k in original if k not in allowed]:
        del original[key]


def _delete_from_primitive_list(
    original: dict[str, Any], name: str, values: Any, path: str
) -> None:
    here = _join(path, DELETE_PRIMITIVE_PREFIX + name)
    if not name:
        raise PatchError(f"{here}: directive names no field")
    if not isinstance(values, list):
        raise PatchError(f"{here}: must be a list, got {_kind(values)}")
    current = original.get(name)
    if not isinstance(current, list):
        return
    doomed = {_hashable(v) for v in values}
    original[name] = [v for v in current if _hashable(v) not in doomed]


def _set_element_order(
    original: dict[str, Any],
    patch: Mapping[str, Any],
    name: str,
    order: Any,
    node: SchemaNode,
    path: str,
) -> bool:
    """Merge list ``name`` and order it as ``order`` says; True if the list was handled."""
    here = _join(path, SET_ORDER_PREFIX + name)
    if not name:
        raise PatchError(f"{here}: directive names no field")
    if not isinstance(order, list):
        raise PatchError(f"{here}: must be a list, got {_kind(order)}")
    spec = node.child(name)
    if spec.strategy != "merge":
        return False  # not a merging list: it is replaced whole, order and all
    key_of = _key_function(spec.merge_key, here)
    order_keys = [key_of(item, i) for i, item in enumerate(order)]
    patch_list = patch.get(name)
    if name in patch and patch_list is None:
        return False  # an explicit null deletes the list; nothing to order
    if patch_list is not None:
        _check_shape(spec, patch_list, _join(path, name))
        _check_relative_order(patch_list, order_keys, spec.merge_key, _join(path, name))
    current = original.get(name)
    current_list = current if isinstance(current, list) else None
    if current_list is not None and patch_list is not None:
        merged = _merge_list(current_list, patch_list, spec, _join(path, name))
    elif patch_list is not None:
        merged = _fresh(patch_list, spec, _join(path, name))
    elif current_list is not None:
        merged = current_list
    else:
        return True
    server_keys = [_item_key(item, spec.merge_key) for item in current_list or ()]
    original[name] = _normalize_order(merged, order_keys, server_keys, spec.merge_key)
    return True


def _check_relative_order(
    patch_list: list[Any], order_keys: list[Hashable], merge_key: str | None, path: str
) -> None:
    """Every (non-directive) patch item must appear in the order list, in the same order."""
    position = 0
    for index, item in enumerate(patch_list):
        if isinstance(item, dict) and DIRECTIVE in item:
            continue
        key = _item_key(item, merge_key)
        while position < len(order_keys) and order_keys[position] != key:
            position += 1
        if position == len(order_keys):
            raise PatchError(
                f"{path}[{index}]: the order in the patch list does not match "
                f"{SET_ORDER_PREFIX}{path.rsplit('.', 1)[-1]}"
            )
        position += 1


def _merge_list(original: list[Any], patch: list[Any], spec: PatchField, path: str) -> list[Any]:
    if spec.strategy != "merge":
        return [copy_json(v) for v in patch]
    item_spec = spec.node.item or _OPAQUE
    if spec.merge_key is not None:
        return _merge_keyed_list(original, patch, spec.merge_key, item_spec, path)
    return _merge_scalar_list(original, patch, path)


def _merge_scalar_list(original: list[Any], patch: list[Any], path: str) -> list[Any]:
    for index, item in enumerate(patch):
        if isinstance(item, dict | list):
            raise PatchError(
                f"{path}[{index}]: cannot merge {_kind(item)} into a list without merge key"
            )
    merged: list[Any] = []
    seen: set[Hashable] = set()
    for item in (*original, *patch):
        key = _hashable(item)
        if key not in seen:
            seen.add(key)
            merged.append(item)
    return _normalize_order(
        merged, [_hashable(v) for v in patch], [_hashable(v) for v in original], None
    )


def _merge_keyed_list(
    original: list[Any], patch: list[Any], merge_key: str, item_spec: PatchField, path: str
) -> list[Any]:
    plain: list[dict[str, Any]] = []
    replace = False
    deleted: set[Hashable] = set()
    for index, item in enumerate(patch):
        here = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise PatchError(
                f"{here}: expected an object in a list merged on {merge_key!r}, got {_kind(item)}"
            )
        directive = item.get(DIRECTIVE)
        if directive is None or directive == "merge":
            if merge_key not in item:
                raise PatchError(f"{here}: does not contain declared merge key {merge_key!r}")
            plain.append(
                item if directive is None else {k: v for k, v in item.items() if k != DIRECTIVE}
            )
        elif directive == "delete":
            if merge_key not in item:
                raise PatchError(
                    f"{here}: $patch: delete does not contain declared merge key {merge_key!r}"
                )
            deleted.add(_hashable(item[merge_key]))
        elif directive == "replace":
            replace = True
        else:
            raise PatchError(f"{here}: unknown $patch directive {directive!r}")

    if replace:
        fresh = (_fresh(item, item_spec, f"{path}[{i}]") for i, item in enumerate(plain))
        return [item for item in fresh if item is not _ABSENT]

    result = [item for item in original if _item_key(item, merge_key) not in deleted]
    server_keys = [_item_key(item, merge_key) for item in result]
    positions: dict[Hashable, int] = {}
    for at, item in enumerate(result):
        if isinstance(item, dict) and merge_key in item:
            positions.setdefault(_hashable(item[merge_key]), at)
    for index, item in enumerate(plain):
        here = f"{path}[{index}]"
        key = _hashable(item[merge_key])
        position = positions.get(key)
        if position is not None:
            result[position] = _merge_map(result[position], item, item_spec.node, here)
        else:
            new = _fresh(item, item_spec, here)
            if new is not _ABSENT:
                positions[key] = len(result)
                result.append(new)
    patch_keys = [_hashable(item[merge_key]) for item in plain]
    return _normalize_order(result, patch_keys, server_keys, merge_key)


def _normalize_order(
    merged: list[Any],
    patch_order: list[Hashable],
    server_order: list[Hashable],
    merge_key: str | None,
) -> list[Any]:
    """Upstream's ordering: patch items in patch order, server-only items in server order,
    interleaved by their positions in the live list."""
    patch_index: dict[Hashable, int] = {}
    for i, key in enumerate(patch_order):
        patch_index.setdefault(key, i)
    server_index: dict[Hashable, int] = {}
    for i, key in enumerate(server_order):
        server_index.setdefault(key, i)

    from_patch: list[tuple[Hashable, Any]] = []
    server_only: list[tuple[Hashable, Any]] = []
    for item in merged:
        key = _item_key(item, merge_key)
        (from_patch if key in patch_index else server_only).append((key, item))
    from_patch.sort(key=lambda pair: patch_index[pair[0]])
    unknown = len(server_index)
    server_only.sort(key=lambda pair: server_index.get(pair[0], unknown))

    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(from_patch):
        if j >= len(from_patch):
            out.append(server_only[i][1])
            i += 1
        elif i >= len(server_only):
            out.append(from_patch[j][1])
            j += 1
        else:
            left = server_index.get(server_only[i][0])
            right = server_index.get(from_patch[j][0])
            if left is not None and right is not None and left < right:
                out.append(server_only[i][1])
                i += 1
            else:
                out.append(from_patch[j][1])
                j += 1
    return out


class _NoKey:
    """Stands for the merge key of an item that lacks one (never equal to a real key)."""


def _item_key(item: Any, merge_key: str | None) -> Hashable:
    if merge_key is None:
        return _hashable(item)
    if isinstance(item, dict) and merge_key in item:
        return _hashable(item[merge_key])
    return _NoKey()


def _key_function(merge_key: str | None, path: str) -> Callable[[Any, int], Hashable]:
    def key_of(item: Any, index: int) -> Hashable:
        if merge_key is None:
            if isinstance(item, dict | list):
                raise PatchError(f"{path}[{index}]: expected a scalar, got {_kind(item)}")
            return _hashable(item)
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(f"{path}[{index}]: does not contain declared merge key {merge_key!r}")
        return _hashable(item[merge_key])

    return key_of


def _hashable(value: Any) -> Hashable:
    if isinstance(value, dict | list):
        return msgspec.json.encode(value, order="sorted")
    if isinstance(value, bool):
        return ("bool", value)  # keep true distinct from 1, as JSON does
    if isinstance(value, Hashable):
        return value
    return repr(value)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
