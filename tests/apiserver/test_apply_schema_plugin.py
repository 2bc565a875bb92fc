"""A kind's strategy decides the schema apply merges by: what CustomResourceDefinitions plug into.

``Resource.apply`` and the managedFields of every write walk objects by
``Strategy.field_schema()``; a kind defined at run time returns the tree of its
own OpenAPI schema (``shoal.api.apply.from_openapi``). Here a strategy declares a
ConfigMap's ``data`` an atomic map, and ownership follows that schema, not the
built-in one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shoal.api import apply as applylib
from shoal.api import kinds
from shoal.apiserver import errors
from shoal.apiserver.resource import Resource
from shoal.apiserver.strategies.base import DefaultStrategy
from shoal.store.sqlite import SqliteStore

CONFIGMAPS = next(i for i in kinds.RESOURCES if i.kind == "ConfigMap")
ATOMIC_DATA = applylib.from_openapi({"type": "object", "properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"},
    "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    "data": {"type": "object", "x-kubernetes-map-type": "atomic", "additionalProperties": {"type": "string"}},
}})


class AtomicDataStrategy(DefaultStrategy):
    def field_schema(self) -> applylib.TypeNode:
        return ATOMIC_DATA


def cm(data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}, "data": data}


async def test_apply_and_updates_walk_objects_by_the_strategys_schema(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.start()
    try:
        custom = Resource(store, CONFIGMAPS, strategy=AtomicDataStrategy(CONFIGMAPS))
        r = await custom.apply("ns", "c", cm({"a": "1", "b": "2"}), manager="ci")
        assert r.created
        (entry,) = r.obj["metadata"]["managedFields"]
        assert entry["fieldsV1"] == {"f:data": {}}  # one atomic leaf, not f:a and f:b
        # another applier changing one key of an atomic map conflicts on the whole map
        with pytest.raises(errors.ApiError) as e:
            await custom.apply("ns", "c", cm({"a": "9"}), manager="other")
        assert e.value.code == 409
        assert e.value.message == 'Apply failed with 1 conflict: conflict with "ci": .data'
        builtin = Resource(store, CONFIGMAPS)  # the built-in schema: data granular
        r = await builtin.apply("ns", "c", cm({"a": "1", "b": "2", "c": "3"}), manager="ci")
        assert r.obj["metadata"]["managedFields"][0]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}, "f:c": {}}}
    finally:
        await store.close()
