"""The service proxy on each node: kernel rules (nftables), or a userspace fallback.

Like kube-proxy, it follows Services and Endpoints through informers and keeps
the dataplane equal to them: within a few tens of milliseconds of a change the
node's whole ``ip shoal_<node>`` table is replaced in one nft transaction. The
service CIDR is made local to the machine (``ip route replace local CIDR dev
lo``), so a packet to a VIP with no rule is refused here and never leaves the
machine. On shutdown the table is removed, and the route too unless another
shoal table remains (a second node on the same machine still needs it).

Where shoal is not root or nft is unavailable, a userspace TCP proxy binds the
same addresses where it can (VIPs need the local route, hence root; NodePorts
and LoadBalancer ports bind on every address) and relays connections
round-robin over the endpoints the traffic policies allow, the same pick as
the kernel rules' (``userspace_listeners``). The log says which mode is active.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import shutil

from shoal.api import views as v
from shoal.client import Informer, InformerFactory
from shoal.network import machine, nftrules

log = logging.getLogger(__name__)

_TABLE_COMMENT = re.compile(r'comment "([^"]*)"')  # the first in a table's listing is the table's own


async def _run(*cmd: str, stdin: str | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate(stdin.encode() if stdin is not None else None)
    return proc.returncode or 0, out.decode(errors="replace")


def kernel_mode_available() -> bool:
    return os.geteuid() == 0 and shutil.which("nft") is not None and shutil.which("ip") is not None


def can_route() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


async def shoal_tables(cidr: str | None = None) -> list[str]:
    """The shoal tables (any node's) in the kernel; with ``cidr``, only those serving that service CIDR."""
    rc, out = await _run("nft", "list", "tables", "ip")
    if rc != 0:
        return []
    names = [ln.split()[-1] for ln in out.splitlines() if ln.startswith("table ip ")]
    names = [n for n in names if nftrules.is_shoal_table(n)]
    if cidr is None:
        return names
    return [n for n, owner in (await table_owners(names)).items() if owner.cidr == cidr]


async def table_owners(names: list[str] | None = None) -> dict[str, machine.TableOwner]:
    """What the comments of the shoal tables (``names``, else all) say: service CIDR, cluster, process."""
    if names is None:
        names = await shoal_tables()
    owners = {}
    for n in names:
        rc, body = await _run("nft", "list", "table", "ip", n)
        m = _TABLE_COMMENT.search(body) if rc == 0 else None
        owner = machine.parse_comment(m.group(1)) if m else None
        if owner is not None:
            owners[n] = owner
    return owners


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


Listener = tuple[str, int, str]  # (address, port, protocol) the userspace proxy binds


def userspace_listeners(ports: list[nftrules.ServicePort]) -> dict[Listener, list[tuple[str, int]]]:
    """What the userspace proxy binds and where each listener relays: a VIP to the endpoints its
    ``internalTrafficPolicy`` allows, a NodePort or LoadBalancer port (traffic from outside) to those of
    its ``externalTrafficPolicy`` - the endpoints the nftables rules pick (``nftrules``), so both
    dataplanes keep ``Local`` traffic on the node. (A relay cannot keep the client's address: the pod
    sees this node's.) A listener left with no endpoint accepts and closes, as one with none at all. Pure."""
    want: dict[Listener, list[tuple[str, int]]] = {}
    for sp in ports:
        if sp.protocol != "tcp":
            continue
        if sp.vip:
            want[(sp.vip, sp.port, "tcp")] = list(nftrules.internal_endpoints(sp))
        external = list(nftrules.external_endpoints(sp))
        if sp.node_port:
            want[("0.0.0.0", sp.node_port, "tcp")] = external
        if sp.load_balancer:
            want.setdefault(("0.0.0.0", sp.port, "tcp"), external)
    return want


class ServiceProxy:
    def __init__(self, factory: InformerFactory, *, service_cidr: str = "10.43.0.0/16",
                 mode: str = "auto", debounce: float = 0.02, table: str = nftrules.TABLE,
                 node_name: str = "", cluster_id: str = "") -> None:
        self.factory = factory
        self.cluster_id = cluster_id  # written, with this process, in the table's comment (shoal.network.machine)
        self.node_name = node_name  # whose endpoints are local, for the Local traffic policies
        self.table = table
        self.cidr = service_cidr
        self.mode = mode if mode != "auto" else ("nftables" if kernel_mode_available() else "userspace")
        self.debounce = debounce
        self.services: Informer = factory.informer("services")
        self.endpoints: Informer = factory.informer("endpoints")
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._applied: str | None = None
        self.route_local = False  # the service CIDR is routed locally: VIPs can be bound and are refused
        self._userspace: dict[tuple[str, int, str], _TcpRelay] = {}
        self.applied_count = 0
        for inf in (self.services, self.endpoints):
            inf.add_handler(on_add=self._changed, on_update=lambda o, n: self._changed(n), on_delete=self._changed)

    def _changed(self, _obj: object) -> None:
        self._dirty.set()

    async def check_machine(self, dns_ip: str) -> None:
        """Refuse (``NetworkConflict``) when another live cluster on this machine serves an overlapping service
        CIDR; remove the tables other clusters' dead processes left (shoal.network.machine)."""
        if self.mode != "nftables" or not self.cluster_id:
            return
        verdict = machine.conflicts(await table_owners(), cidr=self.cidr, cluster_id=self.cluster_id,
                                    alive=process_alive)
        for name in verdict.stale:
            log.info("service proxy: removing nft table ip %s, left by a process that is gone", name)
            await _run("nft", "-f", "-", stdin=nftrules.render_delete(name))
        if verdict.conflicts:
            raise machine.NetworkConflict(machine.conflict_message(verdict.conflicts, cidr=self.cidr, dns_ip=dns_ip))

    async def start(self) -> None:
        if self.mode == "nftables" or can_route():
            rc, out = await _run("ip", "route", "replace", "local", self.cidr, "dev", "lo")
            if rc != 0 and self.mode == "nftables":
                log.warning("cannot route the service CIDR locally (%s); using the userspace proxy", out.strip())
                self.mode = "userspace"
            elif rc != 0:
                log.warning("cannot route the service CIDR locally (%s); the userspace proxy serves no VIPs",
                            out.strip())
            else:
                self.route_local = True
        if self.mode == "nftables":
            with contextlib.suppress(OSError), open("/proc/sys/net/bridge/bridge-nf-call-iptables", "w") as f:
                f.write("1")
        log.info("service proxy mode: %s (service CIDR %s%s)", self.mode, self.cidr,
                 f", table ip {self.table}" if self.mode == "nftables" else "")
        self._dirty.set()
        self._task = asyncio.create_task(self._loop(), name="service-proxy")

    async def _loop(self) -> None:
        await self.services.wait_synced()
        await self.endpoints.wait_synced()
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce)
            self._dirty.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("service proxy sync failed; retrying")
                await asyncio.sleep(1)
                self._dirty.set()

    def ports(self) -> list[nftrules.ServicePort]:
        eps = {(v.namespace(e), v.name(e)): e for e in self.endpoints.list()}
        return nftrules.service_ports(self.services.list(), eps, self.node_name)

    async def sync(self) -> None:
        ports = self.ports()
        if self.mode == "nftables":
            script = nftrules.render(ports, self.table, cidr=self.cidr, comment=machine.comment(
                machine.TableOwner(self.cidr, self.cluster_id, os.getpid())))
            if script == self._applied:
                return
            rc, out = await _run("nft", "-f", "-", stdin=script)
            if rc != 0:
                raise RuntimeError(f"nft rejected the ruleset: {out.strip()}")
            self._applied = script
        else:
            await self._sync_userspace(ports)
        self.applied_count += 1

    async def _sync_userspace(self, ports: list[nftrules.ServicePort]) -> None:
        want = userspace_listeners(ports)
        for key in list(self._userspace):
            if key not in want:
                await self._userspace.pop(key).stop()
        for key, backends in want.items():
            relay = self._userspace.get(key)
            if relay is None:
                relay = _TcpRelay(key[0], key[1])
                try:
                    await relay.start()
                except OSError as e:
                    log.warning("userspace proxy cannot listen on %s:%d: %s", key[0], key[1], e)
                    continue
                self._userspace[key] = relay
            relay.set_backends(backends)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self.mode == "nftables":
            await _run("nft", "-f", "-", stdin=nftrules.render_delete(self.table))
        for relay in self._userspace.values():
            await relay.stop()
        self._userspace.clear()
        if self.route_local:
            others = [t for t in await shoal_tables(self.cidr) if t != self.table] if shutil.which("nft") else []
            if others:
                log.info("service proxy: leaving the local route of %s to the other shoal table(s) here: %s",
                         self.cidr, ", ".join(others))
            else:
                await _run("ip", "route", "del", "local", self.cidr, "dev", "lo")
            self.route_local = False


class _TcpRelay:
    """One listening address of the userspace proxy, relaying to the current backends."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._backends: list[tuple[str, int]] = []
        self._rr = itertools.count()
        self._server: asyncio.base_events.Server | None = None

    def set_backends(self, backends: list[tuple[str, int]]) -> None:
        self._backends = backends

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._backends:
            writer.close()
            return
        ip, port = self._backends[next(self._rr) % len(self._backends)]
        try:
            br, bw = await asyncio.open_connection(ip, port)
        except OSError:
            writer.close()
            return

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except ConnectionError:
                pass
            finally:
                with contextlib.suppress(Exception):
                    w.close()

        await asyncio.gather(pipe(reader, bw), pipe(br, writer))
