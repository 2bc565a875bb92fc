"""A running agent renews its node certificate with the certificate itself, on a real ``shoal server`` whose
node certificates last ten seconds (``--node-cert-lifetime``): the agent keeps renewing its Lease across
rotations, long after its first certificate expired, without a restart; and a node's certificate never
buys another node's."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shoal.agent.certrenewal import CertRenewer
from shoal.agent.nodecert import key_matches, store, subject
from tests.server_fixture import RunningServer, start_server, stop_process

LIFETIME = 10.0  # seconds: rotations at 7-9 s (a tenth backdated), two within ~20 s


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    s = start_server(Path(tmp_path_factory.mktemp("certrenew")) / "data",
                     args=["--disable-scheduler", "--disable-controller-manager",
                           "--node-cert-lifetime", f"{LIFETIME:g}s"])
    yield s
    s.stop()


def start_agent(srv: RunningServer, data_dir: Path, name: str, *extra: str) -> subprocess.Popen[bytes]:
    token = (srv.data_dir / "node-token").read_text().strip()
    data_dir.mkdir(parents=True)
    with open(data_dir.parent / f"{name}.log", "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "shoal", "agent", "--server", srv.url, "--token", token, "--data-dir",
             str(data_dir), "--ca-file", srv.ca, "--runtime", "simulated", "--node-name", name,
             "--lease-interval", "0.5", "--metrics-interval", "0", "--ingress-http-port", "0", *extra],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=dict(os.environ))


def cert_of(data_dir: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate((data_dir / "node.crt").read_bytes())
    except (OSError, ValueError):
        return None


def renew_time(srv: RunningServer, lease: str) -> dt.datetime | None:
    r = srv.session().get(f"{srv.url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{lease}",
                          timeout=10)
    if r.status_code != 200:
        return None
    stamp = (r.json().get("spec") or {}).get("renewTime")
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def rotations(srv: RunningServer, data_dir: Path, lease: str, agent: subprocess.Popen[bytes], log: Path) -> None:
    """Watch the agent through two renewals, then see its Lease renewed after its first certificate (and the
    connections opened with it) expired."""
    serials: list[int] = []
    first_expiry: dt.datetime | None = None
    deadline = time.monotonic() + 20 + 3 * LIFETIME
    while len(serials) < 3:
        assert agent.poll() is None, f"the agent exited:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"saw serials {serials}:\n{log.read_text()}"
        cert = cert_of(data_dir)
        if cert is not None and cert.serial_number not in serials:
            serials.append(cert.serial_number)
            first_expiry = first_expiry or cert.not_valid_after_utc
            lived = cert.not_valid_after_utc - cert.not_valid_before_utc
            assert lived == dt.timedelta(seconds=LIFETIME * 1.1)  # the lifetime asked, backdated a tenth
        time.sleep(0.1)
    assert first_expiry is not None
    # the Lease goes on being renewed once the first certificate, and so every connection it opened, is gone
    while dt.datetime.now(dt.UTC) < first_expiry + dt.timedelta(seconds=1):
        time.sleep(0.1)
    seen = renew_time(srv, lease)
    assert seen is not None
    limit = time.monotonic() + 10
    while (now := renew_time(srv, lease)) is None or now <= max(seen, first_expiry):
        assert time.monotonic() < limit, f"the Lease stopped at {seen}:\n{log.read_text()}"
        time.sleep(0.2)
    text = log.read_text()
    assert text.count("node certificate renewed") >= 2, text
    assert "renewing the node certificate failed" not in text, text
    assert agent.poll() is None


def test_an_agent_renews_its_certificate_while_running(srv: RunningServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "rot-a"
    agent = start_agent(srv, data_dir, "rot-a")
    try:
        rotations(srv, data_dir, "rot-a", agent, tmp_path / "rot-a.log")
        cert = cert_of(data_dir)
        assert cert is not None
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:rot-a"
        assert oct((data_dir / "node.key").stat().st_mode & 0o777) == "0o600"
        # its watches came back on new connections: a pod bound to it now is run
        api = srv.session()
        pod = {"metadata": {"name": "after-rotation"}, "spec": {
            "nodeName": "rot-a", "automountServiceAccountToken": False,
            "containers": [{"name": "c", "image": "busybox"}]}}
        assert api.post(f"{srv.url}/api/v1/namespaces/default/pods", json=pod, timeout=10).status_code == 201
        limit = time.monotonic() + 20
        while (api.get(f"{srv.url}/api/v1/namespaces/default/pods/after-rotation", timeout=10).json()
               .get("status", {}).get("phase")) != "Running":
            assert time.monotonic() < limit, (tmp_path / "rot-a.log").read_text()
            time.sleep(0.2)
    finally:
        stop_process(agent)


def test_an_agent_of_simulated_nodes_renews_its_own_too(srv: RunningServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "rot-sim"
    agent = start_agent(srv, data_dir, "rot-sim", "--simulate-nodes", "1", "--no-follow-servers")
    try:
        rotations(srv, data_dir, "rot-sim-0", agent, tmp_path / "rot-sim.log")
    finally:
        stop_process(agent)


def csr_pem(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    req = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                                    x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return req.public_bytes(serialization.Encoding.PEM).decode()


def test_a_node_cannot_renew_into_another_nodes_name(srv: RunningServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "rot-b"
    agent = start_agent(srv, data_dir, "rot-b", "--no-rotate-certificates")
    try:
        limit = time.monotonic() + 30
        while not (data_dir / "node.crt").exists():
            assert agent.poll() is None and time.monotonic() < limit, (tmp_path / "rot-b.log").read_text()
            time.sleep(0.1)
        shutil.copy(data_dir / "node.crt", tmp_path / "b.crt")
        shutil.copy(data_dir / "node.key", tmp_path / "b.key")
        assert key_matches((tmp_path / "b.crt").read_bytes(), (tmp_path / "b.key").read_bytes())
        s = requests.Session()
        s.trust_env = False
        s.verify = srv.ca
        s.cert = (str(tmp_path / "b.crt"), str(tmp_path / "b.key"))
        r = s.post(f"{srv.url}/shoal/v1/node-join", json={"csr": csr_pem("system:node:rot-other")}, timeout=10)
        assert r.status_code == 403, r.text
        assert "certificate" not in r.json() and r.json()["message"] == (
            'User "system:node:rot-b" cannot create resource "certificatesigningrequests/nodeclient" in API group '
            '"certificates.k8s.io" at the cluster scope: not approved for a node client certificate for '
            '"system:node:rot-other"')
        # nor for a name that merely starts with its own
        r = s.post(f"{srv.url}/shoal/v1/node-join", json={"csr": csr_pem("system:node:rot-b-2")}, timeout=10)
        assert r.status_code == 403 and "certificate" not in r.json()
        # its own name: renewed
        r = s.post(f"{srv.url}/shoal/v1/node-join", json={"csr": csr_pem("system:node:rot-b")}, timeout=10)
        assert r.status_code == 200
        got = x509.load_pem_x509_certificate(r.json()["certificate"].encode())
        assert got.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:rot-b"
        # without rotation the agent keeps the certificate it joined with
        first = cert_of(data_dir)
        assert first is not None
        while dt.datetime.now(dt.UTC) < first.not_valid_after_utc:
            time.sleep(0.2)
        again = cert_of(data_dir)
        assert again is not None and again.serial_number == first.serial_number
    finally:
        stop_process(agent)


def expired_pair(srv: RunningServer, data_dir: Path, name: str) -> int:
    """A certificate for node ``name`` from the cluster CA that expired a minute ago, and its key, in
    ``data_dir``; its serial."""
    ca_key = serialization.load_pem_private_key((srv.data_dir / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate((srv.data_dir / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{name}")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now - dt.timedelta(minutes=1))
            .sign(ca_key, hashes.SHA256()))
    store(data_dir, key, cert.public_bytes(serialization.Encoding.PEM).decode())
    return cert.serial_number


async def test_an_expired_certificate_is_renewed_with_the_join_token(
        srv: RunningServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shoal.agent.certrenewal")
    old = expired_pair(srv, tmp_path, "rot-c")
    graces: list[float] = []
    renewer = CertRenewer(servers=[srv.url], ca_file=srv.ca, data_dir=tmp_path, want=subject("rot-c", simulated=False),
                          token=(srv.data_dir / "node-token").read_text().strip(), user_agent="test",
                          on_renewed=graces.append)
    await renewer.start()
    try:
        async with asyncio.timeout(20):
            while not graces:
                await asyncio.sleep(0.05)
    finally:
        await renewer.stop()
    assert graces == [0.0]  # the connections the expired certificate opened are cut at once
    cert = cert_of(tmp_path)
    assert cert is not None and cert.serial_number != old and cert.not_valid_after_utc > dt.datetime.now(dt.UTC)
    assert key_matches((tmp_path / "node.crt").read_bytes(), (tmp_path / "node.key").read_bytes())
    assert "it expired at" in caplog.text and "node certificate renewed" in caplog.text


async def test_a_failed_renewal_keeps_the_old_pair_and_retries(
        srv: RunningServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="shoal.agent.certrenewal")
    old = expired_pair(srv, tmp_path, "rot-d")
    before = (tmp_path / "node.key").read_bytes()
    renewer = CertRenewer(servers=[srv.url], ca_file=srv.ca, data_dir=tmp_path, want=subject("rot-d", simulated=False),
                          token="shoal-node-not-the-token", user_agent="test", on_renewed=lambda _g: None)
    await renewer.start()
    try:
        async with asyncio.timeout(20):
            while caplog.text.count("renewing the node certificate failed") < 2:  # at once, then after 2 s
                await asyncio.sleep(0.05)
    finally:
        await renewer.stop()
    assert "attempt 1: 401 Unauthorized" in caplog.text and "trying again in 2s" in caplog.text
    assert "attempt 2: 401 Unauthorized" in caplog.text and "trying again in 4s" in caplog.text
    assert "the current one no longer authenticates" in caplog.text
    cert = cert_of(tmp_path)
    assert cert is not None and cert.serial_number == old and (tmp_path / "node.key").read_bytes() == before
    assert renewer.renewals == 0
