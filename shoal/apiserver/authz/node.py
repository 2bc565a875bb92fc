"""The Node authorizer: what a node's own credential may do (upstream's ``NodeAuthorizer``). Pure.

A user ``system:node:<name>`` in ``system:nodes`` is a node. For the objects a
node should see only when one of its pods uses them, the decision asks the
graph (``nodegraph``): Secrets, ConfigMaps, PersistentVolumeClaims (and their
status), PersistentVolumes, and TokenRequests of ServiceAccounts; a node's
Lease is its own only. Anything else a node may do is upstream's
``system:node`` role (the rules are passed in), no matter whom that role is
bound to. A request the authorizer does not allow gets no opinion, with the
reason upstream gives (``no relationship found between node 'a' and this
object``), and RBAC is asked next; the reason ends the 403's message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shoal.apiserver.authz.attributes import Attributes
from shoal.apiserver.authz.rules import Rule, any_allows

NODE_LEASE_NAMESPACE = "kube-node-lease"


class Graph(Protocol):
    def related(self, node: str, resource: str, namespace: str, name: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""  # why not (no opinion): appended to the 403 when RBAC does not allow either


ALLOW = Decision(True)


def _no(reason: str) -> Decision:
    return Decision(False, reason)


def _path(node: str, a: Attributes, graph: Graph) -> Decision:
    if not a.name:
        return _no("No Object name found")
    if graph.related(node, a.resource, a.namespace, a.name):
        return ALLOW
    return _no(f"no relationship found between node '{node}' and this object")


def _read_namespaced(node: str, a: Attributes, graph: Graph) -> Decision:
    if a.verb not in ("get", "list", "watch"):
        return _no("can only read resources of this type")
    if a.subresource:
        return _no("cannot read subresource")
    if not a.namespace:
        return _no("can only read namespaced object of this type")
    return _path(node, a, graph)


def _get(node: str, a: Attributes, graph: Graph) -> Decision:
    if a.verb != "get":
        return _no("can only get individual resources of this type")
    if a.subresource:
        return _no("cannot get subresource")
    return _path(node, a, graph)


def _status_update(node: str, a: Attributes, graph: Graph) -> Decision:
    if a.verb not in ("update", "patch"):
        return _no("can only get or update status of this type")  # upstream's words
    if a.subresource != "status":
        return _no("can only update status subresource")
    return _path(node, a, graph)


def _create_token(node: str, a: Attributes, graph: Graph) -> Decision:
    if a.verb != "create" or not a.name:
        return _no("can only create tokens for individual service accounts")
    if a.subresource != "token":
        return _no("can only create token subresource of serviceaccount")
    return _path(node, a, graph)


def _lease(node: str, a: Attributes) -> Decision:
    if a.verb not in ("get", "create", "update", "patch", "delete"):
        return _no("can only get, create, update, patch, or delete a node lease")
    if a.namespace != NODE_LEASE_NAMESPACE:
        return _no(f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace')
    # a create names its lease in the body: NodeRestriction checks it
    if a.verb != "create" and a.name != node:
        return _no("can only access node lease with the same name as the requesting node")
    return ALLOW


def decide(node: str, a: Attributes, graph: Graph, node_rules: Sequence[Rule]) -> Decision:
    """Whether node ``node`` may do ``a`` (upstream's ``NodeAuthorizer.Authorize``)."""
    if a.resource_request:
        core = a.group == ""
        if core and a.resource in ("secrets", "configmaps"):
            return _read_namespaced(node, a, graph)
        if core and a.resource == "persistentvolumeclaims":
            return _status_update(node, a, graph) if a.subresource == "status" else _get(node, a, graph)
        if core and a.resource == "persistentvolumes":
            return _get(node, a, graph)
        if core and a.resource == "serviceaccounts":
            return _create_token(node, a, graph)
        if a.group == "coordination.k8s.io" and a.resource == "leases":
            return _lease(node, a)
    # anything else is not restricted to a node's own objects here (NodeRestriction admission restricts writes)
    return ALLOW if any_allows(node_rules, a) else _no("")
