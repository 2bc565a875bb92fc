"""``kubectl get crd``: NAME and CREATED AT (the timestamp itself, as upstream prints it)."""

from __future__ import annotations

from datetime import datetime

from shoal.api import views
from shoal.apiserver.tables.fields import Obj, as_dict, as_str
from shoal.apiserver.tables.model import Cell, Column, Printer, name_column


def _crd_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), as_str(as_dict(obj.get("metadata")).get("creationTimestamp"))]


CRD_PRINTER = Printer(
    (name_column(), Column("Created At", type="date", description="CreationTimestamp is a timestamp representing "
                           "the server time when this object was created.")),
    _crd_row,
)

PRINTERS: dict[str, Printer] = {"CustomResourceDefinition": CRD_PRINTER}
