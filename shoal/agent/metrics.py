"""The agent's resource metrics: sample every running container, keep a window, push it to the server.

Every ``interval`` seconds the collector reads the usage of each running
container of the agent's pods and of the node (``shoal.agent.cgroups`` for the
``docker`` driver, ``/proc`` for the ``process`` driver, the pods' annotations
for the ``simulated`` one: ``shoal.agent.usagewindow``), adds it to the
window, and sends the rates of every node it runs in one ``POST
/shoal/v1/metrics`` to the API server, which serves them as
``metrics.k8s.io/v1beta1`` (``shoal.apiserver.metricsapi``). Why push and not
pull (metrics-server scrapes each kubelet): docs/decisions.md, "Resource
metrics are pushed by the agents".

Which containers run, and their ids, come from the pods' own statuses (the
``containerID`` the agent wrote), so a round costs no runtime API call: with
the ``docker`` driver it is two or three small file reads per container.

The same samples feed Prometheus (``AgentCollector``): cAdvisor's
``container_cpu_usage_seconds_total`` and ``container_memory_working_set_bytes``
(by namespace, pod, container, id; the node as ``id="/"``), and
``kube_pod_container_status_restarts_total`` as kube-state-metrics names it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol, runtime_checkable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shoal.agent.cgroups import CgroupReader, Usage
from shoal.agent.usagewindow import Sample, SyntheticCpu, Window, synthetic_usage
from shoal.api import views
from shoal.client import ApiClient, ApiException

log = logging.getLogger(__name__)

PUSH_PATH = "/shoal/v1/metrics"
NODE_KEY = "/"  # the node's own window key (cAdvisor's root cgroup id)


@runtime_checkable
class UsageSource(Protocol):
    """A driver that can tell a container's usage itself (``docker``: its cgroup; ``process``: /proc)."""

    def usage(self, container_id: str) -> Usage | None: ...


@dataclass(frozen=True, slots=True)
class MetricsOptions:
    interval: float = 5.0  # seconds between samples
    samples: int = 3  # kept per container: the rate is over (samples - 1) intervals
    push: bool = True
    sim_cpu: Fraction = Fraction(1, 1000)  # a simulated container's cores without an annotation (1m)
    sim_memory: int = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Running:
    """One running container as a pod's status names it."""

    node: str
    namespace: str
    pod: str
    container: str
    id: str
    image: str
    restarts: int


def running_containers(pod: views.Body) -> Iterator[Running]:
    """The running containers of a pod (from its status), with their runtime ids."""
    md = views.meta(pod)
    for cs in views.container_statuses(pod):
        if "running" not in (cs.get("state") or {}):
            continue
        cid = str(cs.get("containerID") or "").partition("://")[2]
        if cid:
            yield Running(views.node_name(pod), str(md.get("namespace") or ""), str(md.get("name") or ""),
                          str(cs.get("name") or ""), cid, str(cs.get("image") or ""),
                          int(cs.get("restartCount") or 0))


