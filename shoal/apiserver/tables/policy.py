"""PodDisruptionBudgets as ``kubectl get pdb`` shows them (upstream's ``printPodDisruptionBudget``).

MIN AVAILABLE and MAX UNAVAILABLE print the int or percentage as written, or
``N/A`` when unset; ALLOWED DISRUPTIONS is what the disruption controller last
computed.
"""

from __future__ import annotations

from datetime import datetime

from shoal.api import views
from shoal.apiserver.tables.fields import Obj, age_of, as_int, as_str, dig
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column

PDB_COLUMNS = (
    name_column(),
    Column("Min Available", description="The minimum number of pods that must be available."),
    Column("Max Unavailable", description="The maximum number of pods that may be unavailable."),
    Column("Allowed Disruptions", type="integer",
           description="Calculated number of pods that may be disrupted at this time."),
    age_column(),
)


def _int_or_percent(value: object) -> str:
    if value is None or isinstance(value, bool):
        return "N/A"
    return str(value) if isinstance(value, int) else as_str(value)


def pdb_row(obj: Obj, now: datetime) -> list[Cell]:
    return [
        views.name(obj),
        _int_or_percent(dig(obj, "spec", "minAvailable")),
        _int_or_percent(dig(obj, "spec", "maxUnavailable")),
        as_int(dig(obj, "status", "disruptionsAllowed")),
        age_of(obj, now),
    ]


PRINTERS = {"PodDisruptionBudget": Printer(PDB_COLUMNS, pdb_row)}
