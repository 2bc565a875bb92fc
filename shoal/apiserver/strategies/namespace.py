"""Namespaces: Active when created, held by their spec's finalizers, "Terminating" once deleted.

As upstream's ``pkg/registry/core/namespace``: a namespace is deleted in two
steps. The DELETE marks it (``deletionTimestamp``, ``status.phase:
Terminating``) and the namespace controller empties it, then clears
``spec.finalizers`` through the ``finalize`` subresource; only when both
``spec.finalizers`` and ``metadata.finalizers`` are empty does it go.
"""

from __future__ import annotations

from typing import Any

from shoal.apiserver.strategies.base import DefaultStrategy


class NamespaceStrategy(DefaultStrategy):
    field_labels = frozenset({"status.phase"})
    terminating_phase = "Terminating"

    def reset_status(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Active"}

    def held_by_spec(self, obj: dict[str, Any]) -> bool:
        return bool((obj.get("spec") or {}).get("finalizers"))
