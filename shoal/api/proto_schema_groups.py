"""Protobuf messages of the named API groups shoal serves, as field specs.

Transcribed from k8s.io/api ``apps/v1``, ``batch/v1``, ``coordination/v1``,
``policy/v1``, ``scheduling/v1``, ``authentication/v1`` and ``autoscaling/v1`` ``generated.proto``.
"""

from __future__ import annotations

_CONDITION = "type:1 status:2 lastTransitionTime:3:t reason:4 message:5"

APPS: dict[str, str] = {
    "Deployment": "metadata:1:ObjectMeta spec:2:DeploymentSpec status:3:DeploymentStatus",
    "DeploymentSpec": (
        "replicas:1:i! selector:2:LabelSelector template:3:PodTemplateSpec"
        " strategy:4:DeploymentStrategy minReadySeconds:5:i revisionHistoryLimit:6:i!"
        " paused:7:b progressDeadlineSeconds:9:i! podReplacementPolicy:10:s!"
    ),
    "DeploymentStatus": (
        "observedGeneration:1:i replicas:2:i updatedReplicas:3:i readyReplicas:7:i"
        " availableReplicas:4:i unavailableReplicas:5:i terminatingReplicas:9:i!"
        " conditions:6:*DeploymentCondition collisionCount:8:i!"
    ),
    "DeploymentCondition": (
        "type:1 status:2 lastUpdateTime:6:t lastTransitionTime:7:t reason:4 message:5"
    ),
    "DeploymentStrategy": "type:1 rollingUpdate:2:RollingUpdateDeployment",
    "RollingUpdateDeployment": "maxUnavailable:1:ios maxSurge:2:ios",
    "ReplicaSet": "metadata:1:ObjectMeta spec:2:ReplicaSetSpec status:3:ReplicaSetStatus",
    "ReplicaSetSpec": (
        "replicas:1:i! minReadySeconds:4:i selector:2:LabelSelector template:3:PodTemplateSpec"
    ),
    "ReplicaSetStatus": (
        "replicas:1:i! fullyLabeledReplicas:2:i readyReplicas:4:i availableReplicas:5:i"
        " terminatingReplicas:7:i! observedGeneration:3:i conditions:6:*ReplicaSetCondition"
    ),
    "ReplicaSetCondition": _CONDITION,
    "DaemonSet": "metadata:1:ObjectMeta spec:2:DaemonSetSpec status:3:DaemonSetStatus",
    "DaemonSetSpec": (
        "selector:1:LabelSelector template:2:PodTemplateSpec"
        " updateStrategy:3:DaemonSetUpdateStrategy minReadySeconds:4:i"
        " revisionHistoryLimit:6:i!"
    ),
    "DaemonSetStatus": (
        "currentNumberScheduled:1:i! numberMisscheduled:2:i! desiredNumberScheduled:3:i!"
        " numberReady:4:i! observedGeneration:5:i updatedNumberScheduled:6:i"
        " numberAvailable:7:i numberUnavailable:8:i collisionCount:9:i!"
        " conditions:10:*DaemonSetCondition"
    ),
    "DaemonSetCondition": _CONDITION,
    "DaemonSetUpdateStrategy": "type:1 rollingUpdate:2:RollingUpdateDaemonSet",
    "RollingUpdateDaemonSet": "maxUnavailable:1:ios maxSurge:2:ios",
    "StatefulSet": "metadata:1:ObjectMeta spec:2:StatefulSetSpec status:3:StatefulSetStatus",
    "StatefulSetSpec": (
        "replicas:1:i! selector:2:LabelSelector template:3:PodTemplateSpec"
        " volumeClaimTemplates:4:*PersistentVolumeClaim serviceName:5 podManagementPolicy:6"
        " updateStrategy:7:StatefulSetUpdateStrategy revisionHistoryLimit:8:i!"
        " minReadySeconds:9:i"
        " persistentVolumeClaimRetentionPolicy:10:StatefulSetPersistentVolumeClaimRetentionPolicy"
        " ordinals:11:StatefulSetOrdinals"
    ),
    "StatefulSetStatus": (
        "observedGeneration:1:i replicas:2:i! readyReplicas:3:i currentReplicas:4:i"
        " updatedReplicas:5:i currentRevision:6 updateRevision:7 collisionCount:9:i!"
        " conditions:10:*StatefulSetCondition availableReplicas:11:i!"
    ),
    "StatefulSetCondition": _CONDITION,
    "StatefulSetUpdateStrategy": "type:1 rollingUpdate:2:RollingUpdateStatefulSetStrategy",
    "RollingUpdateStatefulSetStrategy": "partition:1:i! maxUnavailable:2:ios",
    "StatefulSetPersistentVolumeClaimRetentionPolicy": "whenDeleted:1 whenScaled:2",
    "StatefulSetOrdinals": "start:1:i!",
    "ControllerRevision": "metadata:1:ObjectMeta data:2:raw revision:3:i!",
}

