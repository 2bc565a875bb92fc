"""Node credentials on a real server: the join token buys a node its certificate, and that certificate
reads only what its own pods use (the Node authorizer) and writes only its own objects (NodeRestriction)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.server_fixture import RunningServer, start_server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    s = start_server(Path(tmp_path_factory.mktemp("nodeauth")) / "data",
                     args=["--disable-scheduler", "--disable-controller-manager"])
    yield s
    s.stop()


def csr_pem(key: ec.EllipticCurvePrivateKey, cn: str, org: str) -> str:
    req = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                                    x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return req.public_bytes(serialization.Encoding.PEM).decode()


def join_token(srv: RunningServer) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.verify = srv.ca
    s.headers["Authorization"] = f"Bearer {(srv.data_dir / 'node-token').read_text().strip()}"
    return s


def node_session(srv: RunningServer, name: str, tmp: Path) -> requests.Session:
    """A session with node ``name``'s certificate, got with the join token as the agent gets it."""
    key = ec.generate_private_key(ec.SECP256R1())
    r = join_token(srv).post(f"{srv.url}/shoal/v1/node-join", json={"csr": csr_pem(key, f"system:node:{name}",
                                                                                     "system:nodes")})
    assert r.status_code == 200, r.text
    (tmp / f"{name}.crt").write_text(r.json()["certificate"])
    (tmp / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    s = requests.Session()
    s.trust_env = False
    s.verify = srv.ca
    s.cert = (str(tmp / f"{name}.crt"), str(tmp / f"{name}.key"))
    return s


def create(srv: RunningServer, path: str, body: dict[str, Any]) -> None:
    r = srv.session().post(f"{srv.url}{path}", json=body)
    assert r.status_code in (201, 409), r.text


@pytest.fixture(scope="module")
def world(srv: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, requests.Session]:
    tmp = Path(tmp_path_factory.mktemp("certs"))
    create(srv, "/api/v1/namespaces", {"metadata": {"name": "ns"}})
    for name in ("x", "mine"):
        create(srv, "/api/v1/namespaces/ns/secrets", {"metadata": {"name": name}, "stringData": {"k": "v"}})
    for pod, node, secret in (("pa", "a", "mine"), ("pb", "b", "x")):
        create(srv, "/api/v1/namespaces/ns/pods", {"metadata": {"name": pod}, "spec": {
            "nodeName": node, "containers": [{"name": "c", "image": "busybox"}],
            "volumes": [{"name": "s", "secret": {"secretName": secret}}]}})
    return {"a": node_session(srv, "a", tmp), "b": node_session(srv, "b", tmp)}


def test_a_node_reads_its_pods_secret_and_not_another_nodes(srv: RunningServer,
                                                             world: dict[str, requests.Session]) -> None:
    a = world["a"]
    assert a.get(f"{srv.url}/api/v1/namespaces/ns/secrets/mine").status_code == 200
    r = a.get(f"{srv.url}/api/v1/namespaces/ns/secrets/x")
    assert r.status_code == 403
    assert r.json()["message"] == (
        'secrets "x" is forbidden: User "system:node:a" cannot get resource "secrets" in API group "" in the '
        "namespace \"ns\": no relationship found between node 'a' and this object")
    # nor by listing them all, nor watching the one
    assert a.get(f"{srv.url}/api/v1/namespaces/ns/secrets").status_code == 403
    assert a.get(f"{srv.url}/api/v1/namespaces/ns/secrets?watch=1&fieldSelector=metadata.name%3Dx"
                 "&timeoutSeconds=1").status_code == 403
    assert world["b"].get(f"{srv.url}/api/v1/namespaces/ns/secrets/x").status_code == 200


def test_a_node_writes_only_its_own_objects(srv: RunningServer, world: dict[str, requests.Session]) -> None:
    a, merge = world["a"], {"Content-Type": "application/merge-patch+json"}
    for name in ("a", "b"):
        create(srv, "/api/v1/nodes", {"metadata": {"name": name}})
    assert a.patch(f"{srv.url}/api/v1/nodes/a/status", headers=merge,
                   json={"status": {"capacity": {"pods": "10"}}}).status_code == 200
    r = a.patch(f"{srv.url}/api/v1/nodes/b", headers=merge, json={"metadata": {"labels": {"x": "y"}}})
    assert (r.status_code, r.json()["message"]) == (
        403, 'nodes "b" is forbidden: node "a" is not allowed to modify node "b"')
    r = a.patch(f"{srv.url}/api/v1/nodes/a", headers=merge,
                json={"metadata": {"labels": {"node-restriction.kubernetes.io/trusted": "yes"}}})
    assert r.status_code == 403 and "not allowed to modify labels" in r.json()["message"]
    assert a.patch(f"{srv.url}/api/v1/namespaces/ns/pods/pa/status", headers=merge,
                   json={"status": {"phase": "Running"}}).status_code == 200
    r = a.patch(f"{srv.url}/api/v1/namespaces/ns/pods/pb/status", headers=merge, json={"status": {"phase": "Failed"}})
    assert (r.status_code, r.json()["message"]) == (
        403, 'pods "pb" is forbidden: node "a" can only update pod status for pods with spec.nodeName set to itself')
    assert a.delete(f"{srv.url}/api/v1/namespaces/ns/pods/pb").status_code == 403
    lease = {"metadata": {"name": "b"}, "spec": {"holderIdentity": "b"}}
    assert a.post(f"{srv.url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                  json=lease).status_code == 403
    lease["metadata"]["name"] = "a"
    assert a.post(f"{srv.url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                  json=lease).status_code in (201, 409)


def test_a_node_gets_tokens_only_for_its_pods(srv: RunningServer, world: dict[str, requests.Session]) -> None:
    url = f"{srv.url}/api/v1/namespaces/ns/serviceaccounts/default/token"
    bound = {"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "pa"}}}
    assert world["a"].post(url, json=bound).status_code == 201
    r = world["a"].post(url, json={"spec": {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "pb"}}})
    assert r.status_code == 403  # the Node authorizer allows the account (pa uses it); admission, not the pod
    assert "bound to a pod scheduled on a different node" in r.json()["message"]
    assert world["a"].post(url, json={"spec": {}}).status_code == 403


def test_the_join_token_only_bootstraps(srv: RunningServer, world: dict[str, requests.Session]) -> None:
    token = join_token(srv)
    r = token.get(f"{srv.url}/api/v1/namespaces/ns/pods")
    assert r.status_code == 403 and 'User "system:bootstrap:node-token"' in r.json()["message"]
    key = ec.generate_private_key(ec.SECP256R1())
    r = token.post(f"{srv.url}/shoal/v1/node-join", json={"csr": csr_pem(key, "alice", "system:masters")})
    assert r.status_code == 400 and "the subject must be CN=system:node:<node name>" in r.text
    # a node renews its own certificate, and cannot get another node's
    a = world["a"]
    assert a.post(f"{srv.url}/shoal/v1/node-join",
                  json={"csr": csr_pem(key, "system:node:a", "system:nodes")}).status_code == 200
    r = a.post(f"{srv.url}/shoal/v1/node-join", json={"csr": csr_pem(key, "system:node:b", "system:nodes")})
    assert r.status_code == 403 and "certificatesigningrequests/nodeclient" in r.json()["message"]
