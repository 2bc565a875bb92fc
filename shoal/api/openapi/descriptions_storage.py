"""``kubectl explain`` text for the storage kinds: PersistentVolume, PersistentVolumeClaim, StorageClass.

Merged into ``descriptions.KINDS`` and ``descriptions.FIELDS`` (kept apart only
for length); the same rules hold: keyed by the schema's short name and the
field's wire name, a sentence or two each, written for a user.
"""

from __future__ import annotations

_CLASS = ("The name of the StorageClass this {what} belongs to. A claim without one gets the cluster's default "
          "class (shoal's is \"local\"); an empty string asks for a volume of no class.")
_VAC = "The name of the VolumeAttributesClass (mutable attributes such as IOPS) of this {what}."

KINDS: dict[str, str] = {
    "PersistentVolume": "PersistentVolume (PV) is a storage resource provisioned by an administrator or a "
    "provisioner. It is analogous to a node.",
    "PersistentVolumeClaim": "PersistentVolumeClaim is a user's request for and claim to a persistent volume.",
    "PersistentVolumeSpec": "PersistentVolumeSpec is the specification of a persistent volume.",
    "PersistentVolumeStatus": "PersistentVolumeStatus is the current status of a persistent volume.",
    "PersistentVolumeClaimSpec": "PersistentVolumeClaimSpec describes the common attributes of storage devices and "
    "allows a Source for provider-specific attributes.",
    "PersistentVolumeClaimStatus": "PersistentVolumeClaimStatus is the current status of a persistent volume claim.",
    "StorageClass": "StorageClass describes the parameters for a class of storage for which PersistentVolumes can "
    "be dynamically provisioned. StorageClasses are non-namespaced.",
    "LocalVolumeSource": "Local represents directly-attached storage with node affinity.",
    "VolumeNodeAffinity": "VolumeNodeAffinity defines constraints that limit what nodes this volume can be "
    "accessed from.",
    "VolumeResourceRequirements": "VolumeResourceRequirements describes the storage resource requirements for a "
    "volume.",
}

FIELDS: dict[str, dict[str, str]] = {
    "PersistentVolumeSpec": {
        "capacity": "The volume's size: a map with one key, storage (for example storage: 10Gi).",
        "accessModes": "How the volume can be mounted: ReadWriteOnce (read-write by one node), ReadOnlyMany, "
        "ReadWriteMany, ReadWriteOncePod (read-write by one pod).",
        "claimRef": "The claim this volume is bound to (namespace, name and uid). Set by the PV controller when "
        "it binds; set by hand (without a uid) to reserve the volume for one claim.",
        "persistentVolumeReclaimPolicy": "What happens when the bound claim is deleted: Retain (the default for "
        "volumes made by hand: the volume is kept, Released), Delete (the volume and its data are removed; the "
        "default of provisioned volumes) or Recycle (deprecated).",
        "storageClassName": _CLASS.format(what="volume"),
        "mountOptions": "Mount options for the volume's filesystem, passed to mount as they are.",
        "volumeMode": "Filesystem (the default: the volume is mounted as a directory) or Block (a raw device).",
        "nodeAffinity": "The nodes the volume can be used from. A local volume lives on one node and names it here; "
        "pods using the volume are scheduled there.",
        "volumeAttributesClassName": _VAC.format(what="volume"),
        "hostPath": "A directory on the host, for single-node testing only.",
        "local": "Directly attached storage on one node (shoal.io/local volumes are directories under the node's "
        "volume directory).",
        "nfs": "An NFS export mounted on the host.",
        "csi": "A volume handled by an external CSI driver (not served by shoal's agent).",
    },
    "PersistentVolumeStatus": {
        "phase": "Pending (not yet seen by the controller), Available (free), Bound (to a claim), Released (its "
        "claim was deleted; not yet reclaimed) or Failed (automatic reclamation failed).",
        "message": "A human-readable message saying why the volume is in this state.",
        "reason": "A brief CamelCase reason for a failure, shown by kubectl get pv.",
        "lastPhaseTransitionTime": "When the volume last moved from one phase to another.",
    },
    "PersistentVolumeClaimSpec": {
        "accessModes": "The access modes the volume must offer (at least one): ReadWriteOnce, ReadOnlyMany, "
        "ReadWriteMany, ReadWriteOncePod.",
        "selector": "A label query over volumes to consider for binding; only volumes whose labels match are "
        "candidates.",
        "resources": "The minimum resources the volume must have: requests.storage is the size asked for. A bound "
        "claim may raise it if its class allows volume expansion; it never shrinks.",
        "volumeName": "The binding reference to the PersistentVolume backing this claim. Set it to ask for one "
        "volume by name; the PV controller sets it when it binds.",
        "storageClassName": _CLASS.format(what="claim"),
        "volumeMode": "Filesystem (the default) or Block: the volume must have the same mode.",
        "dataSource": "An existing object (a snapshot or a claim) to fill the new volume from.",
        "dataSourceRef": "Like dataSource, for objects of any API group and namespace.",
        "volumeAttributesClassName": _VAC.format(what="claim"),
    },
    "PersistentVolumeClaimStatus": {
        "phase": "Pending (not yet bound), Bound (to the volume in spec.volumeName) or Lost (its volume is gone).",
        "accessModes": "The access modes of the volume backing the claim.",
        "capacity": "The actual size of the volume backing the claim.",
        "conditions": "The claim's conditions; FileSystemResizePending says a resize waits for the node to grow "
        "the filesystem.",
        "allocatedResources": "The size the system has allocated for the claim, which may exceed capacity while "
        "an expansion is in progress.",
        "allocatedResourceStatuses": "The state of each resource's resize, e.g. storage: NodeResizePending.",
        "currentVolumeAttributesClassName": "The VolumeAttributesClass the volume currently has.",
        "modifyVolumeStatus": "The state of a change of VolumeAttributesClass in progress.",
    },
    "VolumeResourceRequirements": {
        "requests": "The minimum resources required, e.g. storage: 1Gi.",
        "limits": "The maximum resources allowed.",
    },
    "LocalVolumeSource": {
        "path": "The full path to the volume on the node: a directory or a block device.",
        "fsType": "The filesystem type to mount, for a block device only.",
    },
    "VolumeNodeAffinity": {
        "required": "The node selector terms a node must match to use the volume.",
    },
    "StorageClass": {
        "provisioner": "Who provisions volumes of this class: shoal.io/local (a directory of the claimed size on "
        "the node the pod is scheduled to) or kubernetes.io/no-provisioner (static volumes only).",
        "parameters": "Provisioner-specific parameters. Cannot be updated.",
        "reclaimPolicy": "The reclaim policy of the volumes this class provisions: Delete (the default) or Retain. "
        "Cannot be updated.",
        "mountOptions": "Mount options of the volumes this class provisions.",
        "allowVolumeExpansion": "Whether claims of this class may grow after they are bound.",
        "volumeBindingMode": "When claims are bound and provisioned: Immediate (the default) or WaitForFirstConsumer "
        "(once a pod using the claim is scheduled, on that pod's node: what node-local storage needs).",
        "allowedTopologies": "The topologies (e.g. nodes or zones) volumes of this class may be provisioned in.",
    },
}
