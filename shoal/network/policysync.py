"""The node's NetworkPolicy enforcer: informers in, one nft table kept equal to them.

Beside the service proxy on every node. It follows NetworkPolicies, Pods and
Namespaces cluster-wide (a peer may be any pod, selected by any namespace's
labels) and keeps ``inet shoal-policy_<node>`` equal to ``compile_node`` of
what it sees: within a debounce of a change, the whole table is replaced in
one ``nft -f`` transaction (sets keyed by pod IP included), skipped when the
script is the one already applied.

Handlers keep typed views (``PodView``, ``NamespaceView``, decoded and
defaulted policies) and mark the node dirty only when a view changed: a pod's
status is rewritten on every probe and condition, but policy cares only about
its address, labels, node and named ports. The pods informer trims each pod
to those fields as it arrives.

Level-triggered like every reconciler here: a failed apply is retried; a
restart replaces the table, owning nothing else; on stop the table goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from shoal.api import views as v
from shoal.api.models.networking import NetworkPolicy
from shoal.api.validation_base import InvalidError
from shoal.client import InformerFactory
from shoal.client.informer import key_of
from shoal.network import policynft
from shoal.network.policy import (
    EMPTY,
    NamespaceView,
    NodeRules,
    PodView,
    compile_node,
    namespace_view,
    pod_view,
    policy_of,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]


async def _nft(script: str, command: tuple[str, ...] = ("nft",)) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *command, "-f", "-", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate(script.encode())
    return proc.returncode or 0, out.decode(errors="replace")


def trim_pod(pod: Obj) -> Obj:
    """What policy reads of a pod (the informer keeps only this): metadata, node, host network, named
    ports, phase and addresses."""
    md: dict[str, Any] = dict(v.meta(pod))
    spec = v.spec(pod)
    st = v.status(pod)

    def ports(key: str) -> list[Obj]:
        return [{"ports": c["ports"]} for c in spec.get(key) or [] if isinstance(c, dict) and c.get("ports")]

    return {
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "labels",
                                        "deletionTimestamp") if k in md},
        "spec": {"nodeName": spec.get("nodeName"), "hostNetwork": spec.get("hostNetwork"),
                 "containers": ports("containers"), "initContainers": ports("initContainers")},
        "status": {k: st[k] for k in ("phase", "podIP", "podIPs") if k in st},
    }


class PolicyEnforcer:
    def __init__(self, factory: InformerFactory, *, node_name: str, table: str | None = None,
                 debounce: float = 0.02, nft: tuple[str, ...] = ("nft",)) -> None:
        """``nft`` is the command that runs nft (a benchmark runs it inside a network namespace of its own)."""
        self.node_name = node_name
        self.nft = nft
        self.table = table or policynft.table_name(node_name)
        self.debounce = debounce
        self.pods = factory.informer("pods", transform=trim_pod)
        self.namespaces = factory.informer("namespaces")
        self.policies = factory.informer("networkpolicies")
        self._pod_views: dict[str, PodView] = {}
        self._ns_views: dict[str, NamespaceView] = {}
        self._policies: dict[str, NetworkPolicy] = {}
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._applied: str | None = None
        self.rules: NodeRules = EMPTY
        self.applied_count = 0
        self.last_sync_seconds = 0.0
        self.pods.add_handler(on_add=self._set_pod, on_update=lambda o, n: self._set_pod(n), on_delete=self._del_pod)
        self.namespaces.add_handler(on_add=self._set_ns, on_update=lambda o, n: self._set_ns(n),
                                    on_delete=self._del_ns)
        self.policies.add_handler(on_add=self._set_policy, on_update=lambda o, n: self._set_policy(n),
                                  on_delete=self._del_policy)

    # ---- handlers: keep the views, wake the loop only when one changed ----
    def _put(self, views: dict[str, Any], key: str, value: Any) -> None:
        if value is None:
            if views.pop(key, None) is not None:
                self._dirty.set()
        elif views.get(key) != value:
            views[key] = value
            self._dirty.set()

    def _set_pod(self, pod: Obj) -> None:
        self._put(self._pod_views, key_of(pod), pod_view(pod))

    def _del_pod(self, pod: Obj) -> None:
        self._put(self._pod_views, key_of(pod), None)

    def _set_ns(self, ns: Obj) -> None:
        self._put(self._ns_views, key_of(ns), namespace_view(ns))

    def _del_ns(self, ns: Obj) -> None:
        self._put(self._ns_views, key_of(ns), None)

    def _set_policy(self, obj: Obj) -> None:
        try:
            np = policy_of(obj)
        except InvalidError as e:
            log.warning("network policy %s cannot be read, left out: %s", key_of(obj), e)
            self._put(self._policies, key_of(obj), None)
            return
        self._put(self._policies, key_of(obj), np)

    def _del_policy(self, obj: Obj) -> None:
        self._put(self._policies, key_of(obj), None)

    # ---- the loop ----
    async def start(self) -> None:
        # pods on one bridge talk at L2: only br_netfilter shows their packets to the forward hook
        bridge_nf = "/proc/sys/net/bridge/bridge-nf-call-iptables"
        try:
            with open(bridge_nf, "w") as f:
                f.write("1")
        except OSError as e:
            log.warning("network policy: cannot turn on %s (%s); traffic between pods on one bridge is not "
                        "filtered (modprobe br_netfilter)", bridge_nf, e)
        self._dirty.set()
        self._task = asyncio.create_task(self._loop(), name="network-policy")
        log.info("network policy: enforcing on node %s in table inet %s", self.node_name, self.table)

    async def _loop(self) -> None:
        for inf in (self.pods, self.namespaces, self.policies):
            await inf.wait_synced()
        while True:
            await self._dirty.wait()
            await asyncio.sleep(self.debounce)
            self._dirty.clear()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("network policy sync failed; retrying")
                await asyncio.sleep(1)
                self._dirty.set()

    async def sync(self) -> None:
        """Compile what the informers hold and apply it if it differs from what the kernel has."""
        start = time.perf_counter()
        policies, pods, spaces = list(self._policies.values()), list(self._pod_views.values()), list(self._ns_views.values())

        def build() -> tuple[NodeRules, str]:
            rules = compile_node(policies, pods, spaces, node=self.node_name)
            if not rules.ingress and not rules.egress:
                return rules, policynft.render_delete(self.table)  # no pod here is isolated: no table at all
            return rules, policynft.render(rules, self.table)

        rules, script = await asyncio.to_thread(build)  # pure: the loop keeps serving meanwhile
        if script == self._applied:
            return
        rc, out = await _nft(script, self.nft)
        if rc != 0:
            raise RuntimeError(f"nft rejected the policy rules: {out.strip()[:500]}")
        self._applied, self.rules = script, rules
        self.applied_count += 1
        self.last_sync_seconds = time.perf_counter() - start
        log.debug("network policy: applied %s in %.3fs", rules.size(), self.last_sync_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._applied is not None:
            await _nft(policynft.render_delete(self.table), self.nft)
            self._applied = None
