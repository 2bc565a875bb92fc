"""The controllers of issue 21's kinds, driven step by step on the harness (``harness.py``: the API server
in this process, a fake clock, the fake cluster as the nodes): the ReplicationController controller (the
ReplicaSet controller, adapted), the disruption controller (a budget's status follows its pods and their
Deployment's scale; an eviction's note holds until the pod goes, or two minutes) and the CSR signer (an
approved request gets a certificate from the cluster CA; a bad one a Failed condition)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shoal.apiserver.certs import ensure_ca
from shoal.client import ApiClient
from shoal.controllers.csrsigning import CSRSigningController
from shoal.controllers.deployment import DeploymentController
from shoal.controllers.disruption import DisruptionController
from shoal.controllers.replicaset import ReplicaSetController
from shoal.controllers.replication import ReplicationControllerController
from shoal.datadir import DataDir
from tests.controllers.fake_kubelet import FakeCluster
from tests.controllers.harness import Harness

Obj = dict[str, Any]


@pytest.fixture
async def ns(h: Harness) -> str:
    return await h.namespace("kinds")


@pytest.fixture
async def cluster(h: Harness) -> FakeCluster:
    return await h.fake_cluster()


@pytest.fixture
def client(h: Harness) -> ApiClient:
    return h.client


async def active_pods(client: ApiClient, ns: str) -> list[Obj]:
    return [p for p in (await client.list("pods", ns))["items"] if not p["metadata"].get("deletionTimestamp")]


async def test_replication_controller(h: Harness, client: ApiClient, ns: str, cluster: FakeCluster) -> None:
    await h.start(ReplicationControllerController)
    rc = await client.create("replicationcontrollers", {"metadata": {"name": "web"}, "spec": {
        "replicas": 3, "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}, ns)

    async def status_is(**want: int) -> bool:
        st = (await client.get("replicationcontrollers", "web", ns)).get("status") or {}
        return all(int(st.get(k) or 0) == v for k, v in want.items())

    await h.until(lambda: status_is(replicas=3, readyReplicas=3, availableReplicas=3, fullyLabeledReplicas=3,
                                       observedGeneration=1))
    pods = await active_pods(client, ns)
    assert len(pods) == 3
    assert pods[0]["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "ReplicationController",
                                                       "name": "web", "uid": rc["metadata"]["uid"],
                                                       "controller": True, "blockOwnerDeletion": True}]
    # an orphan the selector matches is adopted (and counted), then the RC scales down to its replicas
    await client.create("pods", {"metadata": {"name": "stray", "labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, ns)
    await h.until(lambda: status_is(replicas=3))
    await client.patch("replicationcontrollers", "web", {"spec": {"replicas": 1}}, ns)
    await h.until(lambda: status_is(replicas=1, readyReplicas=1))
    await h.until(lambda: _count(client, ns, 1))


async def _count(client: ApiClient, ns: str, n: int) -> bool:
    return len(await active_pods(client, ns)) == n


def deployment(replicas: int) -> Obj:
    return {"metadata": {"name": "web"}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


async def test_disruption_budget_follows_pods_and_scale(h: Harness, client: ApiClient, ns: str,
                                                        cluster: FakeCluster) -> None:
    for cls in (DeploymentController, ReplicaSetController, DisruptionController):
        await h.start(cls)
    await client.create("deployments", deployment(4), ns)
    await client.create("poddisruptionbudgets", {"metadata": {"name": "web"}, "spec": {
        "maxUnavailable": "25%", "selector": {"matchLabels": {"app": "web"}}}}, ns)

    async def status() -> Obj:
        return dict((await client.get("poddisruptionbudgets", "web", ns)).get("status") or {})

    async def counts(expected: int, desired: int, healthy: int, allowed: int) -> bool:
        st = await status()
        return (st.get("expectedPods"), st.get("desiredHealthy"), st.get("currentHealthy"),
                st.get("disruptionsAllowed")) == (expected, desired, healthy, allowed)

    await h.until(lambda: counts(4, 3, 4, 1))
    cond = (await status())["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "True", "SufficientPods")
    # the expected count is the Deployment's replicas, not the pods there happen to be
    await client.patch("deployments", "web", {"spec": {"replicas": 8}}, ns)
    await h.until(lambda: counts(8, 6, 8, 2))
    # an eviction spends one disruption and notes the pod; the controller keeps it unhealthy until it goes
    victim = (await active_pods(client, ns))[0]["metadata"]["name"]
    cluster.paused = True  # the pod is not removed yet: its note must hold
    await client.request("POST", f"/api/v1/namespaces/{ns}/pods/{victim}/eviction",
                         body={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": victim}})
    st = await status()
    assert victim in st["disruptedPods"]
    await h.until(lambda: counts(8, 6, 7, 1))
    cluster.paused = False
    await h.until(lambda: counts(8, 6, 8, 2))  # the replacement is ready; the note is gone with the pod
    assert not (await status()).get("disruptedPods")


async def test_an_eviction_note_expires(h: Harness, client: ApiClient, ns: str, cluster: FakeCluster) -> None:
    """A pod an eviction noted but that never went counts as healthy again after two minutes (fake time)."""
    await h.start(DisruptionController)
    for i in range(3):
        await client.create("pods", {"metadata": {"name": f"p{i}", "labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, ns)
    await client.create("poddisruptionbudgets", {"metadata": {"name": "web"}, "spec": {
        "minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}, ns)

    async def allowed() -> int:
        st = (await client.get("poddisruptionbudgets", "web", ns)).get("status") or {}
        return int(st.get("disruptionsAllowed") or 0) if st.get("currentHealthy") == 3 else -1

    await h.until(lambda: _eq(allowed(), 1))
    pdb = await client.get("poddisruptionbudgets", "web", ns)
    pdb["status"] = {**pdb["status"], "disruptionsAllowed": 0,
                     "disruptedPods": {"p0": h.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}}
    await client.update_status("poddisruptionbudgets", pdb)  # as an eviction whose delete never happened
    await h.settle()
    st = (await client.get("poddisruptionbudgets", "web", ns))["status"]
    assert (st["currentHealthy"], st["disruptionsAllowed"], list(st["disruptedPods"])) == (2, 0, ["p0"])
    await h.run_for(121)
    st = (await client.get("poddisruptionbudgets", "web", ns))["status"]
    assert (st["currentHealthy"], st["disruptionsAllowed"], st.get("disruptedPods")) == (3, 1, None)


async def _eq(value: Any, want: Any) -> bool:
    return bool(await value == want)


def _csr_body(name: str, *, usages: list[str]) -> Obj:
    key = ec.generate_private_key(ec.SECP256R1())
    req = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "jane"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dev"),
    ])).sign(key, hashes.SHA256())
    return {"metadata": {"name": name}, "spec": {
        "request": base64.b64encode(req.public_bytes(serialization.Encoding.PEM)).decode(),
        "signerName": "kubernetes.io/kube-apiserver-client", "expirationSeconds": 3600, "usages": usages}}


async def _approve(client: ApiClient, name: str) -> None:
    csr = await client.get("certificatesigningrequests", name)
    csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "Test", "message": "ok"}]}
    await client.request("PUT", f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{name}/approval",
                         body=csr)


async def test_csr_signer(h: Harness, client: ApiClient, tmp_path: Path) -> None:
    data = tmp_path / "ca"
    dd = DataDir(data).ensure()
    ensure_ca(dd)
    await h.start(CSRSigningController, options={"cluster_signing_cert_file": str(dd.ca_crt),
                                                 "cluster_signing_key_file": str(dd.ca_key)})
    await client.create("certificatesigningrequests", _csr_body("jane-ok", usages=["digital signature", "client auth"]))
    await client.create("certificatesigningrequests", _csr_body("jane-bad", usages=["server auth"]))
    pending = await client.get("certificatesigningrequests", "jane-ok")
    assert not (pending.get("status") or {}).get("certificate")  # nothing is signed before approval
    await _approve(client, "jane-ok")
    await _approve(client, "jane-bad")

    async def issued() -> str:
        return str(((await client.get("certificatesigningrequests", "jane-ok")).get("status") or {})
                   .get("certificate") or "")

    pem = base64.b64decode(await h.until(issued))
    cert = x509.load_pem_x509_certificate(pem)
    ca = x509.load_pem_x509_certificate(dd.ca_crt.read_bytes())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == "O=dev,CN=jane"
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH])
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime == dt.timedelta(hours=1, minutes=5)  # the hour asked for, backdated five minutes

    async def failed() -> Obj | None:
        st = (await client.get("certificatesigningrequests", "jane-bad")).get("status") or {}
        return next((c for c in st.get("conditions") or [] if c["type"] == "Failed"), None)

    cond = await h.until(failed)
    assert (cond["reason"], cond["message"]) == ("SignerValidationFailure",
                                                 "invalid usage for client certificate: server auth")
