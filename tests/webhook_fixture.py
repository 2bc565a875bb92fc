"""A real HTTPS admission webhook on loopback, with its own CA, for tests and the webhook benchmark.

``WebhookServer`` runs an aiohttp server in a thread of its own, on a free
loopback port, serving a certificate for ``127.0.0.1`` and ``<svc>.<ns>.svc``
signed by a CA it makes (``ca_bundle`` is that CA, base64, as a
``caBundle``). What each path answers is in ``_answer``: ``/allow``,
``/deny``, ``/label`` (a JSON patch adding a label), ``/slow`` (sleeps past
any timeout), ``/garbage`` (not JSON), ``/wrong-uid``, ``/warn``; every
AdmissionReview request it receives is kept in ``requests`` (path, body).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import ipaddress
import json
import socket
import ssl
import tempfile
import threading
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_certs(dns_names: list[str]) -> tuple[bytes, bytes, bytes]:
    """(CA cert PEM, server cert PEM, server key PEM) for 127.0.0.1 and ``dns_names``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook-test-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    sans += [x509.DNSName(n) for n in dns_names]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (ca.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def _response(uid: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": uid, **fields}}


def _patch(ops: list[dict[str, Any]]) -> str:
    return base64.b64encode(json.dumps(ops).encode()).decode()


class WebhookServer:
    def __init__(self, dns_names: list[str] | None = None) -> None:
        self.port = _free_port()
        ca, cert, key = make_certs(dns_names or ["hook.webhooks.svc"])
        self.ca_pem = ca
        self.ca_bundle = base64.b64encode(ca).decode()
        self._dir = tempfile.TemporaryDirectory()
        d = Path(self._dir.name)
        (d / "tls.crt").write_bytes(cert)
        (d / "tls.key").write_bytes(key)
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(d / "tls.crt", d / "tls.key")
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def start(self) -> WebhookServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self._ssl).start()

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._dir.cleanup()

    def seen(self, path: str) -> list[dict[str, Any]]:
        return [b for p, b in list(self.requests) if p == path]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append((request.path, body))
        return await self._answer(request.path, body["request"])

    async def _answer(self, path: str, req: dict[str, Any]) -> web.StreamResponse:
        uid = req["uid"]
        if path == "/allow":
            return web.json_response(_response(uid, allowed=True))
        if path == "/deny":
            return web.json_response(_response(uid, allowed=False, status={
                "code": 403, "reason": "Forbidden", "message": "pods named deny-me are not welcome"}))
        if path == "/warn":
            return web.json_response(_response(uid, allowed=True, warnings=["this object is watched"]))
        if path == "/label":
            obj = req.get("object") or {}
            ops: list[dict[str, Any]] = []
            if not (obj.get("metadata") or {}).get("labels"):
                ops.append({"op": "add", "path": "/metadata/labels", "value": {}})
            ops.append({"op": "add", "path": "/metadata/labels/mutated-by", "value": "webhook"})
            return web.json_response(_response(uid, allowed=True, patchType="JSONPatch", patch=_patch(ops)))
        if path == "/count":  # appends to an annotation each time it is called (for reinvocation)
            obj = req.get("object") or {}
            ann = dict((obj.get("metadata") or {}).get("annotations") or {})
            ops = [{"op": "add", "path": "/metadata/annotations",
                    "value": {**ann, "calls": ann.get("calls", "") + "x"}}]
            return web.json_response(_response(uid, allowed=True, patchType="JSONPatch", patch=_patch(ops)))
        if path == "/replicas":  # Scale objects: at most 3 replicas
            replicas = ((req.get("object") or {}).get("spec") or {}).get("replicas", 0)
            if replicas > 3:
                return web.json_response(_response(uid, allowed=False, status={"message": "at most 3 replicas"}))
            return web.json_response(_response(uid, allowed=True))
        if path == "/slow":
            await asyncio.sleep(5)
            return web.json_response(_response(uid, allowed=True))
        if path == "/garbage":
            return web.Response(text="this is not an AdmissionReview", content_type="text/plain")
        if path == "/wrong-uid":
            return web.json_response(_response("not-" + uid, allowed=True))
        return web.Response(status=404)