class MetricsCollector:
    """Samples the containers of ``pods()`` on ``nodes`` and pushes their rates to the server."""

    def __init__(self, *, client: ApiClient | None, nodes: list[str], pods: Callable[[], Iterable[views.Body]],
                 source: UsageSource | None, simulated: bool, opts: MetricsOptions = MetricsOptions(),
                 reader: CgroupReader | None = None, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.client = client
        self.nodes = nodes
        self.pods = pods
        self.source = source
        self.simulated = simulated
        self.opts = opts
        self.reader = reader if reader is not None else CgroupReader()
        self.monotonic = monotonic
        self.wall = wall
        self.window = Window(opts.samples)
        self.synthetic = SyntheticCpu()
        self.running: dict[str, Running] = {}  # container id -> what it is, as of the last round
        self.labels: dict[tuple[str, str], dict[str, str]] = {}  # (namespace, pod) -> the pod's labels
        self._task: asyncio.Task[None] | None = None

    # ---- one round ----------------------------------------------------------------------------
    def _usage(self, r: Running, pod: views.Body, now: float) -> Usage | None:
        if self.simulated:
            cores, mem = synthetic_usage(views.annotations(pod), r.container, default_cpu=self.opts.sim_cpu,
                                         default_memory=self.opts.sim_memory)
            return Usage(self.synthetic.advance(r.id, cores, now), mem)
        return self.source.usage(r.id) if self.source is not None else None

    def sample(self) -> None:
        """Read every running container (and the node) once, into the window."""
        now = self.monotonic()
        running: dict[str, Running] = {}
        labels: dict[tuple[str, str], dict[str, str]] = {}
        for pod in self.pods():
            for r in running_containers(pod):
                u = self._usage(r, pod, now)
                if u is None:
                    continue
                running[r.id] = r
                labels[(r.namespace, r.pod)] = views.labels(pod)
                self.window.add(r.id, Sample(now, u.cpu_ns, u.memory_bytes))
        if not self.simulated:
            node = self.reader.node()
            if node is not None:
                self.window.add(NODE_KEY, Sample(now, node.cpu_ns, node.memory_bytes))
        self.running, self.labels = running, labels
        self.window.retain([*running, NODE_KEY])
        self.synthetic.retain(running)

    def report(self) -> dict[str, Any]:
        """The push body: per node, its usage and its pods' containers' rates (nanocores, bytes, window)."""
        wall_now, mono_now = self.wall(), self.monotonic()

        def stamp(at: float) -> float:
            return wall_now - (mono_now - at)

        pods: dict[str, dict[tuple[str, str], dict[str, Any]]] = {n: {} for n in self.nodes}
        for cid, r in self.running.items():
            rate = self.window.rate(cid)
            if rate is None:
                continue
            entry = pods.setdefault(r.node, {}).setdefault((r.namespace, r.pod), {
                "namespace": r.namespace, "name": r.pod, "labels": self.labels.get((r.namespace, r.pod), {}),
                "timestamp": stamp(rate.at), "window": rate.window, "containers": []})
            entry["containers"].append({"name": r.container, "cpu": rate.cpu_nanocores, "memory": rate.memory_bytes})
        node_rate = self.window.rate(NODE_KEY)
        out = []
        for name, by_pod in pods.items():
            node: dict[str, Any] = {"name": name, "pods": list(by_pod.values())}
            if node_rate is not None:
                node.update(timestamp=stamp(node_rate.at), window=node_rate.window,
                            usage={"cpu": node_rate.cpu_nanocores, "memory": node_rate.memory_bytes})
            elif self.simulated:  # a hollow node uses what its pods use
                conts = [c for p in by_pod.values() for c in p["containers"]]
                windows = [p["window"] for p in by_pod.values()]
                node.update(timestamp=wall_now, window=max(windows, default=self.opts.interval),
                            usage={"cpu": sum(c["cpu"] for c in conts), "memory": sum(c["memory"] for c in conts)})
            out.append(node)
        return {"nodes": out}

    async def push(self) -> None:
        if self.client is None or not self.opts.push:
            return
        await self.client.request("POST", PUSH_PATH, body=self.report())

    # ---- the loop -----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                self.sample()
                await self.push()
            except ApiException as e:
                log.debug("agent: pushing metrics: %s", e)
            except Exception:
                log.exception("agent: sampling metrics failed")
            await asyncio.sleep(self.opts.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agent-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


class AgentCollector(Collector):
    """cAdvisor's container metrics (and kube-state-metrics' restarts) from the collector's last samples."""

    def __init__(self, metrics: MetricsCollector) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # collected on demand; several agents (tests) may register one each

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        names = ["namespace", "pod", "container", "id", "image", "node"]
        cpu = CounterMetricFamily("container_cpu_usage_seconds_total",
                                  "Cumulative cpu time consumed in seconds.", labels=names)
        mem = GaugeMetricFamily("container_memory_working_set_bytes", "Current working set in bytes.",
                                labels=names)
        restarts = CounterMetricFamily("kube_pod_container_status_restarts_total",
                                       "The number of container restarts per container.",
                                       labels=["namespace", "pod", "container", "node"])
        for cid, r in m.running.items():
            s = m.window.latest(cid)
            if s is None:
                continue
            values = [r.namespace, r.pod, r.container, cid, r.image, r.node]
            cpu.add_metric(values, s.cpu_ns / 1e9)
            mem.add_metric(values, float(s.memory_bytes))
            restarts.add_metric([r.namespace, r.pod, r.container, r.node], float(r.restarts))
        node = m.window.latest(NODE_KEY)
        if node is not None:
            for name in m.nodes:
                cpu.add_metric(["", "", "", NODE_KEY, "", name], node.cpu_ns / 1e9)
                mem.add_metric(["", "", "", NODE_KEY, "", name], float(node.memory_bytes))
        yield cpu
        yield mem
        yield restarts
