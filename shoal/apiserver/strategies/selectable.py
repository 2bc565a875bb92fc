"""Kinds whose only rule of their own is the field selectors they support (as upstream's).

Nodes, Events and Secrets are otherwise generic; ``kubectl get events
--field-selector involvedObject.name=web`` and the agents' ``spec.unschedulable``
watches need these.
"""

from __future__ import annotations

from shoal.apiserver.strategies.base import DefaultStrategy


class NodeStrategy(DefaultStrategy):
    field_labels = frozenset({"spec.unschedulable"})


class EventStrategy(DefaultStrategy):
    field_labels = frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                              "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                              "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"})


class SecretStrategy(DefaultStrategy):
    field_labels = frozenset({"type"})
