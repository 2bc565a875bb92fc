"""Kubernetes' defaults for PersistentVolumes, claims and StorageClasses (upstream's SetDefaults_*).

A PV is retained when released unless it says otherwise (``Retain``: a volume
someone made by hand holds data nobody asked shoal to destroy), while a class's
volumes are deleted (``Delete``: they were made for a claim and go with it).
Both kinds of volume and claims are ``Filesystem`` unless ``Block`` is asked for.
A new object's phase is ``Pending`` until the PV controller has looked at it.
Quantities are stored canonical (``1024Mi`` -> ``1Gi``), as upstream.

A claim's ``storageClassName`` is not a default here: it comes from the cluster's
default class, which only the API server can look up (``shoal.apiserver.storage``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.api.defaults_pod import canonical_list
from shoal.api.models.storage import StorageClass
from shoal.api.models.volumes import (
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeClaimStatus,
    PersistentVolumeStatus,
)


def default_persistent_volume(pv: PersistentVolume) -> None:
    spec = pv.spec
    if spec is not None:
        if spec.persistent_volume_reclaim_policy is None:
            spec.persistent_volume_reclaim_policy = "Retain"
        if spec.volume_mode is None:
            spec.volume_mode = "Filesystem"
        spec.capacity = canonical_list(spec.capacity)
        if spec.host_path is not None and spec.host_path.type is None:
            spec.host_path.type = ""
    if pv.status is None:
        pv.status = PersistentVolumeStatus()
    if pv.status.phase is None:
        pv.status.phase = "Pending"


def default_persistent_volume_claim(pvc: PersistentVolumeClaim) -> None:
    spec = pvc.spec
    if spec is not None:
        if spec.volume_mode is None:
            spec.volume_mode = "Filesystem"
        if spec.resources is not None:
            spec.resources.requests = canonical_list(spec.resources.requests)
            spec.resources.limits = canonical_list(spec.resources.limits)
    if pvc.status is None:
        pvc.status = PersistentVolumeClaimStatus()
    if pvc.status.phase is None:
        pvc.status.phase = "Pending"
    pvc.status.capacity = canonical_list(pvc.status.capacity)
    pvc.status.allocated_resources = canonical_list(pvc.status.allocated_resources)


def default_storage_class(sc: StorageClass) -> None:
    if sc.reclaim_policy is None:
        sc.reclaim_policy = "Delete"
    if sc.volume_binding_mode is None:
        sc.volume_binding_mode = "Immediate"


DEFAULTERS: dict[type, Callable[[Any], None]] = {
    PersistentVolume: default_persistent_volume,
    PersistentVolumeClaim: default_persistent_volume_claim,
    StorageClass: default_storage_class,
}
