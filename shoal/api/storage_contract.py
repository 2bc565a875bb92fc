"""The names persistent storage agrees on, and where a ``shoal.io/local`` volume lives on its node.

The API server, the PV controller, the scheduler's volume binding and the node
agent each play a part in a volume's life, and they meet only through objects.
These constants are that contract (upstream's well-known annotations and
finalizers, plus shoal's own), in one place so no two parts spell them apart.

A ``shoal.io/local`` volume (the built-in provisioner's) is a directory on one
node: ``<volume dir>/<PV name>``, where the volume dir is what the node's agent
advertises in its Node's ``shoal.io/volume-dir`` annotation, or
``/var/lib/shoal/volumes`` when it advertises none. The PV records it in
``spec.local.path`` and pins itself to the node with ``nodeAffinity``; the agent
creates (and sizes) the directory when a pod first mounts it, and the
``shoal.io/local-volume`` finalizer on the PV is the agent's to remove once it
has wiped the directory after the PV's deletion (see ``shoal.controllers.pvcontroller``).
"""

from __future__ import annotations

import posixpath

# --- provisioners --------------------------------------------------------------------------
LOCAL_PROVISIONER = "shoal.io/local"  # shoal's built-in node-local provisioner
NO_PROVISIONER = "kubernetes.io/no-provisioner"  # upstream's name for "static PVs only"
KNOWN_PROVISIONERS = (NO_PROVISIONER, LOCAL_PROVISIONER)

# --- the default StorageClass that ``shoal server`` creates at start -----------------------
DEFAULT_CLASS_NAME = "local"
IS_DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
BETA_IS_DEFAULT_CLASS = "storageclass.beta.kubernetes.io/is-default-class"
BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"  # the class, before storageClassName

# --- annotations the PV controller writes (upstream's pv_controller) -----------------------
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"  # on a claim: binding finished
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"  # the controller (not a user) bound it
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"  # on a PV: which provisioner made it
SELECTED_NODE = "volume.kubernetes.io/selected-node"  # on a claim: the scheduler's node for it
STORAGE_PROVISIONER = "volume.kubernetes.io/storage-provisioner"  # on a claim: who will provision it
BETA_STORAGE_PROVISIONER = "volume.beta.kubernetes.io/storage-provisioner"

# --- finalizers -----------------------------------------------------------------------------
PVC_PROTECTION = "kubernetes.io/pvc-protection"  # a claim in use by a pod is not removed
PV_PROTECTION = "kubernetes.io/pv-protection"  # a bound volume is not removed
LOCAL_VOLUME_FINALIZER = "shoal.io/local-volume"  # the node agent wipes the directory, then removes it

# --- phases and modes -----------------------------------------------------------------------
PV_PHASES = ("Pending", "Available", "Bound", "Released", "Failed")
PVC_PHASES = ("Pending", "Bound", "Lost")
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")  # a PV's; a class allows Delete and Retain
CLASS_RECLAIM_POLICIES = ("Delete", "Retain")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
HOSTNAME_LABEL = "kubernetes.io/hostname"

# --- expansion (upstream's names; the agent finishes what the controller starts) -------------
FS_RESIZE_PENDING = "FileSystemResizePending"  # claim condition: the node must grow the filesystem
NODE_RESIZE_PENDING = "NodeResizePending"  # status.allocatedResourceStatuses[storage]

# --- where a local volume lives ---------------------------------------------------------------
VOLUME_DIR_ANNOTATION = "shoal.io/volume-dir"  # on a Node: the agent's directory for local volumes
DEFAULT_VOLUME_DIR = "/var/lib/shoal/volumes"


def local_volume_name(claim_uid: str) -> str:
    """The PV the local provisioner makes for a claim (upstream's ``pvc-<uid>``)."""
    return f"pvc-{claim_uid}"


def local_volume_path(volume_dir: str, pv_name: str) -> str:
    """The directory of local volume ``pv_name`` on a node whose volume dir is ``volume_dir``."""
    base = volume_dir if volume_dir.startswith("/") and ".." not in volume_dir.split("/") else DEFAULT_VOLUME_DIR
    return posixpath.join(base, pv_name)
