"""NodeRestriction admission: a node writes only its own Node, its pods' status and its own Lease. Pure.

The Node authorizer decides by the request's path; what a write would change
is known only at admission, where this refuses (upstream's
``plugin/pkg/admission/noderestriction``, with its messages):

* pods: a node creates only mirror pods (``kubernetes.io/config.mirror``)
  bound to itself that use no Secrets, ConfigMaps, claims or service account;
  updates the status only of pods bound to itself, and not their labels; and
  deletes only pods bound to itself;
* nodes: a node creates and updates only its own Node; it may not set or
  change ``node-restriction.kubernetes.io/`` labels (which administrators set
  to place workloads on trusted nodes) nor, once registered, its taints;
* leases: a node creates only its own Lease (the authorizer cannot see a
  create's name).

``admit`` answers the reason a node's write is refused, or ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MIRROR = "kubernetes.io/config.mirror"
RESTRICTED_LABEL_PREFIX = "node-restriction.kubernetes.io/"
RESOURCES = frozenset({"pods", "nodes", "leases"})


def _md(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return (obj or {}).get("metadata") or {}


def _node_of(pod: Mapping[str, Any] | None) -> str:
    return str(((pod or {}).get("spec") or {}).get("nodeName") or "")


def _restricted(labels: Mapping[str, Any]) -> set[str]:
    return {k for k in labels if k.startswith(RESTRICTED_LABEL_PREFIX) or
            k.split("/", 1)[0].endswith("." + RESTRICTED_LABEL_PREFIX.rstrip("/"))}


def _pod_references(pod: Mapping[str, Any]) -> str | None:
    spec = pod.get("spec") or {}
    if spec.get("serviceAccountName"):
        return "service accounts"
    for vol in spec.get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        if vol.get("secret") is not None:
            return "secrets"
        if vol.get("configMap") is not None:
            return "configmaps"
        if vol.get("persistentVolumeClaim") is not None or vol.get("ephemeral") is not None:
            return "persistentvolumeclaims"
        if vol.get("projected") is not None:
            return "projected volumes"
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            for env in (c.get("env") or []) if isinstance(c, dict) else []:
                vf = env.get("valueFrom") if isinstance(env, dict) else None
                if isinstance(vf, dict) and vf.get("secretKeyRef") is not None:
                    return "secrets"
                if isinstance(vf, dict) and vf.get("configMapKeyRef") is not None:
                    return "configmaps"
            for ef in (c.get("envFrom") or []) if isinstance(c, dict) else []:
                if isinstance(ef, dict) and ef.get("secretRef") is not None:
                    return "secrets"
                if isinstance(ef, dict) and ef.get("configMapRef") is not None:
                    return "configmaps"
    return None


def _pods(node: str, op: str, sub: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> str | None:
    if op == "create" and not sub:
        assert new is not None
        if MIRROR not in (_md(new).get("annotations") or {}):
            return f'pod does not have "{MIRROR}" annotation, node "{node}" can only create mirror pods'
        if _node_of(new) != node:
            return f'node "{node}" can only create pods with spec.nodeName set to itself'
        used = _pod_references(new)
        if used is not None:
            return f'node "{node}" can not create pods that reference {used}'
        return None
    if op == "update" and sub == "status":
        if _node_of(old) != node:
            return f'node "{node}" can only update pod status for pods with spec.nodeName set to itself'
        if (_md(new).get("labels") or {}) != (_md(old).get("labels") or {}):
            return f'node "{node}" cannot update labels through pod status'
        return None
    if op == "delete":
        if _node_of(old) != node:
            return f'node "{node}" can only delete pods with spec.nodeName set to itself'
        return None
    if op == "update":
        return f'unexpected operation "UPDATE", node "{node}" can only create and delete mirror pods'
    return None


def _nodes(node: str, op: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> str | None:
    target = str(_md(new if new is not None else old).get("name") or "")
    if target != node:
        return f'node "{node}" is not allowed to modify node "{target}"'
    if op == "create":
        bad = _restricted(_md(new).get("labels") or {})
        if bad:
            return f'node "{node}" is not allowed to set the following labels: {", ".join(sorted(bad))}'
    elif op == "update":
        new_labels, old_labels = _md(new).get("labels") or {}, _md(old).get("labels") or {}
        bad = {k for k in _restricted(new_labels) | _restricted(old_labels) if new_labels.get(k) != old_labels.get(k)}
        if bad:
            return f'node "{node}" is not allowed to modify labels: {", ".join(sorted(bad))}'
        if ((new or {}).get("spec") or {}).get("taints") != ((old or {}).get("spec") or {}).get("taints"):
            return f'node "{node}" is not allowed to modify taints'
    elif op == "delete":
        return f'node "{node}" is not allowed to delete node "{target}"'
    return None


def admit(node: str, op: str, group: str, resource: str, subresource: str,
          new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> str | None:
    """Why node ``node``'s ``op`` (create | update | delete) of ``resource`` is refused (None: it is not).
    ``new``: the object to be written (create, update); ``old``: the stored one (update, delete)."""
    if group == "" and resource == "pods":
        return _pods(node, op, subresource, new, old)
    if group == "" and resource == "nodes":
        return _nodes(node, op, new, old)
    if group == "coordination.k8s.io" and resource == "leases" and op == "create" and \
            str(_md(new).get("name") or "") != node:
        return "can only access node lease with the same name as the requesting node"
    return None
