"""The admin kubeconfig: what ``kubectl`` needs to reach and trust the server."""

from __future__ import annotations

import base64

import yaml


def render(*, server: str, ca_pem: bytes, token: str, name: str = "shoal") -> str:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
        }}],
        "users": [{"name": f"{name}-admin", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin", "namespace": "default"}}],
        "current-context": name,
        "preferences": {},
    }
    return str(yaml.safe_dump(cfg, sort_keys=False))
