"""An embedded etcd member's plan: its URLs, etcd's command line, the join protocol's bodies. Pure.

Every member serves clients and peers over TLS with one certificate from the
cluster CA (server and client usage), and asks the same of whoever connects
(``--client-cert-auth``, ``--peer-client-cert-auth``): only holders of a
certificate from this cluster's CA (its servers) reach the data.

A first server starts its member with ``--initial-cluster-state new`` and
itself as the whole cluster. A joining server is first added through etcd's
MemberAdd (by the server it joins), then starts with ``existing`` and the
initial cluster MemberAdd answered (every member's name and peer URL, its own
included). Once a member's data dir holds a member, etcd ignores these flags
and rejoins from its own state: restarts need nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

DEFAULT_CLIENT_PORT = 2379
DEFAULT_PEER_PORT = 2380


@dataclass(frozen=True, slots=True)
class MemberSpec:
    name: str
    data_dir: Path  # <server data dir>/etcd
    host: str  # the address peers and the servers reach this member on
    client_port: int = DEFAULT_CLIENT_PORT
    peer_port: int = DEFAULT_PEER_PORT

    @property
    def client_url(self) -> str:
        return f"https://{_url_host(self.host)}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"https://{_url_host(self.host)}:{self.peer_port}"

    @property
    def endpoint(self) -> str:
        return f"{_url_host(self.host)}:{self.client_port}"

    @property
    def has_data(self) -> bool:
        """Whether this member was started before (etcd then rejoins from its own state)."""
        return (self.data_dir / "data" / "member").is_dir()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@dataclass(frozen=True, slots=True)
class CertPaths:
    ca: Path
    cert: Path
    key: Path


def initial_cluster(members: list[tuple[str, str]]) -> str:
    """etcd's ``--initial-cluster``: ``name=peerURL,...`` (a member with several peer URLs repeats its name)."""
    return ",".join(f"{name}={url}" for name, url in members)


def etcd_command(binary: str, spec: MemberSpec, certs: CertPaths, *, cluster: str, state: str) -> list[str]:
    """etcd's command line for ``spec``; ``state`` is ``new`` (a first server) or ``existing`` (a joiner)."""
    if state not in ("new", "existing"):
        raise ValueError(f"initial cluster state must be new or existing, not {state!r}")
    listen_client = f"https://{_url_host(spec.host)}:{spec.client_port}"
    return [
        binary, "--name", spec.name, "--data-dir", str(spec.data_dir / "data"),
        "--listen-client-urls", listen_client, "--advertise-client-urls", spec.client_url,
        "--listen-peer-urls", spec.peer_url, "--initial-advertise-peer-urls", spec.peer_url,
        "--initial-cluster", cluster, "--initial-cluster-state", state,
        "--initial-cluster-token", "shoal",
        "--cert-file", str(certs.cert), "--key-file", str(certs.key), "--trusted-ca-file", str(certs.ca),
        "--client-cert-auth",
        "--peer-cert-file", str(certs.cert), "--peer-key-file", str(certs.key),
        "--peer-trusted-ca-file", str(certs.ca), "--peer-client-cert-auth",
        # the election timeout is what a server's reads wait out when the member that died was etcd's leader
        # (a standby's Lease read stalls for it, and its 3 s count starts only when that read returns);
        # 500 ms (randomised by etcd to 0.5-1 s) is 5 heartbeats and ~100 loopback/LAN round trips: see
        # docs/decisions.md "etcd's timings for embedded members"
        "--heartbeat-interval", "100", "--election-timeout", "500",
        # a member back from a restart asks before it calls an election (etcd 3.5's default)
        "--pre-vote",
        "--log-level", "warn", "--logger", "zap",
    ]


class JoinRequest(TypedDict):
    name: str  # the joining member's name (its node name)
    peerURL: str
    clientURL: str


class JoinAnswer(TypedDict):
    """What the joined server hands a joining one: the cluster's secrets and its etcd membership."""

    caCert: str
    caKey: str
    saKey: str
    adminToken: str
    nodeToken: str
    serverToken: str
    initialCluster: str  # with the joiner in it
    endpoints: list[str]  # every member's client endpoint, host:port
