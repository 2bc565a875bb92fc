"""The Secrets every node may read because its ingress proxy serves them: Ingress and Gateway -> Secret edges.

Upstream's Node authorizer lets a node read a Secret only when a pod bound to
it references the Secret; upstream's ingress controllers run as a pod whose
ServiceAccount may list every Secret. shoal runs the ingress proxy on every
node under the node's own credential (``shoal.ingress.node``), so the graph
gains one more kind of edge: a TLS Secret of an Ingress or Gateway that
shoal's proxy serves (``shoal.api.ingresssecrets``, the same rule the proxy
uses to choose what to watch) may be read - by name, never listed - by every
node. Nothing else is granted: a Secret of another ingress controller's
Ingress, one a Gateway in another namespace names without a ReferenceGrant
in the Secret's namespace permitting it, or of a pod on another node stays
refused.

Fed like the rest of the graph (``nodegraph``): the store at start, then the
watch caches of Ingresses and IngressClasses (built in) and of Gateways,
GatewayClasses and ReferenceGrants (custom kinds, whose caches exist while
their CRDs are served). Each object keeps only its class and the Secrets it
references, with an index from Secret to the objects that name it; a
Gateway's reference to another namespace's Secret is kept as named and
checked against that namespace's grants when asked (the proxy's own rule,
``shoal.api.referencegrants``), so a grant created or withdrawn takes effect
without revisiting any Gateway. ``related`` costs a dict look-up, a class
check and, for such a reference, a look through one namespace's grants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoal.api import kinds
from shoal.api import views as v
from shoal.api.ingresssecrets import (
    gateway_class_is_ours,
    gateway_secret_refs,
    ingress_class_is_ours,
    ingress_class_of,
    ingress_secret_names,
)
from shoal.api.referencegrants import gateway_may_use_secret
from shoal.api.registry import ResourceInfo

SecretRef = tuple[str, str]  # (namespace, name)


def _info(group: str, plural: str) -> ResourceInfo:
    info = kinds.lookup(group, "v1", plural)
    assert info is not None, plural
    return info


INGRESSES_INFO = _info("networking.k8s.io", "ingresses")
INGRESS_CLASSES_INFO = _info("networking.k8s.io", "ingressclasses")
INFOS = (INGRESSES_INFO, INGRESS_CLASSES_INFO)
GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAYS_PREFIX = f"/registry/{GATEWAY_GROUP}/gateways/"
GATEWAY_CLASSES_PREFIX = f"/registry/{GATEWAY_GROUP}/gatewayclasses/"
GRANTS_PREFIX = f"/registry/{GATEWAY_GROUP}/referencegrants/"
# custom kinds: their caches come and go with the CRDs
CUSTOM_PREFIXES = (GATEWAYS_PREFIX, GATEWAY_CLASSES_PREFIX, GRANTS_PREFIX)
PREFIXES = (INGRESSES_INFO.storage_prefix, INGRESS_CLASSES_INFO.storage_prefix, *CUSTOM_PREFIXES)


def _ns_name(key: str, prefix: str) -> tuple[str, str]:
    ns, _, name = key[len(prefix):].partition("/")
    return ns, name


class IngressSecrets:
    """Ingresses' and Gateways' TLS Secrets, and whether shoal's proxy serves the object naming them."""

    def __init__(self) -> None:
        self._objects: dict[str, tuple[str, str, frozenset[SecretRef]]] = {}  # key -> (prefix, class, secrets)
        self._named_by: dict[SecretRef, set[str]] = {}  # secret -> keys of the objects naming it
        self._ingress_classes: dict[str, Mapping[str, Any]] = {}
        self._gateway_classes: dict[str, bool] = {}  # name -> shoal's
        self._grants: dict[str, dict[str, dict[str, Any]]] = {}  # namespace -> key -> ReferenceGrant (its spec)

    @staticmethod
    def follows(key: str) -> bool:
        return key.startswith(PREFIXES)

    def apply(self, key: str, obj: Mapping[str, Any] | None) -> None:
        """The object at ``key`` is now ``obj`` (None: deleted)."""
        if key.startswith(INGRESS_CLASSES_INFO.storage_prefix):
            name = key[len(INGRESS_CLASSES_INFO.storage_prefix):]
            if obj is None:
                self._ingress_classes.pop(name, None)
            else:
                self._ingress_classes[name] = {"metadata": {"name": name, "annotations": v.annotations(obj)},
                                               "spec": {"controller": v.spec(obj).get("controller")}}
        elif key.startswith(GATEWAY_CLASSES_PREFIX):
            name = key[len(GATEWAY_CLASSES_PREFIX):]
            if obj is None:
                self._gateway_classes.pop(name, None)
            else:
                self._gateway_classes[name] = gateway_class_is_ours(obj)
        elif key.startswith(INGRESSES_INFO.storage_prefix):
            ns, _ = _ns_name(key, INGRESSES_INFO.storage_prefix)
            self._set(key, INGRESSES_INFO.storage_prefix, "" if obj is None else ingress_class_of(obj),
                      frozenset() if obj is None else frozenset((ns, s) for s in ingress_secret_names(obj)))
        elif key.startswith(GATEWAYS_PREFIX):
            self._set(key, GATEWAYS_PREFIX, "" if obj is None else str(v.spec(obj).get("gatewayClassName") or ""),
                      frozenset() if obj is None else gateway_secret_refs(obj))
        elif key.startswith(GRANTS_PREFIX):
            ns, _ = _ns_name(key, GRANTS_PREFIX)
            grants = self._grants.setdefault(ns, {})
            if obj is None or v.is_terminating(obj):
                grants.pop(key, None)
            else:
                grants[key] = {"metadata": {"namespace": ns},
                               "spec": {"from": v.spec(obj).get("from"), "to": v.spec(obj).get("to")}}
            if not grants:
                del self._grants[ns]

    def _set(self, key: str, prefix: str, cls: str, secrets: frozenset[SecretRef]) -> None:
        old = self._objects.pop(key, None)
        if old is not None:
            for ref in old[2]:
                keys = self._named_by.get(ref)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._named_by[ref]
        if secrets:
            self._objects[key] = (prefix, cls, secrets)
            for ref in secrets:
                self._named_by.setdefault(ref, set()).add(key)

    def forget(self, prefix: str) -> None:
        """Every object under ``prefix`` is gone (its custom kind is no longer served)."""
        for key in [k for k in self._objects if k.startswith(prefix)]:
            self._set(key, prefix, "", frozenset())
        if prefix == GATEWAY_CLASSES_PREFIX:
            self._gateway_classes.clear()
        if prefix == GRANTS_PREFIX:
            self._grants.clear()

    def served(self, namespace: str, name: str) -> bool:
        """Whether shoal's proxy serves a certificate from Secret ``namespace/name`` (so every node may read it)."""
        for key in self._named_by.get((namespace, name), ()):
            prefix, cls, _ = self._objects[key]
            if prefix == GATEWAYS_PREFIX:
                gw_ns, _ = _ns_name(key, GATEWAYS_PREFIX)
                if self._gateway_classes.get(cls, False) and gateway_may_use_secret(
                        self._grants.get(namespace, {}).values(), gw_ns, namespace, name):
                    return True
            elif ingress_class_is_ours(cls, self._ingress_classes.values()):
                return True
        return False
