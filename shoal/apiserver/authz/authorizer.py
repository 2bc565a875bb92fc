"""The authorizer the API server asks: the privileged group, then the Node authorizer, then RBAC.

As upstream's ``--authorization-mode=Node,RBAC`` behind the ``system:masters``
short cut: a node's request is decided by the Node authorizer (``node``, over
the ``nodegraph``) and, where it has no opinion, by RBAC; everyone else's by
RBAC over the index. ``decide`` answers a request's attributes with the reason
a refusal gives; ``allowed`` only whether; ``check`` raises upstream's 403.
``may`` is the question admission asks (may this user ``bind`` that role,
``escalate`` roles here, ``impersonate`` that user), built as attributes of a
request that is not being made.
"""

from __future__ import annotations

import logging

from shoal.apiserver.authn.components import node_name
from shoal.apiserver.authn.user import User
from shoal.apiserver.authz import defaults
from shoal.apiserver.authz import node as node_authz
from shoal.apiserver.authz.attributes import Attributes
from shoal.apiserver.authz.index import RbacIndex
from shoal.apiserver.authz.rbac import decide, denied, is_master
from shoal.apiserver.authz.rules import compile_rules

log = logging.getLogger(__name__)

# what the Node authorizer lets a node do beyond its graph: upstream's compiled-in system:node rules
NODE_RULES = compile_rules(defaults.role_rules("system:node"))


class Authorizer:
    def __init__(self, index: RbacIndex, graph: node_authz.Graph | None = None) -> None:
        self.index = index
        self.graph = graph

    def decide(self, a: Attributes) -> tuple[bool, str]:
        """Whether ``a`` is allowed, and if not, the reason the Node authorizer gave ("" for none)."""
        if is_master(a.user):
            return True, ""
        reason = ""
        if self.graph is not None:
            node = node_name(a.user)
            if node is not None:
                d = node_authz.decide(node, a, self.graph, NODE_RULES)
                if d.allowed:
                    return True, ""
                reason = d.reason
        return decide(a, self.index.rules_for(a.user, a.namespace)), reason

    def allowed(self, a: Attributes) -> bool:
        return self.decide(a)[0]

    def check(self, a: Attributes) -> None:
        ok, reason = self.decide(a)
        if not ok:
            err = denied(a, reason)
            log.debug("RBAC: %s", err.message)
            raise err

    def may(self, user: User, verb: str, *, group: str, resource: str, namespace: str = "", name: str = "",
            subresource: str = "") -> bool:
        return self.allowed(Attributes(user, verb, True, group=group, resource=resource, subresource=subresource,
                                       namespace=namespace, name=name))
