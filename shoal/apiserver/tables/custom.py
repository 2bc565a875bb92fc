"""Tables of custom resources: NAME, then the CRD version's ``additionalPrinterColumns``.

As apiextensions-apiserver's table convertor: each column's JSONPath is read
from the object and its first result is the cell (nothing found: an empty
cell); a ``string`` column prints the value as text, ``date`` as the age of
the timestamp (``5m``, ``<unknown>`` if it is not one), the other types keep
the JSON value. A version without columns shows AGE, which is the default
column upstream gives it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shoal.api import views
from shoal.api.crd import jsonpath
from shoal.api.crd.kind import PrinterColumn
from shoal.apiserver.tables.fields import UNKNOWN, Obj, since
from shoal.apiserver.tables.model import Cell, Column, Printer, name_column


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def cell(column: PrinterColumn, obj: Obj, now: datetime) -> Cell:
    found = jsonpath.find(obj, column.path)
    if not found or found[0] is None:
        return None
    value = found[0]
    if column.type == "string":
        return _text(value)
    if column.type == "date":
        return since(value, now) if isinstance(value, str) else UNKNOWN
    if column.type == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else (
            int(value) if isinstance(value, float) and value.is_integer() else _text(value))
    if column.type == "boolean":
        return value if isinstance(value, bool) else _text(value)
    if column.type == "number":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return _text(value)  # a float keeps its digits as text (a Table cell is a string, int or bool)
    return _text(value)


def custom_printer(columns: tuple[PrinterColumn, ...]) -> Printer:
    cols = (name_column(), *(Column(c.name, type=c.type, description=c.description, format=c.format,
                                    priority=c.priority) for c in columns))

    def row(obj: Obj, now: datetime) -> list[Cell]:
        return [views.name(obj), *(cell(c, obj, now) for c in columns)]

    return Printer(cols, row)

