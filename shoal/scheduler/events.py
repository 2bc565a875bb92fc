"""Naming a change in the cluster as the ``ClusterEvent`` it is, for the scheduling queue.

The queue wakes an unschedulable pod only on an event that one of the plugins
that rejected it registered for (kube-scheduler's EventsToRegister), so the
worker must say precisely what changed: a node whose labels changed is a
``NODE_LABEL`` event, which wakes a pod that NodeAffinity turned away but not
one that only lacked cpu. A node's change is read from the scheduler's own
``NodeInfo`` before and after (the part of a Node the plugins read), so a
change to anything else (a heartbeat, a condition) is no event at all.
Pure: no I/O.
"""

from __future__ import annotations

from shoal.scheduler.framework import ClusterEvent
from shoal.scheduler.snapshot import NodeInfo


def node_events(old: NodeInfo | None, new: NodeInfo) -> ClusterEvent:
    """What changed from ``old`` (None: the node is new) to ``new``."""
    if old is None:
        return ClusterEvent.NODE_ADD
    events = ClusterEvent(0)
    if old.labels != new.labels:
        events |= ClusterEvent.NODE_LABEL
    if old.allocatable != new.allocatable:
        events |= ClusterEvent.NODE_ALLOCATABLE
    if old.taints != new.taints or old.unschedulable != new.unschedulable:
        events |= ClusterEvent.NODE_TAINT
    return events
