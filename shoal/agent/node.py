"""Node registration and heartbeat: the Node object and its Lease.

The agent creates (or takes over) its Node with capacity and allocatable from
the host (CPUs, memory, pods=110) or from ``--capacity``; the well-known labels
plus ``--labels``; addresses; nodeInfo and the Ready condition. Liveness is a
Lease in ``kube-node-lease`` renewed every ``lease_interval`` seconds (a small
merge patch); the Node's status is rewritten only when it changes or every
``status_interval`` seconds, as the kubelet does since leases exist, which is
what lets one process carry a thousand simulated nodes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.api import views
from shoal.client import ApiClient, ApiException

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
KUBELET_VERSION = "v1.32.0+shoal"


def now_iso() -> str:
    return views.format_time(views.utcnow())


def now_micro() -> str:
    return views.format_micro(views.utcnow())


def parse_kv(text: str, *, what: str) -> dict[str, str]:
    """``k=v,k2=v2`` -> dict; a clear ValueError on anything else."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            raise ValueError(f"{what}: expected key=value, got {part!r}")
        out[k.strip()] = v.strip()
    return out


def host_capacity() -> dict[str, str]:
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    except (OSError, ValueError):
        pass
    cap = {"cpu": str(os.cpu_count() or 1), "memory": f"{mem_kib}Ki", "pods": "110"}
    try:
        st = os.statvfs("/")
        cap["ephemeral-storage"] = f"{st.f_blocks * st.f_frsize // 1024}Ki"
    except OSError:
        pass
    return cap


def host_ip() -> str:
    """The address other machines would reach us on (a UDP connect sends no packet)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def os_image() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def arch() -> str:
    m = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(m, m)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)  # e.g. where local volumes live
    capacity: dict[str, str] = field(default_factory=dict)  # empty: the host's
    address: str = ""
    runtime_version: str = ""
    lease_interval: float = 2.0
    lease_duration: int = 40
    status_interval: float = 60.0


def node_object(cfg: NodeConfig) -> dict[str, Any]:
    cap = {**host_capacity(), **cfg.capacity} if cfg.capacity else host_capacity()
    labels = {"kubernetes.io/hostname": cfg.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": arch(),
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": arch(), **cfg.labels}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": cfg.name, "labels": labels,
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0", **cfg.annotations}},
        "spec": {},
        "status": node_status(cfg, cap),
    }


def node_status(cfg: NodeConfig, cap: dict[str, str]) -> dict[str, Any]:
    now = now_iso()
    conds = [
        {"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": now, "lastTransitionTime": now}
        for t, r, m in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        )
    ]
    conds.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                  "message": "shoal agent is posting ready status", "lastHeartbeatTime": now,
                  "lastTransitionTime": now})
    return {
        "capacity": dict(cap), "allocatable": dict(cap), "conditions": conds,
        "addresses": [{"type": "InternalIP", "address": cfg.address or host_ip()},
                      {"type": "Hostname", "address": cfg.name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": _machine_id(), "systemUUID": "", "bootID": _boot_id(),
            "kernelVersion": platform.release(), "osImage": os_image(),
            "containerRuntimeVersion": cfg.runtime_version, "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux", "architecture": arch(),
        },
    }


def _machine_id() -> str:
    try:
        return Path("/etc/machine-id").read_text().strip()
    except OSError:
        return ""


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class NodeHeartbeat:
    """Registers one node and keeps its Lease (and, less often, its status) fresh."""

    def __init__(self, client: ApiClient, cfg: NodeConfig) -> None:
        self.client = client
        self.cfg = cfg
        self.node: dict[str, Any] = {}
        self._last_status = 0.0
        self.renewals = 0

    async def register(self) -> None:
        want = node_object(self.cfg)
        try:
            self.node = await self.client.create("nodes", want)
            log.info("registered node %s", self.cfg.name)
        except ApiException as e:
            if e.status != 409:
                raise
            # an existing node (a restart, or a node created by hand): take it over, keep its spec
            patch = {"metadata": {"labels": want["metadata"]["labels"], "annotations": dict(self.cfg.annotations)}}
            await self.client.patch("nodes", self.cfg.name, patch)
            self.node = await self.client.patch("nodes", self.cfg.name, {"status": want["status"]},
                                                subresource="status")
        self._last_status = asyncio.get_running_loop().time()
        await self._ensure_lease()

    async def _ensure_lease(self) -> None:
        lease = {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": self.cfg.name, "namespace": LEASE_NAMESPACE,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.cfg.name,
                                              "uid": self.node["metadata"]["uid"]}]},
            "spec": {"holderIdentity": self.cfg.name, "leaseDurationSeconds": self.cfg.lease_duration,
                     "renewTime": now_micro()},
        }
        try:
            await self.client.create("leases", lease, LEASE_NAMESPACE)
        except ApiException as e:
            if e.status == 404:  # the namespace is missing: create it, then the lease
                try:
                    await self.client.create("namespaces", {"metadata": {"name": LEASE_NAMESPACE}})
                except ApiException as e2:
                    if e2.status != 409:
                        raise
                await self.client.create("leases", lease, LEASE_NAMESPACE)
            elif e.status == 409:
                await self.renew()
            else:
                raise

    async def renew(self) -> None:
        try:
            await self.client.patch("leases", self.cfg.name, {"spec": {
                "renewTime": now_micro(), "holderIdentity": self.cfg.name,
                "leaseDurationSeconds": self.cfg.lease_duration}}, LEASE_NAMESPACE)
            self.renewals += 1
        except ApiException as e:
            if e.status == 404:
                await self._ensure_lease()
            else:
                raise

    async def report_status(self) -> None:
        """Heartbeat the Node's conditions (and recreate the Node if someone deleted it)."""
        now = now_iso()
        conds = []
        for c in views.conditions(self.node):
            conds.append({**c, "lastHeartbeatTime": now})
        try:
            self.node = await self.client.patch("nodes", self.cfg.name, {"status": {"conditions": conds}},
                                                subresource="status")
        except ApiException as e:
            if e.status == 404:
                await self.register()
                return
            raise

    async def run(self, *, offset: float = 0.0) -> None:
        """Renew the lease forever (started ``offset`` seconds late, to spread many nodes)."""
        loop = asyncio.get_running_loop()
        if offset:
            await asyncio.sleep(offset)
        while True:
            started = loop.time()
            try:
                await self.renew()
                if started - self._last_status >= self.cfg.status_interval:
                    self._last_status = started
                    await self.report_status()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("node %s: heartbeat failed: %s", self.cfg.name, e)
            await asyncio.sleep(max(0.05, self.cfg.lease_interval - (loop.time() - started)))
