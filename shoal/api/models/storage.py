"""storage.k8s.io/v1 StorageClass: how volumes of one kind are provisioned, bound and reclaimed.

A claim names a class (or gets the default one: the class annotated
``storageclass.kubernetes.io/is-default-class: "true"``); the class says who
provisions its volumes (``provisioner``), when (``volumeBindingMode``:
``Immediate``, or ``WaitForFirstConsumer`` for node-local storage, so the volume
is made where the pod lands), what happens to them when released
(``reclaimPolicy``) and whether a claim may grow (``allowVolumeExpansion``).
The fields sit at the top level, beside ``metadata``, as upstream (the kind has
no spec). shoal's own provisioner is ``shoal.io/local``.
"""

from __future__ import annotations

from shoal.api.base import Model
from shoal.api.meta import ObjectMeta


class TopologySelectorLabelRequirement(Model):
    key: str
    values: list[str]


class TopologySelectorTerm(Model):
    match_label_expressions: list[TopologySelectorLabelRequirement] | None = None


class StorageClass(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    provisioner: str | None = None
    parameters: dict[str, str] | None = None
    reclaim_policy: str | None = None  # Delete (default) or Retain
    mount_options: list[str] | None = None
    allow_volume_expansion: bool | None = None
    volume_binding_mode: str | None = None  # Immediate (default) or WaitForFirstConsumer
    allowed_topologies: list[TopologySelectorTerm] | None = None
