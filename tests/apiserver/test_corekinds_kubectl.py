"""The real kubectl v1.32 with issue 21's kinds (a server without controllers): ``create pdb``, ``get pdb``,
``certificate approve|deny`` (protobuf PUTs of ``/approval``), ``get csr``, ``get rc`` and ``scale rc``,
``get apiservices``, ``kubectl events`` and the events.k8s.io view, each as upstream prints it."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.server_fixture import RunningServer


@pytest.fixture
def ns(server: RunningServer) -> str:
    name = f"kk-{uuid.uuid4().hex[:8]}"
    server.kubectl("create", "namespace", name)
    return name


def header(out: str) -> list[str]:
    return out.splitlines()[0].split()


def test_pdb(server: RunningServer, ns: str) -> None:
    server.kubectl("-n", ns, "create", "pdb", "web", "--selector=app=web", "--max-unavailable=25%")
    out = server.kubectl("-n", ns, "get", "pdb").stdout
    assert header(out) == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"]
    assert out.splitlines()[1].split()[:4] == ["web", "N/A", "25%", "0"]
    p = server.kubectl("-n", ns, "create", "pdb", "bad", "--selector=app=web", "--min-available=101%",
                       check=False)
    assert p.returncode != 0
    assert "spec.minAvailable: Invalid value" in p.stderr


def _csr(server: RunningServer, name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    req = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(key, hashes.SHA256())
    body = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": name},
            "spec": {"request": base64.b64encode(req.public_bytes(serialization.Encoding.PEM)).decode(),
                     "signerName": "kubernetes.io/kube-apiserver-client", "expirationSeconds": 86400,
                     "usages": ["client auth"]}}
    server.kubectl("apply", "-f", "-", input=json.dumps(body))


def test_certificate_approve_and_deny(server: RunningServer) -> None:
    ok, no = f"ok-{uuid.uuid4().hex[:6]}", f"no-{uuid.uuid4().hex[:6]}"
    _csr(server, ok)
    _csr(server, no)
    assert server.kubectl("certificate", "approve", ok).stdout.strip() == \
        f"certificatesigningrequest.certificates.k8s.io/{ok} approved"
    assert server.kubectl("certificate", "deny", no).stdout.strip() == \
        f"certificatesigningrequest.certificates.k8s.io/{no} denied"
    out = server.kubectl("get", "csr", ok, no).stdout
    assert header(out) == ["NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"]
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows[ok][2:] == ["kubernetes.io/kube-apiserver-client", "admin", "24h", "Approved"]
    assert rows[no][-1] == "Denied"
    cond = json.loads(server.kubectl("get", "csr", ok, "-o", "json").stdout)["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Approved", "True", "KubectlApprove")
    # kubectl reads the decision back and will not deny what was approved
    p = server.kubectl("certificate", "deny", ok, "--force", check=False)
    assert p.returncode != 0
    assert f'certificate signing request "{ok}" is already Approved' in p.stderr


def test_replication_controller(server: RunningServer, ns: str) -> None:
    server.kubectl("-n", ns, "apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web"}},
                                             "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))
    server.kubectl("-n", ns, "scale", "rc", "web", "--replicas=4")
    out = server.kubectl("-n", ns, "get", "rc", "-o", "wide").stdout
    assert header(out) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    row = out.splitlines()[1].split()
    assert row[:4] == ["web", "4", "0", "0"] and row[5:] == ["c", "nginx", "app=web"]
    assert "rc/web" in server.kubectl("-n", ns, "get", "all", "-o", "name").stdout.replace(
        "replicationcontroller/", "rc/")


def test_api_services(server: RunningServer) -> None:
    out = server.kubectl("get", "apiservices").stdout
    assert header(out) == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["v1."][1:3] == ["Local", "True"]
    assert rows["v1.policy"][1:3] == ["Local", "True"]


def test_events_both_ways(server: RunningServer, ns: str) -> None:
    server.kubectl("-n", ns, "create", "-f", "-", input=json.dumps({
        "apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "scaled"},
        "eventTime": "2026-12-06T10:00:00.000000Z", "reportingController": "example.com/ctl",
        "reportingInstance": "ctl-1", "action": "Scale", "reason": "Scaled", "type": "Normal",
        "regarding": {"kind": "Deployment", "name": "web", "namespace": ns}, "note": "scaled to 3"}))
    out = server.kubectl("-n", ns, "events").stdout
    assert "Scaled" in out and "Deployment/web" in out and "scaled to 3" in out
    core = server.kubectl("-n", ns, "get", "events", "-o", "jsonpath={.items[0].message}").stdout
    assert core == "scaled to 3"
    view = server.kubectl("-n", ns, "get", "events.events.k8s.io", "-o", "jsonpath={.items[0].note}").stdout
    assert view == "scaled to 3"
