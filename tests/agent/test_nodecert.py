"""The agent's node credential (``nodecert.usable``) and the objects it watches (``sources.source_refs``)."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shoal.agent.nodecert import key_matches, key_pem, subject, usable
from shoal.agent.sources import source_refs

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj).public_key(key.public_key())
            .serial_number(1).not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=3650)).sign(key, hashes.SHA256()))
    return cert, key


def issued(by: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], cn: str, days: int) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(by[0].subject).public_key(key.public_key()).serial_number(2)
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=days))
            .sign(by[1], hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def test_a_stored_certificate_is_used_only_while_it_is_this_nodes_from_this_ca() -> None:
    mine, other = ca("cluster"), ca("cluster")  # same name, another key
    ca_pem = mine[0].public_bytes(serialization.Encoding.PEM)
    want = subject("n1", simulated=False)
    assert usable(issued(mine, "system:node:n1", 365), want, ca_pem, NOW) is None
    assert "names" in (usable(issued(mine, "system:node:n2", 365), want, ca_pem, NOW) or "")
    assert "expires" in (usable(issued(mine, "system:node:n1", 10), want, ca_pem, NOW) or "")
    assert "signature" in (usable(issued(other, "system:node:n1", 365), want, ca_pem, NOW) or "")
    assert "unreadable" in (usable(b"junk", want, ca_pem, NOW) or "")
    assert subject("n1", simulated=True).common_name == "system:shoal:simulated-nodes:n1"


def test_the_objects_a_pod_reads() -> None:
    pod = {"metadata": {"namespace": "ns"}, "spec": {
        "imagePullSecrets": [{"name": "pull"}],
        "volumes": [{"name": "a", "configMap": {"name": "cm"}}, {"name": "b", "secret": {"secretName": "s"}},
                    {"name": "c", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}},
                                                            {"configMap": {"name": "root-ca"}}]}},
                    {"name": "d", "emptyDir": {}}],
        "containers": [{"envFrom": [{"secretRef": {"name": "env-s"}}],
                        "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}},
                                {"name": "Y", "value": "plain"}]}]}}
    assert source_refs(pod) == {("secrets", "ns", "pull"), ("configmaps", "ns", "cm"), ("secrets", "ns", "s"),
                                ("configmaps", "ns", "root-ca"), ("secrets", "ns", "env-s"),
                                ("configmaps", "ns", "env-cm")}


def test_a_renewed_certificate_is_checked_without_the_restart_margin() -> None:
    mine = ca("cluster")
    ca_pem = mine[0].public_bytes(serialization.Encoding.PEM)
    want = subject("n1", simulated=False)
    short = issued(mine, "system:node:n1", 10)  # ten days: a restart asks again; a renewal takes it
    assert "expires" in (usable(short, want, ca_pem, NOW) or "")
    assert usable(short, want, ca_pem, NOW, renew_before=dt.timedelta(0)) is None
    # one that has expired never does
    assert "expires" in (usable(short, want, ca_pem, NOW + dt.timedelta(days=11), renew_before=dt.timedelta(0)) or "")


def test_a_key_matches_only_its_own_certificate() -> None:
    mine = ca("cluster")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "n")]))
            .issuer_name(mine[0].subject).public_key(key.public_key()).serial_number(3)
            .not_valid_before(NOW).not_valid_after(NOW + dt.timedelta(days=1)).sign(mine[1], hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    assert key_matches(pem, key_pem(key))
    assert not key_matches(pem, key_pem(ec.generate_private_key(ec.SECP256R1())))
    assert not key_matches(pem, b"junk") and not key_matches(b"junk", key_pem(key))
