"""scheduling.k8s.io/v1 PriorityClass: a name for a pod priority, and whether it may preempt.

A pod names its class in ``spec.priorityClassName``; the API server's priority
admission (``shoal.apiserver.priority``) writes the class's ``value`` into
``spec.priority`` and its ``preemptionPolicy`` into the pod, which is what the
scheduler's queue and preemption read. The fields sit at the top level, beside
``metadata``, as upstream (the kind has no spec).
"""

from __future__ import annotations

from shoal.api.base import Model
from shoal.api.meta import ObjectMeta


class PriorityClass(Model):
    api_version: str | None = None
    kind: str | None = None
    metadata: ObjectMeta | None = None
    value: int | None = None  # defaulted to 0, always written (upstream has no omitempty)
    global_default: bool | None = None
    description: str | None = None
    preemption_policy: str | None = None  # PreemptLowerPriority (default) or Never
