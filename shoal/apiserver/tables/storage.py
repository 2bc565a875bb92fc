"""Storage kinds: PersistentVolume, PersistentVolumeClaim and StorageClass, as upstream prints them.

Access modes print abbreviated in upstream's fixed order (RWO, ROX, RWX, RWOP);
a class is the beta annotation if present, else ``storageClassName``; an object
being deleted shows ``Terminating`` as its status. A claim shows its capacity
and access modes only once it names a volume; the default class carries
``(default)`` after its name.
"""

from __future__ import annotations

from datetime import datetime

from shoal.api import views
from shoal.api.quantity import InvalidQuantity, canonical_quantity
from shoal.api.storage_contract import BETA_IS_DEFAULT_CLASS, BETA_STORAGE_CLASS, IS_DEFAULT_CLASS
from shoal.apiserver.tables.fields import Obj, age_of, as_dict, as_list, as_str, dig
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column

_MODES = (("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP"))
UNSET = "<unset>"


def access_modes(modes: object) -> str:
    present = set(as_list(modes))
    return ",".join(short for mode, short in _MODES if mode in present)


def _quantity(value: object) -> str:
    if value is None:
        return "0"
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return ""
    try:
        return canonical_quantity(value)
    except InvalidQuantity:
        return str(value)


def volume_class(obj: Obj) -> str:
    ann = as_dict(dig(obj, "metadata", "annotations"))
    if BETA_STORAGE_CLASS in ann:
        return as_str(ann[BETA_STORAGE_CLASS])
    return as_str(dig(obj, "spec", "storageClassName"))


def _phase(obj: Obj) -> str:
    if dig(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    return as_str(dig(obj, "status", "phase"))


def _or_unset(value: object) -> str:
    return value if isinstance(value, str) else UNSET


PV_COLUMNS = (
    name_column(),
    Column("Capacity", description="capacity is the description of the persistent volume's resources and capacity. "
                                   "More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#capacity"),
    Column("Access Modes", description="accessModes contains all ways the volume can be mounted. "
                                       "More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes"),
    Column("Reclaim Policy", description="persistentVolumeReclaimPolicy defines what happens to a persistent volume "
                                         "when released from its claim. Valid options are Retain (default for manually "
                                         "created PersistentVolumes), Delete (default for dynamically provisioned "
                                         "PersistentVolumes), and Recycle (deprecated)."),
    Column("Status", description="phase indicates if a volume is available, bound to a claim, or released by a claim. "
                                 "More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#phase"),
    Column("Claim", description="claimRef is part of a bi-directional binding between PersistentVolume and "
                                "PersistentVolumeClaim. Expected to be non-nil when bound."),
    Column("StorageClass", description="StorageClass of the pv"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pv"),
    Column("Reason", description="reason is a brief CamelCase string that describes any failure and is meant for "
                                 "machine parsing and tidy display in the CLI."),
    age_column(),
    Column("VolumeMode", priority=1, description="volumeMode defines if a volume is intended to be used with a "
                                                 "formatted filesystem or to remain in raw block state."),
)


def pv_row(obj: Obj, now: datetime) -> list[Cell]:
    ref = dig(obj, "spec", "claimRef")
    claim = f"{as_str(ref.get('namespace'))}/{as_str(ref.get('name'))}" if isinstance(ref, dict) else ""
    return [views.name(obj), _quantity(as_dict(dig(obj, "spec", "capacity")).get("storage")),
            access_modes(dig(obj, "spec", "accessModes")), as_str(dig(obj, "spec", "persistentVolumeReclaimPolicy")),
            _phase(obj), claim, volume_class(obj), _or_unset(dig(obj, "spec", "volumeAttributesClassName")),
            as_str(dig(obj, "status", "reason")), age_of(obj, now), _or_unset(dig(obj, "spec", "volumeMode"))]


PVC_COLUMNS = (
    name_column(),
    Column("Status", description="phase represents the current phase of PersistentVolumeClaim."),
    Column("Volume", description="volumeName is the binding reference to the PersistentVolume backing this claim."),
    Column("Capacity", description="capacity represents the actual resources of the underlying volume."),
    Column("Access Modes", description="accessModes contains the actual access modes the volume backing the PVC has. "
                                       "More info: https://kubernetes.io/docs/concepts/storage/persistent-volumes#access-modes-1"),
    Column("StorageClass", description="StorageClass of the pvc"),
    Column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
    age_column(),
    Column("VolumeMode", priority=1, description="volumeMode defines what type of volume is required by the claim. "
                                                 "Value of Filesystem is implied when not included in claim spec."),
)


def pvc_row(obj: Obj, now: datetime) -> list[Cell]:
    volume = as_str(dig(obj, "spec", "volumeName"))
    capacity = modes = ""
    if volume:
        modes = access_modes(dig(obj, "status", "accessModes"))
        capacity = _quantity(as_dict(dig(obj, "status", "capacity")).get("storage"))
    return [views.name(obj), _phase(obj), volume, capacity, modes, volume_class(obj),
            _or_unset(dig(obj, "spec", "volumeAttributesClassName")), age_of(obj, now),
            _or_unset(dig(obj, "spec", "volumeMode"))]


SC_COLUMNS = (
    name_column(),
    Column("Provisioner", description="provisioner indicates the type of the provisioner."),
    Column("ReclaimPolicy", description="reclaimPolicy controls the reclaimPolicy for dynamically provisioned "
                                        "PersistentVolumes of this storage class. Defaults to Delete."),
    Column("VolumeBindingMode", description="volumeBindingMode indicates how PersistentVolumeClaims should be "
                                            "provisioned and bound.  When unset, VolumeBindingImmediate is used."),
    Column("AllowVolumeExpansion", description="allowVolumeExpansion shows whether the storage class allow volume "
                                               "expand."),
    age_column(),
)


def sc_row(obj: Obj, now: datetime) -> list[Cell]:
    ann = as_dict(dig(obj, "metadata", "annotations"))
    name = views.name(obj)
    if ann.get(IS_DEFAULT_CLASS) == "true" or ann.get(BETA_IS_DEFAULT_CLASS) == "true":
        name += " (default)"
    reclaim = obj.get("reclaimPolicy")
    mode = obj.get("volumeBindingMode")
    return [name, as_str(obj.get("provisioner")), reclaim if isinstance(reclaim, str) else "Delete",
            mode if isinstance(mode, str) else "Immediate", obj.get("allowVolumeExpansion") is True, age_of(obj, now)]


PRINTERS = {
    "PersistentVolume": Printer(PV_COLUMNS, pv_row),
    "PersistentVolumeClaim": Printer(PVC_COLUMNS, pvc_row),
    "StorageClass": Printer(SC_COLUMNS, sc_row),
}
