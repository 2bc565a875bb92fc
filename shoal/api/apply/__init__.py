"""Server-side apply and managedFields, as pure functions over plain objects.

Upstream keeps, for every object, which *field manager* owns which fields
(``metadata.managedFields``), updates it on every write, and merges an applied
configuration (``PATCH`` with ``application/apply-patch+yaml``) into the live
object by the schema's list and map types, refusing to change fields another
manager owns unless forced. This package is that machinery, without I/O:

* ``fieldset``: sets of field paths in their FieldsV1 form (algebra, encoding);
* ``schema``: the type tree apply merges by, read from an OpenAPI v3 schema
  (``for_model`` for built-in kinds; ``from_openapi`` takes a custom
  resource's structural schema as it is);
* ``typed``: field sets of objects, comparison, merge, removal, by type;
* ``managed``: the managedFields entries and the two operations that keep
  them, ``update`` (create/update/patch) and ``apply`` (with conflicts).

The API server wires them in (``shoal.apiserver.fieldmanager``).
"""

from shoal.api.apply.managed import (
    LAST_APPLIED,
    Applied,
    ApplyConflict,
    Identity,
    apply,
    reset_filter,
    update,
    zero_object,
)
from shoal.api.apply.schema import SCALAR, UNTYPED, TypeNode, for_model, from_openapi
from shoal.api.apply.typed import TypedError

__all__ = [
    "LAST_APPLIED",
    "SCALAR",
    "UNTYPED",
    "Applied",
    "ApplyConflict",
    "Identity",
    "TypeNode",
    "TypedError",
    "apply",
    "for_model",
    "from_openapi",
    "reset_filter",
    "update",
    "zero_object",
]
