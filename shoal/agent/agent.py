"""The node agent: one process that makes some nodes' pods real.

It opens the runtime driver, registers its node (or ``simulate_nodes`` hollow
nodes named ``<name>-0`` ... ``<name>-<N-1>``) with a Lease heartbeat, watches
the pods bound to its nodes through one informer, and runs a keyed work queue
of pod syncs (``pods.PodWorker``). Driver notifications (a container exited)
and probe results enqueue the pod again; a slow periodic resync and an orphan
sweep (containers whose pod is gone) heal anything missed; the sweep touches only
the containers labelled with this cluster's ID (``shoal.clusterid``), never
those of another cluster on the same machine. On start it adopts
whatever already runs for its pods: a sync of a pod whose containers are up
finds nothing to do.

Volumes (``shoal.agent.volumes``): the agent watches ConfigMaps and Secrets
(not on hollow nodes) so a change reaches the files of the running pods that
read it within a sync, measures size-limited emptyDirs every second (eviction),
advertises where its local volumes live (the Node's ``shoal.io/volume-dir``)
and wipes a deleted local PV of this node, then removes its finalizer.

``resolve`` maps (namespace, pod, container) to the driver and container id,
for the logs/exec tunnel (``shoal.agent.tunnel``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from prometheus_client import REGISTRY

from shoal import clusterid
from shoal.agent.drivers.base import LABEL_NODE, LABEL_POD_UID, Driver
from shoal.agent.drivers.podnet import PodNetwork
from shoal.agent.metrics import AgentCollector, MetricsCollector, MetricsOptions, UsageSource
from shoal.agent.node import NodeConfig, NodeHeartbeat, host_capacity, host_ip
from shoal.agent.pods import PodOptions, PodWorker
from shoal.agent.runtime import PodmanService, RuntimeOptions, open_runtime
from shoal.agent.sources import ObjectWatches
from shoal.agent.volumes.local import pv_source
from shoal.agent.volumes.manager import VolumeManager
from shoal.agent.volumes.tokens import TokenCache
from shoal.api import views
from shoal.api.quantity import parse_quantity
from shoal.api.storage_contract import (
    FS_RESIZE_PENDING,
    LOCAL_VOLUME_FINALIZER,
    NODE_RESIZE_PENDING,
    VOLUME_DIR_ANNOTATION,
)
from shoal.client import ApiClient, ApiException, Informer, WorkQueue, run_workers
from shoal.client.events import EventRecorder

log = logging.getLogger(__name__)


POD_CIDR_FROM_NODE = "node"


@dataclass(frozen=True, slots=True)
class AgentOptions:
    node_name: str
    runtime: str = "auto"
    docker_host: str | None = None
    state_dir: Path = Path("/var/lib/shoal/agent")
    simulate_nodes: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)  # the Node's, beside the agent's own
    capacity: dict[str, str] = field(default_factory=dict)
    address: str = ""
    lease_interval: float = 2.0
    status_interval: float = 60.0
    resync_interval: float = 60.0
    sweep_interval: float = 60.0
    workers: int = 64
    backoff_base: float = 10.0
    backoff_max: float = 300.0
    sim_start_delay: float = 0.0
    sim_complete_after: float | None = None
    sim_probe_result: str = "success"
    cluster_dns: tuple[str, ...] = ()
    tunnel: bool = True
    # docker runtime: the address range of the pod sandboxes the agent makes itself: "node" (the
    # default) is the Node's spec.podCIDR, given by node IPAM; a CIDR (SHOAL_AGENT_POD_CIDR) fixes
    # one; "" (or SHOAL_AGENT_POD_CIDR=none) gives every pod an infra container instead
    pod_cidr: str = POD_CIDR_FROM_NODE
    cluster_cidr: str = ""  # pods' traffic leaving it is masqueraded ("": leaving the node's range)
    pod_mtu: int = 0  # of pods' interfaces (the overlay's; 0: the kernel's default)
    pod_cidr_wait: float = 30.0  # seconds start-up waits for the Node's podCIDR before going on without
    cluster_id: str = ""  # the cluster's ID (shoal.clusterid; "": asked of the API at start)
    # resource metrics (shoal.agent.metrics): seconds between samples (0: none), simulated usage defaults
    metrics_interval: float = 5.0
    sim_cpu_usage: str = "1m"
    sim_memory_usage: str = "8Mi"


def env_overrides() -> dict[str, Any]:
    """Tuning from the environment, for tests and scale runs (``SHOAL_AGENT_BACKOFF_SECONDS`` ...)."""
    out: dict[str, Any] = {}
    for var, name in (("SHOAL_AGENT_BACKOFF_SECONDS", "backoff_base"), ("SHOAL_AGENT_LEASE_SECONDS", "lease_interval"),
                      ("SHOAL_AGENT_RESYNC_SECONDS", "resync_interval"),
                      ("SHOAL_AGENT_SWEEP_SECONDS", "sweep_interval"),
                      ("SHOAL_AGENT_METRICS_SECONDS", "metrics_interval")):
        raw = os.environ.get(var)
        if raw:
            try:
                out[name] = float(raw)
            except ValueError:
                log.warning("ignoring %s=%r: not a number", var, raw)
    raw = os.environ.get("SHOAL_AGENT_POD_CIDR")
    if raw:
        out["pod_cidr"] = "" if raw.strip().lower() == "none" else raw.strip()
    return out


def default_node_name() -> str:
    return socket.gethostname().split(".")[0].lower() or "node"


class Agent:
    def __init__(self, client: ApiClient, opts: AgentOptions) -> None:
        self.client = client
        self.opts = opts
        n = opts.simulate_nodes
        self.node_names = [f"{opts.node_name}-{i}" for i in range(n)] if n > 0 else [opts.node_name]
        self._nodes = set(self.node_names)
        self.driver: Driver | None = None
        self.service: PodmanService | None = None
        self.heartbeats: list[NodeHeartbeat] = []
        self.queue = WorkQueue(name="agent-pods", base_delay=0.2, max_delay=30)
        self.informer: Informer | None = None
        self.worker: PodWorker | None = None
        self.tunnel: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self.sources: ObjectWatches | None = None  # the configmaps and secrets this node's pods use
        self.volume_dir = opts.state_dir.parent / "volumes"  # where this node's local volumes live
        self._grown: dict[str, int] = {}  # local PV -> the size its file system has been brought to
        self.podnet = self._pod_network(opts)
        self.cluster_id = opts.cluster_id
        self.metrics: MetricsCollector | None = None
        self._prom: AgentCollector | None = None

    @staticmethod
    def _pod_network(opts: AgentOptions) -> PodNetwork | None:
        """The network of the sandboxes the docker driver makes itself (not for other runtimes)."""
        if not opts.pod_cidr or opts.simulate_nodes > 0 or opts.runtime not in ("auto", "docker"):
            return None
        if opts.pod_cidr == POD_CIDR_FROM_NODE:
            return PodNetwork(node_name=opts.node_name, cluster_cidr=opts.cluster_cidr or None, mtu=opts.pod_mtu)
        return PodNetwork(opts.pod_cidr, node_name=opts.node_name, cluster_cidr=opts.pod_cidr, mtu=opts.pod_mtu)

    @property
    def runtime_name(self) -> str:
        return self.driver.name if self.driver is not None else ""

    # ---- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        opts = self.opts
        runtime = "simulated" if opts.simulate_nodes > 0 and opts.runtime == "auto" else opts.runtime
        address = opts.address or host_ip()
        self.cluster_id = opts.cluster_id or await clusterid.fetch(self.client)
        self.driver, self.service = await open_runtime(RuntimeOptions(
            runtime=runtime, docker_host=opts.docker_host, node_name=opts.node_name if opts.simulate_nodes == 0
            else "", state_dir=opts.state_dir, sim_start_delay=opts.sim_start_delay,
            sim_complete_after=opts.sim_complete_after, sim_probe_result=opts.sim_probe_result, host_ip=address,
            pod_network=self.podnet))
        driver = self.driver
        version = await driver.version()
        try:
            await self._register(version, address)
            if self.podnet is not None and self.podnet.set_up and not self.podnet.configured:
                await self._take_pod_cidr(self.podnet)
            if driver.name != "simulated":
                self.sources = ObjectWatches(self.client, self._source_handlers)
            volumes = VolumeManager(root=opts.state_dir / "pods", node_name=opts.node_name,
                                    lookup=self._source, fetch=self._fetch,
                                    node_capacity={**host_capacity(), **opts.capacity},
                                    dry=driver.name == "simulated",
                                    tokens=TokenCache(self._request_token, time.time))
            self.informer = Informer(
                self.client, "pods",
                field_selector=f"spec.nodeName={opts.node_name}" if opts.simulate_nodes == 0 else "spec.nodeName!=")
            self.worker = PodWorker(
                client=self.client, driver=driver,
                recorder=EventRecorder(self.client, "kubelet", host=self.node_names[0]),
                lookup=self._lookup, requeue=self._requeue, host_ip=address, scheme=version.split("://")[0],
                opts=PodOptions(backoff_base=opts.backoff_base, backoff_max=opts.backoff_max,
                                lifecycle_events=driver.name != "simulated", cluster_dns=opts.cluster_dns,
                                cluster_id=self.cluster_id),
                volumes=volumes, node_capacity=opts.capacity,
            )
            self.informer.add_handler(self._on_add, self._on_update, self._on_delete)
            driver.set_change_handler(self._on_runtime_change)
            self.informer.start()
            await self.informer.wait_synced(60)
            await self.sweep()
            self._tasks.append(asyncio.create_task(run_workers(self.queue, self._sync, opts.workers),
                                                   name="agent-workers"))
            self._tasks.append(asyncio.create_task(self._periodic(), name="agent-periodic"))
            if opts.tunnel:
                await self._start_tunnel()
            if opts.metrics_interval > 0:
                self._start_metrics(driver)
        except BaseException:
            await self.stop()
            raise
        log.info("agent: %d node(s) (%s...) on runtime %s", len(self.node_names), self.node_names[0], version)

    async def _register(self, version: str, address: str) -> None:
        opts = self.opts
        sem = asyncio.Semaphore(32)

        annotations = {**opts.annotations,
                       **({VOLUME_DIR_ANNOTATION: str(self.volume_dir)} if opts.simulate_nodes == 0 else {})}

        async def one(name: str) -> NodeHeartbeat:
            hb = NodeHeartbeat(self.client, NodeConfig(
                name=name, labels=opts.labels, annotations=annotations, capacity=opts.capacity, address=address,
                runtime_version=version,
                lease_interval=opts.lease_interval, status_interval=opts.status_interval))
            async with sem:
                await hb.register()
            return hb

        self.heartbeats = list(await asyncio.gather(*(one(n) for n in self.node_names)))
        n = len(self.heartbeats)
        for i, hb in enumerate(self.heartbeats):
            offset = opts.lease_interval * i / n if n > 1 else 0.0
            self._tasks.append(asyncio.create_task(hb.run(offset=offset), name=f"heartbeat:{hb.cfg.name}"))

    async def _node_pod_cidr(self) -> str | None:
        node = await self.client.get("nodes", self.opts.node_name)
        cidrs = views.pod_cidrs(node)
        return cidrs[0] if cidrs else None

    async def _take_pod_cidr(self, podnet: PodNetwork) -> None:
        """Configure the pod network with the Node's range, waiting up to ``pod_cidr_wait`` for node IPAM;
        without one by then, start anyway (sandboxes fail, saying why) and keep asking in the background."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.opts.pod_cidr_wait
        while (cidr := await self._node_pod_cidr()) is None and loop.time() < deadline:
            await asyncio.sleep(0.1)
        if cidr is not None:
            await podnet.configure(cidr)
            log.info("agent: pods of node %s get addresses from %s", self.opts.node_name, cidr)
            return
        log.warning("agent: node %s has no spec.podCIDR after %.0f s (is the nodeipam controller running, and the "
                    "cluster CIDR not full?); pods wait for it", self.opts.node_name, self.opts.pod_cidr_wait)

        async def later() -> None:
            while True:
                await asyncio.sleep(2.0)
                try:
                    found = await self._node_pod_cidr()
                except Exception as e:
                    log.debug("agent: reading the node's podCIDR: %s", e)
                    continue
                if found is not None:
                    await podnet.configure(found)
                    log.info("agent: pods of node %s get addresses from %s", self.opts.node_name, found)
                    return

        self._tasks.append(asyncio.create_task(later(), name="agent-pod-cidr"))

    async def _start_tunnel(self) -> None:
        try:
            from shoal.agent.tunnel import TunnelClient
        except ImportError:  # a build without the tunnel: logs and exec are not served
            return
        if len(self.node_names) > 100:  # the node names travel in the tunnel's URL; hollow nodes run nothing
            log.info("agent: %d simulated nodes: logs and exec are not served", len(self.node_names))
            return
        self.tunnel = TunnelClient(self.client, node_name=list(self.node_names), resolver=self.resolve)
        await self.tunnel.start()

    def _start_metrics(self, driver: Driver) -> None:
        """Sample the pods' containers and push the rates to the server (``shoal.agent.metrics``)."""
        opts = self.opts
        informer = self.informer
        assert informer is not None
        self.metrics = MetricsCollector(
            client=self.client, nodes=list(self.node_names),
            pods=lambda: (p for p in informer.list() if self._ours(p)),
            source=driver if isinstance(driver, UsageSource) else None, simulated=driver.name == "simulated",
            opts=MetricsOptions(interval=opts.metrics_interval, sim_cpu=parse_quantity(opts.sim_cpu_usage),
                                sim_memory=int(parse_quantity(opts.sim_memory_usage))))
        self.metrics.start()
        self._prom = AgentCollector(self.metrics)
        REGISTRY.register(self._prom)

    async def stop(self) -> None:
        if self.metrics is not None:
            await self.metrics.stop()
            self.metrics = None
        if self._prom is not None:
            with contextlib.suppress(KeyError):
                REGISTRY.unregister(self._prom)
            self._prom = None
        if self.tunnel is not None:
            with contextlib.suppress(Exception):
                await self.tunnel.stop()
            self.tunnel = None
        await self.queue.shutdown()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self.informer is not None:
            await self.informer.stop()
        if self.sources is not None:
            await self.sources.stop()
        if self.worker is not None:
            await self.worker.close()
        if self.driver is not None:
            await self.driver.close()
        if self.service is not None:
            await self.service.stop()  # the containers keep running; the next agent adopts them

    # ---- events ------------------------------------------------------------------------------
    def _ours(self, pod: views.Body) -> bool:
        return views.node_name(pod) in self._nodes

    def _lookup(self, key: str) -> views.Pod | None:
        pod = self.informer.get(key) if self.informer is not None else None
        return cast(views.Pod, pod) if pod is not None and self._ours(pod) else None

    def _requeue(self, key: str, delay: float) -> None:
        self.queue.add_after(key, delay)

    def _on_add(self, pod: views.Body) -> None:
        if self._ours(pod):
            self.queue.add(views.key(pod))

    def _on_update(self, old: views.Body, new: views.Body) -> None:
        if not self._ours(new):
            return
        om, nm = views.meta(old), views.meta(new)
        # our own status writes come back as updates: only what someone else changed needs a sync
        changed = (old.get("spec") != new.get("spec") or om.get("deletionTimestamp") != nm.get("deletionTimestamp")
                   or om.get("uid") != nm.get("uid") or om.get("annotations") != nm.get("annotations")
                   or om.get("labels") != nm.get("labels")  # downward-API volumes show them
                   or views.status(old).get("phase") != views.status(new).get("phase"))
        if changed:
            self.queue.add(views.key(new))

    def _on_delete(self, pod: views.Body) -> None:
        if self._ours(pod):
            self.queue.add(views.key(pod))

    def _on_runtime_change(self, uid: str) -> None:
        if self.worker is None:
            return
        key = self.worker.keys_by_uid.get(uid)
        if key is not None:
            self.queue.add(key)

    # ---- volumes' sources ----------------------------------------------------------------------
    def _source_handlers(self, kind: str) -> tuple[Any, Any, Any]:
        def changed(obj: views.Body) -> None:
            if self.worker is None:
                return
            namespaces = {uid: key.split("/", 1)[0] for uid, key in self.worker.keys_by_uid.items()}
            for uid in self.worker.volumes.users(kind, views.namespace(obj), views.name(obj), namespaces):
                key = self.worker.keys_by_uid.get(uid)
                if key is not None:
                    self.queue.add(key)

        def updated(old: views.Body, new: views.Body) -> None:
            if old.get("data") != new.get("data") or old.get("binaryData") != new.get("binaryData"):
                changed(new)

        return changed, updated, changed

    def _source(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        return self.sources.get(kind, namespace, name) if self.sources is not None else None

    async def _request_token(self, namespace: str, account: str, body: dict[str, Any]) -> dict[str, Any]:
        """A TokenRequest for a service account of a pod here (``volumes.tokens``)."""
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token"
        return await self.client.request("POST", path, body=body)  # type: ignore[no-any-return]

    async def _fetch(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.client.get(kind, name, namespace or None)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    async def _local_volumes_pass(self) -> None:
        """This node's local PVs: wipe the deleted ones no pod here uses (then drop their finalizer); grow
        the expanded ones and tell their claims (which ends the expansion the PV controller started)."""
        assert self.worker is not None
        try:
            pvs = (await self.client.list("persistentvolumes")).get("items") or []
        except (KeyError, ApiException):  # a server without the storage kinds
            return
        for pv in pvs:
            src = pv_source(pv, self.opts.node_name)
            if isinstance(src, str) or not src.managed:
                continue
            if views.is_terminating(pv):
                if LOCAL_VOLUME_FINALIZER in views.finalizers(pv) and not self.worker.volumes.local_in_use(src.path):
                    await self._wipe(pv, src.path)
                continue
            if (src.size is not None and self._grown.get(src.pv_name) != src.size
                    and await self.worker.volumes.local.grow(src)):
                await self._resize_done(pv)
                self._grown[src.pv_name] = src.size

    async def _wipe(self, pv: dict[str, Any], path: str) -> None:
        assert self.worker is not None
        await self.worker.volumes.local.wipe(path)
        fins = [f for f in views.finalizers(pv) if f != LOCAL_VOLUME_FINALIZER]
        patch = {"metadata": {"finalizers": fins or None, "resourceVersion": views.resource_version(pv)}}
        try:
            await self.client.patch("persistentvolumes", views.name(pv), patch)
            log.info("agent: wiped local volume %s (%s)", views.name(pv), path)
        except ApiException as e:
            if e.status not in (404, 409):
                raise

    async def _resize_done(self, pv: dict[str, Any]) -> None:
        """The file system has the PV's size: the claim's capacity says so, the resize is no longer pending."""
        ref = views.spec(pv).get("claimRef") or {}
        if not ref.get("name"):
            return
        claim = await self._fetch("persistentvolumeclaims", str(ref.get("namespace") or ""), str(ref["name"]))
        if claim is None:
            return
        st = views.status(claim)
        pending = (st.get("allocatedResourceStatuses") or {}).get("storage") == NODE_RESIZE_PENDING or any(
            c.get("type") == FS_RESIZE_PENDING for c in st.get("conditions") or [])
        if not pending:
            return
        size = (views.spec(pv).get("capacity") or {}).get("storage")
        statuses = {k: v for k, v in (st.get("allocatedResourceStatuses") or {}).items() if k != "storage"}
        new = {"capacity": {**(st.get("capacity") or {}), "storage": size},
               "allocatedResourceStatuses": statuses or None,
               "conditions": [c for c in st.get("conditions") or [] if c.get("type") != FS_RESIZE_PENDING] or None}
        try:
            await self.client.patch("persistentvolumeclaims", views.name(claim), {"status": new},
                                    views.namespace(claim), subresource="status")
            log.info("agent: grew local volume %s to %s", views.name(pv), size)
        except ApiException as e:
            if e.status != 404:
                raise

    async def _sync(self, key: Any) -> None:
        assert self.worker is not None
        if self.sources is not None and self.informer is not None:
            await self.sources.track(str(key), self.informer.get(str(key)))
        await self.worker.sync(str(key))

    # ---- housekeeping ---------------------------------------------------------------------------
    async def _periodic(self) -> None:
        loop = asyncio.get_running_loop()
        last_resync = last_sweep = last_wipe = loop.time()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            if self.worker is not None:
                for uid in list(self.worker.volumes.pods):
                    try:
                        await self.worker.check_volume_usage(uid)
                    except Exception as e:
                        log.warning("agent: measuring the volumes of pod %s: %s", uid, e)
            if self.worker is not None and not self.worker.volumes.dry and now - last_wipe >= 5:
                last_wipe = now
                try:
                    await self._local_volumes_pass()
                except Exception as e:
                    log.warning("agent: local volumes: %s", e)
            if now - last_resync >= self.opts.resync_interval:
                last_resync = now
                for pod in self.informer.list() if self.informer is not None else []:
                    if self._ours(pod):
                        self.queue.add(views.key(pod))
            if now - last_sweep >= self.opts.sweep_interval:
                last_sweep = now
                try:
                    await self.sweep()
                except Exception as e:
                    log.warning("agent: orphan sweep failed: %s", e)

    async def sweep(self) -> None:
        """Remove containers of pods that no longer exist here; queue every pod of ours (adoption)."""
        assert self.driver is not None and self.informer is not None and self.worker is not None
        live: dict[str, str] = {}
        for pod in self.informer.list():
            if self._ours(pod):
                live[views.uid(pod)] = views.key(pod)
        labels = {LABEL_NODE: self.opts.node_name} if self.opts.simulate_nodes == 0 else None
        # only this cluster's: another cluster on this machine may name its node as this one is named
        orphans = {c.labels.get(LABEL_POD_UID, "") for c in await self.driver.list_containers(labels)
                   if clusterid.owned(c.labels, self.cluster_id)}
        orphans |= set(self.worker.volumes.known_dirs())  # volumes left by pods deleted while we were away
        for uid in orphans - set(live) - set(self.worker.keys_by_uid) - {""}:
            log.info("agent: removing the containers and volumes of pod uid %s, which no longer exists", uid)
            await self.worker.teardown(uid)
        for uid, key in live.items():
            if uid not in self.worker.keys_by_uid:
                self.worker.keys_by_uid[uid] = key
                self.worker.uids_by_key[key] = uid
                self.queue.add(key)

    # ---- for the logs/exec tunnel ---------------------------------------------------------------
    async def resolve(self, namespace: str, pod: str, container: str, previous: bool) -> tuple[Driver, str]:
        """The driver and container id of a pod's container (the instance before, with ``previous``)."""
        if self.driver is None or self.informer is None:
            raise LookupError("the node agent is starting")
        obj = self.informer.get_by(namespace, pod)
        if obj is None or not self._ours(obj):
            raise LookupError(f'pod "{pod}" not found on this node')
        names = [c["name"] for c in views.containers(obj) + views.containers(obj, init=True)
                 + views.ephemeral_containers(obj)]
        if not container:
            container = names[0] if names else ""
        if container not in names:
            raise LookupError(f'container {container} is not valid for pod {pod}')
        found = [c for c in await self.driver.list_containers({LABEL_POD_UID: views.uid(obj)})
                 if c.role != "sandbox" and c.name == container]
        found.sort(key=lambda c: c.attempt)
        if previous:
            if len(found) < 2:
                raise LookupError(f'previous terminated container "{container}" in pod "{pod}" not found')
            return self.driver, found[-2].id
        if not found:
            reason = "ContainerCreating"
            for st in views.container_statuses(obj) + views.container_statuses(obj, init=True):
                if st.get("name") == container:
                    reason = views.waiting_reason(st) or reason
            raise LookupError(f'container "{container}" in pod "{pod}" is waiting to start: {reason}')
        return self.driver, found[-1].id
