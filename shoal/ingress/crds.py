"""The CRDs shoal ships (Gateway API v1 and shoal.io Rollouts) and the classes it installs at startup.

Installed by ``shoal server`` when it starts, created if absent (a CRD the
user replaced, say with the full upstream one, is left as it is): the
Gateway API's GatewayClass, Gateway and HTTPRoute (``gateway.networking.k8s.io/v1``),
ReferenceGrant (``v1beta1``, upstream's storage version; its ``v1alpha2`` is not
served) and shoal's Rollout (``shoal.io/v1alpha1``), plus the IngressClass ``shoal``
(the default class) and the GatewayClass ``shoal``.

The Gateway API schemas are trimmed but faithful: every field shoal reads is
declared with upstream's name, type, enum and default where it has one (so a
typo in a kind's top level is caught as upstream catches it), and the
nested parts shoal passes through untouched (filters it does not serve,
status conditions) keep their fields (``x-kubernetes-preserve-unknown-fields``)
instead of being pruned. Upstream's CEL rules are not carried.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from shoal.client import ApiClient, ApiException
from shoal.ingress.resources import GATEWAY_CLASSES

log = logging.getLogger(__name__)

GATEWAY_GROUP = "gateway.networking.k8s.io"
ROLLOUT_GROUP = "shoal.io"
Schema = dict[str, Any]


def _obj(props: dict[str, Schema] | None = None, *, required: list[str] | None = None,
         open_: bool = False) -> Schema:
    s: Schema = {"type": "object"}
    if props:
        s["properties"] = props
    if required:
        s["required"] = required
    if open_:
        s["x-kubernetes-preserve-unknown-fields"] = True
    return s


def _arr(items: Schema, max_items: int | None = None) -> Schema:
    s: Schema = {"type": "array", "items": items}
    if max_items:
        s["maxItems"] = max_items
    return s


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
OPEN: Schema = _obj(open_=True)
_CONDITIONS = _arr(OPEN, 8)
_PARENT_REF = _obj({"group": STR, "kind": STR, "namespace": STR, "name": STR, "sectionName": STR,
                    "port": INT}, required=["name"])
_HEADER = _obj({"name": STR, "value": STR}, required=["name", "value"])
_HEADER_MOD = _obj({"set": _arr(_HEADER, 16), "add": _arr(_HEADER, 16), "remove": _arr(STR, 16)})
_MATCH_VALUE = _obj({"type": {"type": "string", "enum": ["Exact", "RegularExpression"], "default": "Exact"},
                     "name": STR, "value": STR}, required=["name", "value"])
_HTTP_MATCH = _obj({
    "path": _obj({"type": {"type": "string", "enum": ["Exact", "PathPrefix", "RegularExpression"],
                           "default": "PathPrefix"}, "value": {"type": "string", "default": "/"}}),
    "headers": _arr(_MATCH_VALUE, 16), "queryParams": _arr(_MATCH_VALUE, 16),
    "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                                          "PATCH"]}})
_FILTER = _obj({
    "type": {"type": "string", "enum": ["RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror",
                                        "RequestRedirect", "URLRewrite", "ExtensionRef"]},
    "requestHeaderModifier": _HEADER_MOD, "responseHeaderModifier": _HEADER_MOD,
    "requestRedirect": _obj({"scheme": {"type": "string", "enum": ["http", "https"]}, "hostname": STR,
                             "port": INT, "statusCode": {"type": "integer", "enum": [301, 302], "default": 302},
                             "path": _obj({"type": {"type": "string", "enum": ["ReplaceFullPath",
                                                                                "ReplacePrefixMatch"]},
                                           "replaceFullPath": STR, "replacePrefixMatch": STR})}),
    "requestMirror": OPEN, "urlRewrite": OPEN, "extensionRef": OPEN}, required=["type"])
_BACKEND_REF = _obj({"group": STR, "kind": {"type": "string", "default": "Service"}, "name": STR, "namespace": STR,
                     "port": INT, "weight": {"type": "integer", "default": 1, "minimum": 0, "maximum": 1000000},
                     "filters": _arr(_FILTER, 16)}, required=["name"])
_LISTENER = _obj({
    "name": STR, "hostname": STR, "port": INT,
    "protocol": STR,
    "tls": _obj({"mode": {"type": "string", "enum": ["Terminate", "Passthrough"], "default": "Terminate"},
                 "certificateRefs": _arr(_obj({"group": STR, "kind": {"type": "string", "default": "Secret"},
                                               "name": STR, "namespace": STR}, required=["name"]), 64),
                 "options": OPEN}),
    "allowedRoutes": OPEN}, required=["name", "port", "protocol"])

# ReferenceGrant: upstream's field validation (group and kind patterns and lengths, 1-16 entries each side,
# every from field required) is all schema, no CEL, so it is carried whole: a from kind "HTTP Route" or a
# from without a namespace is refused at admission as upstream refuses it
_GROUP: Schema = {"type": "string", "maxLength": 253,
                  "pattern": r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"}
_KIND: Schema = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"}
_NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 253}
_NAMESPACE: Schema = {"type": "string", "minLength": 1, "maxLength": 63,
                      "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
REFERENCE_GRANT_SCHEMA = _obj({
    "spec": _obj({
        "from": {**_arr(_obj({"group": _GROUP, "kind": _KIND, "namespace": _NAMESPACE},
                             required=["group", "kind", "namespace"]), 16), "minItems": 1},
        "to": {**_arr(_obj({"group": _GROUP, "kind": _KIND, "name": _NAME}, required=["group", "kind"]), 16),
               "minItems": 1}},
        required=["from", "to"])})

GATEWAY_CLASS_SCHEMA = _obj({
    "spec": _obj({"controllerName": STR, "description": STR, "parametersRef": OPEN}, required=["controllerName"]),
    "status": _obj({"conditions": _CONDITIONS}, open_=True)}, required=["spec"])
GATEWAY_SCHEMA = _obj({
    "spec": _obj({"gatewayClassName": STR, "listeners": _arr(_LISTENER, 64), "addresses": _arr(OPEN, 16),
                  "infrastructure": OPEN}, required=["gatewayClassName", "listeners"]),
    "status": _obj({"addresses": _arr(_obj({"type": STR, "value": STR}), 16), "conditions": _CONDITIONS,
                    "listeners": _arr(OPEN, 64)})}, required=["spec"])
HTTPROUTE_SCHEMA = _obj({
    "spec": _obj({"parentRefs": _arr(_PARENT_REF, 32), "hostnames": _arr(STR, 16),
                  "rules": _arr(_obj({"name": STR, "matches": _arr(_HTTP_MATCH, 64), "filters": _arr(_FILTER, 16),
                                      "backendRefs": _arr(_BACKEND_REF, 16), "timeouts": OPEN}), 16)}),
    "status": _obj({"parents": _arr(_obj({"parentRef": _PARENT_REF, "controllerName": STR,
                                           "conditions": _CONDITIONS}), 32)})})

_STEP = _obj({"setWeight": {"type": "integer", "minimum": 0, "maximum": 100},
              "pause": _obj({"duration": STR}),
              "analysis": _obj({"duration": STR})})
ROLLOUT_SCHEMA = _obj({
    "spec": _obj({
        "replicas": {"type": "integer", "default": 1, "minimum": 0},
        "selector": OPEN,
        "template": OPEN,
        "strategy": _obj({
            "canary": _obj({"stableService": STR, "canaryService": STR, "steps": _arr(_STEP, 64),
                            "analysis": _obj({"maxErrorRate": {"type": "number", "minimum": 0, "maximum": 1},
                                              "maxLatencyMs": INT, "minRequests": INT, "interval": STR})},
                           required=["stableService", "canaryService"]),
            "blueGreen": _obj({"activeService": STR, "previewService": STR, "autoPromotionSeconds": INT,
                               "autoPromotionEnabled": {"type": "boolean"},
                               "scaleDownDelaySeconds": {"type": "integer", "default": 30}},
                              required=["activeService"])})},
        required=["selector", "template", "strategy"]),
    "status": _obj(open_=True)}, required=["spec"])


def _crd(group: str, version: str, kind: str, plural: str, *, schema: Schema, namespaced: bool = True,
         short: list[str] | None = None, columns: list[dict[str, Any]] | None = None,
         categories: list[str] | None = None, status: bool = True) -> dict[str, Any]:
    ver: dict[str, Any] = {"name": version, "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": schema}}
    if status:
        ver["subresources"] = {"status": {}}
    if columns:
        ver["additionalPrinterColumns"] = columns
    names: dict[str, Any] = {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"}
    if short:
        names["shortNames"] = short
    if categories:
        names["categories"] = categories
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}", "annotations": {"shoal.io/shipped": "true"}},
            "spec": {"group": group, "names": names, "scope": "Namespaced" if namespaced else "Cluster",
                     "versions": [ver]}}


def _col(name: str, path: str, type_: str = "string") -> dict[str, Any]:
    return {"name": name, "type": type_, "jsonPath": path}


CRDS: tuple[dict[str, Any], ...] = (
    _crd(GATEWAY_GROUP, "v1", "GatewayClass", "gatewayclasses", schema=GATEWAY_CLASS_SCHEMA, namespaced=False,
         short=["gc"], categories=["gateway-api"],
         columns=[_col("Controller", ".spec.controllerName"),
                  _col("Accepted", '.status.conditions[?(@.type=="Accepted")].status')]),
    _crd(GATEWAY_GROUP, "v1", "Gateway", "gateways", schema=GATEWAY_SCHEMA, short=["gtw"],
         categories=["gateway-api"],
         columns=[_col("Class", ".spec.gatewayClassName"), _col("Address", ".status.addresses[*].value"),
                  _col("Programmed", '.status.conditions[?(@.type=="Programmed")].status')]),
    _crd(GATEWAY_GROUP, "v1", "HTTPRoute", "httproutes", schema=HTTPROUTE_SCHEMA, categories=["gateway-api"],
         columns=[_col("Hostnames", ".spec.hostnames")]),
    _crd(GATEWAY_GROUP, "v1beta1", "ReferenceGrant", "referencegrants", schema=REFERENCE_GRANT_SCHEMA,
         short=["refgrant"], categories=["gateway-api"], status=False),
    _crd(ROLLOUT_GROUP, "v1alpha1", "Rollout", "rollouts", schema=ROLLOUT_SCHEMA, short=["ro"],
         columns=[_col("Phase", ".status.phase"), _col("Step", ".status.currentStepIndex", "integer"),
                  _col("Weight", ".status.canaryWeight", "integer"), _col("Message", ".status.message")]),
)

INGRESS_CLASS: dict[str, Any] = {
    "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
    "metadata": {"name": "shoal", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
    "spec": {"controller": "shoal.io/ingress"}}
GATEWAY_CLASS: dict[str, Any] = {
    "apiVersion": f"{GATEWAY_GROUP}/v1", "kind": "GatewayClass", "metadata": {"name": "shoal"},
    "spec": {"controllerName": "shoal.io/gateway-controller"}}


async def _create(client: ApiClient, res: Any, body: dict[str, Any]) -> bool:
    try:
        await client.create(res, body)
    except ApiException as e:
        if e.status == 409:
            return False
        raise
    return True


async def install(client: ApiClient) -> None:
    """Create the shipped CRDs and the two classes where absent (idempotent, at every start)."""
    for crd in CRDS:
        if await _create(client, "customresourcedefinitions", crd):
            log.info("installed CRD %s", crd["metadata"]["name"])
    await _create(client, "ingressclasses", INGRESS_CLASS)
    for _ in range(100):  # the GatewayClass kind is served once its CRD is established
        try:
            await _create(client, GATEWAY_CLASSES, GATEWAY_CLASS)
            return
        except ApiException as e:
            if e.status != 404:
                raise
        await asyncio.sleep(0.05)
    log.warning("GatewayClass shoal not created: the gatewayclasses kind was not served in time")
