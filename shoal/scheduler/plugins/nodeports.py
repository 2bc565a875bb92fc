"""NodePorts: two pods cannot hold the same host port (protocol, IP) on one node.

``0.0.0.0`` (the default host IP) conflicts with every address, as upstream.
The cluster state keeps, per (protocol, port), which nodes use it and on which
IPs, so the check touches only the nodes that hold the port.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shoal.scheduler.framework import ClusterEvent, CycleState, FilterResult, Reason
from shoal.scheduler.podinfo import PodInfo
from shoal.scheduler.snapshot import ClusterState

REASON = "node(s) didn't have free ports for the requested pod ports"
ANY = "0.0.0.0"


class NodePorts:
    name = "NodePorts"
    # a node added, or a pod gone with its host port
    events_to_register = ClusterEvent.NODE_ADD | ClusterEvent.POD_DELETE

    def __init__(self, args: dict[str, Any] | None = None) -> None:
        pass

    def filter(self, state: CycleState, pod: PodInfo, cluster: ClusterState) -> FilterResult | None:
        if not pod.host_ports:
            return None
        failed = np.zeros(cluster.n, dtype=np.bool_)
        for proto, ip, port in pod.host_ports:
            for i, ips in (cluster.ports.get((proto, port)) or {}).items():
                if ips and (ip == ANY or ANY in ips or ip in ips):
                    failed[i] = True
        return FilterResult.from_reasons(cluster.n, [Reason(REASON, failed)])
