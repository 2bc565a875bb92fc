"""CustomResourceDefinitions: stored versions kept, the cleanup finalizer from the start.

A CRD starts with its storage version in ``status.storedVersions`` and the
``customresourcecleanup.apiextensions.k8s.io`` finalizer, which the server's
CRD controller (``shoal.apiserver.crd.controller``) removes once every object
of the kind is gone; a new storage version is added to ``storedVersions``.
"""

from __future__ import annotations

from typing import Any

from shoal.api.crd.kind import CLEANUP_FINALIZER, storage_version
from shoal.apiserver import rawobj
from shoal.apiserver.strategies.base import DefaultStrategy


class CustomResourceDefinitionStrategy(DefaultStrategy):
    """CRDs: stored versions kept, the cleanup finalizer from the start, printed as upstream."""

    def reset_status(self, obj: dict[str, Any]) -> None:
        stored = storage_version(obj)
        status: dict[str, Any] = {"acceptedNames": {"plural": "", "kind": ""}, "storedVersions": []}
        if stored:
            status["storedVersions"] = [stored]
        obj["status"] = status

    def prepare_create(self, obj: dict[str, Any]) -> None:
        super().prepare_create(obj)
        fins = obj["metadata"].setdefault("finalizers", [])
        if CLEANUP_FINALIZER not in fins:
            fins.append(CLEANUP_FINALIZER)

    def prepare_update(self, new: dict[str, Any], old: dict[str, Any]) -> None:
        super().prepare_update(new, old)
        stored = storage_version(new)
        status = new.get("status")
        if stored and isinstance(status, dict):
            versions = list(status.get("storedVersions") or [])
            if stored not in versions:
                status = rawobj.copy_json(status)
                status["storedVersions"] = [*versions, stored]
                new["status"] = status
