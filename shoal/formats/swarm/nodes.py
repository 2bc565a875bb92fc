"""Nodes as Swarm nodes, and ``docker node update`` as a change to a Node.

Role: a node labelled ``node-role.kubernetes.io/control-plane`` is a manager
(k3s and kubeadm label their servers so; the Swarm API labels the node of the
``shoal server`` it runs in), every other node a worker. Availability:

============  ===================================================
``active``    schedulable, no drain taint
``pause``     ``spec.unschedulable`` (a cordon: tasks stay, no new ones)
``drain``     cordoned and tainted ``swarm.shoal.io/drain:NoExecute``:
              the node lifecycle controller evicts its pods (global
              services' too, as Swarm's drain stops them) and their
              controllers start them elsewhere
============  ===================================================

so ``kubectl cordon`` reads as ``pause`` and ``kubectl uncordon`` of a
drained node as ``pause`` until the taint goes. ``Spec.Labels`` are the
node's labels, so ``node.labels.<k>`` constraints see what ``kubectl label``
sets and ``docker node update --label-add`` sets what the scheduler sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoal.api import views
from shoal.api.quantity import parse_quantity
from shoal.api.validation_base import label_value, qualified_name
from shoal.formats.swarm.names import swarm_id
from shoal.formats.swarm.placement import MANAGER_LABEL
from shoal.formats.swarm.wire import SpecError, str_map

DRAIN_TAINT = "swarm.shoal.io/drain"
_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "arm": "armv7l"}
_ROLE_LABELS = (MANAGER_LABEL, "node-role.kubernetes.io/master")


def role(node: Mapping[str, Any]) -> str:
    return "manager" if any(k in views.labels(node) for k in _ROLE_LABELS) else "worker"


def availability(node: Mapping[str, Any]) -> str:
    if any(t.get("key") == DRAIN_TAINT for t in views.taints(node)):
        return "drain"
    return "pause" if views.is_unschedulable(node) else "active"


def _state(node: Mapping[str, Any]) -> str:
    ready = views.condition(node, "Ready")
    if ready is None:
        return "unknown"
    return "ready" if ready.get("status") == "True" else "down"


def node(n: Mapping[str, Any], *, leader: str = "") -> dict[str, Any]:
    """The Swarm view of a Node (``leader``: the name of the node this API runs beside)."""
    md = views.meta(n)
    labels = views.labels(n)
    cap = views.status(n).get("capacity") or {}
    try:
        nano = int(parse_quantity(cap.get("cpu", 0)) * 1_000_000_000)
        mem = int(parse_quantity(cap.get("memory", 0)))
    except ValueError:
        nano = mem = 0
    addr = views.node_address(n)
    out: dict[str, Any] = {
        "ID": swarm_id(str(md.get("uid") or "")),
        "Version": {"Index": int(md.get("resourceVersion") or 0)},
        "CreatedAt": md.get("creationTimestamp") or "", "UpdatedAt": md.get("creationTimestamp") or "",
        "Spec": {"Labels": dict(labels), "Role": role(n), "Availability": availability(n)},
        "Description": {"Hostname": views.name(n),
                        "Platform": {"Architecture": _ARCH.get(labels.get("kubernetes.io/arch", "amd64"), "x86_64"),
                                     "OS": labels.get("kubernetes.io/os", "linux")},
                        "Resources": {"NanoCPUs": nano, "MemoryBytes": mem},
                        "Engine": {"EngineVersion": "shoal"}, "TLSInfo": {}},
        "Status": {"State": _state(n), "Addr": addr},
    }
    if role(n) == "manager":
        out["ManagerStatus"] = {"Leader": views.name(n) == leader, "Reachability": "reachable",
                                "Addr": f"{addr}:2377"}
    return out


def update(n: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The Node after ``docker node update`` sent ``spec`` (a canonical NodeSpec): labels, role, availability."""
    avail = str(spec.get("Availability") or availability(n))
    if avail not in ("active", "pause", "drain"):
        raise SpecError(f"invalid availability {avail!r}: active, pause or drain")
    new_role = str(spec.get("Role") or role(n))
    if new_role not in ("manager", "worker"):
        raise SpecError(f"invalid role {new_role!r}: manager or worker")
    labels = str_map(spec.get("Labels"), "Labels") if "Labels" in spec else dict(views.labels(n))
    for k, v in labels.items():
        if qualified_name(k) or label_value(v):
            raise SpecError(f"invalid node label {k}={v}: {'; '.join(qualified_name(k) + label_value(v))}")
    if new_role == "manager":
        labels.setdefault(MANAGER_LABEL, "true")
    else:
        for k in _ROLE_LABELS:
            labels.pop(k, None)
    md = {**views.meta(n), "labels": labels}
    sp = dict(views.spec(n))
    taints = [t for t in views.taints(n) if t.get("key") != DRAIN_TAINT]
    if avail == "drain":
        taints.append({"key": DRAIN_TAINT, "value": "true", "effect": "NoExecute"})
    if taints:
        sp["taints"] = taints
    else:
        sp.pop("taints", None)
    if avail == "active":
        sp.pop("unschedulable", None)
    else:
        sp["unschedulable"] = True
    return {**n, "metadata": md, "spec": sp}
