"""``kubectl explain`` text for StatefulSets and ControllerRevisions.

Merged into ``descriptions.KINDS`` and ``descriptions.FIELDS`` (kept apart only
for length); the same rules hold: keyed by the schema's short name and the
field's wire name, a sentence or two each, written for a user.
"""

from __future__ import annotations

KINDS: dict[str, str] = {
    "StatefulSet": "StatefulSet represents a set of pods with consistent identities: a stable name "
    "(<set>-<ordinal>), a stable DNS name through its headless Service, and stable storage (one claim per "
    "pod from each volumeClaimTemplate), kept across rescheduling.",
    "StatefulSetSpec": "A StatefulSetSpec is the specification of a StatefulSet.",
    "StatefulSetStatus": "StatefulSetStatus represents the current state of a StatefulSet.",
    "StatefulSetUpdateStrategy": "StatefulSetUpdateStrategy indicates the strategy that the StatefulSet "
    "controller will use to perform updates.",
    "RollingUpdateStatefulSetStrategy": "RollingUpdateStatefulSetStrategy is used to communicate parameters "
    "for RollingUpdateStatefulSetStrategyType.",
    "StatefulSetPersistentVolumeClaimRetentionPolicy": "StatefulSetPersistentVolumeClaimRetentionPolicy "
    "describes the policy used for PVCs created from the StatefulSet VolumeClaimTemplates.",
    "StatefulSetOrdinals": "StatefulSetOrdinals describes the policy used for replica ordinal assignment in "
    "this StatefulSet.",
    "StatefulSetCondition": "StatefulSetCondition describes the state of a statefulset at a certain point.",
    "ControllerRevision": "ControllerRevision implements an immutable snapshot of state data. StatefulSets "
    "keep their template history in them, which kubectl rollout history and undo read.",
}

FIELDS: dict[str, dict[str, str]] = {
    "StatefulSetSpec": {
        "replicas": "The desired number of replicas of the given Template. Defaults to 1.",
        "selector": "A label query over pods that should match the replica count. It must match the pod "
        "template's labels.",
        "template": "The object that describes the pod that will be created if insufficient replicas are "
        "detected. Each pod stamped out by the StatefulSet fulfils the Template, but has a unique identity "
        "from the rest of the StatefulSet.",
        "volumeClaimTemplates": "A list of claims that pods are allowed to reference. The StatefulSet "
        "controller makes one claim per pod from each template, named <template>-<set>-<ordinal>, before the "
        "pod, and mounts it as the volume of the template's name. Cannot be updated.",
        "serviceName": "The name of the headless Service that governs this StatefulSet: each pod gets the DNS "
        "name <pod>.<serviceName>.<namespace>.svc.cluster.local. The Service must exist before the set.",
        "podManagementPolicy": "How pods are created during initial scale up, replaced, or scaled down: "
        "OrderedReady (the default) creates pods in ordinal order, each after the previous one is Running and "
        "Ready, and removes them in reverse order; Parallel creates and deletes all at once.",
        "updateStrategy": "How the StatefulSet controller updates pods when the template changes: "
        "RollingUpdate (the default) or OnDelete.",
        "revisionHistoryLimit": "The maximum number of revisions kept in the StatefulSet's revision history. "
        "Defaults to 10.",
        "minReadySeconds": "Minimum number of seconds for which a newly created pod should be ready without "
        "any of its container crashing for it to be considered available. Defaults to 0.",
        "persistentVolumeClaimRetentionPolicy": "What happens to claims made from volumeClaimTemplates when "
        "the set is deleted or scaled down. Both default to Retain.",
        "ordinals": "The ordinal numbers of the replicas: start (default 0) is the first, so replicas are "
        "<set>-<start> .. <set>-<start+replicas-1>.",
    },
    "StatefulSetUpdateStrategy": {
        "type": "RollingUpdate (replace pods from the highest ordinal down, one at a time, each waiting for the "
        "last to be Ready) or OnDelete (pods are replaced only when deleted). Default is RollingUpdate.",
        "rollingUpdate": "Parameters of RollingUpdate.",
    },
    "RollingUpdateStatefulSetStrategy": {
        "partition": "Pods with an ordinal index at or above the partition are updated; those below keep the "
        "current revision, even when recreated. Defaults to 0.",
        "maxUnavailable": "The maximum number of pods that can be unavailable during the update: a number or "
        "a percentage of replicas (rounded down, at least 1). Defaults to 1.",
    },
    "StatefulSetPersistentVolumeClaimRetentionPolicy": {
        "whenDeleted": "What happens to claims when the StatefulSet is deleted: Retain (the default) keeps "
        "them; Delete deletes them (they are owned by the StatefulSet).",
        "whenScaled": "What happens to claims when the StatefulSet is scaled down: Retain (the default) keeps "
        "them; Delete deletes the claims of the removed replicas (they are owned by their pods).",
    },
    "StatefulSetOrdinals": {
        "start": "The number of the first replica's ordinal. Defaults to 0.",
    },
    "StatefulSetStatus": {
        "replicas": "The number of pods created by the StatefulSet controller.",
        "readyReplicas": "The number of pods created for this StatefulSet with a Ready condition.",
        "currentReplicas": "The number of pods created by the controller from the version indicated by "
        "currentRevision.",
        "updatedReplicas": "The number of pods created by the controller from the version indicated by "
        "updateRevision.",
        "availableReplicas": "Total number of available pods (ready for at least minReadySeconds).",
        "currentRevision": "The version of the StatefulSet used to generate pods in the sequence "
        "[0,currentReplicas).",
        "updateRevision": "The version of the StatefulSet used to generate pods in the sequence "
        "[replicas-updatedReplicas,replicas).",
        "collisionCount": "The count of hash collisions for the StatefulSet, used as a collision avoidance "
        "mechanism when it needs to create the name for the newest ControllerRevision.",
    },
    "ControllerRevision": {
        "data": "The serialized representation of the state: for a StatefulSet, the patch "
        "{\"spec\": {\"template\": ...}} that restores its template.",
        "revision": "Revision indicates the revision of the state represented by Data.",
    },
}
