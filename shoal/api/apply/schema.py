"""The shape server-side apply merges by: a type tree read from an OpenAPI v3 schema.

Apply needs to know, at every path, whether a value is a scalar, a map (a struct
with named fields, or a map of values; either may be ``atomic``: replaced whole)
or a list, and how a list merges: ``atomic`` (replaced whole), ``set`` (scalars,
merged by value) or ``map`` (items merged by their key fields). Upstream reads
this from the OpenAPI schemas (structured-merge-diff's ``schemaconv``), and so
does shoal, from the schemas it already generates for ``/openapi/v3``:

* ``x-kubernetes-list-type`` / ``x-kubernetes-list-map-keys`` say it directly;
* a list without it merges as its strategic-merge-patch metadata says
  (``x-kubernetes-patch-strategy: merge`` with a merge key is a map keyed by
  it, without one a set), else it is atomic;
* ``x-kubernetes-map-type: atomic`` makes a map atomic;
* a key field missing from an item takes the schema's ``default`` for it
  (``protocol: TCP`` for ports), so ``{containerPort: 80}`` is
  ``k:{"containerPort":80,"protocol":"TCP"}`` as upstream.

What the schema does not describe (``x-kubernetes-preserve-unknown-fields``,
untyped values) is *deduced* from the value, as upstream: maps merge key by key,
lists are atomic. ``from_openapi`` takes any OpenAPI v3 schema, so a custom
resource's structural schema plugs in as it is; ``for_model`` builds the tree of
a built-in kind once, from its msgspec model.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, Literal

from shoal.api.openapi.schemas import REF_PREFIX, SchemaSet

__all__ = ["SCALAR", "UNTYPED", "TypeNode", "for_model", "from_openapi"]

Kind = Literal["scalar", "map", "list", "untyped"]
ListType = Literal["atomic", "set", "map"]


class TypeNode:
    """The type at one path. ``map``: ``fields`` (named) and ``elements`` (any other key; None:
    the key is not declared); ``list``: ``elements`` (the items) and ``list_type``, ``keys``."""

    __slots__ = ("atomic", "elements", "fields", "key_defaults", "keys", "kind", "list_type")

    def __init__(self, kind: Kind, *, fields: dict[str, TypeNode] | None = None,
                 elements: TypeNode | None = None, atomic: bool = False,
                 list_type: ListType = "atomic", keys: tuple[str, ...] = (),
                 key_defaults: dict[str, Any] | None = None) -> None:
        self.kind: Kind = kind
        self.fields: dict[str, TypeNode] = fields if fields is not None else {}
        self.elements = elements
        self.atomic = atomic
        self.list_type: ListType = list_type
        self.keys = keys
        self.key_defaults: dict[str, Any] = key_defaults or {}

    def field_type(self, name: str) -> TypeNode | None:
        """The type of a map's key ``name``: its field's, else the map's element type."""
        t = self.fields.get(name)
        return t if t is not None else self.elements

    def __repr__(self) -> str:
        if self.kind == "list":
            return f"TypeNode(list {self.list_type}{list(self.keys) or ''} of {self.elements!r})"
        if self.kind == "map":
            return f"TypeNode(map{' atomic' if self.atomic else ''} {sorted(self.fields)})"
        return f"TypeNode({self.kind})"


SCALAR = TypeNode("scalar")
UNTYPED = TypeNode("untyped")
"""Deduced from the value: a map merges key by key (its values untyped), a list is atomic."""

_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})


