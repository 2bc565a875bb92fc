"""Pod sandboxes without an infra container: network and IPC namespaces the agent makes itself.

Why: with the engine's own networking a pod cost two engine starts (an infra
container to hold the network namespace, then each app container joined to it),
and the engine's bridge setup (CNI plugins run as processes, under a lock)
serialises under load. Measured here with Podman 4.3: 20 containers started at
once took p50 1.5 s on the engine's bridge network and 0.55 s in network
namespaces made beforehand (``NetworkMode: ns:<path>``). So, as the kubelet asks
a CNI plugin to wire a namespace it made, the docker driver makes a pod's
sandbox here with iproute2 (about 15 ms: a network namespace, an IPC namespace,
a veth pair with one end on the node's bridge, an address) and its app
containers join both namespaces by path.

Pod addresses come from the node's own range (``spec.podCIDR``, given by node
IPAM), so they are unique in the cluster and other machines route them to this
one (``shoal.network.overlay``); until the node has its range the pod network
is not configured and sandboxes cannot be made. The bridge's gateway is the
range's first address, and the pods' interfaces take the MTU the overlay leaves
them. Pods' traffic leaving the cluster CIDR is masqueraded; traffic between
pods keeps the pod addresses.

A sandbox is a directory under ``/run/shoal/podnet/nodes/<node>/sandboxes``
holding its record (the pod's labels and address, as an infra container would
carry them) and the per-pod ``/etc/hosts`` and ``/etc/resolv.conf`` that its
containers mount (they cannot take DNS settings of their own in a namespace
they did not create): each node keeps its own records, so agents of several
"machines" (network namespaces) on one host do not see each other's pods.
``/run`` is a tmpfs, like ``/run/netns``: records live exactly as long as the
namespaces they describe, so a reboot leaves neither, and writing them needs
no fsync. Addresses are files in ``/run/shoal/podnet/ips/<range>`` created
with ``O_EXCL`` (as CNI's host-local IPAM keeps them): one directory per
range, so two agents handing out one range on one host (two clusters in one
namespace) still never hand out the same address, and nodes with ranges of
their own never meet.

The pure parts (names, address choice, the iproute2 batches) are functions;
``PodNetwork`` does the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import errno
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shoal.agent.drivers.base import LABEL_POD_UID, ContainerStatus, DriverError

log = logging.getLogger(__name__)

DEFAULT_CIDR = "10.42.0.0/16"  # k3s's cluster CIDR; Podman's bridge is 10.88.0.0/16, services 10.43.0.0/16
BRIDGE = "shoal0"
RUN_DIR = Path("/run/shoal/podnet")
NETNS_DIR = Path("/run/netns")  # where iproute2 keeps named network namespaces
NFT_TABLE = "shoal-podnet"
SANDBOX_PREFIX = "shoal-"  # every sandbox id (and network namespace name) starts so
MNT_DETACH = 2


# ---- pure parts ------------------------------------------------------------------------------
def new_sandbox_id() -> str:
    return SANDBOX_PREFIX + secrets.token_hex(6)


def is_sandbox_id(value: str) -> bool:
    return value.startswith(SANDBOX_PREFIX) and len(value) == len(SANDBOX_PREFIX) + 12


def veth_name(sandbox_id: str) -> str:
    """The host end of a pod's veth pair: at most 15 characters, as the kernel allows."""
    return "vsh" + sandbox_id[-12:]


def candidates(network: ipaddress.IPv4Network, after: str | None) -> Iterator[str]:
    """Every usable pod address, starting after the last one handed out (the gateway is the first host)."""
    first, last = int(network.network_address) + 2, int(network.broadcast_address) - 1
    if last < first:
        return
    start = first
    if after is not None:
        try:
            with_prev = int(ipaddress.IPv4Address(after)) + 1
        except ValueError:  # an unreadable record of the last address: start at the beginning
            with_prev = first
        if first <= with_prev <= last:
            start = with_prev
    for n in range(start, last + 1):
        yield str(ipaddress.IPv4Address(n))
    for n in range(first, start):
        yield str(ipaddress.IPv4Address(n))


