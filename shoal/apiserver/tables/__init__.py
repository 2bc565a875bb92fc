"""Server-side printing: Kubernetes objects as ``meta.k8s.io/v1`` Tables for ``kubectl get``.

The columns and cell values follow upstream's ``pkg/printers/internalversion``
so that ``kubectl get`` against shoal reads exactly as against Kubernetes.
One module per family of kinds; ``render`` assembles the Table.
"""

from shoal.apiserver.tables.duration import human_duration
from shoal.apiserver.tables.model import Column, Printer
from shoal.apiserver.tables.render import (
    INCLUDE_OBJECT,
    TableError,
    printer_for,
    render_table,
    watch_event_table,
)

__all__ = [
    "INCLUDE_OBJECT",
    "Column",
    "Printer",
    "TableError",
    "human_duration",
    "printer_for",
    "render_table",
    "watch_event_table",
]
