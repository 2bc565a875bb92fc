"""The client-side descriptions of the custom kinds the ingress reads (their CRDs ship in ``crds``)."""

from __future__ import annotations

from shoal.api.registry import ResourceInfo

GATEWAY_CLASSES = ResourceInfo("gateway.networking.k8s.io", "v1", "GatewayClass", "gatewayclasses", "gatewayclass",
                               False, None, subresources=("status",), status_subresource=True)
GATEWAYS = ResourceInfo("gateway.networking.k8s.io", "v1", "Gateway", "gateways", "gateway", True, None,
                        subresources=("status",), status_subresource=True)
HTTPROUTES = ResourceInfo("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes", "httproute", True, None,
                          subresources=("status",), status_subresource=True)
ROLLOUTS = ResourceInfo("shoal.io", "v1alpha1", "Rollout", "rollouts", "rollout", True, None,
                        subresources=("status",), status_subresource=True)
REFERENCE_GRANTS = ResourceInfo("gateway.networking.k8s.io", "v1beta1", "ReferenceGrant", "referencegrants",
                                "referencegrant", True, None)