def host_batch(sandbox_id: str, bridge: str, mtu: int = 0) -> str:
    """iproute2 batch, run in the host's namespace: the veth pair, its pod end moved into the sandbox."""
    veth = veth_name(sandbox_id)
    m = f" mtu {mtu}" if mtu > 0 else ""
    return (f"link add {veth}{m} type veth peer name eth0{m} netns {sandbox_id}\n"
            f"link set {veth} master {bridge} up\n")


def netns_batch(ip: str, network: ipaddress.IPv4Network) -> str:
    """iproute2 batch, run in the sandbox's network namespace: loopback, the pod address, the default route."""
    gateway = network.network_address + 1
    return (f"addr add {ip}/{network.prefixlen} dev eth0\n"
            "link set lo up\nlink set eth0 up\n"
            f"route add default via {gateway} dev eth0\n")


def range_dir(network: ipaddress.IPv4Network) -> str:
    """The directory name of a range's address files: ``10.42.1.0_24``."""
    return str(network).replace("/", "_")


def masquerade_table(cidr: str) -> str:
    """The masquerade rule's table, one per cluster CIDR (``shoal-podnet-10_42_0_0_16``): every agent flushes
    and rewrites its table whole, so two clusters on one machine with other pod ranges must not share one
    (one would undo the other's rule), and agents of ranges alike write the same rule."""
    return f"{NFT_TABLE}-{re.sub(r'[^0-9a-zA-Z]', '_', cidr)}"


def masquerade_rules(cidr: str, bridge: str, table: str = NFT_TABLE) -> str:
    """nft script: pods' traffic leaving ``cidr`` (the cluster's pod CIDR) is masqueraded, as flannel and
    Podman's bridge do; traffic to pods on any node keeps the pod address."""
    return (f"table ip {table}\nflush table ip {table}\n"
            f"table ip {table} {{\n"
            "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            f"\t\tip saddr {cidr} ip daddr != {cidr} oifname != \"{bridge}\" masquerade\n\t}}\n}}\n")


def hosts_file(ip: str | None, hostname: str) -> str:
    """``/etc/hosts`` of a pod: loopback, and the pod IP under its hostname (as the kubelet writes it)."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    if ip:
        lines.append(f"{ip}\t{hostname}")
    return "\n".join(lines) + "\n"


def resolv_file(servers: tuple[str, ...], searches: tuple[str, ...], options: tuple[str, ...]) -> str:
    out = [f"nameserver {s}" for s in servers]
    if searches:
        out.append("search " + " ".join(searches))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


@dataclass(frozen=True, slots=True)
class SandboxRecord:
    """What an infra container would have told: the pod's labels and address, and the files its containers mount."""

    id: str
    ip: str
    labels: dict[str, str]
    files: tuple[tuple[str, str], ...] = ()  # (host path, container path)

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "ip": self.ip, "labels": self.labels, "files": [list(f) for f in self.files]})

    @staticmethod
    def from_json(text: str) -> SandboxRecord | None:
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict):
                return None
            labels = raw["labels"]
            if not (isinstance(labels, dict) and is_sandbox_id(str(raw["id"]))):
                return None
            files = tuple((str(h), str(c)) for h, c in raw.get("files") or [])
            return SandboxRecord(str(raw["id"]), str(raw["ip"]), {str(k): str(v) for k, v in labels.items()}, files)
        except (ValueError, KeyError, TypeError):
            return None


