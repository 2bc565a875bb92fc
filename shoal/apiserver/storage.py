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

from collections.abc import Mapping, Sequence
from typing import Any

from shoal.api import views
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
from shoal.api.views import Body
from shoal.api.volumematch import requested, storage_class_of
from shoal.apiserver import errors, rawobj
from shoal.store.base import Store

RESIZE_REFUSED = ("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc "
                  "must support resize")


def is_default_class(sc: Body) -> bool:
    ann = views.annotations(sc)
    return ann.get(IS_DEFAULT_CLASS) == "true" or ann.get(BETA_IS_DEFAULT_CLASS) == "true"


def pick_default_class(classes: Sequence[Body]) -> Body | None:
    """The default class: of those marked default, the newest, then the first by name."""
    marked = sorted((c for c in classes if is_default_class(c)), key=views.name)
    if not marked:
        return None
    return max(marked, key=lambda c: str(views.meta(c).get("creationTimestamp") or ""))


def grows(new: Body, old: Body) -> bool:
    a, b = requested(new), requested(old)
    return a is not None and b is not None and a > b  # validation answers for a bad quantity


def may_resize(new: Body, old: Body, classes: Mapping[str, Body]) -> bool:
    """Upstream's allowResize: the claim keeps a class, and that class allows expansion."""
    name = storage_class_of(new)
    if not name or storage_class_of(old) != name or name not in classes:
        return False
    return classes[name].get("allowVolumeExpansion") is True


def _add_finalizer(obj: dict[str, Any], finalizer: str) -> None:
    fins = obj["metadata"].setdefault("finalizers", [])
    if finalizer not in fins:
        fins.append(finalizer)


class StorageClasses:
    """Every StorageClass, read from the store when asked."""

    def __init__(self, store: Store, info: ResourceInfo) -> None:
        self.store = store
        self.info = info

    async def all(self) -> list[dict[str, Any]]:
        kvs, _, _ = await self.store.list(self.info.prefix(None))
        return [rawobj.decode(kv.value) for kv in kvs]


async def admit_claim_create(classes: StorageClasses, obj: dict[str, Any]) -> None:
    """A new claim: the default class if it names none, and the pvc-protection finalizer."""
    spec = obj.setdefault("spec", {})
    if spec.get("storageClassName") is None and BETA_STORAGE_CLASS not in views.annotations(obj):
        default = pick_default_class(await classes.all())
        if default is not None:
            spec["storageClassName"] = views.name(default)
    _add_finalizer(obj, PVC_PROTECTION)


async def admit_claim_update(classes: StorageClasses, obj: Body, old: Body) -> None:
    """A claim that grows must be of a class that allows expansion (403 otherwise)."""
    if not grows(obj, old):
        return
    by_name = {views.name(c): c for c in await classes.all()}
    if not may_resize(obj, old, by_name):
        raise errors.forbidden_object("persistentvolumeclaims", views.name(obj), "", RESIZE_REFUSED)


def admit_volume_create(obj: dict[str, Any]) -> None:
    """A new PV: the pv-protection finalizer."""
    _add_finalizer(obj, PV_PROTECTION)


def default_class_body(*, mark_default: bool) -> dict[str, Any]:
    """The ``local`` StorageClass ``shoal server`` provides: shoal's node-local provisioner."""
    md: dict[str, Any] = {"name": DEFAULT_CLASS_NAME}
    if mark_default:
        md["annotations"] = {IS_DEFAULT_CLASS: "true"}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": md,
            "provisioner": LOCAL_PROVISIONER, "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": True}


def default_class_to_create(classes: Sequence[Body]) -> dict[str, Any] | None:
    """The class to create at start: none if ``local`` exists; default unless another class is."""
    if any(views.name(c) == DEFAULT_CLASS_NAME for c in classes):
        return None
    return default_class_body(mark_default=pick_default_class(classes) is None)
