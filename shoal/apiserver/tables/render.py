"""Objects to a ``meta.k8s.io/v1`` Table, the server side of ``kubectl get``.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints
whatever columns the server sends, so the server owns the look of every kind.
``render_table`` is pure: objects and the clock in, the Table dict out; the
HTTP handler does content negotiation and writes the bytes.

What goes into each row's ``object`` follows ``?includeObject=``: ``Metadata``
(kubectl's default; a PartialObjectMetadata, which kubectl reads for
``-A``'s NAMESPACE column and ``--show-labels``), ``Object`` (the whole object,
asked for when kubectl sorts) or ``None``.

Watches (``kubectl get -w``): every event's object is a one-row Table, and
upstream sends the column definitions only with the first event of the
stream (kubectl reuses the last ones it saw), which ``watch_event_table``'s
``include_headers`` expresses.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from shoal.api import views
from shoal.apiserver.tables import (
    admissionregistration,
    apiextensions,
    autoscaling,
    certificates,
    cluster,
    config,
    events,
    networking,
    pods,
    policy,
    rbac,
    replication,
    storage,
    workloads,
)
from shoal.apiserver.tables.fields import Obj, age_of, as_dict, as_str
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column

TABLE_GROUP = "meta.k8s.io"
TABLE_VERSIONS = ("v1", "v1beta1")
INCLUDE_OBJECT = ("Metadata", "Object", "None")


class TableError(ValueError):
    """A table request the server must refuse (answered as 400 Bad Request)."""


def _generic_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), age_of(obj, now)]


# What a kind without a printer shows: the custom-resource default, NAME and AGE.
GENERIC = Printer((name_column(), age_column(type="date")), _generic_row)

PRINTERS: dict[str, Printer] = {
    **pods.PRINTERS,
    **cluster.PRINTERS,
    **config.PRINTERS,
    **events.PRINTERS,
    **networking.PRINTERS,
    **storage.PRINTERS,
    **workloads.PRINTERS,
    **policy.PRINTERS,
    **autoscaling.PRINTERS,
    **certificates.PRINTERS,
    **replication.PRINTERS,
    **rbac.PRINTERS,
    **apiextensions.PRINTERS,
    **admissionregistration.PRINTERS,
}


def printer_for(kind: str) -> Printer:
    """The printer of ``kind``, or the generic NAME/AGE one."""
    return PRINTERS.get(kind, GENERIC)


def _row_object(obj: Obj, include_object: str, api_version: str) -> Obj | None:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": api_version,
        "metadata": dict(as_dict(obj.get("metadata"))),
    }


def _list_metadata(list_meta: dict[str, Any] | None, objects: list[Obj]) -> dict[str, Any]:
    if list_meta is None:
        # A single GET: the table carries the object's own resourceVersion.
        if len(objects) == 1:
            rv = as_str(as_dict(objects[0].get("metadata")).get("resourceVersion"))
            return {"resourceVersion": rv} if rv else {}
        return {}
    keep = ("resourceVersion", "continue", "remainingItemCount")
    # ListMeta fields are all omitempty on the wire.
    return {k: list_meta[k] for k in keep if list_meta.get(k) not in (None, "")}


def _check(include_object: str, table_version: str, now: datetime) -> datetime:
    if include_object not in INCLUDE_OBJECT:
        raise TableError(f'unrecognized includeObject value: "{include_object}"')
    if table_version not in TABLE_VERSIONS:
        raise TableError(f"unsupported Table version {table_version!r}")
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _visible(columns: Iterable[Column], wide: bool) -> list[int]:
    return [i for i, col in enumerate(columns) if wide or col.priority == 0]


def render_table(
    kind: str | Printer,
    objects: list[Obj],
    *,
    now: datetime,
    include_object: str = "Metadata",
    list_meta: dict[str, Any] | None = None,
    wide: bool = True,
    include_headers: bool = True,
    table_version: str = "v1",
) -> dict[str, Any]:
    """The Table for ``objects`` of ``kind`` (Pod, Node, Deployment, ...), or printed by ``kind``'s
    printer when the caller holds it (the API server's resources do, in their strategy).

    ``now`` is the clock for AGE and other durations (naive means UTC).
    ``include_object`` is the ``includeObject`` query parameter (``""`` means
    Metadata). ``list_meta`` is the list's metadata (resourceVersion, continue,
    remainingItemCount); leave it None for a single GET to use the object's
    resourceVersion. ``wide=False`` drops the priority-1 columns; the server
    keeps them (kubectl hides them itself unless ``-o wide``).
    ``include_headers=False`` omits the column definitions (watch events after
    the first). Raises ``TableError`` for a bad includeObject or version.
    """
    include_object = include_object or "Metadata"
    now = _check(include_object, table_version, now)
    printer = kind if isinstance(kind, Printer) else printer_for(kind)
    api_version = f"{TABLE_GROUP}/{table_version}"
    keep = _visible(printer.columns, wide)
    rows = []
    for obj in objects:
        cells = printer.row(obj, now)
        row: dict[str, Any] = {"cells": [cells[i] for i in keep]}
        conditions = printer.conditions(obj) if printer.conditions else []
        if conditions:
            row["conditions"] = conditions
        row["object"] = _row_object(obj, include_object, api_version)
        rows.append(row)
    columns = [printer.columns[i].definition() for i in keep] if include_headers else []
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": _list_metadata(list_meta, objects),
        "columnDefinitions": columns,
        "rows": rows,
    }


def watch_event_table(
    kind: str | Printer,
    obj: Obj,
    *,
    now: datetime,
    first: bool,
    include_object: str = "Metadata",
    table_version: str = "v1",
) -> dict[str, Any]:
    """The Table that replaces ``obj`` in one watch event of a Table watch.

    ``first`` is True for the first event of the stream only: upstream sends
    column definitions once and kubectl reuses them for later rows. The
    table's resourceVersion is the object's, so a BOOKMARK (an object with
    only ``metadata.resourceVersion``) still tells the client where it is;
    its one row is then blank, as upstream's would be.
    """
    return render_table(
        kind,
        [obj],
        now=now,
        include_object=include_object,
        include_headers=first,
        table_version=table_version,
    )
