"""What a printer is: its columns, and a function from an object to cells.

One ``Printer`` per kind, as upstream registers one print handler per type.
A row function always returns every cell, wide ones included, in column
order: the server sends all columns and kubectl hides those of priority 1
unless ``-o wide`` (upstream's server-side printing also runs with Wide=true).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shoal.apiserver.tables.fields import Obj

Cell = str | int | bool | None
RowFunc = Callable[[Obj, datetime], list[Cell]]
ConditionsFunc = Callable[[Obj], list[dict[str, str]]]

NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, "
    "although some resources may allow a client to request the generation of an "
    "appropriate name automatically. Name is primarily intended for creation "
    "idempotence and configuration definition. Cannot be updated."
)
AGE_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and "
    "is in UTC."
)


@dataclass(frozen=True, slots=True)
class Column:
    """A ``metav1.TableColumnDefinition``."""

    name: str
    type: str = "string"
    description: str = ""
    format: str = ""
    priority: int = 0

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def name_column(*, priority: int = 0) -> Column:
    return Column("Name", format="name", description=NAME_DESCRIPTION, priority=priority)


def age_column(*, type: str = "string") -> Column:
    return Column("Age", type=type, description=AGE_DESCRIPTION)


@dataclass(frozen=True, slots=True)
class Printer:
    """How one kind is shown by ``kubectl get``."""

    columns: tuple[Column, ...]
    row: RowFunc
    # Row conditions (upstream marks finished pods ``Completed``); most kinds have none.
    conditions: ConditionsFunc | None = None
