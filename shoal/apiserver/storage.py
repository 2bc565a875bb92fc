"""Storage admission: what upstream's DefaultStorageClass, StorageObjectInUseProtection and
PersistentVolumeClaimResize plugins do, and the default class the server creates at start.

* A claim created without ``spec.storageClassName`` (and without the old beta annotation) gets
  the cluster's default class: the one annotated ``storageclass.kubernetes.io/is-default-class:
  "true"``, the newest if several are (then by name, as upstream since 1.28). An explicit ``""``
  asks for no class and is kept.
* Every claim is created with the ``kubernetes.io/pvc-protection`` finalizer and every PV with
  ``kubernetes.io/pv-protection``; the storage-protection controller removes them once the claim
  is unused or the volume unbound, so deleting a claim a pod still mounts leaves it Terminating.
* A claim may grow only if its class allows expansion (403, upstream's words, otherwise); that
  it never shrinks is validation's (``shoal.api.validation_storage``).
* A create's status is the server's: ``Pending`` (and, for a PV, the time of that phase).

``shoal server`` creates the class ``local`` (``shoal.io/local``, WaitForFirstConsumer, Delete,
expandable) at start when absent, marked default unless another class already is. The classes
are read from the store on each claim create or resize: they are few, and claims are rare next
to pods. The rules are pure functions (``pick_default_class``, ``may_resize``); the claims' and
volumes' strategies (``shoal.apiserver.strategies.storage``) call the ``admit_*`` functions.
"""

from __future__ import annotations

from typing import Any

from shoal.api import quantity
from shoal.api.registry import ResourceInfo
from shoal.api.storage_contract import (
    BETA_IS_DEFAULT_CLASS,
    BETA_STORAGE_CLASS,
    DEFAULT_CLASS_NAME,
    IS_DEFAULT_CLASS,
    LOCAL_PROVISIONER,
    PV_PROTECTION,
    PVC_PROTECTION,
)
from shoal.apiserver import errors, rawobj
from shoal.store.base import Store

Obj = dict[str, Any]
RESIZE_REFUSED = ("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc "
                  "must support resize")


def is_default_class(sc: Obj) -> bool:
    ann = (sc.get("metadata") or {}).get("annotations") or {}
    return ann.get(IS_DEFAULT_CLASS) == "true" or ann.get(BETA_IS_DEFAULT_CLASS) == "true"


def pick_default_class(classes: list[Obj]) -> Obj | None:
    """The default class: of those marked default, the newest, then the first by name."""
    marked = [c for c in classes if is_default_class(c)]
    if not marked:
        return None
    marked.sort(key=lambda c: str(c["metadata"].get("name")))
    return max(marked, key=lambda c: str(c["metadata"].get("creationTimestamp") or ""))


def claim_class(claim: Obj) -> str:
    """The claim's class: the beta annotation first, then ``spec.storageClassName`` (upstream's helper)."""
    ann = (claim.get("metadata") or {}).get("annotations") or {}
    if BETA_STORAGE_CLASS in ann:
        return str(ann[BETA_STORAGE_CLASS])
    return str((claim.get("spec") or {}).get("storageClassName") or "")


def _storage(claim: Obj) -> Any:
    return (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")


def grows(new: Obj, old: Obj) -> bool:
    try:
        a, b = _storage(new), _storage(old)
        return a is not None and b is not None and quantity.parse_quantity(a) > quantity.parse_quantity(b)
    except quantity.InvalidQuantity:
        return False  # validation answers for a bad quantity


def may_resize(new: Obj, old: Obj, classes: dict[str, Obj]) -> bool:
    """Upstream's allowResize: the claim keeps a class, and that class allows expansion."""
    name = claim_class(new)
    if not name or claim_class(old) != name or name not in classes:
        return False
    return classes[name].get("allowVolumeExpansion") is True


def _add_finalizer(obj: Obj, finalizer: str) -> None:
    fins = obj["metadata"].setdefault("finalizers", [])
    if finalizer not in fins:
        fins.append(finalizer)


class StorageClasses:
    """Every StorageClass, read from the store when asked."""

    def __init__(self, store: Store, info: ResourceInfo) -> None:
        self.store = store
        self.info = info

    async def all(self) -> list[Obj]:
        kvs, _, _ = await self.store.list(self.info.prefix(None))
        return [rawobj.decode(kv.value) for kv in kvs]


async def admit_claim_create(classes: StorageClasses, obj: Obj) -> None:
    """A new claim: the default class if it names none, and the pvc-protection finalizer."""
    spec = obj.setdefault("spec", {})
    annotations = obj["metadata"].get("annotations") or {}
    if spec.get("storageClassName") is None and BETA_STORAGE_CLASS not in annotations:
        default = pick_default_class(await classes.all())
        if default is not None:
            spec["storageClassName"] = default["metadata"]["name"]
    _add_finalizer(obj, PVC_PROTECTION)


async def admit_claim_update(classes: StorageClasses, obj: Obj, old: Obj) -> None:
    """A claim that grows must be of a class that allows expansion (403 otherwise)."""
    if not grows(obj, old):
        return
    by_name = {c["metadata"]["name"]: c for c in await classes.all()}
    if not may_resize(obj, old, by_name):
        raise errors.forbidden_object("persistentvolumeclaims", obj["metadata"]["name"], "", RESIZE_REFUSED)


def admit_volume_create(obj: Obj) -> None:
    """A new PV: the pv-protection finalizer."""
    _add_finalizer(obj, PV_PROTECTION)


def default_class_body(*, mark_default: bool) -> Obj:
    """The ``local`` StorageClass ``shoal server`` provides: shoal's node-local provisioner."""
    md: Obj = {"name": DEFAULT_CLASS_NAME}
    if mark_default:
        md["annotations"] = {IS_DEFAULT_CLASS: "true"}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": md,
            "provisioner": LOCAL_PROVISIONER, "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True}


def default_class_to_create(classes: list[Obj]) -> Obj | None:
    """The class to create at start: none if ``local`` exists; default unless another class is."""
    if any(c["metadata"].get("name") == DEFAULT_CLASS_NAME for c in classes):
        return None
    return default_class_body(mark_default=pick_default_class(classes) is None)
