"""Run an embedded etcd member as a child process of ``shoal server``, and change the cluster's membership.

The member is Debian's ``etcd`` binary, started with the plan of
``shoal.etcdmember.plan`` and watched: if it exits while the server runs it is
started again (growing back-off), as ``shoal.childproc`` does for the
scheduler. It must not outlive its server (k3s runs etcd inside its process:
a server killed with -9 takes its member with it), so it is started through
util-linux's ``setpriv --pdeathsig SIGKILL`` where that exists: the kernel
kills it when the server dies, however it dies.

Membership changes go through etcd's cluster API on a TLS channel with the
member's certificate: ``add_member`` (by the server being joined, before the
new member starts), ``remove_member`` (``shoal server remove-member``) and
``remove_member_id`` (a deleted server Node's, ``shoal.etcdmember.removal``),
``list_members``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aetcd
from aetcd import rpc

from shoal.childproc import ChildComponent
from shoal.etcdmember.plan import CertPaths, MemberSpec, etcd_command
from shoal.store.etcd import connect_tls, parse_endpoints

log = logging.getLogger(__name__)


class EtcdError(Exception):
    """The embedded etcd could not be started or reached; the message says why."""


def etcd_binary() -> str:
    found = shutil.which("etcd")
    if found is None:
        raise EtcdError("etcd is not installed: `apt-get install etcd-server` (Debian), or run `make setup` as root")
    return found


class EtcdMember:
    """One etcd member as a supervised child process (``shoal.childproc``); see the module docstring."""

    def __init__(self, spec: MemberSpec, certs: CertPaths, *, cluster: str, state: str,
                 restart_base: float = 0.5, restart_max: float = 10.0) -> None:
        self.spec = spec
        self.certs = certs
        cmd = etcd_command(etcd_binary(), spec, certs, cluster=cluster, state=state)
        setpriv = shutil.which("setpriv")
        if setpriv is not None:
            cmd = [setpriv, "--pdeathsig", "SIGKILL", "--", *cmd]
        self.cmd = cmd
        self.restart_base = restart_base
        self.restart_max = restart_max
        self.child: ChildComponent | None = None
        self._log: Any = None

    @property
    def proc(self) -> asyncio.subprocess.Process | None:
        return None if self.child is None else self.child.proc

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def restarts(self) -> int:
        return 0 if self.child is None else self.child.restarts

    async def start(self, *, timeout: float = 60.0) -> None:
        """Start the member and wait until it answers (a joiner's first start includes catching up)."""
        self.spec.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._log = open(self.spec.data_dir / "etcd.log", "ab")  # noqa: SIM115 - closed by stop()
        self.child = ChildComponent(f"etcd member {self.spec.name}", self.cmd, output=self._log,
                                    restart_base=self.restart_base, restart_max=self.restart_max)
        await self.child.start()
        log.info("etcd member %s: clients %s, peers %s", self.spec.name, self.spec.client_url, self.spec.peer_url)
        try:
            await wait_ready([self.spec.endpoint], self.certs, timeout=timeout, proc=self)
        except BaseException:
            await self.stop()
            raise

    def exited(self) -> int | None:
        return None if self.child is None else self.child.exited()

    async def stop(self, *, timeout: float = 15.0) -> None:
        if self.child is not None:
            self.child.stop_timeout = timeout
            await self.child.stop()
        if self._log is not None:
            self._log.close()
            self._log = None


# ---- the cluster API ---------------------------------------------------------------------------
def _tls(certs: CertPaths) -> tuple[bytes, bytes, bytes]:
    return certs.ca.read_bytes(), certs.key.read_bytes(), certs.cert.read_bytes()


@contextlib.asynccontextmanager
async def _client(endpoint: str, certs: CertPaths) -> Any:
    (host, port), = parse_endpoints([endpoint])
    client = aetcd.Client(host=host, port=port)
    connect_tls(client, f"{host}:{port}", _tls(certs))
    try:
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def wait_ready(endpoints: Sequence[str], certs: CertPaths, *, timeout: float,
                     proc: EtcdMember | None = None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = ""
    while loop.time() < deadline:
        if proc is not None and proc.exited() is not None:
            tail = (proc.spec.data_dir / "etcd.log").read_text(errors="replace")[-1500:]
            raise EtcdError(f"etcd exited with {proc.exited()}:\n{tail}")
        for ep in endpoints:
            try:
                async with _client(ep, certs) as c:
                    await c.kvstub.Range(rpc.RangeRequest(key=b"\0", count_only=True), timeout=2)
                return
            except (rpc.AioRpcError, OSError) as e:
                last = f"{ep}: {e}"
        await asyncio.sleep(0.2)
    raise EtcdError(f"etcd did not answer within {timeout:.0f} s ({last})")


def _member_dict(m: Any) -> dict[str, Any]:
    return {"id": int(m.ID), "name": m.name, "peerURLs": list(m.peerURLs), "clientURLs": list(m.clientURLs),
            "isLearner": bool(m.isLearner)}


async def list_members(endpoint: str, certs: CertPaths) -> list[dict[str, Any]]:
    async with _client(endpoint, certs) as c:
        resp = await c.clusterstub.MemberList(rpc.MemberListRequest(), timeout=5)
    return [_member_dict(m) for m in resp.members]


async def list_members_any(endpoints: Sequence[str], certs: CertPaths) -> list[dict[str, Any]]:
    """The member list, from the first of ``endpoints`` that answers."""
    last: Exception | None = None
    for ep in endpoints:
        try:
            return await list_members(ep, certs)
        except (rpc.AioRpcError, OSError) as e:
            last = e
    why = last.details() if isinstance(last, rpc.AioRpcError) else last
    raise EtcdError(f"no etcd member answered the member list: {why}")


async def add_member(endpoints: Sequence[str], certs: CertPaths, *, name: str, peer_url: str,
                     timeout: float = 30.0) -> tuple[list[tuple[str, str]], list[str]]:
    """Add a member (before it starts); its ``--initial-cluster`` entries and every member's client endpoint.

    Adding the member under a name already there with the same peer URL is a retry: it is not added twice.
    etcd refuses a change while a member added just before is not yet counted active ("unhealthy
    cluster"): retried until ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Exception | None = None
    while True:
        for ep in endpoints:
            try:
                async with _client(ep, certs) as c:
                    listed = await c.clusterstub.MemberList(rpc.MemberListRequest(), timeout=5)
                    if not any(peer_url in m.peerURLs for m in listed.members):
                        resp = await c.clusterstub.MemberAdd(rpc.MemberAddRequest(peerURLs=[peer_url]), timeout=10)
                        members = list(resp.members)
                    else:
                        members = list(listed.members)
            except rpc.AioRpcError as e:
                last = e
                continue
            cluster: list[tuple[str, str]] = []
            clients: list[str] = []
            for m in members:
                member_name = m.name or (name if peer_url in m.peerURLs else "")
                cluster += [(member_name, u) for u in m.peerURLs]
                clients += [u.removeprefix("https://").removeprefix("http://") for u in m.clientURLs]
            return cluster, clients
        if loop.time() > deadline:
            why = last.details() if isinstance(last, rpc.AioRpcError) else last
            raise EtcdError(f"could not add etcd member {name}: {why}")
        await asyncio.sleep(0.5)


async def remove_member(endpoints: Sequence[str], certs: CertPaths, name: str, *, timeout: float = 20.0) -> bool:
    """Remove the member called ``name``; False if there is none (see ``_remove``)."""
    return await _remove(endpoints, certs, lambda m: m.name == name, what=name, timeout=timeout)


async def remove_member_id(endpoints: Sequence[str], certs: CertPaths, member_id: int, *,
                           timeout: float = 20.0) -> bool:
    """Remove the member ``member_id`` (exactly the one a decision was made about); False if it is gone."""
    return await _remove(endpoints, certs, lambda m: int(m.ID) == member_id, what=f"{member_id:x}", timeout=timeout)


async def _remove(endpoints: Sequence[str], certs: CertPaths, pick: Callable[[Any], bool], *, what: str,
                  timeout: float) -> bool:
    """Remove the member ``pick`` chooses of the list; False if none.

    etcd refuses a removal that would leave fewer active members than a quorum, counting a member as
    active once it has been connected for a few seconds ("unhealthy cluster"): that is retried until
    ``timeout``. A member removed between the list and the removal ("member not found") is gone: False."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Exception | None = None
    while True:
        for ep in endpoints:
            try:
                async with _client(ep, certs) as c:
                    listed = await c.clusterstub.MemberList(rpc.MemberListRequest(), timeout=5)
                    for m in listed.members:
                        if pick(m):
                            await c.clusterstub.MemberRemove(rpc.MemberRemoveRequest(ID=m.ID), timeout=10)
                            return True
                    return False
            except rpc.AioRpcError as e:
                if "member not found" in (e.details() or ""):
                    return False
                last = e
        if loop.time() > deadline:
            why = last.details() if isinstance(last, rpc.AioRpcError) else last
            raise EtcdError(f"could not remove etcd member {what}: {why}")
        await asyncio.sleep(0.5)


def endpoints_file(etcd_dir: Path) -> Path:
    """Where a server keeps the members' client endpoints it knows (its own first)."""
    return etcd_dir / "endpoints"
