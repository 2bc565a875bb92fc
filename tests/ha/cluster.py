"""Three (or N) ``shoal server``s with embedded etcd members on loopback, for the HA tests and benchmark.

Each server has its own data dir, API port, etcd client and peer ports and node name; the first starts the
cluster (``--cluster-init``), the others join it with its server token.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.etcd_fixture import free_port
from tests.server_fixture import RunningServer, start_server

LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"


@dataclass
class Member:
    name: str
    server: RunningServer
    client_port: int
    peer_port: int

    def etcd_pid(self) -> int | None:
        """The pid of this server's etcd member (a child of its server process)."""
        for pid in _children(self.server.proc.pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(c.endswith(b"/etcd") or c == b"etcd" for c in cmd):
                return pid
        return None

    def all_pids(self) -> list[int]:
        """The server and every process under it (scheduler, etcd)."""
        return [self.server.proc.pid, *_children(self.server.proc.pid, deep=True)]


def _children(pid: int, *, deep: bool = True) -> list[int]:
    out: list[int] = []
    try:
        kids = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return out
    for k in kids:
        out.append(k)
        if deep:
            out += _children(k)
    return out


@dataclass
class Cluster:
    members: list[Member] = field(default_factory=list)

    def sessions(self) -> list[requests.Session]:
        return [m.server.session() for m in self.members]

    def alive(self) -> list[Member]:
        return [m for m in self.members if m.server.proc.poll() is None]

    def lease_holder(self, lease: str) -> str:
        for m in self.alive():
            try:
                r = m.server.session().get(f"{m.server.url}{LEASES}/{lease}", timeout=3)
            except requests.RequestException:
                continue
            if r.status_code == 200:
                return str(r.json()["spec"].get("holderIdentity") or "")
        return ""

    def leader_of(self, lease: str) -> Member | None:
        h = self.lease_holder(lease)
        if not h:
            return None
        for m in self.members:
            if h in m.server.log():
                return m
        return None

    def stop(self) -> None:
        for m in self.members:
            for pid in m.all_pids():  # a frozen process would never see the SIGTERM
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
        for m in self.members:
            m.server.stop()


def start_cluster(root: Path, n: int = 3, *, extra: list[str] | None = None, timeout: float = 90) -> Cluster:
    cluster = Cluster()
    try:
        for i in range(n):
            name = f"s{i}"
            cp, pp = free_port(), free_port()
            args = ["--node-name", name, "--etcd-client-port", str(cp), "--etcd-peer-port", str(pp),
                    *(extra or [])]
            if i == 0:
                args.append("--cluster-init")
            else:
                first = cluster.members[0]
                token = (first.server.data_dir / "server-token").read_text().strip()
                args += ["--server", first.server.url, "--token", token]
            srv = start_server(root / name, args=args, timeout=timeout)
            cluster.members.append(Member(name, srv, cp, pp))
    except BaseException:
        cluster.stop()
        raise
    return cluster
