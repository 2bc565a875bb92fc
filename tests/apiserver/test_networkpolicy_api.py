"""NetworkPolicy through the API and the real kubectl: defaults stored, 422s naming the field, the table, explain."""

from __future__ import annotations

import json
import shutil
import uuid

import pytest

from tests.server_fixture import RunningServer

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

POLICY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: {name}, namespace: {ns}}}
spec:
  podSelector: {{matchLabels: {{app: web}}}}
  ingress:
  - from: [{{podSelector: {{matchLabels: {{app: client}}}}}}]
    ports: [{{port: {port}}}]
"""


@pytest.fixture
def ns(server: RunningServer) -> str:
    name = f"np-{uuid.uuid4().hex[:6]}"
    server.kubectl("create", "namespace", name)
    return name


def test_create_get_and_table(server: RunningServer, ns: str) -> None:
    server.kubectl("apply", "-f", "-", input=POLICY.format(name="allow-client", ns=ns, port=80))
    server.kubectl("apply", "-f", "-", input=f"""
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: deny-all, namespace: {ns}}}
spec: {{podSelector: {{}}, policyTypes: [Ingress, Egress]}}
""")
    stored = json.loads(server.kubectl("get", "netpol", "allow-client", "-n", ns, "-o", "json").stdout)
    assert stored["spec"]["policyTypes"] == ["Ingress"]
    assert stored["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 80}]
    assert stored["metadata"]["generation"] == 1
    lines = server.kubectl("get", "networkpolicies", "-n", ns).stdout.splitlines()
    assert lines[0].split() == ["NAME", "POD-SELECTOR", "AGE"]
    rows = {ln.split()[0]: ln.split()[1] for ln in lines[1:]}
    assert rows == {"allow-client": "app=web", "deny-all": "<none>"}


def test_bad_policies_are_422_naming_the_field(server: RunningServer, ns: str) -> None:
    bad_port = server.kubectl("apply", "-f", "-", input=POLICY.format(name="bad", ns=ns, port=70000), check=False)
    assert bad_port.returncode != 0
    assert ('The NetworkPolicy "bad" is invalid: spec.ingress[0].ports[0].port: '
            "Invalid value: 70000: must be between 1 and 65535, inclusive") in bad_port.stderr
    body = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "cidr"},
            "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/40"}}]}]}}
    r = server.session().post(f"{server.url}/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies", json=body)
    assert r.status_code == 422, r.text
    status = r.json()
    assert status["reason"] == "Invalid"
    assert status["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "spec.egress[0].to[0].ipBlock.cidr",
        "message": 'Invalid value: "10.0.0.0/40": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)'}]


def test_spec_change_bumps_generation(server: RunningServer, ns: str) -> None:
    server.kubectl("apply", "-f", "-", input=POLICY.format(name="gen", ns=ns, port=80))
    server.kubectl("apply", "-f", "-", input=POLICY.format(name="gen", ns=ns, port=8080))
    got = json.loads(server.kubectl("get", "netpol", "gen", "-n", ns, "-o", "json").stdout)
    assert got["metadata"]["generation"] == 2 and got["spec"]["ingress"][0]["ports"][0]["port"] == 8080


def test_explain(server: RunningServer) -> None:
    out = server.kubectl("explain", "networkpolicy.spec.ingress.ports").stdout
    assert "GROUP:      networking.k8s.io" in out and "endPort\t<integer>" in out
    assert "port represents the port on the given protocol" in out
    peer = server.kubectl("explain", "netpol.spec.egress.to.ipBlock").stdout
    assert "cidr\t<string> -required-" in peer and "except\t<[]string>" in peer
