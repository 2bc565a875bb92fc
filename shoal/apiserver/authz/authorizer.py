"""The authorizer the API server asks: RBAC over the index, with the privileged group first.

``allowed`` decides one request's attributes; ``check`` raises upstream's
403. ``may`` is the question admission asks (may this user ``bind`` that
role, ``escalate`` roles here, ``impersonate`` that user), built as
attributes of a request that is not being made.
"""

from __future__ import annotations

import logging

from shoal.apiserver.authn.user import User
from shoal.apiserver.authz.attributes import Attributes
from shoal.apiserver.authz.index import RbacIndex
from shoal.apiserver.authz.rbac import decide, denied, is_master

log = logging.getLogger(__name__)


class Authorizer:
    def __init__(self, index: RbacIndex) -> None:
        self.index = index

    def allowed(self, a: Attributes) -> bool:
        if is_master(a.user):
            return True
        return decide(a, self.index.rules_for(a.user, a.namespace))

    def check(self, a: Attributes) -> None:
        if not self.allowed(a):
            err = denied(a)
            log.debug("RBAC: %s", err.message)
            raise err

    def may(self, user: User, verb: str, *, group: str, resource: str, namespace: str = "", name: str = "",
            subresource: str = "") -> bool:
        return self.allowed(Attributes(user, verb, True, group=group, resource=resource, subresource=subresource,
                                       namespace=namespace, name=name))
