"""Kubeconfigs: what ``kubectl`` needs to reach and trust the server, and who to be.

The admin kubeconfig carries a bearer token; ``shoal user add`` writes one
with a client certificate and its key instead.
"""

from __future__ import annotations

import base64

import yaml


def render(*, server: str, ca_pem: bytes, token: str | None = None, name: str = "shoal",
           user: str | None = None, client_cert: bytes | None = None, client_key: bytes | None = None) -> str:
    """A kubeconfig for ``server``: with ``token``, or with ``client_cert`` and ``client_key`` (PEM)."""
    user = user or f"{name}-admin"
    creds: dict[str, str] = {}
    if token is not None:
        creds["token"] = token
    if client_cert is not None and client_key is not None:
        creds["client-certificate-data"] = base64.b64encode(client_cert).decode()
        creds["client-key-data"] = base64.b64encode(client_key).decode()
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode(),
        }}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": user, "namespace": "default"}}],
        "current-context": name,
        "preferences": {},
    }
    return str(yaml.safe_dump(cfg, sort_keys=False))


def render_servers(*, servers: list[str], healthy: list[bool], ca_pem: bytes, token: str,
                   name: str = "shoal") -> str:
    """A kubeconfig for a cluster of several servers.

    A kubeconfig cluster has one server, so the context ``name`` (the current one) points at the first
    server that answered healthy (the first listed if none did) and every server also gets a context of
    its own, ``name-1`` .. ``name-N`` in order, for ``kubectl --context`` when that one is down."""
    if len(servers) != len(healthy) or not servers:
        raise ValueError("one health answer per server, and at least one server")
    chosen = next((s for s, ok in zip(servers, healthy, strict=True) if ok), servers[0])
    cfg = yaml.safe_load(render(server=chosen, ca_pem=ca_pem, token=token, name=name))
    user = cfg["users"][0]["name"]
    ca = cfg["clusters"][0]["cluster"]["certificate-authority-data"]
    for i, server in enumerate(servers, 1):
        cfg["clusters"].append({"name": f"{name}-{i}", "cluster": {"server": server,
                                                                  "certificate-authority-data": ca}})
        cfg["contexts"].append({"name": f"{name}-{i}", "context": {"cluster": f"{name}-{i}", "user": user,
                                                                   "namespace": "default"}})
    return str(yaml.safe_dump(cfg, sort_keys=False))
