"""Node IPAM: every Node gets a pod CIDR of its own (``spec.podCIDR``/``podCIDRs``).

The decision is ``ipamplan.decide``; this controller feeds it the pod CIDRs
the other Nodes hold (the informer's view) plus the ones it has written and
not yet seen come back, and writes the result:

* an assignment is a PUT of the Node guarded by its resourceVersion (a 409
  means someone else wrote it first: plan again); the API's reservation of the
  range (``shoal.apiserver.podcidrs``) refuses a range another Node holds with
  a 422, after which that range counts as taken until the informer shows who
  holds it;
* a full cluster CIDR sets the ``NetworkUnavailable`` condition through the
  status subresource, and an Event (``CIDRNotAvailable``, upstream's reason);
* a Node going away wakes the Nodes still waiting for a range.

One worker: assignments in one process are serialised, so it never hands the
same range to two Nodes itself; the store guards against a second process.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Hashable

from shoal.api.views import Body, conditions, format_time, name, pod_cidrs
from shoal.client import ApiException, Informer
from shoal.controllers import ipamplan
from shoal.controllers.base import Context, Controller

log = logging.getLogger(__name__)

FOREIGN_TTL = 30.0  # seconds a range refused by the API counts as taken without a Node seen holding it


class NodeIpamController(Controller):
    name = "nodeipam"
    workers = 1

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        o = ctx.options
        self.cfg = ipamplan.parse_config(str(o.get("cluster_cidr") or ipamplan.DEFAULT_CLUSTER_CIDR),
                                         int(o.get("node_cidr_mask_size") or ipamplan.DEFAULT_NODE_MASK))
        self._pending: dict[str, str] = {}  # node -> range written, not yet seen in the informer
        self._foreign: dict[str, float] = {}  # range -> when the API said another Node holds it

    def setup(self) -> None:
        self.nodes: Informer = self.ctx.factory.informer("nodes")
        self.nodes.add_handler(on_add=self._seen, on_update=lambda _o, n: self._seen(n), on_delete=self._gone)

    def _seen(self, node: Body) -> None:
        n = name(node)
        if pod_cidrs(node):
            self._pending.pop(n, None)
            if not ipamplan.marked_full(node):
                return
        self.queue.add(n)

    def _gone(self, node: Body) -> None:
        self._pending.pop(name(node), None)
        for other in self.nodes.list():  # a range may be free now: wake the Nodes waiting for one
            if not pod_cidrs(other):
                self.queue.add(name(other))

    def _others(self, node_name: str) -> list[str]:
        now = time.monotonic()
        for cidr, since in list(self._foreign.items()):
            if now - since > FOREIGN_TTL:
                del self._foreign[cidr]
        held = [c for n in self.nodes.list() if name(n) != node_name for c in pod_cidrs(n)]
        held += [c for n, c in self._pending.items() if n != node_name]
        return held + list(self._foreign)

    async def reconcile(self, key: Hashable) -> None:
        node_name = str(key)
        node = self.nodes.get(node_name)
        if node is None:
            return
        action = ipamplan.decide(self.cfg, node, self._others(node_name))
        if action is None:
            return
        try:
            if isinstance(action, ipamplan.Assign):
                await self._assign(node, action.cidr)
            elif isinstance(action, ipamplan.MarkUnavailable):
                await self._set_condition(node, "True", ipamplan.REASON_FULL, action.message)
                self.emit(node, "Warning", "CIDRNotAvailable",
                          f"Node {node_name} status is now: CIDRNotAvailable ({action.message})", kind="Node",
                          api_version="v1")
                log.warning("nodeipam: node %s: %s", node_name, action.message)
            else:
                await self._set_condition(node, "False", ipamplan.REASON_ASSIGNED,
                                          "the node has a pod CIDR")
        except ApiException as e:
            if e.status == 404:
                return
            if e.status == 409:
                self.queue.add_after(node_name, 0.05)
                return
            if e.status == 422 and isinstance(action, ipamplan.Assign):
                self._foreign[action.cidr] = time.monotonic()  # held by a Node we have not seen yet
                self.queue.add_after(node_name, 0.05)
                return
            raise

    async def _assign(self, node: Body, cidr: str) -> None:
        body = copy.deepcopy(dict(node))
        sp = body.setdefault("spec", {})
        sp["podCIDR"], sp["podCIDRs"] = cidr, [cidr]
        await self.client.update("nodes", body)
        self._pending[name(node)] = cidr
        log.info("nodeipam: node %s gets pod CIDR %s", name(node), cidr)

    async def _set_condition(self, node: Body, status: str, reason: str, message: str) -> None:
        now = format_time(self.clock())
        body = copy.deepcopy(dict(node))
        conds = [dict(c) for c in conditions(node) if c.get("type") != ipamplan.CONDITION]
        conds.append({"type": ipamplan.CONDITION, "status": status, "reason": reason, "message": message,
                      "lastHeartbeatTime": now, "lastTransitionTime": now})
        body.setdefault("status", {})["conditions"] = conds
        await self.client.update("nodes", body, subresource="status")
