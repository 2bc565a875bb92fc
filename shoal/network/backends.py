"""Overlay backends: how this node's pods reach other nodes' pods (``--network-backend``).

A backend is the small interface flannel's backends have:

* ``ensure(local, needed)``: make the node's own device (if it has one) and
  say what to publish about it on the Node (``backend-data``), or None while
  there is nothing to publish. VXLAN makes its device lazily, when the first
  node on another machine appears, so a one-machine cluster opens no UDP port;
* ``plan(local, nodes)``: the forwarding entries wanted (pure, ``overlay``);
* ``current()``: the entries of shoal's the kernel has now;
* ``overhead``: bytes the encapsulation adds (pods' MTU = underlay's − this).

The executor around them (``overlaynode``) diffs ``current`` with ``plan`` and
applies the difference. A WireGuard backend would fit the same four: ``ensure``
makes ``shoal-wg`` with a private key kept on the node and publishes the
public key, ``plan`` adds one peer entry per node (its public key, endpoint
``public-ip:51820`` and allowed IPs = its pod CIDRs) beside routes over the
device, ``current`` reads ``wg show dump``, overhead 60 (see docs/decisions.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from shoal.network import netlink
from shoal.network.overlay import (
    VXLAN_OVERHEAD,
    Entries,
    NodeNet,
    Plan,
    plan_host_gw,
    plan_vxlan,
    vxlan_device,
)

log = logging.getLogger(__name__)


class Backend(Protocol):
    name: str
    overhead: int

    async def ensure(self, local: NodeNet, needed: bool) -> dict[str, Any] | None: ...

    def plan(self, local: NodeNet, nodes: Sequence[NodeNet]) -> Plan: ...

    async def current(self) -> Entries: ...


class NoBackend:
    """``none``: no entries (and any left by another backend are removed)."""

    name = "none"
    overhead = 0

    async def ensure(self, local: NodeNet, needed: bool) -> dict[str, Any] | None:
        return None

    def plan(self, local: NodeNet, nodes: Sequence[NodeNet]) -> Plan:
        return Plan()

    async def current(self) -> Entries:
        return await netlink.current(None)


class HostGwBackend:
    """``host-gw``: a route per peer through its underlay address (one L2 segment, no encapsulation)."""

    name = "host-gw"
    overhead = 0

    def __init__(self, underlay: netlink.Underlay) -> None:
        self.underlay = underlay

    async def ensure(self, local: NodeNet, needed: bool) -> dict[str, Any] | None:
        return None

    def plan(self, local: NodeNet, nodes: Sequence[NodeNet]) -> Plan:
        return plan_host_gw(local, nodes, device=self.underlay.dev, segment=self.underlay.network)

    async def current(self) -> Entries:
        return await netlink.current(None)


class VxlanBackend:
    """``vxlan``: kernel VXLAN (VNI 1, UDP 8472, no learning), as flannel's vxlan backend."""

    name = "vxlan"
    overhead = VXLAN_OVERHEAD

    def __init__(self, underlay: netlink.Underlay, *, vni: int = 1, port: int = 8472) -> None:
        self.underlay = underlay
        self.vni, self.port = vni, port
        self.device = vxlan_device(vni)
        self.mac = ""

    def _matches(self, link: dict[str, Any]) -> bool:
        info = (link.get("linkinfo") or {}).get("info_data") or {}
        return ((link.get("linkinfo") or {}).get("info_kind") == "vxlan" and info.get("id") == self.vni
                 and info.get("local") == self.underlay.address and info.get("port") == self.port
                 and info.get("link") == self.underlay.dev)

    async def ensure(self, local: NodeNet, needed: bool) -> dict[str, Any] | None:
        link = await netlink.link(self.device)
        if link is None and not needed:
            return None
        if link is not None and not self._matches(link):
            log.info("overlay: %s does not match this node's underlay (%s on %s): making it again",
                     self.device, self.underlay.address, self.underlay.dev)
            await netlink.run("ip", "link", "del", self.device)
            link = None
        if link is None:
            rc, out = await netlink.run(
                "ip", "link", "add", self.device, "type", "vxlan", "id", str(self.vni), "local", self.underlay.address,
                "dev", self.underlay.dev, "dstport", str(self.port), "nolearning")
            if rc != 0 and await netlink.link(self.device) is None:  # another agent here may have won the race
                raise RuntimeError(f"cannot make the VXLAN device {self.device}: {out.strip()}")
        mtu = str(self.underlay.mtu - self.overhead)
        for cmd in (("ip", "link", "set", self.device, "mtu", mtu, "up"),
                    *(("ip", "addr", "replace", f"{c.network_address}/32", "dev", self.device) for c in local.cidrs)):
            rc, out = await netlink.run(*cmd)
            if rc != 0:
                raise RuntimeError(f"{' '.join(cmd)}: {out.strip()}")
        link = await netlink.link(self.device)
        self.mac = str((link or {}).get("address") or "")
        return {"VNI": self.vni, "VtepMAC": self.mac}

    def plan(self, local: NodeNet, nodes: Sequence[NodeNet]) -> Plan:
        return plan_vxlan(local, nodes, device=self.device)

    async def current(self) -> Entries:
        return await netlink.current(self.device)


def make_backend(name: str, underlay: netlink.Underlay | None, *, vni: int = 1, port: int = 8472) -> Backend:
    """The backend called ``name``; without an underlay (no address of this machine to build on), none."""
    if name == "none":
        return NoBackend()
    if underlay is None:
        log.warning("overlay: no underlay interface for this node's address: backend %s cannot run; "
                    "pods reach only pods of this machine", name)
        return NoBackend()
    if name == "host-gw":
        return HostGwBackend(underlay)
    if name == "vxlan":
        return VxlanBackend(underlay, vni=vni, port=port)
    raise ValueError(f"unknown network backend {name!r} (vxlan, host-gw or none)")
