"""NetworkPolicy (networking.k8s.io/v1): upstream's defaults and validation messages, table-tested."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.api import convert, defaults, kinds, validation
from shoal.api.models import NetworkPolicy
from shoal.api.proto_schema import message_for
from shoal.api.validation_networking import parse_cidr


def policy(spec: dict[str, Any]) -> NetworkPolicy:
    np = convert.decode({"metadata": {"name": "p", "namespace": "default"}, "spec": spec}, NetworkPolicy)
    defaults.apply_defaults(np)
    return np


def errors(spec: dict[str, Any]) -> list[str]:
    return [str(e) for e in validation.validate(policy(spec))]


def test_registered_with_short_name_and_protobuf() -> None:
    info = kinds.lookup("networking.k8s.io", "v1", "networkpolicies")
    assert info is not None and info.namespaced and info.short_names == ("netpol",) and info.kind == "NetworkPolicy"
    assert message_for("networking.k8s.io/v1", "NetworkPolicy") == "networking.v1.NetworkPolicy"


@pytest.mark.parametrize(("spec", "types"), [
    ({}, ["Ingress"]),
    ({"ingress": [{}]}, ["Ingress"]),
    ({"egress": [{}]}, ["Ingress", "Egress"]),
    ({"ingress": [{}], "egress": [{}]}, ["Ingress", "Egress"]),
    ({"egress": [], "policyTypes": ["Egress"]}, ["Egress"]),
    ({"egress": [{}], "policyTypes": ["Ingress"]}, ["Ingress"]),  # given types are kept as written
])
def test_policy_types_default_as_upstream(spec: dict[str, Any], types: list[str]) -> None:
    assert convert.to_dict(policy(spec))["spec"]["policyTypes"] == types


def test_defaults_fill_pod_selector_and_tcp() -> None:
    out = convert.to_dict(policy({"ingress": [{"ports": [{"port": 80}, {"protocol": "UDP", "port": 53}]}],
                                  "egress": [{"ports": [{"port": "dns"}]}]}))["spec"]
    assert out["podSelector"] == {}
    assert [p["protocol"] for p in out["ingress"][0]["ports"]] == ["TCP", "UDP"]
    assert out["egress"][0]["ports"] == [{"protocol": "TCP", "port": "dns"}]
    assert list(out) == ["podSelector", "ingress", "egress", "policyTypes"]  # upstream's field order


def test_a_valid_policy_has_no_errors() -> None:
    assert errors({
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}},
                               "namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}},
                              {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                              {"ipBlock": {"cidr": "2001:db8::/64", "except": ["2001:db8::/96"]}}],
                     "ports": [{"port": 80}, {"port": "http"}, {"protocol": "UDP", "port": 32000, "endPort": 32768},
                               {"protocol": "SCTP"}]}],
        "egress": [{"to": [{"namespaceSelector": {}}]}],
        "policyTypes": ["Ingress", "Egress"],
    }) == []


CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"


@pytest.mark.parametrize(("spec", "want"), [
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]},
     f'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.0/33": {CIDR_MSG}'),
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.1"}}]}]},
     f'spec.ingress[0].from[0].ipBlock.cidr: Invalid value: "10.0.0.1": {CIDR_MSG}'),
    ({"egress": [{"to": [{"ipBlock": {"cidr": ""}}]}]}, "spec.egress[0].to[0].ipBlock.cidr: Required value"),
    ({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["11.0.0.0/16"]}}]}]},
     'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "11.0.0.0/16": must be a strict subset of `cidr`'),
    ({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}}]}]},
     'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.0.0.0/8": must be a strict subset of `cidr`'),
    ({"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16x"]}}]}]},
     f'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.1.0.0/16x": {CIDR_MSG}'),
    ({"ingress": [{"ports": [{"port": 0}]}]},
     "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"),
    ({"ingress": [{"ports": [{"port": 70000}]}]},
     "spec.ingress[0].ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ({"ingress": [{"ports": [{"port": 80, "endPort": 70}]}]},
     "spec.ingress[0].ports[0].endPort: Invalid value: 80: must be greater than or equal to `port`"),
    ({"ingress": [{"ports": [{"port": 80, "endPort": 70000}]}]},
     "spec.ingress[0].ports[0].endPort: Invalid value: 70000: must be between 1 and 65535, inclusive"),
    ({"ingress": [{"ports": [{"port": "http", "endPort": 90}]}]},
     "spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is non-numeric"),
    ({"ingress": [{"ports": [{"endPort": 90}]}]},
     "spec.ingress[0].ports[0].endPort: Invalid value: 90: may not be specified when `port` is not specified"),
    ({"ingress": [{"ports": [{"port": "Not_A_Name"}]}]},
     'spec.ingress[0].ports[0].port: Invalid value: "Not_A_Name": must contain only alpha-numeric characters '
     "(a-z, 0-9), and hyphens (-)"),
    ({"egress": [{"ports": [{"protocol": "ICMP"}]}]},
     'spec.egress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"'),
    ({"ingress": [{"from": [{}]}]}, "spec.ingress[0].from[0]: Required value: must specify a peer"),
    ({"ingress": [{"from": [{"podSelector": {}, "ipBlock": {"cidr": "10.0.0.0/8"}}]}]},
     "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer"),
    ({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
     "spec.podSelector.matchExpressions[0].values: Required value: must be specified when `operator` is "
     "'In' or 'NotIn'"),
    ({"ingress": [{"from": [{"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}}]}]},
     'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].operator: Invalid value: "Near": '
     "not a valid selector operator"),
    ({"podSelector": {"matchLabels": {"app": "bad value"}}},
     'spec.podSelector.matchLabels: Invalid value: "bad value": a valid label must be an empty string or '
     "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
     "character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
     "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
    ({"policyTypes": ["Ingress", "Sideways"]},
     'spec.policyTypes[1]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"'),
    ({"policyTypes": ["Ingress", "Egress", "Ingress"]},
     'spec.policyTypes: Invalid value: ["Ingress", "Egress", "Ingress"]: may not specify more than two policyTypes'),
])
def test_invalid_input_names_the_field(spec: dict[str, Any], want: str) -> None:
    assert want in errors(spec)


def test_every_error_of_one_port_is_reported() -> None:
    assert errors({"ingress": [{"ports": [{"port": 0, "endPort": 70000}]}]}) == [
        "spec.ingress[0].ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        "spec.ingress[0].ports[0].endPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
    ]


@pytest.mark.parametrize(("text", "want"), [
    ("10.0.0.0/8", "10.0.0.0/8"),
    ("10.1.2.3/8", "10.0.0.0/8"),  # host bits are cleared, as Go's ParseCIDR does
    ("010.001.0.0/16", "10.1.0.0/16"),  # leading zeros: ParseCIDRSloppy reads them as decimal
    ("0.0.0.0/0", "0.0.0.0/0"),
    ("2001:db8::1/64", "2001:db8::/64"),
    ("10.0.0.0", None), ("10.0.0.0/", None), ("10.0.0.0/-1", None), ("10.0.0/8", None), ("1000.0.0.0/8", None),
    ("10.0.0.0/8/8", None), ("", None), ("x/8", None), ("10.0.0.0/ 8", None),
])
def test_parse_cidr_reads_as_go(text: str, want: str | None) -> None:
    net = parse_cidr(text)
    assert (str(net) if net is not None else None) == want


def test_protobuf_body_decodes() -> None:
    from shoal.api.protobuf import decode_k8s_protobuf
    from tests.api.test_protobuf import empty_object_meta, envelope, ld, vi

    port = ld(1, "TCP") + ld(2, vi(1, 0) + vi(2, 80) + ld(3, "")) + vi(3, 90)
    peer = ld(3, ld(1, "10.0.0.0/8") + ld(2, "10.1.0.0/16"))
    spec = ld(1, ld(1, ld(1, "app") + ld(2, "web"))) + ld(2, ld(1, port) + ld(2, peer)) + ld(4, "Ingress")
    obj = decode_k8s_protobuf(envelope("networking.k8s.io/v1", "NetworkPolicy", ld(1, empty_object_meta("p")) + ld(2, spec)))
    assert obj["spec"] == {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [{"ports": [{"protocol": "TCP", "port": 80, "endPort": 90}],
                     "from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}]}],
        "policyTypes": ["Ingress"],
    }
