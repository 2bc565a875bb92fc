"""Which Secrets shoal's ingress serves as certificates: one rule for the proxy and for the Node authorizer. Pure.

Every node runs the ingress proxy (``shoal.ingress.node``), so every node
needs the TLS Secrets of the Ingresses and Gateways that proxy serves, and no
other: the Node authorizer (``shoal.apiserver.authz.nodegraph``) lets a node
read exactly the Secrets named here, and an agent's proxy watches exactly
these by name (it may not list Secrets). Both ask the same functions, so what
a node may read and what its proxy asks for cannot drift apart.

An Ingress is shoal's when its class (``spec.ingressClassName``, or the old
``kubernetes.io/ingress.class`` annotation) is an IngressClass with controller
``shoal.io/ingress``, or it has no class and the default IngressClass is
shoal's or there is no default at all. Its Secrets: ``spec.tls[].secretName``,
in its namespace. A Gateway is shoal's when its GatewayClass's
``controllerName`` is ``shoal.io/gateway-controller``; its Secrets: the
``certificateRefs`` of kind Secret (core group) of its HTTPS listeners: in its
own namespace, or in another one whose ReferenceGrant lets Gateways of the
Gateway's namespace refer to that Secret (``shoal.api.referencegrants``; a
reference no grant permits is refused by the proxy and grants nothing). An
object being deleted serves nothing and grants nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shoal.api import views as v
from shoal.api.referencegrants import gateway_may_use_secret

Body = Mapping[str, Any]
SecretRef = tuple[str, str]  # (namespace, name)

INGRESS_CONTROLLER = "shoal.io/ingress"
GATEWAY_CONTROLLER = "shoal.io/gateway-controller"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def ingress_class_of(ing: Body) -> str:
    """The class an Ingress names ("" for none)."""
    return str(v.spec(ing).get("ingressClassName") or v.annotations(ing).get(LEGACY_CLASS_ANNOTATION) or "")


def ingress_class_is_ours(cls: str, classes: Iterable[Body]) -> bool:
    """Whether shoal's proxy serves the Ingresses of class ``cls`` ("": those naming none)."""
    by_name = {v.name(c): c for c in classes}
    if cls:
        c = by_name.get(cls)
        return c is not None and v.spec(c).get("controller") == INGRESS_CONTROLLER
    defaults = [c for c in by_name.values() if v.annotations(c).get(DEFAULT_CLASS_ANNOTATION) == "true"]
    return not defaults or any(v.spec(c).get("controller") == INGRESS_CONTROLLER for c in defaults)


def ingress_is_ours(ing: Body, classes: Iterable[Body]) -> bool:
    """Whether shoal's proxy serves this Ingress (whatever its state)."""
    return ingress_class_is_ours(ingress_class_of(ing), classes)


def gateway_class_is_ours(gc: Body) -> bool:
    return v.spec(gc).get("controllerName") == GATEWAY_CONTROLLER


def ingress_secret_names(ing: Body) -> frozenset[str]:
    """The Secrets (of the Ingress's namespace) its TLS entries name; none while it is being deleted."""
    if v.is_terminating(ing):
        return frozenset()
    return frozenset(str(t["secretName"]) for t in v.as_list(v.spec(ing).get("tls"))
                     if isinstance(t, dict) and t.get("secretName"))


def listener_secret_refs(gw: Body, listener: Mapping[str, Any], grants: Iterable[Body] = ()
                         ) -> list[tuple[SecretRef, bool]]:
    """A listener's Secret ``certificateRefs`` as ((namespace, name), allowed): a reference to another
    namespace is allowed when one of ``grants`` (ReferenceGrants) permits it. Other kinds are not Secrets and
    are left out."""
    if listener.get("protocol") != "HTTPS":
        return []
    ns = v.namespace(gw)
    grants = list(grants)
    out = []
    for ref in v.as_list((listener.get("tls") or {}).get("certificateRefs")):
        if not isinstance(ref, dict) or ref.get("kind", "Secret") != "Secret" or (ref.get("group") or "") != "":
            continue
        sns, name = str(ref.get("namespace") or ns), str(ref.get("name") or "")
        out.append(((sns, name), gateway_may_use_secret(grants, ns, sns, name)))
    return out


def gateway_secret_refs(gw: Body) -> frozenset[SecretRef]:
    """Every Secret its HTTPS listeners name, whichever namespace (whether a grant permits the ones in another
    namespace is the caller's question: ``gateway_may_use_secret``); none while it is being deleted."""
    if v.is_terminating(gw):
        return frozenset()
    return frozenset(ref for li in v.as_list(v.spec(gw).get("listeners")) if isinstance(li, dict)
                     for ref, _ in listener_secret_refs(gw, li) if ref[1])


def served_secrets(ingresses: Iterable[Body], ingress_classes: Iterable[Body], gateways: Iterable[Body],
                   gateway_classes: Iterable[Body], grants: Iterable[Body] = ()) -> frozenset[SecretRef]:
    """Every Secret shoal's proxy serves a certificate from: what each node may read, and what it watches."""
    iclasses = list(ingress_classes)
    grants = list(grants)
    ours = {v.name(c) for c in gateway_classes if gateway_class_is_ours(c)}
    out: set[SecretRef] = set()
    for ing in ingresses:
        if ingress_is_ours(ing, iclasses):
            out.update((v.namespace(ing), s) for s in ingress_secret_names(ing))
    for gw in gateways:
        if v.spec(gw).get("gatewayClassName") in ours:
            out.update(ref for ref in gateway_secret_refs(gw)
                       if gateway_may_use_secret(grants, v.namespace(gw), ref[0], ref[1]))
    return frozenset(out)
