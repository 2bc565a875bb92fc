"""Cluster-level kinds: Node, Namespace, Lease and PriorityClass.

A node's STATUS comes from its Ready condition (``Ready``, ``NotReady``, or
``Unknown`` when the kubelet never reported), plus ``SchedulingDisabled`` when
cordoned; ROLES from ``node-role.kubernetes.io/<role>`` labels and the older
``kubernetes.io/role=<role>``.
"""

from __future__ import annotations

from datetime import datetime

from shoal.api import views
from shoal.apiserver.tables.fields import (
    NONE,
    UNKNOWN,
    Obj,
    age_of,
    as_dict,
    as_int,
    as_list,
    as_str,
    dig,
)
from shoal.apiserver.tables.model import Cell, Column, Printer, age_column, name_column

ROLE_PREFIX = "node-role.kubernetes.io/"
ROLE_LABEL = "kubernetes.io/role"

NODE_COLUMNS = (
    name_column(),
    Column("Status", description="The status of the node"),
    Column("Roles", description="The roles of the node"),
    age_column(),
    Column("Version", description="Kubelet Version reported by the node."),
    Column("Internal-IP", priority=1, description="List of addresses reachable to the node."),
    Column("External-IP", priority=1, description="List of addresses reachable to the node."),
    Column(
        "OS-Image",
        priority=1,
        description="OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    Column(
        "Kernel-Version",
        priority=1,
        description="Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    Column(
        "Container-Runtime",
        priority=1,
        description="ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
)


def node_status(node: Obj) -> str:
    parts: list[str] = []
    # The last Ready condition wins, as upstream's condition map keeps the last one.
    ready: str | None = None
    for raw in as_list(dig(node, "status", "conditions")):
        cond = as_dict(raw)
        if cond.get("type") == "Ready":
            ready = "Ready" if cond.get("status") == "True" else "NotReady"
    parts.append(ready or "Unknown")
    if dig(node, "spec", "unschedulable") is True:
        parts.append("SchedulingDisabled")
    return ",".join(parts)


def node_roles(node: Obj) -> str:
    roles: set[str] = set()
    for key, value in as_dict(dig(node, "metadata", "labels")).items():
        if key.startswith(ROLE_PREFIX) and key[len(ROLE_PREFIX) :]:
            roles.add(key[len(ROLE_PREFIX) :])
        elif key == ROLE_LABEL and as_str(value):
            roles.add(as_str(value))
    return ",".join(sorted(roles)) or NONE


def _address(node: Obj, kind: str) -> str:
    for raw in as_list(dig(node, "status", "addresses")):
        addr = as_dict(raw)
        if addr.get("type") == kind:
            return as_str(addr.get("address"))
    return NONE


def node_row(node: Obj, now: datetime) -> list[Cell]:
    info = as_dict(dig(node, "status", "nodeInfo"))
    return [
        views.name(node),
        node_status(node),
        node_roles(node),
        age_of(node, now),
        as_str(info.get("kubeletVersion")),
        _address(node, "InternalIP"),
        _address(node, "ExternalIP"),
        as_str(info.get("osImage")) or UNKNOWN,
        as_str(info.get("kernelVersion")) or UNKNOWN,
        as_str(info.get("containerRuntimeVersion")) or UNKNOWN,
    ]


NAMESPACE_COLUMNS = (
    name_column(),
    Column("Status", description="The status of the namespace"),
    age_column(),
)


def namespace_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), as_str(dig(obj, "status", "phase")), age_of(obj, now)]


LEASE_COLUMNS = (
    name_column(),
    Column(
        "Holder",
        description="holderIdentity contains the identity of the holder of a current lease.",
    ),
    age_column(),
)


def lease_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), as_str(dig(obj, "spec", "holderIdentity")), age_of(obj, now)]


PRIORITY_CLASS_COLUMNS = (
    name_column(),
    Column("Value", type="integer",
           description="value represents the integer value of this priority class. This is the actual priority "
                       "that pods receive when they have the name of this class in their pod spec."),
    Column("Global-Default", type="boolean",
           description="globalDefault specifies whether this PriorityClass should be considered as the default "
                       "priority for pods that do not have any priority class."),
    age_column(),
    Column("PreemptionPolicy",
           description="preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, "
                       "PreemptLowerPriority. Defaults to PreemptLowerPriority if unset."),
)


def priority_class_row(obj: Obj, now: datetime) -> list[Cell]:
    return [views.name(obj), as_int(obj.get("value")), obj.get("globalDefault") is True, age_of(obj, now),
            as_str(obj.get("preemptionPolicy"))]


PRINTERS = {
    "Node": Printer(NODE_COLUMNS, node_row),
    "Namespace": Printer(NAMESPACE_COLUMNS, namespace_row),
    "Lease": Printer(LEASE_COLUMNS, lease_row),
    "PriorityClass": Printer(PRIORITY_CLASS_COLUMNS, priority_class_row),
}
