"""The etcd member controller: a deleted server Node takes its embedded etcd member out of the cluster.

k3s's etcd controller removes the member of a server whose Node is deleted, so
``kubectl delete node`` is how a server that left for good is taken out (the
other way is ``shoal server remove-member``). shoal's runs on the server that
holds the ``shoal-etcd-member-controller`` Lease (one remover at a time), as the
other singletons run, and only on servers with an embedded etcd member.

It watches Nodes and acts on their deletion, without a finalizer: the deleted
object itself carries what to remove (its annotations name the member and its
peer URL, ``removalplan.server_node_marks``), and ``removalplan.decide`` says
whether to (never the last member, the only voter, or this server's own; never
a member that another server took the name of). What it did or refused is an
Event on the Node. A failure to reach etcd, or etcd refusing for lack of a
healthy quorum, is retried with back-off while this server leads.

Without a finalizer a Node deleted while no server leads this controller (the
seconds of a failover) is not seen; its member stays until ``shoal server
remove-member``. docs/decisions.md ("Removing a deleted server's etcd member")
says why that is the trade.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from shoal.client import ApiClient
from shoal.client.events import EventRecorder
from shoal.client.informer import Informer
from shoal.client.workqueue import WorkQueue, run_workers
from shoal.etcdmember.member import EtcdError, list_members_any, remove_member_id
from shoal.etcdmember.plan import CertPaths
from shoal.etcdmember.removalplan import ServerNode, Verdict, decide, member_of, server_node

log = logging.getLogger(__name__)

LEASE = "shoal-etcd-member-controller"
COMPONENT = "etcd-member-controller"


class MemberRemover:
    """See the module docstring; ``endpoints`` gives the etcd client endpoints known now."""

    def __init__(self, client: ApiClient, *, endpoints: Callable[[], Sequence[str]], certs: CertPaths, own: str,
                 timeout: float = 20.0) -> None:
        self.client = client
        self.endpoints = endpoints
        self.certs = certs
        self.own = own
        self.timeout = timeout
        self.recorder = EventRecorder(client, COMPONENT)
        self.queue = WorkQueue(base_delay=1.0, max_delay=30.0, name="etcd-member-removal")
        self.pending: dict[str, tuple[ServerNode, dict[str, Any]]] = {}  # node name -> (marks, deleted object)
        self.learned: list[str] = []  # client endpoints of the members last listed (a first server knows only its own)
        self.informer = Informer(client, "nodes")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.informer.add_handler(on_delete=self._deleted)
        self.informer.start()
        self._task = asyncio.create_task(run_workers(self.queue, self._sync, 1), name="etcd-member-removal")

    async def stop(self) -> None:
        await self.informer.stop()
        await self.queue.shutdown()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _endpoints(self) -> list[str]:
        return list(dict.fromkeys([*self.endpoints(), *self.learned]))

    def _deleted(self, obj: dict[str, Any]) -> None:
        marks = server_node(obj)
        if marks is None:
            return
        self.pending[marks.node] = (marks, obj)
        self.queue.add(marks.node)

    async def _sync(self, key: Hashable) -> None:
        entry = self.pending.get(str(key))
        if entry is None:
            return
        marks, node = entry
        try:
            listed = await list_members_any(self._endpoints(), self.certs)
            self.learned = [u.removeprefix("https://") for m in listed for u in m.get("clientURLs") or []]
            decision = decide(marks, [member_of(m) for m in listed], own=self.own)
            if decision.verdict is Verdict.REMOVE:
                log.info("%s", decision.reason)
                removed = await remove_member_id(self._endpoints(), self.certs, decision.member_id,
                                                 timeout=self.timeout)
                if removed:
                    await self.recorder.event(node, "Normal", "EtcdMemberRemoved", decision.reason)
            elif decision.verdict is Verdict.REFUSE:
                log.warning("Node %s deleted: %s", marks.node, decision.reason)
                await self.recorder.event(node, "Warning", "EtcdMemberNotRemoved", decision.reason)
            else:
                log.info("Node %s deleted: %s", marks.node, decision.reason)
        except EtcdError as e:
            await self.recorder.event(node, "Warning", "EtcdMemberRemovalFailed",
                                      f"removing etcd member {marks.member} failed (retried): {e}")
            raise
        if self.pending.get(str(key)) is entry:  # not a later deletion of a Node of that name
            del self.pending[str(key)]
