"""Kinds whose rules of their own are the field selectors they support (as upstream's), and Nodes' ranges.

Events and Secrets are otherwise generic, and Nodes but for the pod CIDRs they hold (reserved in the store
by ``shoal.apiserver.podcidrs``, the allocator here); ``kubectl get events
--field-selector involvedObject.name=web`` and the agents' ``spec.unschedulable``
watches need these.
"""

from __future__ import annotations

from shoal.api.registry import ResourceInfo
from shoal.apiserver.strategies.base import DefaultStrategy, KeyAllocator


class NodeStrategy(DefaultStrategy):
    field_labels = frozenset({"spec.unschedulable"})

    def __init__(self, info: ResourceInfo, pod_cidrs: KeyAllocator | None = None) -> None:
        super().__init__(info)
        self.allocator = pod_cidrs


class EventStrategy(DefaultStrategy):
    field_labels = frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"})


class SecretStrategy(DefaultStrategy):
    field_labels = frozenset({"type"})
