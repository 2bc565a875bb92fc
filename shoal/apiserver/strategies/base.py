"""The ``Strategy`` protocol: everything one kind does differently in the generic REST storage.

Kubernetes' registry gives each resource a strategy (``pkg/registry/*/strategy.go``):
``PrepareForCreate`` / ``PrepareForUpdate`` decide what a write may set (status
belongs to the status subresource; ``metadata.generation`` moves on spec
changes), ``Validate`` / ``ValidateUpdate`` hold the object to its schema, and
admission plugins, allocators and printers hang off the same resource. shoal
does the same: ``Resource`` (the verbs over the store) and ``Handlers`` (HTTP)
are generic and never ask which kind they serve; they call the resource's
strategy, whose parts are:

* validation: ``validate_create`` / ``validate_update`` (decode, default,
  validate: ``shoal.apiserver.admission``);
* preparation: ``prepare_create`` (status reset, generation 1, server-set
  fields), ``prepare_update`` (server-owned fields kept, status kept for kinds
  with a status subresource, generation bump), ``prepare_status_update``;
* admission against other objects: ``admit_create`` / ``admit_update`` (async,
  may read caches) and ``admit_delete``;
* deletion rules (``deleteplan.DeleteRules``): grace period, what else holds
  the object, the phase a terminating object shows;
* key allocation around writes (``allocator``: a Service's addresses), with undo
  on a failed write and release of what the new version no longer holds;
* reads: the field selectors the kind supports, its Table printer, whether a
  DELETE answers with the object;
* the kind's type tree for server-side apply and managedFields
  (``field_schema``): a built-in kind's comes from its model; a kind defined
  at run time (a custom resource) returns the tree of its own schema
  (``shoal.api.apply.from_openapi``).

``DefaultStrategy`` is every generic kind's; kinds with rules of their own
subclass it in a module of their own, and ``shoal.apiserver.strategies``
registers them in one table. The hot path (pod creates) pays one method call
per part, as the functions these replace did: nothing is allocated per request,
and the optional allocator is an attribute checked for None, not an await.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from shoal.api import apply as applylib
from shoal.api.registry import ResourceInfo
from shoal.apiserver import admission, errors, rawobj, tables
from shoal.apiserver.tables import Printer

Undo = Callable[[], Awaitable[None]]

# what a create or an update may not set: the server owns these
SERVER_OWNED = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation")


class KeyAllocator(Protocol):
    """Reservations a kind's objects hold in the store besides their own key (a Service's IPs, ports)."""

    async def prepare(self, new: dict[str, Any], old: dict[str, Any] | None) -> tuple[list[Undo], list[str]]:
        """Fill in what ``new`` is allocated (reserving it); return the undo actions for a failed
        write and the keys ``old`` held that ``new`` does not (released once the write commits)."""
        ...

    async def release_keys(self, keys: list[str]) -> None: ...

    async def release_all(self, obj: dict[str, Any]) -> None:
        """Release everything a deleted object held."""
        ...


class Strategy(Protocol):
    """One resource's rules; see the module docstring for the parts."""

    @property
    def info(self) -> ResourceInfo: ...

    @property
    def field_labels(self) -> frozenset[str]:
        """Field selectors beyond metadata.name / metadata.namespace (as upstream's per kind)."""
        ...

    @property
    def returns_deleted_object(self) -> bool:
        """Whether an immediate DELETE answers with the deleted object (else with a Status)."""
        ...

    @property
    def printer(self) -> Printer: ...

    @property
    def allocator(self) -> KeyAllocator | None: ...

    @property
    def terminating_phase(self) -> str | None: ...

    def validate_create(self, data: dict[str, Any], *, field_validation: str, shape_checked: bool,
                        json_body: bool) -> tuple[dict[str, Any], list[str]]: ...

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], *,
                        field_validation: str) -> tuple[dict[str, Any], list[str]]: ...

    def prepare_create(self, obj: dict[str, Any]) -> None: ...

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any]) -> None: ...

    def prepare_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]: ...

    def prepare_subresource_update(self, sub: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """An update through another writable subresource (a CSR's ``approval``): what it may change."""
        ...

    async def admit_create(self, ns: str | None, obj: dict[str, Any], data: dict[str, Any]) -> None: ...

    async def admit_update(self, obj: dict[str, Any], old: dict[str, Any]) -> None: ...

    def admit_delete(self, obj: dict[str, Any]) -> None: ...

    def graceful_seconds(self, obj: dict[str, Any], requested: int | None) -> int: ...

    def held_by_spec(self, obj: dict[str, Any]) -> bool: ...

    def field_schema(self) -> applylib.TypeNode:
        """The type tree apply merges this kind's objects by (list and map types, keys)."""
        ...


def spec_of(obj: dict[str, Any]) -> Any:
    """The part of an object whose change bumps generation."""
    if "spec" in obj:
        return obj.get("spec")
    # kinds without a spec (none served today with has_spec) fall back to everything but metadata/status
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class DefaultStrategy:
    """The rules of a generic kind; subclasses override the parts their kind changes.

    A create keeps what the client sent but the server-owned metadata; a kind with a spec starts
    at generation 1 and moves on spec changes; a kind with a status subresource keeps its status
    on writes of the main resource. Nothing else holds or delays a deletion.
    """

    field_labels: frozenset[str] = frozenset()
    returns_deleted_object = False
    terminating_phase: str | None = None

    def __init__(self, info: ResourceInfo) -> None:
        self.info = info
        self.printer: Printer = tables.printer_for(info.kind)
        self.allocator: KeyAllocator | None = None

    # ---- validation ---------------------------------------------------------------------
    def validate_create(self, data: dict[str, Any], *, field_validation: str, shape_checked: bool,
                        json_body: bool) -> tuple[dict[str, Any], list[str]]:
        return admission.admit(self.info, data, field_validation=field_validation, shape_checked=shape_checked)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any], *,
                        field_validation: str) -> tuple[dict[str, Any], list[str]]:
        return admission.admit(self.info, new, old=old, field_validation=field_validation)

    # ---- preparation --------------------------------------------------------------------
    def reset_status(self, obj: dict[str, Any]) -> None:
        """What a create may not set of the status (nothing, for a generic kind)."""

    def prepare_create(self, obj: dict[str, Any]) -> None:
        """Reset what a create may not set (the status, for most kinds with a spec)."""
        self.reset_status(obj)
        if self.info.has_spec:
            obj["metadata"]["generation"] = 1

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        """Keep server-owned fields of ``old`` in ``new`` for an update of the main resource."""
        nm, om = new.setdefault("metadata", {}), old.get("metadata", {})
        for f in SERVER_OWNED:
            if f in om:
                nm[f] = om[f]
            else:
                nm.pop(f, None)
        if self.info.status_subresource:
            if "status" in old:
                new["status"] = rawobj.copy_json(old["status"])
            else:
                new.pop("status", None)
        if self.info.has_spec and spec_of(new) != spec_of(old):
            nm["generation"] = int(om.get("generation") or 0) + 1

    def prepare_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """An update through ``/status``: take only the status (and nothing else) from ``new``."""
        out: dict[str, Any] = rawobj.copy_json(old)
        if "status" in new:
            out["status"] = new["status"]
        else:
            out.pop("status", None)
        return out

    def prepare_subresource_update(self, sub: str, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """A generic kind has no other writable subresource."""
        raise errors.method_not_allowed(f"the server does not allow updates of {self.info.plural}/{sub}")

    # ---- admission against other objects ------------------------------------------------
    async def admit_create(self, ns: str | None, obj: dict[str, Any], data: dict[str, Any]) -> None:
        """Refuse (``ApiError``) or complete ``obj`` from other objects; ``data``: the body as sent."""

    async def admit_update(self, obj: dict[str, Any], old: dict[str, Any]) -> None:
        """As ``admit_create``, for writes of the main resource."""

    def admit_delete(self, obj: dict[str, Any]) -> None:
        """Refuse (``ApiError``) the deletion of ``obj``."""

    # ---- deletion rules (deleteplan.DeleteRules) ------------------------------------------
    def graceful_seconds(self, obj: dict[str, Any], requested: int | None) -> int:
        return 0

    def held_by_spec(self, obj: dict[str, Any]) -> bool:
        return False

    # ---- server-side apply ----------------------------------------------------------------
    def field_schema(self) -> applylib.TypeNode:
        model = self.info.model
        return applylib.for_model(model) if model is not None else applylib.UNTYPED


class ResetStatusStrategy(DefaultStrategy):
    """A kind whose status only its controller writes: a create's status is dropped, as upstream."""

    def reset_status(self, obj: dict[str, Any]) -> None:
        obj.pop("status", None)
