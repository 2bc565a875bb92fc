"""PersistentVolumeClaims and PersistentVolumes: created Pending, protected, and a claim grows only
where its class allows.

What upstream's ``pkg/registry/core/persistentvolume{,claim}/strategy.go`` and the
DefaultStorageClass, StorageObjectInUseProtection and PersistentVolumeClaimResize admission
plugins do (the rules are in ``shoal.apiserver.storage``):

* a create's status is the server's: ``{"phase": "Pending"}`` (a PV's also records when it
  entered that phase);
* a claim without ``storageClassName`` gets the default class; every claim gets the
  ``kubernetes.io/pvc-protection`` finalizer and every PV ``kubernetes.io/pv-protection``;
* a claim's requested size may grow only if its class allows volume expansion (403).
"""

from __future__ import annotations

from typing import Any

from shoal.api.registry import ResourceInfo
from shoal.apiserver import storage
from shoal.apiserver.strategies.base import DefaultStrategy


class PersistentVolumeClaimStrategy(DefaultStrategy):
    def __init__(self, info: ResourceInfo, classes: storage.StorageClasses) -> None:
        super().__init__(info)
        self.classes = classes

    def reset_status(self, obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Pending"}

    async def admit_create(self, ns: str | None, obj: dict[str, Any], data: dict[str, Any]) -> None:
        await storage.admit_claim_create(self.classes, obj)

    async def admit_update(self, obj: dict[str, Any], old: dict[str, Any]) -> None:
        await storage.admit_claim_update(self.classes, obj, old)


class PersistentVolumeStrategy(DefaultStrategy):
    def reset_status(self, obj: dict[str, Any]) -> None:
        # created at this instant, so entered Pending then (upstream stamps NowFunc() likewise)
        obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": obj["metadata"]["creationTimestamp"]}

    async def admit_create(self, ns: str | None, obj: dict[str, Any], data: dict[str, Any]) -> None:
        storage.admit_volume_create(obj)
