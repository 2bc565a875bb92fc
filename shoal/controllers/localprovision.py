"""The control-plane half of shoal's local provisioner: a claim and a node in, a PV (or a refusal) out.

A ``shoal.io/local`` volume is a directory of the claim's size on one node. It
is made for a claim once a node is chosen for it: the scheduler writes
``volume.kubernetes.io/selected-node`` on a claim of a WaitForFirstConsumer
class when it places the first pod using it (the class ``local`` is such). A
claim of an Immediate class with this provisioner has no node to go to, so,
as upstream's node-local provisioners do, it stays Pending with an event that
says why, until someone sets the annotation.

The PV is named ``pvc-<claim uid>``, asks the claim's size and access modes,
takes its class's reclaim policy and mount options, lives at
``storage_contract.local_volume_path`` on the node (under the volume dir the
node's agent advertises), is pinned there by ``nodeAffinity`` on the node's
``kubernetes.io/hostname``, and is created already bound to the claim
(``claimRef`` with its uid), so no other claim can take it. It carries the
``shoal.io/local-volume`` finalizer: once the PV is deleted, the node's agent
wipes the directory and removes the finalizer (the agent's half, built later).

Only what a directory can be is provisioned: ``Filesystem`` volumes, and not
``ReadWriteMany`` (a node-local directory cannot be shared across nodes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shoal.api import views
from shoal.api.quantity import canonical_quantity
from shoal.api.storage_contract import (
    DEFAULT_VOLUME_DIR,
    HOSTNAME_LABEL,
    LOCAL_PROVISIONER,
    LOCAL_VOLUME_FINALIZER,
    PROVISIONED_BY,
    VOLUME_DIR_ANNOTATION,
    local_volume_name,
    local_volume_path,
)
from shoal.api.views import Body, ClaimReference
from shoal.api.volumematch import requested, requested_raw, storage_class_of, volume_mode

LOCAL_ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteOncePod")


@dataclass(frozen=True, slots=True)
class Provision:
    """A PV to create, or why none can be (``refused``: the text of a ProvisioningFailed event)."""

    pv: dict[str, Any] | None = None  # a PersistentVolume body to create
    refused: str = ""


def claim_reference(claim: Body) -> ClaimReference:
    return {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": views.namespace(claim),
            "name": views.name(claim), "uid": views.uid(claim), "resourceVersion": views.resource_version(claim)}


def node_volume_dir(node: Body) -> str:
    return views.annotations(node).get(VOLUME_DIR_ANNOTATION) or DEFAULT_VOLUME_DIR


def plan_local_volume(claim: Body, sc: Body, node: Body) -> Provision:
    """The PV for ``claim`` of class ``sc`` (provisioner ``shoal.io/local``) on ``node``."""
    modes = [m for m in views.claim_spec(claim).get("accessModes") or [] if isinstance(m, str)]
    if volume_mode(claim) != "Filesystem":
        return Provision(refused=f"{LOCAL_PROVISIONER} provisions Filesystem volumes only, not {volume_mode(claim)}")
    shared = [m for m in modes if m not in LOCAL_ACCESS_MODES]
    if shared:
        return Provision(refused=f"{LOCAL_PROVISIONER} volumes live on one node: access mode {shared[0]} is not "
                                 f"supported (use ReadWriteOnce or ReadWriteOncePod)")
    size = requested_raw(claim)
    if requested(claim) is None:
        return Provision(refused=f"the claim asks for no valid size (spec.resources.requests.storage: {size!r})")
    name = local_volume_name(views.uid(claim))
    hostname = views.labels(node).get(HOSTNAME_LABEL) or views.name(node)
    pv_spec: dict[str, Any] = {
        "capacity": {"storage": canonical_quantity(size if isinstance(size, str | int | float) else str(size))},
        "accessModes": modes,
        "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
        "storageClassName": storage_class_of(claim),
        "volumeMode": "Filesystem",
        "local": {"path": local_volume_path(node_volume_dir(node), name)},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": HOSTNAME_LABEL, "operator": "In", "values": [hostname]}]}]}},
        "claimRef": claim_reference(claim),
    }
    if sc.get("mountOptions"):
        pv_spec["mountOptions"] = list(sc["mountOptions"])
    return Provision(pv={
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name, "annotations": {PROVISIONED_BY: LOCAL_PROVISIONER},
                     "finalizers": [LOCAL_VOLUME_FINALIZER]},
        "spec": pv_spec,
    })
