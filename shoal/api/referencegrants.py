"""Gateway API ReferenceGrant: may an object in one namespace refer to one in another? Pure.

A reference across namespaces (an HTTPRoute's ``backendRef`` to a Service, a
Gateway listener's ``certificateRef`` to a Secret) is a hole in the namespace
boundary unless the owner of the target's namespace opens it: upstream's rule
is that a ReferenceGrant *in the target's namespace* lists the referrer in
``spec.from`` (group, kind and namespace, all three required) and the target
in ``spec.to`` (group and kind; ``name`` optional, none meaning every object of
that kind there). A reference within one namespace needs no grant. The core
group is ``""`` on both sides (``"core"`` is accepted too, as kubectl users
write it). Here for every component that decides it - the ingress proxy (which
backends and certificates it uses) and the Node authorizer (which Secrets
every node may read for that proxy) - so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shoal.api import views as v

Body = Mapping[str, Any]
GATEWAY_GROUP = "gateway.networking.k8s.io"


def _group(g: object) -> str:
    s = str(g or "")
    return "" if s == "core" else s


def permitted(grants: Iterable[Body], *, from_group: str, from_kind: str, from_namespace: str,
              to_group: str, to_kind: str, to_namespace: str, to_name: str) -> bool:
    """Whether a ``from_kind`` in ``from_namespace`` may refer to ``to_namespace/to_name`` (a ``to_kind``)."""
    if from_namespace == to_namespace:
        return True
    for g in grants:
        if v.namespace(g) != to_namespace or v.is_terminating(g):
            continue
        spec = v.spec(g)
        froms = [f for f in v.as_list(spec.get("from")) if isinstance(f, dict)]
        tos = [t for t in v.as_list(spec.get("to")) if isinstance(t, dict)]
        if not any(_group(f.get("group")) == _group(from_group) and f.get("kind") == from_kind
                   and f.get("namespace") == from_namespace for f in froms):
            continue
        if any(_group(t.get("group")) == _group(to_group) and t.get("kind") == to_kind
               and (not t.get("name") or t.get("name") == to_name) for t in tos):
            return True
    return False


def route_may_use_service(grants: Iterable[Body], route_namespace: str, service_namespace: str,
                          service: str) -> bool:
    """An HTTPRoute's backendRef to a Service."""
    return permitted(grants, from_group=GATEWAY_GROUP, from_kind="HTTPRoute", from_namespace=route_namespace,
                     to_group="", to_kind="Service", to_namespace=service_namespace, to_name=service)


def gateway_may_use_secret(grants: Iterable[Body], gateway_namespace: str, secret_namespace: str,
                           secret: str) -> bool:
    """A Gateway listener's certificateRef to a Secret."""
    return permitted(grants, from_group=GATEWAY_GROUP, from_kind="Gateway", from_namespace=gateway_namespace,
                     to_group="", to_kind="Secret", to_namespace=secret_namespace, to_name=secret)