class _Builder:
    def __init__(self, components: Mapping[str, Any], atomic_names: frozenset[str],
                 key_defaults: Mapping[str, Any]) -> None:
        self.components = components
        self.atomic_names = atomic_names
        self.key_defaults = key_defaults
        self.named: dict[str, TypeNode] = {}

    def ref(self, target: str) -> TypeNode:
        name = target.removeprefix(REF_PREFIX)
        known = self.named.get(name)
        if known is not None:
            return known
        schema = self.components.get(name)
        if not isinstance(schema, Mapping):
            return UNTYPED
        if self._is_object(schema):
            # registered before its fields are built: a type that reaches itself ends here
            node = TypeNode("map")
            self.named[name] = node
            self._fill_map(node, schema, atomic=name in self.atomic_names)
            return node
        node = self.node(schema)
        self.named[name] = node
        return node

    @staticmethod
    def _is_object(s: Mapping[str, Any]) -> bool:
        return s.get("type") == "object" or "properties" in s or "additionalProperties" in s

    def node(self, s: Any) -> TypeNode:
        if not isinstance(s, Mapping):
            return UNTYPED
        if "$ref" in s:
            inner = self.ref(str(s["$ref"]))
            return self._override(inner, s)
        if "allOf" in s and isinstance(s["allOf"], list) and len(s["allOf"]) == 1:
            return self._override(self.node(s["allOf"][0]), s)
        if s.get("x-kubernetes-int-or-string"):
            return SCALAR
        t = s.get("type")
        if t == "array":
            return self._list(s)
        if self._is_object(s):
            node = TypeNode("map")
            self._fill_map(node, s, atomic=False)
            return node
        if t in _SCALAR_TYPES:
            return SCALAR
        for combo in ("oneOf", "anyOf"):
            branches = s.get(combo)
            if isinstance(branches, list) and branches and all(
                    isinstance(b, Mapping) and (b.get("type") in _SCALAR_TYPES) for b in branches):
                return SCALAR
        return UNTYPED

    def _override(self, inner: TypeNode, s: Mapping[str, Any]) -> TypeNode:
        """A ``$ref`` whose siblings change how it merges (``x-kubernetes-map-type: atomic``)."""
        if inner.kind == "map" and s.get("x-kubernetes-map-type") == "atomic" and not inner.atomic:
            return TypeNode("map", fields=inner.fields, elements=inner.elements, atomic=True)
        return inner

    def _fill_map(self, node: TypeNode, s: Mapping[str, Any], *, atomic: bool) -> None:
        props = s.get("properties")
        if isinstance(props, Mapping):
            node.fields = {str(k): self.node(v) for k, v in props.items()}
        extra = s.get("additionalProperties")
        if isinstance(extra, Mapping):
            node.elements = self.node(extra) if extra else UNTYPED
        elif extra is True or s.get("x-kubernetes-preserve-unknown-fields") or not isinstance(props, Mapping):
            node.elements = UNTYPED
        node.atomic = atomic or s.get("x-kubernetes-map-type") == "atomic"

    def _list(self, s: Mapping[str, Any]) -> TypeNode:
        items = s.get("items")
        element = self.node(items) if items is not None else UNTYPED
        lt = s.get("x-kubernetes-list-type")
        keys: tuple[str, ...] = ()
        if lt == "map":
            keys = tuple(str(k) for k in s.get("x-kubernetes-list-map-keys") or ())
            kind: ListType = "map" if keys else "atomic"
        elif lt in ("set", "atomic"):
            kind = lt
        else:
            strategy = str(s.get("x-kubernetes-patch-strategy") or "").split(",")
            key = s.get("x-kubernetes-patch-merge-key")
            if "merge" in strategy:
                kind, keys = ("map", (str(key),)) if key else ("set", ())
            else:
                kind = "atomic"
        return TypeNode("list", elements=element, list_type=kind, keys=keys,
                        key_defaults=self._defaults(items, keys) if keys else None)

    def _defaults(self, items: Any, keys: tuple[str, ...]) -> dict[str, Any]:
        item = items
        while isinstance(item, Mapping) and "$ref" in item:
            item = self.components.get(str(item["$ref"]).removeprefix(REF_PREFIX))
        props = item.get("properties") if isinstance(item, Mapping) else None
        out: dict[str, Any] = {}
        for k in keys:
            p = props.get(k) if isinstance(props, Mapping) else None
            if isinstance(p, Mapping) and "default" in p:
                out[k] = p["default"]
            elif k in self.key_defaults:
                out[k] = self.key_defaults[k]
        return out


def from_openapi(schema: Mapping[str, Any], components: Mapping[str, Any] | None = None, *,
                 atomic_names: frozenset[str] = frozenset(),
                 key_defaults: Mapping[str, Any] | None = None) -> TypeNode:
    """The type tree of an OpenAPI v3 ``schema``; ``$ref``s resolve in ``components``.

    ``atomic_names``: component names to treat as ``x-kubernetes-map-type: atomic``;
    ``key_defaults``: a default for a list key field the schema gives none for.
    """
    return _Builder(components or {}, atomic_names, key_defaults or {}).node(schema)


# Built-in types upstream marks ``+structType=atomic`` (a reference or selector is one value).
BUILTIN_ATOMIC = frozenset({
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.api.core.v1.TypedObjectReference",
    "io.k8s.api.core.v1.SecretReference",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.TopologySelectorTerm",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.SecretKeySelector",
})

# Key fields upstream's schemas default (``protocol`` of container and Service ports).
BUILTIN_KEY_DEFAULTS: Mapping[str, Any] = {"protocol": "TCP"}


@cache
def for_model(model: type) -> TypeNode:
    """The type tree of a built-in kind, from the schema ``/openapi/v3`` serves for its model."""
    schemas = SchemaSet()
    name = schemas.add(model)
    return from_openapi({"$ref": REF_PREFIX + name}, schemas.schemas, atomic_names=BUILTIN_ATOMIC,
                        key_defaults=BUILTIN_KEY_DEFAULTS)
