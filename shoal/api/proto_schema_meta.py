"""meta/v1 protobuf messages (ObjectMeta, selectors, DeleteOptions...) as field specs.

Transcribed from k8s.io/apimachinery ``pkg/apis/meta/v1/generated.proto``.
``Time``, ``MicroTime`` and ``FieldsV1`` are not listed: the decoder turns them
into their JSON forms (RFC 3339 strings, a JSON object) directly.
"""

from __future__ import annotations

MESSAGES: dict[str, str] = {
    "ObjectMeta": (
        "name:1 generateName:2 namespace:3 selfLink:4 uid:5 resourceVersion:6 generation:7:i"
        " creationTimestamp:8:t deletionTimestamp:9:t deletionGracePeriodSeconds:10:i!"
        " labels:11:%s annotations:12:%s ownerReferences:13:*OwnerReference finalizers:14:*s"
        " managedFields:17:*ManagedFieldsEntry"
    ),
    "OwnerReference": "apiVersion:5 kind:1 name:3 uid:4 controller:6:b! blockOwnerDeletion:7:b!",
    "ManagedFieldsEntry": (
        "manager:1 operation:2 apiVersion:3 time:4:t fieldsType:6 fieldsV1:7:f subresource:8"
    ),
    "ListMeta": "selfLink:1 resourceVersion:2 continue:3 remainingItemCount:4:i!",
    "LabelSelector": "matchLabels:1:%s matchExpressions:2:*LabelSelectorRequirement",
    "LabelSelectorRequirement": "key:1 operator:2 values:3:*s",
    "Condition": (
        "type:1 status:2 observedGeneration:3:i lastTransitionTime:4:t reason:5 message:6"
    ),
    "DeleteOptions": (
        "gracePeriodSeconds:1:i! preconditions:2:Preconditions orphanDependents:3:b!"
        " propagationPolicy:4:s! dryRun:5:*s"
        " ignoreStoreReadErrorWithClusterBreakingPotential:6:b!"
    ),
    "Preconditions": "uid:1:s! resourceVersion:2:s!",
    "Status": "metadata:1:ListMeta status:2 message:3 reason:4 details:5:StatusDetails code:6:i",
    "StatusDetails": "name:1 group:2 kind:3 uid:6 causes:4:*StatusCause retryAfterSeconds:5:i",
    "StatusCause": "reason:1 message:2 field:3",
}