def write_atomic(path: Path, text: str) -> None:
    """Write then rename, so a reader never sees half a file (no fsync: these files live on tmpfs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # agents on one machine may write the same file
    tmp.write_text(text)
    os.replace(tmp, path)


# ---- I/O --------------------------------------------------------------------------------------
@dataclass
class Addresses:
    """Pod addresses as files named by the address, holding the sandbox id; ``O_EXCL`` makes taking one atomic."""

    directory: Path
    network: ipaddress.IPv4Network

    LAST = "last_reserved_ip"  # as host-local IPAM: the next pod gets the next address, not a freed one

    def allocate(self, owner: str) -> str:
        """Take the next free address after the last one handed out on this machine (by any agent).

        A just-freed address is not reused at once: the host's neighbour cache still maps it to the
        old pod's MAC for a while, and traffic to a new pod behind it would vanish until that expires.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        last_path = self.directory / self.LAST
        try:
            last: str | None = last_path.read_text().strip() or None
        except OSError:
            last = None
        for ip in candidates(self.network, last):
            try:
                fd = os.open(self.directory / ip, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as f:
                f.write(owner)
            write_atomic(last_path, ip)
            return ip
        raise DriverError(f"no free pod address left in {self.network}", reason="FailedCreatePodSandBox")

    def release(self, ip: str, owner: str) -> None:
        path = self.directory / ip
        try:
            if path.read_text() == owner:
                path.unlink()
        except FileNotFoundError:
            pass


def release_address(run_dir: Path, ip: str, owner: str) -> None:
    """Give ``ip`` back, whichever range's directory holds it (a sandbox may outlive a range change)."""
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        return
    base = run_dir / "ips"
    for d in base.iterdir() if base.is_dir() else []:
        try:
            net = ipaddress.IPv4Network(d.name.replace("_", "/"))
        except ValueError:
            continue
        if addr in net:
            Addresses(d, net).release(ip, owner)


def node_networks(run_dir: Path = RUN_DIR) -> list[PodNetwork]:
    """The pod networks whose records are under ``run_dir``: every node's (for tools and tests)."""
    names = sorted(p.name for p in (run_dir / "nodes").iterdir()) if (run_dir / "nodes").is_dir() else []
    out = []
    for n in ["", *names]:
        pn = PodNetwork(run_dir=run_dir, node_name=n)
        pn.load()
        out.append(pn)
    return out


async def _try(*cmd: str) -> int:
    proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await proc.wait()


def _umount_and_remove(path: Path) -> None:
    """What ``ip netns del`` does, in process: detach the namespace's bind mount, remove the file."""
    libc = _libc()
    if libc is not None and libc.umount2(os.fsencode(path), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # EINVAL: not a mount point (a half-made sandbox)
            log.warning("umount %s: %s", path, os.strerror(err))
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


_LIBC: list[ctypes.CDLL | None] = []


def _libc() -> ctypes.CDLL | None:
    if not _LIBC:
        name = ctypes.util.find_library("c")
        _LIBC.append(ctypes.CDLL(name, use_errno=True) if name else None)
    return _LIBC[0]


async def _run(*cmd: str, stdin: str | None = None) -> None:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate(stdin.encode() if stdin is not None else None)
    if proc.returncode != 0:
        raise DriverError(f"{' '.join(cmd[:3])}: {err.decode(errors='replace').strip()[:300]}",
                          reason="FailedCreatePodSandBox")


@dataclass
class PodNetwork:
    """The node's pod bridge, its addresses, and the sandboxes made on it (cached from their records)."""

    cidr: str | None = None  # this node's range; None until ``configure`` (node IPAM gives it)
    bridge: str = BRIDGE
    run_dir: Path = RUN_DIR
    netns_dir: Path = NETNS_DIR
    records: dict[str, SandboxRecord] = field(default_factory=dict)
    node_name: str = ""  # whose records these are ("": the run dir's own, for tools and tests)
    cluster_cidr: str | None = None  # traffic leaving it is masqueraded (None: leaving ``cidr``)
    mtu: int = 0  # of the pods' interfaces (0: the kernel's default)

    def __post_init__(self) -> None:
        self.network: ipaddress.IPv4Network | None = None
        self.addresses: Addresses | None = None
        self.state_dir = self.run_dir / "nodes" / self.node_name if self.node_name else self.run_dir
        self._bridge_up = False
        if self.cidr is not None:
            self._set_range(self.cidr)

    def _set_range(self, cidr: str) -> None:
        try:
            network = ipaddress.IPv4Network(cidr)
        except ValueError as e:
            raise DriverError(f"pod CIDR {cidr!r}: {e}") from e
        if network.num_addresses < 4:
            raise DriverError(f"pod CIDR {cidr!r} is too small")
        self.cidr, self.network = cidr, network
        self.addresses = Addresses(self.run_dir / "ips" / range_dir(network), network)

    @property
    def configured(self) -> bool:
        return self.network is not None

    @property
    def set_up(self) -> bool:
        """``setup`` ran: a driver uses this network for its pods."""
        return self._bridge_up

    async def configure(self, cidr: str, *, cluster_cidr: str | None = None, mtu: int | None = None) -> None:
        """Take this node's range (and the cluster's, and the pods' MTU); applied at once if set up."""
        if self.network is not None and str(self.network) != str(ipaddress.IPv4Network(cidr, strict=False)):
            log.warning("pod network: the node's range changed from %s to %s; new pods get addresses from the "
                        "new one", self.network, cidr)
        if cluster_cidr is not None:
            self.cluster_cidr = cluster_cidr
        if mtu is not None:
            self.mtu = mtu
        self._set_range(cidr)
        if self._bridge_up:
            await self._apply_range()

    @staticmethod
    def available() -> str | None:
        """Why this machine cannot make pod namespaces (None when it can)."""
        if os.geteuid() != 0:
            return "not root"
        missing = [b for b in ("ip", "unshare") if shutil.which(b) is None]
        if missing:
            return "no " + " or ".join(missing) + " command"
        if _libc() is None:
            return "no C library to unmount namespaces with"
        return None

    async def setup(self) -> None:
        """The bridge, forwarding on, the records of this boot; the gateway and NAT once the range is known."""
        why = self.available()
        if why:
            raise DriverError(f"pod namespaces unavailable: {why}")
        # /sys/class/net shows the namespace sysfs was mounted in, not necessarily ours: ask iproute2
        if await _try("ip", "link", "show", "dev", self.bridge) != 0:
            try:
                await _run("ip", "link", "add", self.bridge, "type", "bridge")
            except DriverError:
                if await _try("ip", "link", "show", "dev", self.bridge) != 0:  # not another agent's race win
                    raise
        await _run("ip", "link", "set", self.bridge, "up")
        fwd = Path("/proc/sys/net/ipv4/ip_forward")
        try:
            if fwd.read_text().strip() != "1":
                fwd.write_text("1\n")
        except OSError as e:
            log.warning("pod network: cannot turn on IPv4 forwarding: %s", e)
        self.netns_dir.mkdir(parents=True, exist_ok=True)
        self.load()
        self._bridge_up = True
        if self.network is not None:
            await self._apply_range()

    async def _apply_range(self) -> None:
        assert self.network is not None
        gateway = f"{self.network.network_address + 1}/{self.network.prefixlen}"
        await _run("ip", "addr", "replace", gateway, "dev", self.bridge)
        if shutil.which("nft"):
            try:
                cidr = self.cluster_cidr or str(self.network)
                await _run("nft", "-f", "-", stdin=masquerade_rules(cidr, self.bridge, masquerade_table(cidr)))
            except DriverError as e:
                log.warning("pod network: no outbound NAT for pods: %s", e)

    def load(self) -> None:
        self.records.clear()
        base = self.state_dir / "sandboxes"
        for path in base.glob(f"{SANDBOX_PREFIX}*/sandbox.json") if base.exists() else []:
            try:
                rec = SandboxRecord.from_json(path.read_text())
            except OSError:
                continue
            if rec is not None and rec.id == path.parent.name:
                self.records[rec.id] = rec

    def sandbox_dir(self, sandbox_id: str) -> Path:
        return self.state_dir / "sandboxes" / sandbox_id

    def netns_path(self, sandbox_id: str) -> Path:
        return self.netns_dir / sandbox_id

    def ipc_path(self, sandbox_id: str) -> Path:
        return self.sandbox_dir(sandbox_id) / "ipc"

    async def create(self, labels: dict[str, str], hostname: str, resolv: str | None) -> SandboxRecord:
        """Namespaces, veth, address and the pod's files; nothing is left behind when a step fails."""
        if self.network is None or self.addresses is None:
            raise DriverError(f"pod network not ready: node {self.node_name or '(this node)'} has no pod CIDR "
                              "yet (spec.podCIDR, given by the nodeipam controller)", reason="FailedCreatePodSandBox")
        network, addresses = self.network, self.addresses
        sid = new_sandbox_id()
        d = self.sandbox_dir(sid)
        ip = addresses.allocate(sid)
        try:
            d.mkdir(parents=True, exist_ok=True)
            self.ipc_path(sid).touch()
            await _run("ip", "netns", "add", sid)
            await _run("unshare", f"--ipc={self.ipc_path(sid)}", "true")
            await _run("ip", "-b", "-", stdin=host_batch(sid, self.bridge, self.mtu))
            await _run("ip", "-n", sid, "-b", "-", stdin=netns_batch(ip, network))
            files = [(str(d / "hosts"), "/etc/hosts")]
            write_atomic(d / "hosts", hosts_file(ip, hostname[:63]))
            if resolv is not None:
                write_atomic(d / "resolv.conf", resolv)
                files.append((str(d / "resolv.conf"), "/etc/resolv.conf"))
            rec = SandboxRecord(sid, ip, dict(labels), tuple(files))
            write_atomic(d / "sandbox.json", rec.to_json())  # last: a record means a whole sandbox
        except BaseException:
            self._teardown(sid, ip, addresses)
            shutil.rmtree(d, ignore_errors=True)
            raise
        self.records[sid] = rec
        return rec

    def running(self, sandbox_id: str) -> bool:
        return self.netns_path(sandbox_id).exists()

    def stop(self, sandbox_id: str) -> None:
        """Tear the namespaces down and give the address back; the record stays (the sandbox shows as exited)."""
        rec = self.records.get(sandbox_id)
        if rec is not None:
            self._teardown(sandbox_id, rec.ip)

    def remove(self, sandbox_id: str) -> None:
        self.stop(sandbox_id)
        self.records.pop(sandbox_id, None)
        shutil.rmtree(self.sandbox_dir(sandbox_id), ignore_errors=True)

    def _teardown(self, sandbox_id: str, ip: str, addresses: Addresses | None = None) -> None:
        # the veth pair goes with the network namespace once nothing holds it (the kernel does it shortly after)
        _umount_and_remove(self.netns_path(sandbox_id))
        _umount_and_remove(self.ipc_path(sandbox_id))
        if addresses is not None:
            addresses.release(ip, sandbox_id)
        else:
            release_address(self.run_dir, ip, sandbox_id)

    def status(self, sandbox_id: str) -> ContainerStatus | None:
        rec = self.records.get(sandbox_id)
        if rec is None:
            return None
        up = self.running(sandbox_id)
        return ContainerStatus(id=rec.id, name="sandbox", pod_uid=rec.labels.get(LABEL_POD_UID, ""),
                               state="running" if up else "exited", exit_code=None if up else 0,
                               labels=dict(rec.labels), ip=rec.ip if up else None)

    def matching(self, labels: dict[str, str] | None) -> list[ContainerStatus]:
        want = labels or {}
        out = []
        for sid, rec in list(self.records.items()):
            if all(rec.labels.get(k) == v for k, v in want.items()):
                st = self.status(sid)
                if st is not None:
                    out.append(st)
        return out


__all__ = ["DEFAULT_CIDR", "PodNetwork", "SandboxRecord", "candidates", "host_batch", "hosts_file",
           "is_sandbox_id", "masquerade_rules", "masquerade_table", "netns_batch", "node_networks", "range_dir",
           "release_address", "resolv_file", "veth_name"]
