"""The kind registry: what resources shoal serves and how each is shaped.

One ``ResourceInfo`` per resource drives routing, discovery, OpenAPI, storage
keys and tables, so adding a kind is one entry here plus its model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """Static facts about one served resource (e.g. ``apps/v1 deployments``)."""

    group: str  # "" for core
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    model: Any  # the msgspec Struct class of the kind
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # "status", "scale", "binding", "log", "exec"
    verbs: tuple[str, ...] = ALL_VERBS
    # whether a spec change bumps metadata.generation (kinds with a spec)
    has_spec: bool = True
    # whether the main resource ignores status changes (status subresource owns it)
    status_subresource: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # a custom resource's ``shoal.api.crd.kind.CustomKind`` (schema, columns, storage version); None if built in
    custom: Any = field(default=None, compare=False, repr=False)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def storage_prefix(self) -> str:
        """Key prefix in the store, as Kubernetes lays it out."""
        g = self.group or "core"
        return f"/registry/{g}/{self.plural}/"

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.storage_prefix}{namespace}/{name}"
        return f"{self.storage_prefix}{name}"

    def prefix(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.storage_prefix}{namespace}/"
        return self.storage_prefix
