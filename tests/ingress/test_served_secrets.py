"""What an agent's proxy watches: the TLS Secrets of shoal's Ingresses and Gateways, by name (a table)."""

from __future__ import annotations

from shoal.api.ingresssecrets import served_secrets
from tests.auth.test_node_authz_ingress import gateway, gclass, iclass, ingress


def test_the_proxy_watches_exactly_the_secrets_it_serves() -> None:
    ingresses = [ingress("web", ["web-tls", "shared"], "shoal"), ingress("plain", ["classless"]),
                 ingress("theirs", ["nginx-tls"], "nginx"),
                 ingress("going", ["gone-tls"], "shoal", deletionTimestamp="2026-01-01T00:00:00Z"),
                 ingress("elsewhere", ["shared"], "shoal", ns="team")]
    classes = [iclass("shoal", "shoal.io/ingress"), iclass("nginx", "k8s.io/ingress-nginx")]
    gateways = [gateway("gw", "shoal", [{"name": "gw-tls"}, {"name": "far", "namespace": "other"},
                                        {"kind": "ConfigMap", "name": "cm"}]),
                gateway("envoy-gw", "envoy", [{"name": "envoy-tls"}]),
                gateway("http-gw", "shoal", [{"name": "http-tls"}], protocol="HTTP")]
    gclasses = [gclass("shoal", "shoal.io/gateway-controller"), gclass("envoy", "example.com/envoy")]
    assert served_secrets(ingresses, classes, gateways, gclasses) == {
        ("ns", "web-tls"), ("ns", "shared"), ("ns", "classless"), ("team", "shared"), ("ns", "gw-tls")}
    # a default class of another controller takes the class-less Ingress
    classes[1] = iclass("nginx", "k8s.io/ingress-nginx", default=True)
    assert ("ns", "classless") not in served_secrets(ingresses, classes, gateways, gclasses)
    assert served_secrets([], [], gateways, []) == set()
