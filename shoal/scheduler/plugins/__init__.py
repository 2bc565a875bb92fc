"""The in-tree plugins, by their upstream names; one module per plugin.

``REGISTRY`` maps a plugin name to its factory (called with the plugin's
``args`` from the scheduler configuration). ``DEFAULT_PLUGINS`` is the default
profile: the filters in upstream's order and the score weights of upstream's
defaults.
"""

from __future__ import annotations

from shoal.scheduler.framework import PluginFactory
from shoal.scheduler.plugins.defaultbinder import DefaultBinder
from shoal.scheduler.plugins.defaultpreemption import DefaultPreemption
from shoal.scheduler.plugins.interpodaffinity import InterPodAffinity
from shoal.scheduler.plugins.nodeaffinity import NodeAffinity
from shoal.scheduler.plugins.nodename import NodeName
from shoal.scheduler.plugins.nodeports import NodePorts
from shoal.scheduler.plugins.noderesources import NodeResourcesBalancedAllocation, NodeResourcesFit
from shoal.scheduler.plugins.nodeunschedulable import NodeUnschedulable
from shoal.scheduler.plugins.podtopologyspread import PodTopologySpread
from shoal.scheduler.plugins.tainttoleration import TaintToleration
from shoal.scheduler.plugins.volumebinding import VolumeBinding

REGISTRY: dict[str, PluginFactory] = {
    cls.name: cls
    for cls in (NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit,
                NodeResourcesBalancedAllocation, VolumeBinding, PodTopologySpread, InterPodAffinity,
                DefaultPreemption, DefaultBinder)
}

# (name, score weight) in filter order; weight 0: the plugin does not score
DEFAULT_PLUGINS: tuple[tuple[str, int], ...] = (
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("VolumeBinding", 0),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("NodeResourcesBalancedAllocation", 1),
    ("DefaultPreemption", 0),
    ("DefaultBinder", 0),
)

__all__ = ["DEFAULT_PLUGINS", "REGISTRY"]