BATCH: dict[str, str] = {
    "Job": "metadata:1:ObjectMeta spec:2:JobSpec status:3:JobStatus",
    "JobSpec": (
        "parallelism:1:i! completions:2:i! activeDeadlineSeconds:3:i!"
        " podFailurePolicy:11:PodFailurePolicy successPolicy:16:SuccessPolicy"
        " backoffLimit:7:i! backoffLimitPerIndex:12:i! maxFailedIndexes:13:i!"
        " selector:4:LabelSelector manualSelector:5:b! template:6:PodTemplateSpec"
        " ttlSecondsAfterFinished:8:i! completionMode:9:s! suspend:10:b!"
        " podReplacementPolicy:14:s! managedBy:15:s!"
    ),
    "JobStatus": (
        "conditions:1:*JobCondition startTime:2:t completionTime:3:t active:4:i succeeded:5:i"
        " failed:6:i terminating:11:i! completedIndexes:7 failedIndexes:10:s!"
        " uncountedTerminatedPods:8:UncountedTerminatedPods ready:9:i!"
    ),
    "JobCondition": "type:1 status:2 lastProbeTime:3:t lastTransitionTime:4:t reason:5 message:6",
    "JobTemplateSpec": "metadata:1:ObjectMeta spec:2:JobSpec",
    "CronJob": "metadata:1:ObjectMeta spec:2:CronJobSpec status:3:CronJobStatus",
    "CronJobSpec": (
        "schedule:1 timeZone:8:s! startingDeadlineSeconds:2:i! concurrencyPolicy:3"
        " suspend:4:b! jobTemplate:5:JobTemplateSpec successfulJobsHistoryLimit:6:i!"
        " failedJobsHistoryLimit:7:i!"
    ),
    "CronJobStatus": "active:1:*ObjectReference lastScheduleTime:4:t lastSuccessfulTime:5:t",
    "PodFailurePolicy": "rules:1:*PodFailurePolicyRule",
    "PodFailurePolicyRule": (
        "action:1 onExitCodes:2:PodFailurePolicyOnExitCodesRequirement"
        " onPodConditions:3:*PodFailurePolicyOnPodConditionsPattern"
    ),
    "PodFailurePolicyOnExitCodesRequirement": "containerName:1:s! operator:2 values:3:*i",
    "PodFailurePolicyOnPodConditionsPattern": "type:1 status:2",
    "SuccessPolicy": "rules:1:*SuccessPolicyRule",
    "SuccessPolicyRule": "succeededIndexes:1:s! succeededCount:2:i!",
    "UncountedTerminatedPods": "succeeded:1:*s failed:2:*s",
}

OTHERS: dict[str, str] = {
    # coordination.k8s.io/v1
    "Lease": "metadata:1:ObjectMeta spec:2:LeaseSpec",
    "LeaseSpec": (
        "holderIdentity:1:s! leaseDurationSeconds:2:i! acquireTime:3:mt renewTime:4:mt"
        " leaseTransitions:5:i! strategy:6:s! preferredHolder:7:s!"
    ),
    # scheduling.k8s.io/v1 (value is a plain int32 on the wire: a zero is still a value)
    "PriorityClass": (
        "metadata:1:ObjectMeta value:2:i! globalDefault:3:b description:4 preemptionPolicy:5:s!"
    ),
    # policy/v1
    "Eviction": "metadata:1:ObjectMeta deleteOptions:2:DeleteOptions",
    "PodDisruptionBudget": (
        "metadata:1:ObjectMeta spec:2:PodDisruptionBudgetSpec status:3:PodDisruptionBudgetStatus"
    ),
    "PodDisruptionBudgetSpec": (
        "minAvailable:1:ios selector:2:LabelSelector maxUnavailable:3:ios"
        " unhealthyPodEvictionPolicy:4:s!"
    ),
    "PodDisruptionBudgetStatus": (
        "observedGeneration:1:i disruptedPods:2:%t disruptionsAllowed:3:i!"
        " currentHealthy:4:i! desiredHealthy:5:i! expectedPods:6:i! conditions:7:*Condition"
    ),
    # authentication.k8s.io/v1 (proto names aPIVersion/uID; the JSON names are these)
    "TokenRequest": "metadata:1:ObjectMeta spec:2:TokenRequestSpec status:3:TokenRequestStatus",
    "TokenRequestSpec": (
        "audiences:1:*s expirationSeconds:4:i! boundObjectRef:3:BoundObjectReference"
    ),
    "BoundObjectReference": "kind:1 apiVersion:2 name:3 uid:4",
    "TokenRequestStatus": "token:1:s! expirationTimestamp:2:t",
    "TokenReview": "metadata:1:ObjectMeta spec:2:TokenReviewSpec status:3:TokenReviewStatus",
    "TokenReviewSpec": "token:1 audiences:2:*s",
    "TokenReviewStatus": "authenticated:1:b user:2:UserInfo error:3 audiences:4:*s",
    "UserInfo": "username:1 uid:2 groups:3:*s extra:4:%sl",
    # autoscaling/v1
    "Scale": "metadata:1:ObjectMeta spec:2:ScaleSpec status:3:ScaleStatus",
    "ScaleSpec": "replicas:1:i!",
    "ScaleStatus": "replicas:1:i! selector:2",
}
