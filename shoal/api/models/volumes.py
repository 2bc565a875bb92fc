"""core/v1 PersistentVolume and PersistentVolumeClaim: storage as an object, and a request for it.

A claim asks for a size, access modes, a volume mode and a class; the PV controller
(``shoal.controllers.pvcontroller``) binds it to a volume that satisfies them, or has one
provisioned. The binding is written on both sides: ``pv.spec.claimRef`` and
``pvc.spec.volumeName``. Volume sources shoal's agent mounts (``hostPath``, ``local``,
``nfs``) are modelled; the rest are carried through as opaque maps under their upstream
names, so manifests for other clusters decode without unknown fields.

Kept apart from ``core`` (which is long already); both are core/v1.
"""

from __future__ import annotations

from typing import Annotated

from shoal.api.base import Model, merge_key
from shoal.api.meta import LabelSelector, ObjectMeta, list_map
from shoal.api.models.pod import (
    HostPathVolumeSource,
    NFSVolumeSource,
    NodeSelector,
    ObjectReference,
    Opaque,
    ResourceList,
    TypedLocalObjectReference,
    _f,
)

# --- PersistentVolume ------------------------------------------------------------------------


class LocalVolumeSource(Model):
    path: str
    fs_type: str | None = None


class VolumeNodeAffinity(Model):
    required: NodeSelector | None = None


class PersistentVolumeSpec(Model):
    capacity: ResourceList | None = None
    access_modes: list[str] | None = None
    claim_ref: ObjectReference | None = None
    persistent_volume_reclaim_policy: str | None = None
    storage_class_name: str | None = None
    mount_options: list[str] | None = None
    volume_mode: str | None = None
    node_affinity: VolumeNodeAffinity | None = None
    volume_attributes_class_name: str | None = None
    # the volume source: exactly one of these (validation_storage.PV_SOURCES)
    host_path: HostPathVolumeSource | None = None
    local: LocalVolumeSource | None = None
    nfs: NFSVolumeSource | None = None
    csi: Opaque | None = None
    gce_persistent_disk: Opaque | None = None
    aws_elastic_block_store: Opaque | None = None
    glusterfs: Opaque | None = None
    rbd: Opaque | None = None
    iscsi: Opaque | None = None
    cinder: Opaque | None = None
    cephfs: Opaque | None = None
    fc: Opaque | None = None
    flocker: Opaque | None = None
    flex_volume: Opaque | None = None
    azure_file: Opaque | None = None
    vsphere_volume: Opaque | None = None
    quobyte: Opaque | None = None
    azure_disk: Opaque | None = None
    photon_persistent_disk: Opaque | None = None
    portworx_volume: Opaque | None = None
    scale_io: Opaque | None = _f("scaleIO")
    storageos: Opaque | None = None


class PersistentVolumeStatus(Model):
    phase: str | None = None  # Pending, Available, Bound, Released, Failed
    message: str | None = None
    reason: str | None = None
    last_phase_transition_time: str | None = None


class PersistentVolume(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: PersistentVolumeSpec | None = None
    status: PersistentVolumeStatus | None = None


# --- PersistentVolumeClaim -------------------------------------------------------------------


class VolumeResourceRequirements(Model):
    limits: ResourceList | None = None
    requests: ResourceList | None = None


class TypedObjectReference(Model):
    kind: str
    name: str
    api_group: str | None = None
    namespace: str | None = None


class PersistentVolumeClaimSpec(Model):
    access_modes: list[str] | None = None
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements | None = None
    volume_name: str | None = None
    storage_class_name: str | None = None
    volume_mode: str | None = None
    data_source: TypedLocalObjectReference | None = None
    data_source_ref: TypedObjectReference | None = None
    volume_attributes_class_name: str | None = None


class PersistentVolumeClaimCondition(Model):
    type: str
    status: str
    last_probe_time: str | None = None
    last_transition_time: str | None = None
    reason: str | None = None
    message: str | None = None


class ModifyVolumeStatus(Model):
    status: str
    target_volume_attributes_class_name: str | None = None


class PersistentVolumeClaimStatus(Model):
    phase: str | None = None  # Pending, Bound, Lost
    access_modes: list[str] | None = None
    capacity: ResourceList | None = None
    conditions: Annotated[list[PersistentVolumeClaimCondition], merge_key("type"), list_map("type")] | None = None
    allocated_resources: ResourceList | None = None
    allocated_resource_statuses: dict[str, str] | None = None
    current_volume_attributes_class_name: str | None = None
    modify_volume_status: ModifyVolumeStatus | None = None


class PersistentVolumeClaim(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    spec: PersistentVolumeClaimSpec | None = None
    status: PersistentVolumeClaimStatus | None = None


PV_SOURCES = tuple(
    f for f in PersistentVolumeSpec.__struct_fields__
    if f not in ("capacity", "access_modes", "claim_ref", "persistent_volume_reclaim_policy", "storage_class_name",
                 "mount_options", "volume_mode", "node_affinity", "volume_attributes_class_name")
)
